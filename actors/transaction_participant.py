"""A partition's side of transactions: prepare, commit, abort, and snapshot reads.

Writes (TransactWriteItems) are two-phase. ``prepare`` checks every action of the
transaction that falls in this partition against the current items, computes the new
images and locks the items, all in one step; ``commit`` applies the planned images
through the partition's one write path (so they reach the change log like any write)
and ``abort`` drops them. While an item is locked, single-item writes to it are
refused with ``TransactionConflictException`` and other transactions get a
``TransactionConflict`` reason; reads see the last committed image.

A lock outlives a coordinator that died: each lock names the ledger that holds the
transaction's decision and expires after a lease, after which the partition asks the
ledger (``expired``) and finishes the transaction either way.

Reads (TransactGetItems) are optimistic: ``read`` returns committed images and the
log position; ``validate`` later confirms that no item was locked or written since,
reading this partition's change log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from actors.partition_store import PartitionStore, PlannedWrite
from grid._capacity import read_units
from grid._changes import KEY
from grid._requests import LOCKED, ConditionCheckOp, DeleteOp, PutOp, UpdateOp
from grid.errors import (
    ConditionalCheckFailedException,
    ProvisionedThroughputExceededException,
    ValidationException,
)

__all__ = ["Lock", "TransactionParticipant"]

TxOp = PutOp | UpdateOp | DeleteOp | ConditionCheckOp


# A transaction action's answer: units consumed when it can go ahead, else why not.
Answer = float | dict[str, Any]


def _failed(answers: Sequence[Answer]) -> bool:
    return any(isinstance(answer, dict) for answer in answers)


@dataclass(slots=True, kw_only=True)
class Lock:
    txid: str
    ledger: int
    planned: PlannedWrite
    expires_at: float


class TransactionParticipant:
    def __init__(self, store: PartitionStore, clock: Callable[[], float] = time.time) -> None:
        """``clock``: wall time when a lock is taken (a replica passes its log entry's time)."""
        self.store = store
        self._clock = clock
        self._keys_by_tx: dict[str, list[bytes]] = {}
        self._read_keys_by_tx: dict[str, list[bytes]] = {}
        self._read_lease_ends: dict[str, float] = {}

    def prepare(self, txid: str, ledger: int, lease: float, ops: Sequence[TxOp]) -> list[Answer]:
        """Plan and lock ``ops``; one answer per op: its units if prepared, else a reason dict.

        All or nothing within this partition: if any op fails, no lock is taken. A
        repeated prepare of a transaction already prepared here answers zero units.
        Raises ``PartitionMovedError`` if a key is not this partition's.
        """
        for op in ops:
            self.store.check_owned(op.key)
        if txid in self._keys_by_tx:
            return [0.0] * len(ops)
        reasons, plans = self._plan_all(txid, ops)
        if _failed(reasons):
            return reasons
        expires_at = self._clock() + lease
        for planned in plans:
            self.store.locks[planned.key] = Lock(txid=txid, ledger=ledger, planned=planned, expires_at=expires_at)
        self._keys_by_tx[txid] = [planned.key for planned in plans]
        return reasons

    def execute(self, ops: Sequence[TxOp]) -> list[Answer]:
        """Prepare and commit in one step: for a transaction whose items all live here."""
        for op in ops:
            self.store.check_owned(op.key)
        reasons, plans = self._plan_all(None, ops)
        if not _failed(reasons):
            for planned in plans:
                self.store.apply(planned)
        return reasons

    def _plan_all(self, txid: str | None, ops: Sequence[TxOp]) -> tuple[list[Answer], list[PlannedWrite]]:
        """One answer per op: the units it costs if it can go ahead, else the reason it cannot."""
        reasons: list[Answer] = []
        plans: list[PlannedWrite] = []
        try:
            self.store.meter.admit_write()
        except ProvisionedThroughputExceededException as error:
            return [{"Code": "ThrottlingError", "Message": error.message} for _ in ops], []
        for op in ops:
            lock = self.store.locks.get(op.key.key)
            if op.key.key in self.store.read_locks or (lock is not None and lock.txid != txid):
                reasons.append({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"})
                continue
            try:
                planned = self.store.plan(op)
                plans.append(planned)
                reasons.append(2 * planned.result.units)  # transactional writes cost double
            except ConditionalCheckFailedException as error:
                reason: dict[str, Any] = {"Code": "ConditionalCheckFailed", "Message": error.message}
                if error.item is not None:
                    reason["Item"] = error.item
                reasons.append(reason)
            except ValidationException as error:
                reasons.append({"Code": "ValidationError", "Message": error.message})
        self.store.meter.charge_write(sum(r for r in reasons if isinstance(r, float)))
        return reasons, plans

    def commit(self, txid: str) -> int:
        """Apply the transaction's planned writes and release its locks; idempotent."""
        keys = self._keys_by_tx.pop(txid, [])
        for key in keys:
            lock = self.store.locks.pop(key)
            self.store.apply(lock.planned)
        return len(keys)

    def abort(self, txid: str) -> int:
        """Release the transaction's locks (write or read), changing nothing; idempotent."""
        self._read_lease_ends.pop(txid, None)
        keys = self._keys_by_tx.pop(txid, [])
        for key in keys:
            del self.store.locks[key]
        for key in self._read_keys_by_tx.pop(txid, []):
            holders = self.store.read_locks.get(key)
            if holders is not None:
                holders.discard(txid)
                if not holders:
                    del self.store.read_locks[key]
        return len(keys)

    def expired(self, now: float) -> tuple[list[tuple[int, str]], list[str]]:
        """What outlived its lease at ``now`` (wall time), changing nothing.

        ``(ledger, txid)`` of transactions whose write locks here expired: ask their
        ledger, then commit or abort. And the readers whose read locks expired: they
        went quiet, and their locks just lapse (``abort``).
        """
        readers = [txid for txid, ends in self._read_lease_ends.items() if ends <= now]
        found: dict[str, int] = {}
        for lock in self.store.locks.values():
            if lock.expires_at <= now:
                found[lock.txid] = lock.ledger
        return [(ledger, txid) for txid, ledger in found.items()], readers

    def read(
        self, keys: Sequence[Any], lock_for: str | None = None, lease: float = 0.0
    ) -> tuple[list[bytes | str | None], int]:
        """Committed images of ``keys`` (``LOCKED`` for an item a write holds) and the log position.

        With ``lock_for``, every item no write holds is also read-locked for that
        reader until it releases them (``abort``) or the lease ends: no write can
        touch them in between. A reader gathers the rest in later calls.
        """
        for key in keys:
            self.store.check_owned(key)
        values: list[bytes | str | None] = [
            LOCKED if key.key in self.store.locks else self.store.get_encoded(key.key) for key in keys
        ]
        self.store.meter.charge_read(
            sum(read_units(len(v), transactional=True) for v in values if isinstance(v, bytes))
        )
        if lock_for is not None:
            held = self._read_keys_by_tx.setdefault(lock_for, [])
            for key, value in zip(keys, values, strict=True):
                if value != LOCKED:
                    self.store.read_locks.setdefault(key.key, set()).add(lock_for)
                    held.append(key.key)
            self._read_lease_ends[lock_for] = self._clock() + lease
        return values, self.store.log.last_sequence

    def validate(self, keys: Sequence[Any], since: int) -> bool:
        """True if no item of ``keys`` is locked now or was written after log position ``since``.

        Raises ``PartitionMovedError`` for a key this partition no longer owns: its log
        no longer sees that key's writes.
        """
        for key in keys:
            self.store.check_owned(key)
        wanted = {key.key for key in keys}
        if any(key in self.store.locks for key in wanted):
            return False
        if self.store.log.first_retained_sequence > since + 1:
            return False  # the log no longer reaches back that far: assume a change
        return not any(record[KEY] in wanted for record in self.store.log.read(after=since))

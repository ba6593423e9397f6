"""The logic of one table partition, as a plain class (the actor is a thin shell).

A partition owns the hashes ``low <= h < high`` of one table: its items, kept as
encoded bytes in a dict, a sorted index of their storage keys for Query and Scan,
and its change log. Every method runs to completion without awaiting, so inside the
async actor each operation is atomic: validate, evaluate, mutate, then log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sortedcontainers import SortedList

from actors.change_log import ChangeLog, RetentionPolicy
from actors.throttle import CapacityMeter
from grid._capacity import read_units, write_units
from grid._changes import ChangeEvent
from grid._codec import decode_item, encode_item
from grid._expressions import apply_update, evaluate_condition, parse_condition, parse_update
from grid._keys import KeySchema, StorageKey, hash_position
from grid._requests import (
    ConditionCheckOp,
    DeleteOp,
    ExpressionArgs,
    GetOp,
    ItemOp,
    Page,
    PutOp,
    QueryRequest,
    ScanRequest,
    UpdateOp,
    WriteResult,
)
from grid._types import MAX_ITEM_BYTES, item_size
from grid.errors import (
    ConditionalCheckFailedException,
    GridError,
    InternalServerError,
    PartitionMovedError,
    TransactionConflictException,
    TransactionInProgressException,
    ValidationException,
)

__all__ = ["HandOverItems", "PartitionStore", "PlannedWrite"]

OpResult = bytes | None | WriteResult | GridError
HandOverItems = list[tuple[bytes, bytes]]  # (storage key, encoded item) pairs that change partition
WriteOp = PutOp | UpdateOp | DeleteOp | ConditionCheckOp


def _write_units(old: bytes | None, new: bytes | None) -> float:
    """A write costs by the larger of the item before and after it."""
    return write_units(max(len(old) if old is not None else 0, len(new) if new is not None else 0))


@dataclass(slots=True, kw_only=True)
class PlannedWrite:
    """A write checked and computed against ``old``: ``new`` None deletes, ``new is old`` changes nothing."""

    key: bytes
    old: bytes | None
    new: bytes | None
    result: WriteResult


@dataclass(frozen=True, slots=True, kw_only=True)
class HandOver:
    """Items this partition handed over, kept until the move is known to be complete.

    Undoing it gives the partition back the items, the range up to ``high`` and the
    map version it had before.
    """

    entries: list[tuple[bytes, bytes]]
    high: int
    map_version: int


class PartitionStore:
    """Items, sorted key index and change log of the hash range ``[low, high)``."""

    def __init__(
        self,
        *,
        key_schema: KeySchema,
        low: int,
        high: int,
        map_version: int = 1,
        retention: RetentionPolicy | None = None,
        shard_id: str = "shard-0",
        parent_shard_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock`` stamps change records and meters writes (a replica passes its log entries' times)."""
        self.key_schema = key_schema
        self.low = low
        self.high = high
        self.map_version = map_version
        self.log = ChangeLog(retention, shard_id=shard_id, parent_shard_id=parent_shard_id, clock=clock)
        self.meter = CapacityMeter(write_clock=clock)
        self._items: dict[bytes, bytes] = {}
        self._index: SortedList = SortedList()
        self._stored_bytes = 0
        # Items held by prepared transactions: single-item writes to them are refused
        # (TransactionConflictException) until the transaction commits or aborts.
        self.locks: dict[bytes, Any] = {}
        # Items a snapshot read holds (TransactGetItems under contention): writes wait them out.
        self.read_locks: dict[bytes, set[str]] = {}
        # The last split or merge's items, until the router says the receiver holds them:
        # a router that dies mid-move can then put them back (they are shared, not copied).
        self.hand_over: HandOver | None = None

    # -- single-item operations -------------------------------------------------

    def execute(self, ops: Sequence[ItemOp]) -> list[OpResult]:
        """Apply a batch in order; each op's result or error sits at its position.

        One op's failure never affects another: every op is atomic on its own.
        """
        return [self.execute_one(op) for op in ops]

    def execute_one(self, op: ItemOp) -> OpResult:
        """One operation's result, or its error as a value."""
        try:
            return self._execute_one(op)
        except GridError as error:
            return error
        except Exception as error:  # a bug must fail one op, not the batch
            return InternalServerError(f"{type(error).__name__}: {error}")

    def _execute_one(self, op: ItemOp) -> OpResult:
        self.check_owned(op.key)
        if isinstance(op, GetOp):
            self.meter.admit_read()
            data = self._items.get(op.key.key)
            self.meter.charge_read(read_units(len(data) if data is not None else 0, consistent=op.consistent))
            return data
        self.meter.admit_write()
        if op.key.key in self.locks or op.key.key in self.read_locks:
            raise TransactionConflictException("Transaction is ongoing for the item")
        try:
            planned = self.plan(op)
        except ConditionalCheckFailedException:
            old = self._items.get(op.key.key)
            self.meter.charge_write(write_units(len(old) if old is not None else 0))  # a failed check still costs
            raise
        self.apply(planned)
        self.meter.charge_write(planned.result.units)
        return planned.result

    def get_encoded(self, key: bytes) -> bytes | None:
        """The committed image at storage key ``key``, encoded."""
        return self._items.get(key)

    def check_owned(self, key: StorageKey) -> None:
        if not self.low <= key.hash < self.high:
            raise PartitionMovedError(
                "The key's hash is no longer owned by this partition", map_version=self.map_version
            )

    def _check_condition(
        self, condition: str | None, args: ExpressionArgs, old: bytes | None, return_old: bool
    ) -> dict[str, Any] | None:
        """Evaluate ``condition`` on the current item; returns the decoded item if it was needed."""
        if condition is None:
            return None
        current = decode_item(old) if old is not None else {}
        if not evaluate_condition(parse_condition(condition), current, args.names, args.values):
            raise ConditionalCheckFailedException(
                "The conditional request failed", item=current if (return_old and old is not None) else None
            )
        return current

    def plan(self, op: WriteOp) -> PlannedWrite:
        """Check ``op`` against the current item and compute its effect, changing nothing.

        Raises ``ConditionalCheckFailedException`` or ``ValidationException``. A
        transaction plans at prepare time and applies the plan at commit; its lock
        keeps the current item from changing in between.
        """
        old = self._items.get(op.key.key)
        if isinstance(op, PutOp):
            self._check_condition(op.condition, op.args, old, op.return_old_on_failure)
            result = WriteResult(old=old if op.return_old else None, units=_write_units(old, op.item))
            return PlannedWrite(key=op.key.key, old=old, new=op.item, result=result)
        if isinstance(op, UpdateOp):
            return self._plan_update(op, old)
        if isinstance(op, DeleteOp):
            self._check_condition(op.condition, op.args, old, op.return_old_on_failure)
            result = WriteResult(old=old if op.return_old else None, units=_write_units(old, None))
            return PlannedWrite(key=op.key.key, old=old, new=None, result=result)
        if isinstance(op, ConditionCheckOp):
            self._check_condition(op.condition, op.args, old, op.return_old_on_failure)
            return PlannedWrite(key=op.key.key, old=old, new=old, result=WriteResult(units=_write_units(old, None)))
        raise ValidationException(f"Unknown operation {type(op).__name__}")

    def _plan_update(self, op: UpdateOp, old: bytes | None) -> PlannedWrite:
        current = self._check_condition(op.condition, op.args, old, op.return_old_on_failure)
        if current is None:
            current = decode_item(old) if old is not None else {}
        base = current if old is not None else dict(op.key_attributes)
        updated: tuple[str, ...] = ()
        if op.update is None:
            new_item = base
        else:
            outcome = apply_update(parse_update(op.update), base, op.args.names, op.args.values)
            new_item, updated = outcome.item, tuple(sorted(outcome.updated))
        for name in self.key_schema.names:
            if name in updated:
                raise ValidationException(
                    "One or more parameter values were invalid: Cannot update attribute "
                    f"{name}. This attribute is part of the key"
                )
        if item_size(new_item) > MAX_ITEM_BYTES:
            raise ValidationException("Item size to update has exceeded the maximum allowed size")
        new = encode_item(new_item)
        wants_old = op.return_values in ("ALL_OLD", "UPDATED_OLD")
        wants_new = op.return_values in ("ALL_NEW", "UPDATED_NEW")
        result = WriteResult(
            old=old if wants_old else None,
            new=new if wants_new else None,
            updated_names=updated,
            units=_write_units(old, new),
        )
        return PlannedWrite(key=op.key.key, old=old, new=new, result=result)

    def apply(self, planned: PlannedWrite) -> None:
        """Make a planned write real (the item must not have changed since it was planned)."""
        if planned.new is None:
            if planned.old is not None:
                self._remove(planned.key, planned.old)
        elif planned.new is not planned.old:
            self._store(planned.key, planned.old, planned.new)

    # -- mutation and the log: the only places items change ----------------------

    def _store(self, key: bytes, old: bytes | None, new: bytes) -> None:
        if old is not None and (old == new or (len(old) == len(new) and decode_item(old) == decode_item(new))):
            return  # a write that changes nothing leaves no record, as in DynamoDB
        if old is None:
            self._index.add(key)
            self._stored_bytes += len(new)
            event = ChangeEvent.INSERT
        else:
            self._stored_bytes += len(new) - len(old)
            event = ChangeEvent.MODIFY
        self._items[key] = new
        self.log.append(event, key, old, new)

    def _remove(self, key: bytes, old: bytes) -> None:
        del self._items[key]
        self._index.remove(key)
        self._stored_bytes -= len(old)
        self.log.append(ChangeEvent.REMOVE, key, old, None)

    # -- Query and Scan ---------------------------------------------------------

    def query(self, request: QueryRequest) -> Page:
        if not self.low <= request.hash < self.high:
            raise PartitionMovedError(
                "The key's hash is no longer owned by this partition", map_version=self.map_version
            )
        low, low_inclusive = request.low, request.low_inclusive
        high, high_inclusive = request.high, request.high_inclusive
        start = request.exclusive_start
        if start is not None and request.forward and start >= low:
            low, low_inclusive = start, False
        elif start is not None and not request.forward and start <= high:
            high, high_inclusive = start, False
        self.meter.admit_read()
        keys = self._index.irange(low, high, inclusive=(low_inclusive, high_inclusive), reverse=not request.forward)
        return self._metered(
            self._page(keys, request.limit, request.filter, request.args, request.count_only, request.max_bytes),
            request.consistent,
        )

    def scan(self, request: ScanRequest) -> Page:
        """Walk ``[low_hash, high_hash)``, which must lie within this partition's range."""
        low_hash, high_hash = request.low_hash, request.high_hash
        if not (self.low <= low_hash and high_hash <= self.high):
            raise PartitionMovedError(
                "The scanned range is no longer owned by this partition", map_version=self.map_version
            )
        low, low_inclusive = hash_position(low_hash), True
        if request.exclusive_start is not None and request.exclusive_start >= low:
            low, low_inclusive = request.exclusive_start, False
        high = hash_position(high_hash) if high_hash < (1 << 64) else None
        self.meter.admit_read()
        keys = self._index.irange(low, high, inclusive=(low_inclusive, False))
        return self._metered(
            self._page(keys, request.limit, request.filter, request.args, request.count_only, request.max_bytes),
            request.consistent,
        )

    def _metered(self, page: tuple[Page, int], consistent: bool) -> Page:
        """Charge a page by the bytes it evaluated (filtered-out items count too, as in DynamoDB)."""
        result, evaluated_bytes = page
        units = read_units(evaluated_bytes, consistent=consistent)
        self.meter.charge_read(units)
        return replace(result, units=units)

    def _page(
        self,
        keys: Iterator[bytes],
        limit: int | None,
        filter_text: str | None,
        args: ExpressionArgs,
        count_only: bool,
        max_bytes: int,
    ) -> tuple[Page, int]:
        condition = parse_condition(filter_text) if filter_text is not None else None
        items: list[bytes] = []
        count = scanned = size = 0
        last: bytes | None = None
        more = False
        for key in keys:
            if (limit is not None and scanned >= limit) or size >= max_bytes:
                more = True  # items remain: the page ends after ``last``
                break
            data = self._items[key]
            scanned += 1
            size += len(data)
            last = key
            if condition is not None and not evaluate_condition(condition, decode_item(data), args.names, args.values):
                continue
            count += 1
            if not count_only:
                items.append(data)
        last_key = self.key_schema.key_from_storage(decode_item(self._items[last])) if last is not None else None
        return Page(items=items, count=count, scanned_count=scanned, last_key=last_key, more=more), size

    # -- ownership changes and introspection --------------------------------------

    def split_off(self, at: int, map_version: int, child_shard_id: str | None = None) -> list[tuple[bytes, bytes]]:
        """Give up ``[at, high)``: return its items and refuse their keys from now on.

        Refused (``TransactionInProgressException``, retry later) while a transaction
        holds an item of that range: its lock must not move half-way.
        """
        if not self.low < at < self.high:
            raise ValidationException("split point outside the partition's range")
        entries = self._hand_over_from(at)
        self.hand_over = HandOver(entries=entries, high=self.high, map_version=self.map_version)
        self.high = at
        self.map_version = map_version
        if child_shard_id is not None:
            self.log.open_shard(child_shard_id)  # the stream's old shard closes; records go on in a child
        return entries

    def retire(self, map_version: int) -> list[tuple[bytes, bytes]]:
        """Give up the whole range (a merge into the lower neighbour): return every item, refuse every key.

        The log's shard closes and no child follows: the merged partition's next shard
        names it as a parent. The log itself stays readable.
        """
        entries = self._hand_over_from(self.low)
        self.hand_over = HandOver(entries=entries, high=self.high, map_version=self.map_version)
        self.high = self.low  # owns no hash: every request is refused as moved
        self.map_version = map_version
        self.log.close_shard()
        return entries

    def absorb_upper(
        self,
        entries: Iterable[tuple[bytes, bytes]],
        high: int,
        map_version: int,
        child_shard_id: str,
        other_parent: str,
    ) -> None:
        """Take over the upper neighbour's range ``[self.high, high)`` and its items (a merge).

        This log's shard closes and a child opens whose parents are it and ``other_parent``,
        the retired neighbour's last shard.
        """
        if high <= self.high:
            raise ValidationException("a merge must extend the partition's range upwards")
        self.ingest(entries)
        self.high = high
        self.map_version = map_version
        self.log.open_shard(child_shard_id, other_parents=(other_parent,))

    def take_back(
        self, entries: Iterable[tuple[bytes, bytes]], high: int, map_version: int, child_shard_id: str
    ) -> None:
        """Undo a hand-over whose receiver failed: own ``[low, high)`` and its items again.

        The log goes on in a new shard, a child of the one the hand-over closed, so
        stream readers keep their order.
        """
        if high < self.high:
            raise ValidationException("taking back must extend the partition's range upwards")
        self.ingest(entries)
        self.high = high
        self.map_version = map_version  # the map that was never published is forgotten
        self.log.open_shard(child_shard_id)
        self.hand_over = None

    def release_hand_over(self) -> None:
        """The receiver holds the items and the new map is out: forget them."""
        self.hand_over = None

    def undo_hand_over(self, child_shard_id: str, map_version: int) -> bool:
        """Take back the kept hand-over (its move was cut short) under ``map_version``; False if none is kept.

        The version goes on from the one the map is served with, never back: clients
        and stream actors may have seen the move's version.
        """
        if self.hand_over is None:
            return False
        kept = self.hand_over
        self.take_back(kept.entries, kept.high, max(map_version, kept.map_version), child_shard_id)
        return True

    def _hand_over_from(self, at: int) -> list[tuple[bytes, bytes]]:
        """Remove and return the items at hashes ``>= at``, unless a transaction holds one of them."""
        boundary = hash_position(at)
        if any(key >= boundary for key in [*self.locks, *self.read_locks]):
            raise TransactionInProgressException("A transaction holds items of the range to hand over; try again")
        moving = list(self._index.irange(boundary, None))
        entries = [(key, self._items.pop(key)) for key in moving]
        del self._index[len(self._index) - len(moving) :]
        self._stored_bytes -= sum(len(data) for _, data in entries)
        return entries

    def ingest(self, entries: Iterable[tuple[bytes, bytes]]) -> None:
        """Take over items moved from another partition (no change records: nothing changed)."""
        for key, data in entries:
            if key not in self._items:
                self._index.add(key)
                self._stored_bytes += len(data)
            else:
                self._stored_bytes += len(data) - len(self._items[key])
            self._items[key] = data

    @property
    def kept_hand_over(self) -> tuple[int, int] | None:
        """The kept hand-over's (high, map version) to undo to; None when none is kept."""
        return (self.hand_over.high, self.hand_over.map_version) if self.hand_over is not None else None

    @property
    def item_count(self) -> int:
        return len(self._items)

    @property
    def size_bytes(self) -> int:
        return self._stored_bytes

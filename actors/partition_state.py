"""A partition's state as each of its replicas holds it, changed only by commands from the group's log.

Every change to a partition, a client's batch of writes, a transaction's prepare or
commit, a split's hand-over, is a command appended to the replica group's log
(``actors.replication``); each replica applies the committed commands in log order
to its ``PartitionState``, so all of them hold the same items, locks, ranges and
change log. Applying is deterministic: time comes from the command (the leader's
clock when it proposed it), never from the replica's own clock, and so do the change
records' timestamps, transaction leases and write throttling.

A batch carries the client's request id: a batch applied once and proposed again (its
client tried again after a leader died) answers what it answered the first time.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from actors.change_log import RetentionPolicy
from actors.partition_store import HandOverItems, PartitionStore
from actors.system import PartitionConfig
from actors.transaction_participant import TransactionParticipant
from grid._requests import (
    ABORTED,
    COMMITTED,
    TxAbort,
    TxCommit,
    TxExecute,
    TxMessage,
    TxPrepare,
    TxRead,
    TxValidate,
    WriteResult,
    op_from_wire,
)
from grid.errors import GridError, StaleRouterError

__all__ = [
    "AbsorbUpper",
    "Batch",
    "Command",
    "FinishTransactions",
    "Ingest",
    "PartitionState",
    "Provision",
    "ReleaseHandOver",
    "Retire",
    "SetRetention",
    "SplitOff",
    "UndoHandOver",
    "shard_name",
]

TX_MESSAGES = (TxPrepare, TxCommit, TxAbort, TxExecute, TxRead, TxValidate)
# Answers kept for a repeat of their request id (a retry after failover).
REMEMBERED_REQUESTS = 10_000


def shard_name(partition_id: str, epoch: int) -> str:
    """A stream shard id shaped like DynamoDB's (SDKs check its length: 28 to 65 characters)."""
    return f"shardId-{epoch:020d}-{partition_id}"


# -- commands: what the group's log holds ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Batch:
    """Clients' single-item operations and transaction messages, in order (``to_wire`` tuples)."""

    wire_ops: tuple[tuple[Any, ...], ...]


# Moves carry the epoch of the router that sent them (``Fence``).


@dataclass(frozen=True, slots=True)
class Fence:
    """A restarted router's epoch: moves sent by an earlier router are refused from now on."""

    epoch: int


@dataclass(frozen=True, slots=True)
class SplitOff:
    at: int
    map_version: int
    epoch: int = 0


@dataclass(frozen=True, slots=True)
class Ingest:
    entries: HandOverItems
    parent_shard_id: str | None
    epoch: int = 0


@dataclass(frozen=True, slots=True)
class Retire:
    map_version: int
    epoch: int = 0


@dataclass(frozen=True, slots=True)
class ReleaseHandOver:
    epoch: int = 0


@dataclass(frozen=True, slots=True)
class UndoHandOver:
    map_version: int
    epoch: int = 0


@dataclass(frozen=True, slots=True)
class AbsorbUpper:
    entries: HandOverItems
    high: int
    map_version: int
    other_parent: str
    epoch: int = 0


@dataclass(frozen=True, slots=True)
class Provision:
    read_per_second: float | None
    write_per_second: float | None


@dataclass(frozen=True, slots=True)
class SetRetention:
    max_records: int
    max_age_seconds: float


@dataclass(frozen=True, slots=True)
class FinishTransactions:
    """Outcomes the leader learned for transactions whose locks outlived their lease, and readers that lapsed."""

    decided: tuple[tuple[str, str], ...]  # (txid, COMMITTED or ABORTED)
    lapsed_readers: tuple[str, ...]


Command = (
    Batch
    | Fence
    | SplitOff
    | Ingest
    | Retire
    | ReleaseHandOver
    | UndoHandOver
    | AbsorbUpper
    | Provision
    | SetRetention
    | FinishTransactions
)


MOVES = (SplitOff, Ingest, Retire, ReleaseHandOver, UndoHandOver, AbsorbUpper)


class _EntryClock:
    """The time of the command being applied: the same on every replica."""

    __slots__ = ("now",)

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class PartitionState:
    """Items, change log, locks and range of one partition; changed by ``apply`` only."""

    def __init__(self, config: PartitionConfig, retention: RetentionPolicy | None = None) -> None:
        self.partition_id = config.partition_id
        self.clock = _EntryClock()
        self.store = PartitionStore(
            key_schema=config.key_schema,
            low=config.low,
            high=config.high,
            map_version=config.map_version,
            retention=retention,
            shard_id=shard_name(config.partition_id, 0),
            clock=self.clock,
        )
        self.transactions = TransactionParticipant(self.store, clock=self.clock)
        # A split's new partition, until the items of its range arrive: a router restarted
        # before then stops it (the old partition still has them).
        self.awaiting_items = config.awaiting_items
        self.router_epoch = 0  # the newest router's epoch this partition knows (``Fence``)
        self._answered: OrderedDict[str, Any] = OrderedDict()

    # -- applying the log ----------------------------------------------------------------

    def apply(self, command: Command, at: float, request_id: str | None = None) -> Any:
        """Apply one committed command, stamped ``at`` by the leader that proposed it; its answer.

        A command whose ``request_id`` was applied before (its caller tried again after
        a failover) is not applied again: it answers, or raises, what it did the first time.
        """
        if request_id is not None and request_id in self._answered:
            answered = self._answered[request_id]
            if isinstance(answered, GridError):
                raise answered
            return answered
        self.clock.now = at
        try:
            answer = self._apply(command, at)
        except GridError as error:
            answer = error
        if request_id is not None:
            self._answered[request_id] = answer
            while len(self._answered) > REMEMBERED_REQUESTS:
                self._answered.popitem(last=False)
        if isinstance(answer, GridError):
            raise answer
        return answer

    def _apply(self, command: Command, at: float) -> Any:
        if isinstance(command, Batch):
            return self.run([op_from_wire(wire) for wire in command.wire_ops])
        if isinstance(command, Fence):
            self.router_epoch = max(self.router_epoch, command.epoch)
            return None
        if isinstance(command, MOVES):
            if command.epoch < self.router_epoch:
                raise StaleRouterError(
                    f"A move from router epoch {command.epoch}; this partition follows epoch {self.router_epoch}"
                )
            self.router_epoch = command.epoch
        store = self.store
        if isinstance(command, SplitOff):
            closed = store.log.shards[-1].shard_id
            entries = store.split_off(command.at, command.map_version, child_shard_id=self._next_shard_id())
            return entries, closed
        if isinstance(command, Ingest):
            store.ingest(command.entries)
            if command.parent_shard_id is not None:
                store.log.shards[0].parents = (command.parent_shard_id,)
            self.awaiting_items = False
            return None
        if isinstance(command, Retire):
            entries = store.retire(command.map_version)
            return entries, store.log.shards[-1].shard_id
        if isinstance(command, ReleaseHandOver):
            store.release_hand_over()
            return None
        if isinstance(command, UndoHandOver):
            return store.undo_hand_over(self._next_shard_id(), command.map_version)
        if isinstance(command, AbsorbUpper):
            store.absorb_upper(
                command.entries, command.high, command.map_version, self._next_shard_id(), command.other_parent
            )
            return None
        if isinstance(command, Provision):
            store.meter.provision(command.read_per_second, command.write_per_second)
            return None
        if isinstance(command, SetRetention):
            store.log.retention = RetentionPolicy(
                max_records=command.max_records, max_age_seconds=command.max_age_seconds
            )
            store.log.trim(at)
            return None
        for txid, state in command.decided:
            if state == COMMITTED:
                self.transactions.commit(txid)
            elif state == ABORTED:
                self.transactions.abort(txid)
        for reader in command.lapsed_readers:
            self.transactions.abort(reader)
        return None

    def run(self, messages: Sequence[Any]) -> list[Any]:
        """Apply a batch in order; write results as wire tuples, errors as values in their positions.

        Also how one replica serves a read-only batch on its own (``grid._requests.read_only``).
        """
        results: list[Any] = []
        for message in messages:
            if isinstance(message, TX_MESSAGES):
                results.append(self._transaction(message))
                continue
            result = self.store.execute_one(message)
            results.append(result.to_wire() if isinstance(result, WriteResult) else result)
        return results

    def _transaction(self, message: TxMessage) -> Any:
        """One transaction message (commits write through the store, so they reach the log)."""
        try:
            if isinstance(message, TxPrepare):
                return self.transactions.prepare(message.txid, message.ledger, message.lease, message.ops)
            if isinstance(message, TxCommit):
                return self.transactions.commit(message.txid)
            if isinstance(message, TxAbort):
                return self.transactions.abort(message.txid)
            if isinstance(message, TxExecute):
                return self.transactions.execute(message.ops)
            if isinstance(message, TxRead):
                return self.transactions.read(message.keys, message.lock_for, message.lease)
            return self.transactions.validate(message.keys, message.since)
        except GridError as error:
            return error

    def _next_shard_id(self) -> str:
        """The id the log's next shard takes (after a split, merge or undone hand-over)."""
        return shard_name(self.partition_id, len(self.store.log.shards))

    # -- snapshots -----------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """Everything a new replica needs to continue from here (the log after it follows)."""
        return pickle.dumps(self, protocol=5)

    @staticmethod
    def restore(snapshot: bytes) -> PartitionState:
        state = pickle.loads(snapshot)
        assert isinstance(state, PartitionState)
        return state

"""The partition actor: a thin async shell over ``PartitionStore``.

Each method calls the store without awaiting, so one operation (or one batch of
single-item operations) runs atomically on the actor's event loop. A method returns
its answer or raises a ``GridError``; in a batch (``execute``) each operation's error
is a value in its position, since one operation's failure is not the batch's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from actors.change_log import RetentionPolicy
from actors.partition_store import HandOverItems, PartitionStore
from actors.system import ActorSystem, PartitionConfig
from actors.transaction_participant import TransactionParticipant
from grid._changes import ChangeRecord, LogSlice
from grid._requests import (
    ABORTED,
    COMMITTED,
    Page,
    QueryRequest,
    ScanRequest,
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
from grid._services import PartitionStats
from grid.errors import GridError

__all__ = ["PartitionActor"]

SWEEP_INTERVAL_SECONDS = 0.2
LOG_LINGER_SECONDS = 0.002
TX_MESSAGES = (TxPrepare, TxCommit, TxAbort, TxExecute, TxRead, TxValidate)


def shard_name(partition_id: str, epoch: int) -> str:
    """A stream shard id shaped like DynamoDB's (SDKs check its length: 28 to 65 characters)."""
    return f"shardId-{epoch:020d}-{partition_id}"


class PartitionActor:
    def __init__(
        self, config: PartitionConfig, system: ActorSystem, *, retention: RetentionPolicy | None = None
    ) -> None:
        self.table_name = config.table_name
        self.partition_id = config.partition_id
        self._system = system
        # A split's new partition, until the items of its range arrive: a router restarted
        # before then stops it (the old partition still has them).
        self.awaiting_items = config.awaiting_items
        self.store = PartitionStore(
            key_schema=config.key_schema,
            low=config.low,
            high=config.high,
            map_version=config.map_version,
            retention=retention,
            shard_id=shard_name(config.partition_id, 0),
        )
        self._log_advanced = asyncio.Event()  # replaced each time it fires: waiters hold their own
        self.transactions = TransactionParticipant(self.store)
        self._sweeper: asyncio.Task[None] | None = None
        self._batches = 0
        self._service_seconds = 0.0

    async def ready(self) -> str:
        return self.partition_id

    async def execute(self, wire_ops: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Apply a batch of single-item operations and transaction messages, in order.

        They arrive as ``to_wire`` tuples; write results go back as tuples too, and
        errors as values in their positions.
        """
        started = time.perf_counter()
        results: list[Any] = []
        before = self.store.log.last_sequence
        for wire in wire_ops:
            message = op_from_wire(wire)
            if isinstance(message, TX_MESSAGES):
                results.append(self._transaction(message))
                continue
            result = self.store.execute_one(message)
            results.append(result.to_wire() if isinstance(result, WriteResult) else result)
        self._wake_log_readers(before)
        self._served(started)
        return results

    def _served(self, started: float) -> None:
        """Count one call and the time it took here (the table's service latency metric)."""
        self._batches += 1
        self._service_seconds += time.perf_counter() - started

    def _wake_log_readers(self, before: int | None = None) -> None:
        """Wake the stream pumps if the log advanced past ``before`` (always, without it: the lineage changed)."""
        if before is None or self.store.log.last_sequence != before:
            self._log_advanced.set()
            self._log_advanced = asyncio.Event()

    def _transaction(self, message: TxMessage) -> Any:
        """One transaction message (commits write through the store, so they reach the log)."""
        try:
            if isinstance(message, TxPrepare):
                self._ensure_sweeper()
                return self.transactions.prepare(message.txid, message.ledger, message.lease, message.ops)
            if isinstance(message, TxCommit):
                return self.transactions.commit(message.txid)
            if isinstance(message, TxAbort):
                return self.transactions.abort(message.txid)
            if isinstance(message, TxExecute):
                return self.transactions.execute(message.ops)
            if isinstance(message, TxRead):
                if message.lock_for is not None:
                    self._ensure_sweeper()
                return self.transactions.read(message.keys, message.lock_for, message.lease)
            return self.transactions.validate(message.keys, message.since)
        except GridError as error:
            return error

    async def query(self, request: QueryRequest) -> Page:
        started = time.perf_counter()
        try:
            return self.store.query(request)
        finally:
            self._served(started)

    async def scan(self, request: ScanRequest) -> Page:
        started = time.perf_counter()
        try:
            return self.store.scan(request)
        finally:
            self._served(started)

    async def split_off(self, at: int, map_version: int) -> tuple[HandOverItems, str]:
        """Hand over ``[at, high)``; answers its items and the stream shard that closed."""
        closed = self.store.log.shards[-1].shard_id
        entries = self.store.split_off(at, map_version, child_shard_id=self._next_shard_id())
        self._wake_log_readers()
        return entries, closed

    async def ingest(self, entries: HandOverItems, parent_shard_id: str | None = None) -> None:
        """Take over a split's items; this partition's stream shard is a child of ``parent_shard_id``."""
        self.store.ingest(entries)
        if parent_shard_id is not None:
            self.store.log.shards[0].parents = (parent_shard_id,)
        self.awaiting_items = False

    async def retire(self, map_version: int) -> tuple[HandOverItems, str]:
        """Hand over every item to the lower neighbour (a merge); answers them and the shard that closed.

        From now on every request is refused as moved; the log stays readable until the
        router stops this actor.
        """
        entries = self.store.retire(map_version)
        self._wake_log_readers()
        return entries, self.store.log.shards[-1].shard_id

    async def release_hand_over(self) -> None:
        """The last split's receiver holds its items and the new map is published."""
        self.store.release_hand_over()

    async def undo_hand_over(self, map_version: int) -> bool:
        """Own again what the last split or merge handed over: its receiver failed, or a restarted
        router found the move cut short."""
        undone = self.store.undo_hand_over(self._next_shard_id(), map_version)
        self._wake_log_readers()
        return undone

    async def absorb_upper(self, entries: HandOverItems, high: int, map_version: int, other_parent: str) -> None:
        """Take over the retired upper neighbour's range and items; the next shard names both parents."""
        self.store.absorb_upper(entries, high, map_version, self._next_shard_id(), other_parent)
        self._wake_log_readers()

    def _next_shard_id(self) -> str:
        """The id the log's next shard takes (after a split, merge or undone hand-over)."""
        return shard_name(self.partition_id, len(self.store.log.shards))

    async def read_log(self, after: int = 0, limit: int | None = None) -> list[ChangeRecord]:
        return self.store.log.read(after, limit)

    async def wait_log(self, after: int, limit: int, timeout: float) -> LogSlice:
        """Change records after ``after`` (waiting up to ``timeout`` for one), with the shard lineage.

        The stream actor long-polls this; writes only set an event per batch.
        """
        log = self.store.log
        log.trim()
        if log.last_sequence <= after and timeout > 0:
            waiter = self._log_advanced
            try:
                await asyncio.wait_for(waiter.wait(), timeout)
                await asyncio.sleep(LOG_LINGER_SECONDS)  # let a few more batches land: fewer, fuller calls
            except asyncio.TimeoutError:
                pass
        return LogSlice(
            records=log.read(after, limit),
            shards=[shard.describe() for shard in log.shards],
            first_retained=log.first_retained_sequence,
            last_sequence=log.last_sequence,
            map_version=self.store.map_version,
        )

    async def provision(self, read_per_second: float | None, write_per_second: float | None) -> None:
        """This partition's share of the table's provisioned throughput (None: on demand)."""
        self.store.meter.provision(read_per_second, write_per_second)

    async def set_retention(self, max_records: int, max_age_seconds: float) -> None:
        self.store.log.retention = RetentionPolicy(max_records=max_records, max_age_seconds=max_age_seconds)
        self.store.log.trim()

    # -- transactions whose coordinator went quiet -----------------------------------------

    def _ensure_sweeper(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_expired_locks())

    async def _sweep_expired_locks(self) -> None:
        """Finish transactions whose coordinator went quiet: ask their ledger, then commit or abort."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_SECONDS)
            for ledger, txid in self.transactions.expired():
                try:
                    state = await self._system.ledger(ledger).resolve(txid)
                except GridError:  # the ledger is unreachable now: ask again next round
                    continue
                if state == COMMITTED:
                    self.transactions.commit(txid)
                elif state == ABORTED:
                    self.transactions.abort(txid)

    async def stats(self) -> PartitionStats:
        totals = self.store.meter.totals
        store = self.store
        return PartitionStats(
            partition_id=self.partition_id,
            node_id=self._system.node_id(),
            awaiting_items=self.awaiting_items,
            item_count=store.item_count,
            size_bytes=store.size_bytes,
            low=store.low,
            high=store.high,
            map_version=store.map_version,
            hand_over=store.kept_hand_over,
            last_sequence=store.log.last_sequence,
            consumed_read_units=totals.read_units,
            consumed_write_units=totals.write_units,
            throttled_reads=totals.throttled_reads,
            throttled_writes=totals.throttled_writes,
            batches=self._batches,
            service_seconds=self._service_seconds,
        )

    def stop(self) -> None:
        """Stop background work (the lock sweeper); the process keeps the rest until it ends."""
        if self._sweeper is not None:
            self._sweeper.cancel()

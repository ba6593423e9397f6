"""The stream actor: one per table stream, fanning change records out to subscribers.

Partitions never push: a pump per partition long-polls the partition's change log
(``wait_log``), so a partition's write path only sets an event per batch. Records
land in a bounded buffer per shard; every subscriber reads from these buffers with
its own cursors, carried by the subscriber, so a slow or dead subscriber costs the
partitions and the other subscribers nothing. A subscriber behind the buffer is
served from the partition's log (the single record of every change), and one behind
the log's retention gets ``TrimmedDataAccessException``.

Shards map to partitions' logs; a split closes a shard and opens children that name
it, and a merge closes both neighbours' shards and opens one child that names both.
A subscriber is only given a child's records once it has read every parent to the
end, so order per key survives splits and merges. (DynamoDB's low-level shape has one
``ParentShardId``: GetRecords readers see a merged shard's first parent only.) A
partition retired by a merge stops; its shards' retained records move here first,
and age out here. Named consumers' checkpoints live here.

Ray restarts a stream actor that dies. What the partitions' logs cannot give back
(where the stream began, retired partitions' records, checkpoints) is stored in the
grid's key-value store before the call that changed it answers
(``actors.stream_journal``); the rest comes back from the logs as the pumps refill.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from actors.store_writer import StoreWriter
from actors.stream_journal import StreamJournal
from actors.system import ActorSystem
from grid._changes import SEQUENCE, TIMESTAMP, ChangeRecord, LogSlice, format_sequence
from grid._messages import describe_value
from grid._services import PartitionService
from grid.errors import (
    GridError,
    PartitionUnavailableError,
    ResourceNotFoundException,
    TrimmedDataAccessException,
    ValidationException,
)

__all__ = ["ShardState", "StreamActor", "StreamFanout"]

BUFFER_RECORDS_PER_SHARD = 20_000
PUMP_BATCH = 2_000
PUMP_WAIT_SECONDS = 1.0
POLL_LINGER_SECONDS = 0.005
DISCOVERY_RETRY_SECONDS = 0.02
DISCOVERY_MAX_RETRY_SECONDS = 1.0


@dataclass(slots=True, kw_only=True)
class ShardState:
    shard_id: str
    parents: tuple[str, ...]
    partition_id: str
    first_sequence: int
    last_sequence: int | None  # set once the shard is closed
    floor: int  # records at or below this belong to no stream (written before it was enabled)
    first_retained: int = 1
    pulled: int = 0  # highest sequence the pump has buffered
    latest: int = 0  # the log's end when last asked directly (it may run ahead of the pump)
    buffer: deque[ChangeRecord] = field(default_factory=lambda: deque(maxlen=BUFFER_RECORDS_PER_SHARD))
    # Set when the shard's partition retired (a merge): the buffer then holds every retained record.
    archived_for: float | None = None

    @property
    def start_after(self) -> int:
        """The cursor of a reader at this shard's trim horizon."""
        return max(self.floor, self.first_sequence - 1, self.first_retained - 1)

    def closed_and_read(self, cursor: int) -> bool:
        return self.last_sequence is not None and cursor >= self.last_sequence


class StreamFanout:
    """Shards, their buffers and consumers' checkpoints; the actor's plain logic."""

    def __init__(self) -> None:
        self.shards: dict[str, ShardState] = {}
        self.checkpoints: dict[str, dict[str, int]] = {}
        self.changed = asyncio.Event()

    def absorb(self, partition_id: str, piece: LogSlice, floor: int, through: int) -> None:
        """Take a partition's log slice: new shards, closes, and records into buffers.

        ``through`` is the sequence up to which this partition's records have now all
        been received (the slice's records are contiguous).
        """
        for shard_id, parents, first, last in piece.shards:
            shard = self.shards.get(shard_id)
            if shard is None:
                shard = self.shards[shard_id] = ShardState(
                    shard_id=shard_id,
                    parents=parents,
                    partition_id=partition_id,
                    first_sequence=first,
                    last_sequence=None,
                    floor=floor,
                )
            shard.last_sequence, shard.parents = last, parents
            if shard.archived_for is None:
                shard.first_retained = piece.first_retained
        shard = None
        for record in piece.records:
            if shard is None or (shard.last_sequence is not None and record[SEQUENCE] > shard.last_sequence):
                shard = self.shard_of(partition_id, record[SEQUENCE])  # once per shard the slice spans
            if shard is not None and record[SEQUENCE] > shard.pulled:
                shard.buffer.append(record)
                shard.pulled = record[SEQUENCE]
        for shard in self.shards.values():
            if shard.partition_id == partition_id and through >= shard.first_sequence - 1:
                end = through if shard.last_sequence is None else min(through, shard.last_sequence)
                shard.pulled = max(shard.pulled, end)
        self.changed.set()
        self.changed = asyncio.Event()

    def archive(self, partition_id: str, records: list[ChangeRecord], first_retained: int, retention: float) -> None:
        """Keep a retired partition's retained records here, for its shards' readers, until they age out."""
        for shard in self.shards.values():
            if shard.partition_id != partition_id:
                continue
            last = shard.last_sequence if shard.last_sequence is not None else first_retained - 1
            shard.buffer = deque(r for r in records if max(shard.floor, shard.first_sequence - 1) < r[SEQUENCE] <= last)
            shard.last_sequence = last
            shard.pulled = last
            shard.first_retained = first_retained
            shard.archived_for = retention
        self.changed.set()
        self.changed = asyncio.Event()

    def trim_archives(self, now: float) -> None:
        for shard in self.shards.values():
            if shard.archived_for is not None:
                buffer = shard.buffer
                while buffer and buffer[0][TIMESTAMP] < now - shard.archived_for:
                    buffer.popleft()
                shard.first_retained = buffer[0][SEQUENCE] if buffer else (shard.last_sequence or 0) + 1

    def shard_of(self, partition_id: str, sequence: int) -> ShardState | None:
        for shard in self.shards.values():
            if (
                shard.partition_id == partition_id
                and shard.first_sequence <= sequence
                and (shard.last_sequence is None or sequence <= shard.last_sequence)
            ):
                return shard
        return None

    def initial_cursors(self, start: str) -> dict[str, int]:
        if start not in ("TRIM_HORIZON", "LATEST"):
            raise ValidationException("start must be TRIM_HORIZON or LATEST")
        if start == "TRIM_HORIZON":
            return {shard_id: shard.start_after for shard_id, shard in self.shards.items()}
        return {
            shard_id: max(shard.pulled, shard.latest, shard.start_after)
            if shard.last_sequence is None
            else shard.last_sequence
            for shard_id, shard in self.shards.items()
        }

    def cursor(self, cursors: dict[str, int], shard: ShardState) -> int:
        return cursors.get(shard.shard_id, shard.start_after)

    def readable(self, cursors: dict[str, int]) -> list[ShardState]:
        """Shards a reader may take records from now: open to it once every ancestor is read to the end.

        Every ancestor, not only the parents: a merge's shard may close empty (merged
        again at once), and its own parents may still hold unread records.
        """
        finished = self._finished(cursors)
        return [
            shard
            for shard in self.shards.values()
            if all(finished.get(parent, True) for parent in shard.parents)
            and not shard.closed_and_read(self.cursor(cursors, shard))
        ]

    def _finished(self, cursors: dict[str, int]) -> dict[str, bool]:
        """Per shard: closed, read to its end by this reader, and so is every ancestor it has here."""
        finished: dict[str, bool] = {}
        for start in self.shards:
            stack = [start]
            while stack:  # depth-first without recursion: lineages grow with every split and merge
                shard_id = stack[-1]
                if shard_id in finished:
                    stack.pop()
                    continue
                shard = self.shards[shard_id]
                pending = [p for p in shard.parents if p in self.shards and p not in finished]
                if pending:
                    stack.extend(pending)
                    continue
                stack.pop()
                finished[shard_id] = shard.closed_and_read(self.cursor(cursors, shard)) and all(
                    finished.get(parent, True) for parent in shard.parents
                )
        return finished

    def from_buffer(self, shard: ShardState, after: int, limit: int) -> list[ChangeRecord] | None:
        """Records after ``after`` from the buffer, or None if the buffer no longer reaches back."""
        buffer = shard.buffer
        if after >= shard.pulled:
            return []
        if not buffer or buffer[0][SEQUENCE] > after + 1:
            # An archive holds every retained record: what it lacks is gone, so it starts the answer.
            return list(itertools.islice(buffer, limit)) if shard.archived_for is not None else None
        start = after + 1 - buffer[0][SEQUENCE]
        return [buffer[i] for i in range(start, min(len(buffer), start + limit))]

    def checkpoint(self, consumer: str, shard_id: str, sequence: int) -> None:
        positions = self.checkpoints.setdefault(consumer, {})
        positions[shard_id] = max(positions.get(shard_id, 0), sequence)

    def describe_shards(self) -> list[dict[str, Any]]:
        shards = []
        for shard in self.shards.values():
            described: dict[str, Any] = {
                "ShardId": shard.shard_id,
                "SequenceNumberRange": {"StartingSequenceNumber": format_sequence(shard.start_after + 1)},
            }
            if shard.parents:
                # DynamoDB names one parent; a merged shard's second parent is grid's own.
                described["ParentShardId"] = shard.parents[0]
            if shard.last_sequence is not None:
                described["SequenceNumberRange"]["EndingSequenceNumber"] = format_sequence(shard.last_sequence)
            shards.append(described)
        return shards


class StreamActor:
    """One table stream: pumps from partitions, serves polls, stores consumers' checkpoints."""

    def __init__(self, system: ActorSystem, *, table_name: str, table_id: str, label: str) -> None:
        self._system = system
        self.table_name = table_name
        self.table_id = table_id
        self.fanout = StreamFanout()
        self._pumps: dict[str, asyncio.Task[None]] = {}
        self._partitions: dict[str, PartitionService] = {}
        self._retired: set[str] = set()
        self._floors: dict[str, int] = {}  # where the stream began in the partitions it started with
        self._map_version = 0  # the newest table map this stream has followed
        self._wanted_version = 0  # the newest map version a partition has reported
        self._discovery: asyncio.Task[None] | None = None
        self._started = False
        self._journal = journal = StreamJournal(system.key_value(), table_id, label)
        self._writer = StoreWriter(
            version=lambda: journal.version, take=journal.take, write=journal.write, give_back=journal.give_back
        )
        records = journal.load()
        self._resuming = records is not None
        if records is not None:  # Ray restarted this actor: its partitions are found again at the first call
            self._floors = records.floors
            self.fanout.checkpoints = records.checkpoints
            for partition_id, shards in records.archives.items():
                self._retired.add(partition_id)
                self.fanout.shards.update((shard.shard_id, shard) for shard in shards)
            self._started = True

    async def start(self, partitions: list[tuple[str, PartitionService]]) -> None:
        """Begin at the partitions' current log ends: earlier writes are not part of this stream."""
        for partition_id, partition in partitions:
            await self._add_partition(partition_id, partition, floor=None)
        self._journal.floors_changed(lambda: dict(self._floors))
        await self._writer.stored()
        self._started = True

    def _resume(self) -> None:
        """After a restart, on the first call: follow the table's partitions again (from the router's map)."""
        if self._resuming:
            self._resuming = False
            self._wanted_version = max(self._wanted_version, 1)
            self._discovery = asyncio.get_running_loop().create_task(self._discover_partitions())

    async def _add_partition(self, partition_id: str, partition: PartitionService, floor: int | None) -> None:
        if partition_id in self._partitions or partition_id in self._retired:
            return
        piece = await partition.wait_log(1 << 62, 0, 0)
        if partition_id in self._partitions or partition_id in self._retired:
            return  # found, or merged away, while this asked
        start = piece.last_sequence if floor is None else floor
        if floor is None:
            self._floors[partition_id] = start
        self._partitions[partition_id] = partition
        empty = LogSlice([], piece.shards, piece.first_retained, start, piece.map_version)
        self._learn(partition_id, empty, through=start, floor=start)
        self._pumps[partition_id] = asyncio.get_running_loop().create_task(self._pump(partition_id, partition, start))

    def _learn(self, partition_id: str, piece: LogSlice, through: int, floor: int = 0) -> None:
        """Take a partition's slice, and follow the table's map if the partition has seen a newer one."""
        self.fanout.absorb(partition_id, piece, floor, through)
        if piece.map_version > self._map_version:
            self._wanted_version = max(self._wanted_version, piece.map_version)
            if self._discovery is None or self._discovery.done():
                self._discovery = asyncio.get_running_loop().create_task(self._discover_partitions())

    async def _pump(self, partition_id: str, partition: PartitionService, after: int) -> None:
        while True:
            try:
                piece = await partition.wait_log(after, PUMP_BATCH, PUMP_WAIT_SECONDS)
            except PartitionUnavailableError:
                self._partitions.pop(partition_id, None)  # gone (table deleted): nobody reads it again
                return
            if piece.records:
                after = piece.records[-1][SEQUENCE]
            self._learn(partition_id, piece, after)

    async def _discover_partitions(self) -> None:
        """After a split or merge, follow the table's new partitions (their shards are children).

        A partition hands its range over before the router publishes the map that
        shows it: ask (backing off) until the map is as new as any partition reported,
        also while the router restarts or holds the table. Runs beside the pumps,
        which go on meanwhile.
        """
        delay = DISCOVERY_RETRY_SECONDS
        while self._map_version < self._wanted_version:
            try:
                _, partition_map = await self._system.router().get_table(self.table_name)
            except ResourceNotFoundException:
                return  # the table is gone
            except GridError:
                pass  # the router is restarting, or holds the table: ask again
            else:
                for entry in partition_map.ranges:
                    floor = self._floors.get(entry.partition_id, 0)  # a split's child: from its start
                    await self._add_partition(entry.partition_id, entry.handle, floor=floor)
                self._map_version = max(self._map_version, partition_map.version)
            if self._map_version < self._wanted_version:
                await asyncio.sleep(delay)
                delay = min(2 * delay, DISCOVERY_MAX_RETRY_SECONDS)

    async def retire_partition(self, partition_id: str, partition: PartitionService, retention_seconds: float) -> None:
        """A merge retired this partition: keep its retained records here, then stop reading it.

        Called by the router after the partition handed its range over (its log is
        final) and before the router stops it; also for a partition this stream had
        not discovered yet (a split's child merged away at once): its records count.
        """
        self._resume()
        self._retired.add(partition_id)
        pump = self._pumps.pop(partition_id, None)
        if pump is not None:
            pump.cancel()
        piece = await partition.wait_log(1 << 62, 0, 0)
        self.fanout.absorb(partition_id, LogSlice([], piece.shards, piece.first_retained, 0), 0, 0)
        records: list[ChangeRecord] = []
        after = piece.first_retained - 1
        while after < piece.last_sequence:
            chunk = await partition.read_log(after, PUMP_BATCH * 10)
            if not chunk:
                break
            records.extend(chunk)
            after = chunk[-1][SEQUENCE]
        first = records[0][SEQUENCE] if records else piece.last_sequence + 1
        self.fanout.archive(partition_id, records, first, retention_seconds)
        self._journal.archive_changed(partition_id, lambda: self._archived(partition_id))
        await self._writer.stored()
        self._partitions.pop(partition_id, None)  # only now: until archived, readers still read its log

    def _archived(self, partition_id: str) -> list[ShardState] | None:
        if partition_id not in self._retired:
            return None
        return [shard for shard in self.fanout.shards.values() if shard.partition_id == partition_id]

    async def restore_partition(self, partition_id: str, partition: PartitionService) -> None:
        """A merge failed after ``retire_partition``: the partition writes again, in a new child shard.

        Without ``retire_partition`` before, nothing changes: its pump still reads it.
        """
        self._resume()
        if partition_id not in self._retired:
            return
        self._retired.discard(partition_id)
        self._journal.archive_changed(partition_id, lambda: self._archived(partition_id))
        await self._writer.stored()
        self._partitions.pop(partition_id, None)
        await self._add_partition(partition_id, partition, floor=0)

    async def _catch_up(self) -> None:
        """Learn each partition's current log end, so positions resolve against the present."""
        for partition_id, partition in list(self._partitions.items()):
            try:
                piece = await partition.wait_log(1 << 62, 0, 0)
            except PartitionUnavailableError:
                continue  # gone: its pump forgets it
            self._learn(partition_id, LogSlice([], piece.shards, piece.first_retained, 0, piece.map_version), 0)
            for shard in self.fanout.shards.values():
                if shard.partition_id == partition_id and shard.last_sequence is None:
                    shard.latest = max(shard.latest, piece.last_sequence)

    async def ready(self) -> bool:
        self._resume()
        return self._started

    async def subscribe(self, start: str, consumer: str | None) -> dict[str, int]:
        """Initial cursors: a named consumer's checkpoints, else the ``start`` position (stored for it)."""
        self._resume()
        if consumer is not None and consumer in self.fanout.checkpoints:
            positions = dict(self.fanout.checkpoints[consumer])
            self._check_retained(positions)
            return positions
        if start == "LATEST":
            await self._catch_up()  # LATEST means after every write acknowledged so far
        cursors = self.fanout.initial_cursors(start)
        if consumer is not None:
            self.fanout.checkpoints[consumer] = dict(cursors)
            await self._checkpoints_stored()
        return cursors

    async def _checkpoints_stored(self) -> None:
        self._journal.checkpoints_changed(lambda: {c: dict(p) for c, p in self.fanout.checkpoints.items()})
        await self._writer.stored()

    async def poll(self, cursors: dict[str, int], limit: int, wait: float) -> list[tuple[str, list[ChangeRecord]]]:
        """Records after ``cursors`` (shard by shard, each in order), waiting up to ``wait`` for any."""
        self._resume()
        self.fanout.trim_archives(time.time())
        deadline = time.monotonic() + wait
        lingered = False
        while True:
            self._check_retained(cursors)
            found = await self._collect(cursors, limit)
            remaining = deadline - time.monotonic()
            if found and not lingered and sum(len(r) for _, r in found) < limit // 4:
                # A few records: linger a moment so one call carries many (a call costs
                # the subscriber far more than a record does).
                lingered = True
                await asyncio.sleep(POLL_LINGER_SECONDS)
                continue
            if found or remaining <= 0:
                return found
            try:
                await asyncio.wait_for(self.fanout.changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def _collect(self, cursors: dict[str, int], limit: int) -> list[tuple[str, list[ChangeRecord]]]:
        found = []
        budget = limit
        for shard in self.fanout.readable(cursors):
            if budget <= 0:
                break
            records = await self._shard_records(shard, self.fanout.cursor(cursors, shard), budget)
            if records:
                found.append((shard.shard_id, records))
                budget -= len(records)
        return found

    async def _shard_records(self, shard: ShardState, after: int, limit: int) -> list[ChangeRecord]:
        """A shard's records after ``after``: from its buffer, else from its partition's log."""
        records = self.fanout.from_buffer(shard, after, limit)
        if records is None:  # behind the buffer: read the partition's log itself
            partition = self._partitions.get(shard.partition_id)
            # None: a partition being retired and not yet archived (the next poll gets it).
            records = await partition.read_log(after, limit) if partition is not None else []
        if shard.last_sequence is not None:
            records = [r for r in records if r[SEQUENCE] <= shard.last_sequence]
        return records

    def _check_retained(self, cursors: dict[str, int]) -> None:
        for shard_id, after in cursors.items():
            shard = self.fanout.shards.get(shard_id)
            if shard is not None and after < shard.first_retained - 1 and not shard.closed_and_read(after):
                raise TrimmedDataAccessException(
                    "The operation attempted to read past the oldest stream record in a shard."
                )

    async def checkpoint(self, consumer: str, shard_id: str, sequence: int) -> None:
        self._resume()
        self.fanout.checkpoint(consumer, shard_id, sequence)
        await self._checkpoints_stored()

    async def describe_shards(self) -> list[dict[str, Any]]:
        self._resume()
        return self.fanout.describe_shards()

    async def read_shard(self, shard_id: str, after: int, limit: int) -> tuple[list[ChangeRecord], bool]:
        """For GetRecords: records of one shard after ``after``, and whether the shard is closed and done."""
        self._resume()
        shard = self._shard(shard_id)
        self.fanout.trim_archives(time.time())
        if after < shard.first_retained - 1:
            raise TrimmedDataAccessException(
                "The operation attempted to read past the oldest stream record in a shard."
            )
        after = max(after, shard.floor)
        records = await self._shard_records(shard, after, limit)
        end = records[-1][SEQUENCE] if records else after
        return records, shard.closed_and_read(end)

    def _shard(self, shard_id: str) -> ShardState:
        shard = self.fanout.shards.get(shard_id)
        if shard is None:
            raise ResourceNotFoundException(
                f"Requested resource not found: Shard does not exist: {describe_value(shard_id)}"
            )
        return shard

    async def shard_position(self, shard_id: str, kind: str, sequence: int | None) -> int:
        """The cursor a shard iterator of ``kind`` starts from."""
        self._resume()
        shard = self._shard(shard_id)
        if kind == "TRIM_HORIZON":
            return shard.start_after
        if kind == "LATEST":
            await self._catch_up()
            if shard.last_sequence is not None:
                return shard.last_sequence
            return max(shard.pulled, shard.latest, shard.start_after)
        if sequence is None:
            raise ValidationException(f"SequenceNumber is required for {kind}")
        if sequence - 1 < shard.first_retained - 1:
            raise TrimmedDataAccessException(
                "The operation attempted to read past the oldest stream record in a shard."
            )
        return sequence - 1 if kind == "AT_SEQUENCE_NUMBER" else sequence

    def stop(self) -> None:
        """Stop pumping (the router deletes the table): background work ends here."""
        for task in self._pumps.values():
            task.cancel()
        if self._discovery is not None:
            self._discovery.cancel()

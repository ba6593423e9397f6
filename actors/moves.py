"""Partition moves: splits, merges and the resizes made of them, one at a time per router.

A move hands a range's items from one partition to another. The partition that hands
them over keeps them (its hand-over) until the router knows the receiver holds them
and has published the new map; if the receiver fails, or a restarted router finds
the move cut short (``actors.recovery``), the giver takes them back. The new map is
published only after the receiver holds the items, so a client refused by the giver
retries until it sees the new map, and no acknowledged write is lost.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable

from actors.background import Background
from actors.catalog import Catalog, TableEntry, wait_for_leader
from grid._partition_map import PartitionMap, PartitionRange
from grid._services import HandOverItems, PartitionService
from grid.errors import TransactionInProgressException, ValidationException

__all__ = ["PartitionMoves"]

RETIRED_PARTITION_GRACE_SECONDS = 2.0  # a merged-away partition answers calls already sent, then stops
UNLOCK_WAIT_SECONDS = 0.05
UNLOCK_TRIES = 600


class PartitionMoves:
    def __init__(self, catalog: Catalog, background: Background, epoch: int) -> None:
        self._catalog = catalog
        self._background = background
        self._epoch = epoch  # the router's: every move call carries it
        self.lock = asyncio.Lock()  # one move at a time; enabling a stream waits too

    async def split(self, name: str, partition_id: str, at: int | None = None) -> PartitionMap:
        """Split one partition at hash ``at`` (its middle by default), moving the upper half to a new actor.

        The old partition refuses the moved keys from the moment it hands them over;
        the new map is published only after the new partition holds them. No write is
        lost: every write lands either before the hand-over (and moves) or after it
        (on the new partition). If the new partition fails to take them, the old one
        takes them back.
        """
        async with self.lock:
            entry, current, source = self._partition_of(name, partition_id)
            at = (source.low + source.high) // 2 if at is None else at
            if not source.low < at < source.high:
                raise ValidationException("split point outside the partition's range")
            version = current.version + 1
            new_id = f"p{len(current.ranges)}-{uuid.uuid4().hex[:8]}"
            receiver = self._catalog.start_group(
                entry.spec, new_id, at, source.high, map_version=version, awaiting_items=True
            )
            try:
                await wait_for_leader(receiver)
                moved, closed_shard = await _when_unlocked(lambda: source.handle.split_off(at, version, self._epoch))
            except Exception:
                self._catalog.system.stop(receiver)  # nothing moved yet
                raise
            try:
                await receiver.ingest(moved, closed_shard, self._epoch)
            except Exception:
                # The new partition did not take the items: the source, which kept them, owns them again.
                try:
                    await source.handle.undo_hand_over(current.version, self._epoch)
                finally:
                    self._catalog.system.stop(receiver)
                raise
            entry.partition_map = current.with_split(partition_id, at, new_id, receiver)
            # Until now, a restarted router would undo the split. A source that died since
            # has nothing left to release: the new map is out either way.
            await asyncio.gather(source.handle.release_hand_over(self._epoch), return_exceptions=True)
            await self._catalog.provision(entry)  # each partition's share of the throughput changed
            return entry.partition_map

    async def merge(self, name: str, lower_id: str) -> PartitionMap:
        """Merge partition ``lower_id`` with its upper neighbour, which retires.

        The upper one hands over every item and refuses every key from then on; the
        lower one takes them and the range, and its next stream shard names both
        closed shards as parents. The retired partition's log moves into each stream
        actor first, and the partition stops a little later, once calls already on
        their way have been answered.
        """
        async with self.lock:
            entry, current, lower = self._partition_of(name, lower_id)
            upper = current.upper_neighbour(lower_id)
            if upper is None:
                raise ValidationException(f"Partition {lower_id} is the last on the ring: nothing to merge it with")
            version = current.version + 1
            moved, closed_shard = await _when_unlocked(lambda: upper.handle.retire(version, self._epoch))
            # Streams take the retired log (and learn its closed shard) before the merged
            # shard exists, so no reader can get to the merged shard before it.
            retention = entry.spec.grid_settings.stream_retention_seconds
            await asyncio.gather(
                *(s.service.retire_partition(upper.partition_id, upper.handle, retention) for s in entry.streams),
                return_exceptions=True,  # a stream actor that is gone needs no archive
            )
            try:
                await lower.handle.absorb_upper(moved, upper.high, version, closed_shard, self._epoch)
            except Exception:
                # The lower partition did not take the items: the upper one, which kept them, owns them again.
                await upper.handle.undo_hand_over(current.version, self._epoch)
                await asyncio.gather(
                    *(s.service.restore_partition(upper.partition_id, upper.handle) for s in entry.streams),
                    return_exceptions=True,
                )
                raise
            entry.partition_map = current.with_merge(lower_id)
            await self._catalog.provision(entry)
            self._stop_later(upper.handle)
            return entry.partition_map

    async def replicas_changed(self, name: str, partition_id: str, members: tuple[str, ...]) -> None:
        """A group replaced a lost replica: the map names its members from now on (a new version)."""
        async with self.lock:  # a move publishes maps too: one at a time
            entry = self._catalog.tables.get(name)
            if entry is None or entry.partition_map is None:
                return
            group = self._catalog.group_of(entry.spec.table_id, partition_id, members)
            if group is not None and any(r.partition_id == partition_id for r in entry.ranges):
                entry.partition_map = entry.partition_map.with_handle(partition_id, group)

    async def resize(self, entry: TableEntry, partitions: int) -> None:
        """Split the widest or merge the narrowest neighbours until the table has ``partitions``."""
        while len(entry.ranges) != partitions:
            ranges = entry.ranges
            if len(ranges) < partitions:
                widest = max(ranges, key=lambda r: r.high - r.low)
                await self.split(entry.spec.name, widest.partition_id)
            else:
                # The narrowest neighbours merge first: the ranges stay as even as they can.
                lower, _ = min(itertools.pairwise(ranges), key=lambda pair: pair[1].high - pair[0].low)
                await self.merge(entry.spec.name, lower.partition_id)

    def _partition_of(self, name: str, partition_id: str) -> tuple[TableEntry, PartitionMap, PartitionRange]:
        """An active table's entry, its current map and the range of ``partition_id`` in it."""
        entry = self._catalog.active(name)
        assert entry.partition_map is not None
        current = entry.partition_map
        partition = next((r for r in current.ranges if r.partition_id == partition_id), None)
        if partition is None:
            raise ValidationException(f"No partition {partition_id} in table {name}")
        return entry, current, partition

    def _stop_later(self, partition: PartitionService) -> None:
        async def stop() -> None:
            await asyncio.sleep(RETIRED_PARTITION_GRACE_SECONDS)
            self._catalog.system.stop(partition)

        self._background.spawn(stop())


async def _when_unlocked(
    hand_over: Callable[[], Awaitable[tuple[HandOverItems, str]]],
) -> tuple[HandOverItems, str]:
    """A partition's hand-over of a range (split or merge), waiting out transactions that hold items there."""
    for _ in range(UNLOCK_TRIES):
        try:
            return await hand_over()
        except TransactionInProgressException:
            await asyncio.sleep(UNLOCK_WAIT_SECONDS)
    raise TransactionInProgressException("Transactions kept the range to hand over locked")

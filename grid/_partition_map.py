"""A table's partition map: contiguous hash ranges, each owned by one partition.

The router is the map's only author; clients cache a copy and route by it. Every
change (a split, a merge, a replaced actor) yields a new map with a higher
``version``, and a partition that is asked for a key it no longer owns answers with
``PartitionMovedError`` so the client knows its copy is stale.

Partition handles are opaque here (Ray actor handles in practice): this module is
part of grid's Ray-free core.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field, replace
from typing import Any

from grid._keys import HASH_SPACE

__all__ = ["PartitionMap", "PartitionRange"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionRange:
    """Hashes ``low <= h < high`` belong to partition ``partition_id``."""

    partition_id: str
    low: int
    high: int
    handle: Any = None

    def owns(self, hash_value: int) -> bool:
        return self.low <= hash_value < self.high


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionMap:
    table_name: str
    table_id: str
    version: int
    ranges: tuple[PartitionRange, ...]
    lows: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Every routed request bisects these: computed once per map, not per request.
        object.__setattr__(self, "lows", tuple(entry.low for entry in self.ranges))
        expected_low = 0
        for entry in self.ranges:
            if entry.low != expected_low or entry.high <= entry.low:
                raise ValueError(f"partition ranges must tile the hash space: {self.ranges}")
            expected_low = entry.high
        if expected_low != HASH_SPACE:
            raise ValueError("partition ranges must cover the whole hash space")

    @staticmethod
    def uniform_bounds(count: int) -> list[tuple[int, int]]:
        """``count`` equal hash ranges covering the ring."""
        if count < 1:
            raise ValueError("a table needs at least one partition")
        cuts = [HASH_SPACE * i // count for i in range(count + 1)]
        return list(itertools.pairwise(cuts))

    def partition_for(self, hash_value: int) -> PartitionRange:
        """The range that owns ``hash_value``."""
        index = bisect.bisect_right(self.lows, hash_value) - 1
        return self.ranges[index]

    def overlapping(self, low: int, high: int) -> list[PartitionRange]:
        """Ranges that share hashes with ``[low, high)``, in ring order."""
        return [entry for entry in self.ranges if entry.low < high and low < entry.high]

    def with_split(self, partition_id: str, at: int, new_partition_id: str, new_handle: Any) -> PartitionMap:
        """A new version in which ``partition_id`` keeps ``[low, at)`` and the new one ``[at, high)``."""
        if all(entry.partition_id != partition_id for entry in self.ranges):
            raise ValueError(f"no partition {partition_id} in the map")
        ranges: list[PartitionRange] = []
        for entry in self.ranges:
            if entry.partition_id == partition_id:
                if not entry.low < at < entry.high:
                    raise ValueError("split point outside the partition's range")
                ranges.append(replace(entry, high=at))
                ranges.append(PartitionRange(partition_id=new_partition_id, low=at, high=entry.high, handle=new_handle))
            else:
                ranges.append(entry)
        return replace(self, version=self.version + 1, ranges=tuple(ranges))

    def with_merge(self, lower_id: str) -> PartitionMap:
        """A new version in which ``lower_id`` also owns its upper neighbour's range (which leaves the map)."""
        index = next((i for i, entry in enumerate(self.ranges) if entry.partition_id == lower_id), None)
        if index is None:
            raise ValueError(f"no partition {lower_id} in the map")
        if index + 1 >= len(self.ranges):
            raise ValueError(f"partition {lower_id} is the last on the ring: it has no upper neighbour")
        lower, upper = self.ranges[index], self.ranges[index + 1]
        merged = replace(lower, high=upper.high)
        ranges = (*self.ranges[:index], merged, *self.ranges[index + 2 :])
        return replace(self, version=self.version + 1, ranges=ranges)

    def with_handle(self, partition_id: str, handle: Any) -> PartitionMap:
        """A new version in which ``partition_id`` is reached through ``handle`` (its group's new members)."""
        ranges = tuple(replace(e, handle=handle) if e.partition_id == partition_id else e for e in self.ranges)
        return replace(self, version=self.version + 1, ranges=ranges)

    def upper_neighbour(self, partition_id: str) -> PartitionRange | None:
        """The range right above ``partition_id``'s on the ring (None for the last one)."""
        for entry, following in itertools.pairwise(self.ranges):
            if entry.partition_id == partition_id:
                return following
        return None

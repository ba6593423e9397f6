"""A table's versioned partition map (``grid/_partition_map.py``)."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from grid._keys import HASH_SPACE
from grid._partition_map import PartitionMap, PartitionRange


def uniform_map(count: int, version: int = 1) -> PartitionMap:
    ranges = tuple(
        PartitionRange(partition_id=f"p{i}", low=low, high=high, handle=f"handle-{i}")
        for i, (low, high) in enumerate(PartitionMap.uniform_bounds(count))
    )
    return PartitionMap(table_name="catalog", table_id="t-1", version=version, ranges=ranges)


def assert_tiles(ranges: tuple[PartitionRange, ...] | list[tuple[int, int]]) -> None:
    bounds = [(r.low, r.high) if isinstance(r, PartitionRange) else r for r in ranges]
    assert bounds[0][0] == 0
    assert bounds[-1][1] == HASH_SPACE
    for (_, high), (low, _) in itertools.pairwise(bounds):
        assert high == low
    assert all(low < high for low, high in bounds)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 16, 256])
def test_uniform_bounds_tile_the_ring_evenly(count: int) -> None:
    bounds = PartitionMap.uniform_bounds(count)
    assert len(bounds) == count
    assert_tiles(bounds)
    sizes = {high - low for low, high in bounds}
    assert max(sizes) - min(sizes) <= 1


def test_uniform_bounds_need_a_partition() -> None:
    with pytest.raises(ValueError):
        PartitionMap.uniform_bounds(0)


@pytest.mark.parametrize(
    "bounds",
    [
        [(0, 10), (11, HASH_SPACE)],  # gap
        [(0, 10), (5, HASH_SPACE)],  # overlap
        [(0, HASH_SPACE - 1)],  # misses the top of the ring
        [(1, HASH_SPACE)],  # misses the bottom
        [(0, 0), (0, HASH_SPACE)],  # empty range
        [],
    ],
)
def test_a_map_must_tile_the_ring(bounds: list[tuple[int, int]]) -> None:
    ranges = tuple(PartitionRange(partition_id=f"p{i}", low=lo, high=hi) for i, (lo, hi) in enumerate(bounds))
    with pytest.raises(ValueError):
        PartitionMap(table_name="t", table_id="t", version=1, ranges=ranges)


@pytest.mark.parametrize("count", [1, 4, 16])
def test_partition_for_at_every_boundary(count: int) -> None:
    pmap = uniform_map(count)
    assert pmap.partition_for(0) is pmap.ranges[0]
    assert pmap.partition_for(HASH_SPACE - 1) is pmap.ranges[-1]
    for entry in pmap.ranges:
        assert pmap.partition_for(entry.low) is entry
        assert pmap.partition_for(entry.high - 1) is entry
        assert pmap.partition_for((entry.low + entry.high) // 2) is entry
        assert entry.owns(entry.low) and entry.owns(entry.high - 1)
        assert not entry.owns(entry.high) and not entry.owns(entry.low - 1)


def test_with_split_bumps_the_version_and_keeps_tiling() -> None:
    pmap = uniform_map(4, version=5)
    target = pmap.ranges[1]
    at = (target.low + target.high) // 2
    split = pmap.with_split("p1", at, "p4", "handle-4")
    assert split.version == 6
    assert_tiles(split.ranges)
    assert [r.partition_id for r in split.ranges] == ["p0", "p1", "p4", "p2", "p3"]
    left, right = split.ranges[1], split.ranges[2]
    assert (left.low, left.high, left.handle) == (target.low, at, "handle-1")
    assert (right.low, right.high, right.handle) == (at, target.high, "handle-4")
    assert split.partition_for(at - 1).partition_id == "p1"
    assert split.partition_for(at).partition_id == "p4"
    assert (split.table_name, split.table_id) == (pmap.table_name, pmap.table_id)
    # The old map is a value: unchanged, so a client's cached copy stays coherent.
    assert pmap.version == 5 and len(pmap.ranges) == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        pmap.version = 9  # type: ignore[misc]


def test_repeated_splits_keep_tiling() -> None:
    pmap = uniform_map(1)
    for step in range(1, 6):
        widest = max(pmap.ranges, key=lambda r: r.high - r.low)
        pmap = pmap.with_split(widest.partition_id, (widest.low + widest.high) // 2, f"n{step}", None)
        assert pmap.version == 1 + step
        assert_tiles(pmap.ranges)
    assert len(pmap.ranges) == 6


@pytest.mark.parametrize("where", ["low", "high", "below", "above"])
def test_split_points_outside_the_partition_are_refused(where: str) -> None:
    pmap = uniform_map(4)
    target = pmap.ranges[2]
    at = {"low": target.low, "high": target.high, "below": target.low - 1, "above": target.high + 1}[where]
    with pytest.raises(ValueError, match="split point outside"):
        pmap.with_split("p2", at, "p9", None)


def test_split_of_an_unknown_partition_is_refused() -> None:
    pmap = uniform_map(4)
    with pytest.raises(ValueError):
        pmap.with_split("no-such-partition", HASH_SPACE // 2 + 1, "p9", None)


def test_overlapping_returns_ranges_in_ring_order() -> None:
    pmap = uniform_map(4)
    r = pmap.ranges
    assert pmap.overlapping(0, HASH_SPACE) == list(r)
    assert pmap.overlapping(r[1].low, r[1].high) == [r[1]]
    assert pmap.overlapping(r[1].low, r[1].high + 1) == [r[1], r[2]]
    assert pmap.overlapping(r[1].high - 1, r[3].low + 1) == [r[1], r[2], r[3]]
    assert pmap.overlapping(r[0].high - 1, r[0].high) == [r[0]]
    assert pmap.overlapping(r[3].low, HASH_SPACE) == [r[3]]


def test_merge_joins_neighbours_and_bumps_the_version() -> None:
    four = uniform_map(4, version=7)
    merged = four.with_merge("p1")
    assert merged.version == 8
    assert [r.partition_id for r in merged.ranges] == ["p0", "p1", "p3"]
    assert (merged.ranges[1].low, merged.ranges[1].high) == (four.ranges[1].low, four.ranges[2].high)
    assert merged.ranges[1].handle == "handle-1"
    assert_tiles(merged.ranges)
    for hash_value in (four.ranges[2].low, four.ranges[2].high - 1):
        assert merged.partition_for(hash_value).partition_id == "p1"


def test_merge_needs_a_partition_with_an_upper_neighbour() -> None:
    two = uniform_map(2)
    with pytest.raises(ValueError, match="upper neighbour"):
        two.with_merge("p1")
    with pytest.raises(ValueError, match="no partition"):
        two.with_merge("nope")
    assert two.upper_neighbour("p0") is two.ranges[1]
    assert two.upper_neighbour("p1") is None
    assert two.with_merge("p0").ranges == (dataclasses.replace(two.ranges[0], high=HASH_SPACE),)

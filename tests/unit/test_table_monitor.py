"""The table monitor's partition decisions and metrics (``actors/table_monitor.py``), on fake partitions."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest

from actors import table_monitor
from actors.table_monitor import PartitionLimits, TableMonitor
from grid._services import PartitionStats

LIMITS = PartitionLimits(max_bytes=1000, max_read_units=100.0, max_write_units=100.0, max_partitions=8)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakePartition:
    """Stands in for a partition range and its actor: ``handle.stats()`` answers its counters."""

    partition_id: str
    counters: PartitionStats = field(init=False)

    def __post_init__(self) -> None:
        self.counters = PartitionStats(
            partition_id=self.partition_id,
            node_id=None,
            awaiting_items=False,
            item_count=0,
            size_bytes=0,
            low=0,
            high=1,
            map_version=1,
            hand_over=None,
            last_sequence=0,
        )

    @property
    def handle(self) -> FakePartition:
        return self

    async def stats(self) -> PartitionStats:
        return self.counters

    def write(self, units: float) -> None:
        self.counters = dataclasses.replace(
            self.counters, consumed_write_units=self.counters.consumed_write_units + units
        )


class Table:
    def __init__(self, count: int, clock: FakeClock, min_partitions: int = 1) -> None:
        self.ranges = [FakePartition(f"p{i}") for i in range(count)]
        self.clock = clock
        self.splits: list[str] = []
        self.merges: list[str] = []
        self.limits = dataclasses.replace(LIMITS, min_partitions=min_partitions)

        async def split(pid: str) -> None:
            self.splits.append(pid)

        async def merge(lower: str) -> None:
            self.merges.append(lower)
            index = [p.partition_id for p in self.ranges].index(lower)
            del self.ranges[index + 1]  # the upper neighbour retires, its counters with it

        async def apply(read: int, write: int) -> None:
            pass

        self.monitor = TableMonitor(
            "t",
            ranges=lambda: self.ranges,
            provisioned=lambda: None,
            apply=apply,
            split=split,
            merge=merge,
            limits=lambda: self.limits,
            time_scale=60.0,  # a policy minute is one second: cold for 5 s merges
        )

    async def tick(self, seconds: float = 1.0) -> dict[str, Any] | None:
        self.clock.now += seconds
        return await self.monitor.sample()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(table_monitor.time, "monotonic", fake)
    monkeypatch.setattr(TableMonitor, "_export", lambda self, sample: None)
    return fake


async def test_a_partition_past_a_limit_splits_at_once(clock: FakeClock) -> None:
    table = Table(2, clock)
    assert await table.tick() is None  # the first tick only takes a baseline
    table.ranges[1].write(150.0)  # 150 write units in a second, past 100
    sample = await table.tick()
    assert table.splits == ["p1"] and table.merges == []
    assert sample is not None and sample["ConsumedWriteCapacityUnits"] == pytest.approx(150.0)
    assert [m["ConsumedWriteCapacityUnits"] for m in sample["PartitionMetrics"]] == pytest.approx([0.0, 150.0])


async def test_cold_neighbours_merge_only_after_staying_cold(clock: FakeClock) -> None:
    table = Table(3, clock)
    await table.tick()
    for _ in range(4):
        await table.tick()
        for partition in table.ranges:
            partition.write(10.0)  # a tenth of the limit: cold
    assert table.merges == []  # cold for 4 s: not yet
    for _ in range(2):
        await table.tick()
    assert table.merges == ["p0"] and len(table.ranges) == 2
    table.ranges[0].write(40.0)  # the merged partition is warm now (40 %): it stays
    for _ in range(10):
        await table.tick()
        table.ranges[0].write(40.0)
    assert table.merges == ["p0"]


async def test_merges_stop_at_the_configured_partition_count(clock: FakeClock) -> None:
    table = Table(3, clock, min_partitions=2)
    for _ in range(30):
        await table.tick()
    assert len(table.ranges) == 2 and len(table.merges) == 1


async def test_a_merged_away_partition_does_not_make_rates_negative(clock: FakeClock) -> None:
    table = Table(2, clock, min_partitions=2)
    await table.tick()
    table.ranges[1].write(500.0)
    table.splits.clear()
    await table.tick()
    del table.ranges[1]  # merged away between ticks, with its 500 units
    table.ranges[0].write(5.0)
    sample = await table.tick()
    assert sample is not None and sample["ConsumedWriteCapacityUnits"] == pytest.approx(5.0)
    assert sample["Partitions"] == 1


async def test_samples_are_exported_as_ray_gauges_per_table_and_partition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(table_monitor.time, "monotonic", clock)
    exported: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    class FakeGauge:
        def __init__(self, name: str) -> None:
            self.name = name

        def set(self, value: float, tags: dict[str, str]) -> None:
            exported[(self.name, tuple(sorted(tags.items())))] = value

    monkeypatch.setattr(table_monitor, "_gauge", lambda name, description, tag_keys=("table",): FakeGauge(name))
    table = Table(2, clock, min_partitions=2)
    await table.tick()
    table.ranges[0].write(30.0)
    table.ranges[1].counters = dataclasses.replace(table.ranges[1].counters, item_count=7)
    await table.tick()
    assert exported[("grid_consumed_write_units_per_second", (("table", "t"),))] == pytest.approx(30.0)
    assert exported[("grid_partitions", (("table", "t"),))] == 2.0
    assert ("grid_provisioned_write_units", (("table", "t"),)) not in exported  # on demand: no figure
    partition_p0 = (("partition", "p0"), ("table", "t"))
    assert exported[("grid_partition_consumed_write_units_per_second", partition_p0)] == pytest.approx(30.0)
    assert exported[("grid_partition_items", (("partition", "p1"), ("table", "t")))] == 7.0

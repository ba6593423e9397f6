"""Per-table metrics and the auto scaling loop, run inside the router.

Every tick the monitor reads each partition's counters (consumed and throttled units,
items, bytes, service time), turns them into per-second rates and keeps them as a
bounded time series, for the table and for each partition, which
``Grid.table_metrics`` reads and Ray's metrics export (so a cluster's Prometheus and
dashboard show them). Once per policy minute (one minute divided by the table's
``TimeScale``) it steps the read and write ``TargetTracker`` and applies their
decisions through the router.

It also manages partitions: a partition past a per-partition limit (size, read or
write units a second) splits at once; two neighbours that have both stayed cold
(under a quarter of every limit) for ``COLD_POLICY_MINUTES`` merge, never below the
table's configured partition count. A merged pair is under half of every limit, so
it does not split straight back.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from grid._autoscaling import ScalingSettings, TargetTracker
from grid._services import PartitionStats

__all__ = ["PartitionLimits", "TableMonitor"]

MAX_SAMPLES = 3600
COLD_PRESSURE = 0.25
COLD_POLICY_MINUTES = 5.0
# A partition's counters before it served anything.
_ZERO = PartitionStats(
    partition_id="",
    node_id=None,
    awaiting_items=False,
    item_count=0,
    size_bytes=0,
    low=0,
    high=0,
    map_version=0,
    hand_over=None,
    last_sequence=0,
)
_GAUGES: dict[str, Any] = {}


def _gauge(name: str, description: str, tag_keys: tuple[str, ...] = ("table",)) -> Any:
    """A Ray metrics gauge (created once per process)."""
    if name not in _GAUGES:
        from ray.util.metrics import Gauge

        _GAUGES[name] = Gauge(name, description=description, tag_keys=tag_keys)
    return _GAUGES[name]


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionLimits:
    """When a partition splits (any limit passed) and how many partitions a table may have."""

    max_bytes: int
    max_read_units: float
    max_write_units: float
    max_partitions: int
    min_partitions: int = 1

    def pressure(self, metrics: dict[str, Any]) -> float:
        """The partition's load as a fraction of its nearest limit (over 1: split it)."""
        return max(
            metrics["SizeBytes"] / self.max_bytes,
            metrics["ConsumedReadCapacityUnits"] / self.max_read_units,
            metrics["ConsumedWriteCapacityUnits"] / self.max_write_units,
        )


@dataclass(slots=True)
class Scaling:
    read: TargetTracker = field(default_factory=lambda: TargetTracker(ScalingSettings()))
    write: TargetTracker = field(default_factory=lambda: TargetTracker(ScalingSettings()))
    enabled: bool = False


class TableMonitor:
    def __init__(
        self,
        table_name: str,
        *,
        ranges: Callable[[], Sequence[Any]],
        provisioned: Callable[[], tuple[int, int] | None],
        apply: Callable[[int, int], Awaitable[None]],
        split: Callable[[str], Awaitable[None]] | None = None,
        merge: Callable[[str], Awaitable[None]] | None = None,
        limits: Callable[[], PartitionLimits] | None = None,
        time_scale: float = 1.0,
    ) -> None:
        self.table_name = table_name
        self.time_scale = time_scale
        self.scaling = Scaling()
        self.samples: deque[dict[str, Any]] = deque(maxlen=MAX_SAMPLES)
        self._provisioned = provisioned
        self._apply = apply
        self._split = split
        self._merge = merge
        self._ranges = ranges
        self._limits = limits
        self._counters: dict[str, PartitionStats] = {}  # each partition's stats at the last tick
        self._cold_since: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._last_tick: float | None = None
        self._minute = [0.0, 0.0, 0.0]  # real seconds, read units, write units in this policy minute

    @property
    def tick_seconds(self) -> float:
        return min(1.0, 60.0 / self.time_scale)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            try:
                await self.sample()
            except Exception:  # a partition restarting: skip this tick
                continue

    async def sample(self) -> dict[str, Any] | None:
        partitions_now = [entry.handle for entry in self._ranges()]
        answers = await asyncio.gather(*(p.stats() for p in partitions_now), return_exceptions=True)
        stats = [a for a in answers if isinstance(a, PartitionStats)]
        now = time.monotonic()
        last, self._last_tick = self._last_tick, now
        partitions = self._partition_metrics(stats, baseline=last is not None)
        if last is None:
            return None
        elapsed = max(now - last, 1e-6)
        # Table figures are sums of per-partition changes: a partition merged away takes
        # its counters with it, and a new one starts from zero.
        read = sum(m["ConsumedReadUnits"] for m in partitions)
        write = sum(m["ConsumedWriteUnits"] for m in partitions)
        for metrics in partitions:
            metrics["ConsumedReadCapacityUnits"] = metrics.pop("ConsumedReadUnits") / elapsed
            metrics["ConsumedWriteCapacityUnits"] = metrics.pop("ConsumedWriteUnits") / elapsed
        provisioned = self._provisioned()
        sample = {
            "Timestamp": time.time(),
            "ConsumedReadCapacityUnits": read / elapsed,
            "ConsumedWriteCapacityUnits": write / elapsed,
            "ProvisionedReadCapacityUnits": provisioned[0] if provisioned else None,
            "ProvisionedWriteCapacityUnits": provisioned[1] if provisioned else None,
            "ThrottledReadRequests": sum(m["ThrottledReadRequests"] for m in partitions),
            "ThrottledWriteRequests": sum(m["ThrottledWriteRequests"] for m in partitions),
            "Partitions": len(partitions_now),
            "ItemCount": sum(s.item_count for s in stats),
            "TableSizeBytes": sum(s.size_bytes for s in stats),
            "AverageServiceLatencyMs": _mean_latency_ms(partitions),
            "PartitionMetrics": partitions,
        }
        self.samples.append(sample)
        self._export(sample)
        await self._split_or_merge(partitions, now)
        await self._policy_minute(elapsed, read, write, provisioned)
        return sample

    def _partition_metrics(self, stats: list[PartitionStats], *, baseline: bool) -> list[dict[str, Any]]:
        """What each partition did since the last tick (one that is new since then, since it started)."""
        metrics = []
        counters, self._counters = self._counters, {entry.partition_id: entry for entry in stats}
        for entry in stats:
            before = counters.get(entry.partition_id, _ZERO if baseline else entry)
            metrics.append(
                {
                    "PartitionId": entry.partition_id,
                    "ConsumedReadUnits": entry.consumed_read_units - before.consumed_read_units,
                    "ConsumedWriteUnits": entry.consumed_write_units - before.consumed_write_units,
                    "ThrottledReadRequests": entry.throttled_reads - before.throttled_reads,
                    "ThrottledWriteRequests": entry.throttled_writes - before.throttled_writes,
                    "ItemCount": entry.item_count,
                    "SizeBytes": entry.size_bytes,
                    "Batches": entry.batches - before.batches,
                    "ServiceSeconds": entry.service_seconds - before.service_seconds,
                }
            )
        return metrics

    async def _policy_minute(
        self, elapsed: float, read: float, write: float, provisioned: tuple[int, int] | None
    ) -> None:
        minute = self._minute
        minute[0] += elapsed
        minute[1] += read
        minute[2] += write
        if minute[0] < 60.0 / self.time_scale:
            return
        seconds, read_units, write_units = minute
        self._minute = [0.0, 0.0, 0.0]
        if not self.scaling.enabled or provisioned is None:
            return
        new_read = self.scaling.read.step(read_units / seconds, provisioned[0])
        new_write = self.scaling.write.step(write_units / seconds, provisioned[1])
        if new_read is not None or new_write is not None:
            await self._apply(new_read or provisioned[0], new_write or provisioned[1])

    async def _split_or_merge(self, partitions: list[dict[str, Any]], now: float) -> None:
        """Split the partition furthest past a limit, else merge the coldest long-cold neighbours (one a tick)."""
        if self._limits is None:
            return
        limits = self._limits()
        pressure = {m["PartitionId"]: limits.pressure(m) for m in partitions}
        for pid in list(self._cold_since):
            if pid not in pressure:
                del self._cold_since[pid]  # merged away, or silent this tick: judged afresh
        for pid, value in pressure.items():
            if value >= COLD_PRESSURE:
                self._cold_since.pop(pid, None)
            else:
                self._cold_since.setdefault(pid, now)
        hottest = max(pressure.items(), key=lambda item: item[1], default=None)
        ranges = self._ranges()
        if self._split is not None and hottest is not None and hottest[1] > 1.0:
            if len(ranges) < limits.max_partitions:
                await self._split(hottest[0])
            return
        if self._merge is None or len(ranges) <= limits.min_partitions:
            return
        cold_for = COLD_POLICY_MINUTES * 60.0 / self.time_scale
        candidates = [
            (pressure[lower.partition_id] + pressure[upper.partition_id], lower.partition_id, upper.partition_id)
            for lower, upper in itertools.pairwise(ranges)
            if all(now - self._cold_since.get(p.partition_id, now) >= cold_for for p in (lower, upper))
        ]
        if candidates:
            _, lower_id, upper_id = min(candidates)
            for merged in (lower_id, upper_id):
                self._cold_since.pop(merged, None)  # the merged partition is judged afresh
            await self._merge(lower_id)

    def _export(self, sample: dict[str, Any]) -> None:
        """The sample as Ray metrics: per table, and per partition (tagged with its id)."""
        tags = {"table": self.table_name}
        for name, key in _TABLE_GAUGES:
            if sample[key] is not None:
                _gauge(name, f"grid table metric {key}").set(float(sample[key]), tags=tags)
        for metrics in sample["PartitionMetrics"]:
            partition_tags = {**tags, "partition": metrics["PartitionId"]}
            for name, key in _PARTITION_GAUGES:
                gauge = _gauge(name, f"grid partition metric {key}", ("table", "partition"))
                gauge.set(float(metrics[key]), tags=partition_tags)


_TABLE_GAUGES = (
    ("grid_consumed_read_units_per_second", "ConsumedReadCapacityUnits"),
    ("grid_consumed_write_units_per_second", "ConsumedWriteCapacityUnits"),
    ("grid_provisioned_read_units", "ProvisionedReadCapacityUnits"),
    ("grid_provisioned_write_units", "ProvisionedWriteCapacityUnits"),
    ("grid_throttled_read_requests", "ThrottledReadRequests"),
    ("grid_throttled_write_requests", "ThrottledWriteRequests"),
    ("grid_partitions", "Partitions"),
    ("grid_items", "ItemCount"),
    ("grid_table_bytes", "TableSizeBytes"),
    ("grid_service_latency_ms", "AverageServiceLatencyMs"),
)
_PARTITION_GAUGES = (
    ("grid_partition_consumed_read_units_per_second", "ConsumedReadCapacityUnits"),
    ("grid_partition_consumed_write_units_per_second", "ConsumedWriteCapacityUnits"),
    ("grid_partition_throttled_read_requests", "ThrottledReadRequests"),
    ("grid_partition_throttled_write_requests", "ThrottledWriteRequests"),
    ("grid_partition_items", "ItemCount"),
    ("grid_partition_bytes", "SizeBytes"),
)


def _mean_latency_ms(partitions: list[dict[str, Any]]) -> float | None:
    """The mean time a partition spent on a batch of requests this tick (None: no batches)."""
    batches = sum(m["Batches"] for m in partitions)
    return 1000.0 * sum(m["ServiceSeconds"] for m in partitions) / batches if batches else None

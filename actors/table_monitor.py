"""Per-table metrics and the auto scaling loop, run inside the router.

Every tick the monitor reads each partition's counters (consumed and throttled units,
items, bytes), turns them into per-second rates and keeps them as a bounded time
series, which ``Grid.table_metrics`` reads and Ray's metrics export (so a cluster's
Prometheus and dashboard show them). Once per policy minute (one minute divided by
the table's ``TimeScale``) it steps the read and write ``TargetTracker`` and applies
their decisions through the router.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from grid._autoscaling import ScalingSettings, TargetTracker

__all__ = ["TableMonitor"]

MAX_SAMPLES = 3600
_GAUGES: dict[str, Any] = {}


def _gauge(name: str, description: str) -> Any:
    """A Ray metrics gauge tagged by table (created once per process)."""
    if name not in _GAUGES:
        from ray.util.metrics import Gauge

        _GAUGES[name] = Gauge(name, description=description, tag_keys=("table",))
    return _GAUGES[name]


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
        partitions: Callable[[], list[Any]],
        provisioned: Callable[[], tuple[int, int] | None],
        apply: Callable[[int, int], Awaitable[None]],
        split: Callable[[str], Awaitable[None]] | None = None,
        limits: Callable[[], tuple[int, float, float, int]] | None = None,
        time_scale: float = 1.0,
    ) -> None:
        self.table_name = table_name
        self.time_scale = time_scale
        self.scaling = Scaling()
        self.samples: deque[dict[str, Any]] = deque(maxlen=MAX_SAMPLES)
        self._partitions = partitions
        self._provisioned = provisioned
        self._apply = apply
        self._split = split
        self._limits = limits
        self._per_partition: dict[str, tuple[float, float]] = {}
        self._task: asyncio.Task[None] | None = None
        self._last: tuple[float, float, float, int, int] | None = None
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
        handles = self._partitions()
        answers = await asyncio.gather(*(h.stats.remote() for h in handles), return_exceptions=True)
        stats = [a for a in answers if isinstance(a, dict)]
        now = time.monotonic()
        read = sum(s["consumed_read_units"] for s in stats)
        write = sum(s["consumed_write_units"] for s in stats)
        throttled_reads = sum(s["throttled_reads"] for s in stats)
        throttled_writes = sum(s["throttled_writes"] for s in stats)
        last, self._last = self._last, (now, read, write, throttled_reads, throttled_writes)
        if last is None:
            return None
        elapsed = max(now - last[0], 1e-6)
        provisioned = self._provisioned()
        sample = {
            "Timestamp": time.time(),
            "ConsumedReadCapacityUnits": (read - last[1]) / elapsed,
            "ConsumedWriteCapacityUnits": (write - last[2]) / elapsed,
            "ProvisionedReadCapacityUnits": provisioned[0] if provisioned else None,
            "ProvisionedWriteCapacityUnits": provisioned[1] if provisioned else None,
            "ThrottledReadRequests": throttled_reads - last[3],
            "ThrottledWriteRequests": throttled_writes - last[4],
            "Partitions": len(handles),
            "ItemCount": sum(s["item_count"] for s in stats),
            "TableSizeBytes": sum(s["size_bytes"] for s in stats),
        }
        self.samples.append(sample)
        self._export(sample)
        await self._split_hot_or_large(stats, elapsed)
        await self._policy_minute(elapsed, read - last[1], write - last[2], provisioned)
        return sample

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

    async def _split_hot_or_large(self, stats: list[dict[str, Any]], elapsed: float) -> None:
        """Split the partition furthest past a per-partition limit (one split a tick)."""
        if self._split is None or self._limits is None:
            return
        max_bytes, max_read, max_write, max_partitions = self._limits()
        worst: tuple[float, str] | None = None
        for entry in stats:
            pid = entry["partition_id"]
            before = self._per_partition.get(pid)
            self._per_partition[pid] = (entry["consumed_read_units"], entry["consumed_write_units"])
            if before is None:
                continue
            pressure = max(
                entry["size_bytes"] / max_bytes,
                (entry["consumed_read_units"] - before[0]) / elapsed / max_read,
                (entry["consumed_write_units"] - before[1]) / elapsed / max_write,
            )
            if pressure > 1.0 and (worst is None or pressure > worst[0]):
                worst = (pressure, pid)
        if worst is not None and len(stats) < max_partitions:
            await self._split(worst[1])

    def _export(self, sample: dict[str, Any]) -> None:
        tags = {"table": self.table_name}
        for name, key in (
            ("grid_consumed_read_units_per_second", "ConsumedReadCapacityUnits"),
            ("grid_consumed_write_units_per_second", "ConsumedWriteCapacityUnits"),
            ("grid_partitions", "Partitions"),
            ("grid_items", "ItemCount"),
        ):
            _gauge(name, f"grid table metric {key}").set(float(sample[key]), tags=tags)
        for name, key in (
            ("grid_provisioned_read_units", "ProvisionedReadCapacityUnits"),
            ("grid_provisioned_write_units", "ProvisionedWriteCapacityUnits"),
        ):
            if sample[key] is not None:
                _gauge(name, f"grid table metric {key}").set(float(sample[key]), tags=tags)

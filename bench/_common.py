"""Shared pieces of the benchmarks: latency summaries and the raw Ray round trip baseline."""

from __future__ import annotations

import statistics
import time
from typing import Any


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summarize(latencies: list[float], seconds: float) -> dict[str, float]:
    return {
        "ops_per_second": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "operations": len(latencies),
    }


class _Echo:
    async def echo(self, value: Any) -> Any:
        return value


async def ray_round_trip(calls: int = 2000) -> dict[str, float]:
    """Mean and p50 of one awaited call to an idle Ray async actor: the floor under every grid call."""
    import ray

    actor = ray.remote(_Echo).options(num_cpus=0).remote()
    await actor.echo.remote(0)
    samples = []
    for number in range(calls):
        started = time.perf_counter()
        await actor.echo.remote(number)
        samples.append(time.perf_counter() - started)
    ray.kill(actor)
    return {"mean_ms": statistics.fmean(samples) * 1000, "p50_ms": percentile(samples, 0.5) * 1000}


def cpu_busy_fraction_since(start: tuple[int, int] | None = None) -> tuple[int, int] | float:
    """The machine's busy CPU share since ``start`` (called without it: a starting point).

    Reads ``/proc/stat`` (Linux); elsewhere answers NaN. Context for latency figures: a
    tail is mostly queueing when the cores are nearly full.
    """
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except OSError:
        return float("nan") if start is not None else (0, 0)
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    if start is None:
        return (total, idle)
    spent = total - start[0]
    return 1.0 - (idle - start[1]) / spent if spent else float("nan")

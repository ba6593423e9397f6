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

"""Shared pieces of the benchmarks: latency summaries, closed-loop rates and the raw Ray round trip baseline."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any


def fixed_partitions(count: int) -> dict[str, Any]:
    """``GridSettings`` for a benchmark table that keeps ``count`` partitions all run long.

    Benchmark loads pass DynamoDB's per-partition limits, so tables would otherwise split
    (and later merge) by themselves mid-measurement.
    """
    return {"Partitions": count, "MaxPartitionWriteUnits": 1e9, "MaxPartitionReadUnits": 1e9}


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


def cpu_times() -> tuple[int, int] | None:
    """The machine's (total, idle) CPU time so far, from ``/proc/stat`` (Linux; elsewhere None)."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except OSError:
        return None
    return sum(fields[:8]), fields[3] + fields[4]


def cpu_busy_fraction(start: tuple[int, int] | None, end: tuple[int, int] | None) -> float:
    """How busy the cores were between two ``cpu_times`` readings (NaN if unknown).

    Context for latency figures: a tail is mostly queueing when the cores are nearly full.
    """
    if start is None or end is None or end[0] == start[0]:
        return float("nan")
    return 1.0 - (end[1] - start[1]) / (end[0] - start[0])


async def closed_loop_latencies(
    callers: int, seconds: float, operation: Callable[[random.Random], Awaitable[Any]], seed: int = 0
) -> dict[str, float]:
    """Rate and latency percentiles of ``callers`` loops of ``operation(rng)`` for ``seconds`` (``summarize``)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    rng = random.Random(seed)

    async def loop() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await operation(rng)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(callers)))
    return summarize(latencies, time.perf_counter() - started)


async def closed_loop_rate(callers: int, seconds: float, operation: Callable[[int, int], Awaitable[int]]) -> float:
    """Units per second done by ``callers`` loops of ``operation(caller, round) -> units``."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def loop(caller: int) -> None:
        nonlocal done
        number = 0
        while time.perf_counter() < deadline:
            units = await operation(caller, number)  # not `done += await ...`: that reads `done` before awaiting
            done += units
            number += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in range(callers)))
    return done / (time.perf_counter() - started)

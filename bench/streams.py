"""Stream lag and delivery rate under a steady write load, against the grid's write capacity.

First measures PutItem capacity (many concurrent writers, same run), then writes at
half of it (``--load``), open loop, while 1 and then 10 subscribers (each its own Ray actor, as
separate consumer processes would be) follow the table's stream. Lag is the time from
a write's acknowledgement to its record's delivery to a subscriber, measured two ways:
from when the writer saw the acknowledgement (which includes the writer's own
queueing when it is busy) and from when the partition committed the write and sent
the acknowledgement (the record's ``ApproximateCreationDateTime``).

    python -m bench.streams --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from typing import Any

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before Ray is imported: loopback only

import ray  # noqa: E402
import uvloop  # noqa: E402

import grid  # noqa: E402
from bench._common import closed_loop_rate, cpu_busy_fraction, cpu_times, fixed_partitions, percentile  # noqa: E402
from tests.seed import catalog_item  # noqa: E402

TABLE: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
}


class Subscriber:
    """A consumer process: follows the stream and notes when each record arrived."""

    async def follow(self, namespace: str, table: str, expected: int, timeout: float) -> dict[str, tuple[float, float]]:
        arrivals: dict[str, tuple[float, float]] = {}  # key: (delivered, committed)
        async with grid.connect(namespace=namespace) as client:
            reader = client.Table(table).stream(start="LATEST")
            await reader.__aenter__()
            self.ready = True

            async def read() -> None:
                async for record in reader:
                    body = record["dynamodb"]
                    arrivals[body["Keys"]["id"]] = (time.time(), body["ApproximateCreationDateTime"].timestamp())
                    if len(arrivals) >= expected:
                        return

            try:
                await asyncio.wait_for(read(), timeout)
            except asyncio.TimeoutError:
                pass
            await reader.close()
        return arrivals

    async def is_ready(self) -> bool:
        return getattr(self, "ready", False)


async def capacity(table: grid.Table, seconds: float, callers: int = 256) -> float:
    """PutItem per second from ``callers`` closed-loop writers: the write capacity."""
    document = catalog_item(1, 1)

    async def put(caller: int, number: int) -> int:
        await table.put_item(Item={**document, "id": f"cap-{caller}-{number % 50}"})
        return 1

    return await closed_loop_rate(callers, seconds, put)


async def steady_load(table: grid.Table, rate: float, seconds: float, prefix: str) -> dict[str, float]:
    """Open-loop writes at ``rate`` per second; answers each key's acknowledgement time."""
    document = catalog_item(2, 2)
    acked: dict[str, float] = {}
    total = int(rate * seconds)
    started = time.perf_counter()
    pending: set[asyncio.Task[None]] = set()

    async def write(key: str) -> None:
        await table.put_item(Item={**document, "id": key})
        acked[key] = time.time()

    for number in range(total):
        delay = started + number / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.ensure_future(write(f"{prefix}-{number}"))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    return acked


async def run_subscribers(
    client: grid.Grid, table: grid.Table, count: int, rate: float, seconds: float
) -> dict[str, float]:
    remote = ray.remote(Subscriber).options(num_cpus=0)
    subscribers = [remote.remote() for _ in range(count)]
    prefix = f"s{count}"
    expected = int(rate * seconds)
    follows = [s.follow.remote(client.namespace, table.name, expected, seconds + 30) for s in subscribers]
    while not all(await asyncio.gather(*(s.is_ready.remote() for s in subscribers))):
        await asyncio.sleep(0.05)
    cpu_start = cpu_times()
    acked = await steady_load(table, rate, seconds, prefix)
    busy = cpu_busy_fraction(cpu_start, cpu_times())
    arrivals = await asyncio.gather(*follows)
    lags = [seen[key][0] - acked[key] for seen in arrivals for key in acked if key in seen]
    commit_lags = [seen[key][0] - seen[key][1] for seen in arrivals for key in acked if key in seen]
    delivered = sum(len(seen) for seen in arrivals)
    for subscriber in subscribers:
        ray.kill(subscriber)
    return {
        "subscribers": count,
        "writes": len(acked),
        "delivered_records": delivered,
        "missing_records": count * len(acked) - len([1 for seen in arrivals for key in acked if key in seen]),
        "lag_p50_ms": percentile(lags, 0.5) * 1000 if lags else float("nan"),
        "lag_p99_ms": percentile(lags, 0.99) * 1000 if lags else float("nan"),
        "lag_from_commit_p50_ms": percentile(commit_lags, 0.5) * 1000 if lags else float("nan"),
        "lag_from_commit_p99_ms": percentile(commit_lags, 0.99) * 1000 if lags else float("nan"),
        "delivered_records_per_second": delivered / seconds,
        "cpu_busy_during_load": busy,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with grid.connect(namespace=f"bench-streams-{random.randrange(1 << 30):x}") as client:
        table = await client.create_table(TableName="events", **TABLE, GridSettings=fixed_partitions(args.partitions))
        write_capacity = await capacity(table, args.seconds)
        rate = write_capacity * args.load
        results = [await run_subscribers(client, table, count, rate, args.seconds) for count in args.subscribers]
        await client.delete_table(TableName="events")
    return {
        "partitions": args.partitions,
        "write_capacity_per_second": write_capacity,
        "load_writes_per_second": rate,
        "runs": results,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--load", type=float, default=0.5, help="the write load, as a fraction of capacity")
    print(json.dumps(uvloop.run(main(parser.parse_args())), indent=2))

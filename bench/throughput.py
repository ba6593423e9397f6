"""GetItem/PutItem throughput and latency of grid, against Ray's own round trip.

A 50/50 mix of GetItem and PutItem of seed-like catalog documents, by 1, 100 and
1000 concurrent callers (asyncio tasks of one client, on uvloop) against a table of
4 partitions on an embedded local Ray. The same run measures one awaited round trip
to an idle Ray actor, so the figures read as ratios on a shared, noisy machine.

    python -m bench.throughput --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from typing import Any

import uvloop

import grid
from bench._common import closed_loop_latencies, fixed_partitions, ray_round_trip
from tests.seed import CATALOG_TABLE, catalog_item

CUSTOMERS = 2500
SKUS = 4


ITEMS = [catalog_item(c, c * SKUS + n) for c in range(CUSTOMERS) for n in range(SKUS)]
KEYS = [{"customer_id": item["customer_id"], "sku": item["sku"]} for item in ITEMS]


async def run_callers(table: grid.Table, callers: int, seconds: float) -> dict[str, float]:
    async def mixed(rng: random.Random) -> Any:
        index = rng.randrange(len(ITEMS))
        if rng.random() < 0.5:
            return await table.put_item(Item=ITEMS[index])
        return await table.get_item(Key=KEYS[index])

    return await closed_loop_latencies(callers, seconds, mixed, seed=callers)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with grid.connect(namespace=f"bench-{random.randrange(1 << 30):x}") as client:
        table = await client.create_table(
            TableName="catalog",
            **CATALOG_TABLE,
            GridSettings=fixed_partitions(4),
        )
        await asyncio.gather(*(table.put_item(Item=item) for item in ITEMS))
        round_trip = await ray_round_trip()
        await run_callers(table, 100, 1.0)  # warm up workers, caches and the parse cache
        results = {str(c): await run_callers(table, c, args.seconds) for c in args.callers}
        await client.delete_table(TableName="catalog")
    for figures in results.values():
        # Operations served in the time of one bare Ray round trip, and latency in round trips.
        figures["ops_per_ray_round_trip"] = figures["ops_per_second"] * round_trip["mean_ms"] / 1000
        figures["p99_in_ray_round_trips"] = figures["p99_ms"] / round_trip["mean_ms"]
    return {"ray_round_trip": round_trip, "callers": results, "partitions": 4, "seconds_per_level": args.seconds}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--callers", type=int, nargs="+", default=[1, 100, 1000])
    print(json.dumps(uvloop.run(main(parser.parse_args())), indent=2))

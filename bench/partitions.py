"""Throughput as partitions are added, and how long a split and a merge take per GB moved.

The 50/50 Get/Put mix of ``bench.throughput`` at 1000 callers on tables of 1, 2, 4 and
8 partitions (on a 2-core machine it rises until the cores are full), as ratios to
the 1-partition figure of the same run; then a single partition loaded with seed-like
documents is split in two and merged back, each timed and reported in seconds per GB
moved. Writes a plot.

    python -m bench.partitions --seconds 5 --split-items 200000 --plot partitions.png
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from typing import Any

import uvloop

import grid
from bench._common import fixed_partitions
from bench.throughput import ITEMS, run_callers
from tests.seed import CATALOG_TABLE, catalog_item


async def split_and_merge_seconds_per_gb(client: grid.Grid, items: int) -> dict[str, float]:
    """Split a loaded partition in two, then merge the halves back: each timed, per GB moved."""
    table = await client.create_table(TableName="split", **CATALOG_TABLE, GridSettings=fixed_partitions(1))
    async with table.batch_writer() as batch:
        for number in range(items):
            await batch.put_item(Item=catalog_item(number // 4, number))
    route = await client.dispatcher.route("split")
    only = route.map.ranges[0]
    started = time.perf_counter()
    new_map = await client.dispatcher.router_call(lambda router: router.split_partition("split", only.partition_id))
    split = time.perf_counter() - started
    moved = (await new_map.ranges[1].handle.stats()).size_bytes
    started = time.perf_counter()
    await client.dispatcher.router_call(lambda router: router.merge_partitions("split", only.partition_id))
    merge = time.perf_counter() - started
    await client.delete_table(TableName="split")
    return {
        "items": items,
        "moved_bytes": moved,
        "split_seconds": split,
        "split_seconds_per_gb": split / (moved / 1e9),
        "merge_seconds": merge,
        "merge_seconds_per_gb": merge / (moved / 1e9),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"ops_per_second": {}}
    async with grid.connect(namespace=f"bench-partitions-{random.randrange(1 << 30):x}") as client:
        for count in args.partitions:
            table = await client.create_table(
                TableName=f"parts-{count}", **CATALOG_TABLE, GridSettings=fixed_partitions(count)
            )
            await asyncio.gather(*(table.put_item(Item=item) for item in ITEMS))
            await run_callers(table, 1000, 1.0)  # warm-up
            results["ops_per_second"][str(count)] = (await run_callers(table, 1000, args.seconds))["ops_per_second"]
            await client.delete_table(TableName=f"parts-{count}")
        base = results["ops_per_second"][str(args.partitions[0])]
        results["ratio_to_first"] = {k: v / base for k, v in results["ops_per_second"].items()}
        results["split_and_merge"] = await split_and_merge_seconds_per_gb(client, args.split_items)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axis = plt.subplots(figsize=(6, 4))
        axis.plot([int(k) for k in results["ops_per_second"]], list(results["ops_per_second"].values()), marker="o")
        axis.set_xlabel("partitions")
        axis.set_ylabel("operations per second (1000 callers)")
        axis.set_title("grid throughput by partition count (2 cores)")
        figure.tight_layout()
        figure.savefig(args.plot)
        results["plot"] = args.plot
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--partitions", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--split-items", type=int, default=200_000)
    parser.add_argument("--plot", default="partitions.png")
    print(json.dumps(uvloop.run(main(parser.parse_args())), indent=2))

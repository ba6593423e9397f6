"""A grid on a simulated three-node Ray cluster; run as a script, prints a JSON report.

It runs in its own process because ``ray.cluster_utils.Cluster`` starts Ray of its
own, which cannot share a driver with the test session's Ray instance.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before Ray is imported

import ray
from ray.cluster_utils import Cluster

import grid
from tests.seed import CATALOG_TABLE, catalog_item


async def exercise(address: str) -> dict[str, Any]:
    async with grid.connect(address, namespace="multinode") as client:
        table = await client.create_table(TableName="catalog", **CATALOG_TABLE, GridSettings={"Partitions": 6})
        items = [catalog_item(customer, 0) for customer in range(300)]
        await asyncio.gather(*(table.put_item(Item=item) for item in items))
        answers = await asyncio.gather(
            *(table.get_item(Key={"customer_id": i["customer_id"], "sku": i["sku"]}) for i in items)
        )
        route = await client.dispatcher.route("catalog")
        stats = [await partition.handle.stats() for partition in route.map.ranges]
        scanned = (await table.scan())["Count"]
        return {
            "nodes": len({s.node_id for s in stats}),
            "partitions": len(stats),
            "items_per_partition": [s.item_count for s in stats],
            "all_read_back": all(a.get("Item", {}).get("sku") == i["sku"] for a, i in zip(answers, items, strict=True)),
            "scanned": scanned,
        }


def on_three_nodes(exercise: Callable[[Cluster, list[Any]], Awaitable[dict[str, Any]]]) -> None:
    """Run ``exercise(cluster, worker nodes)`` on a fresh three-node cluster; print its report as JSON."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    try:
        ray.init(address=cluster.address, logging_level=logging.WARNING, log_to_driver=False)
        report = asyncio.run(exercise(cluster, workers))
        report["cluster_nodes"] = len([n for n in ray.nodes() if n["Alive"]])
    finally:
        ray.shutdown()
        cluster.shutdown()
    json.dump(report, sys.stdout)


def main() -> None:
    on_three_nodes(lambda cluster, _: exercise(cluster.address))


if __name__ == "__main__":
    main()

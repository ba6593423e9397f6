"""Replicas die on a simulated three-node Ray cluster under 40 writers; run as a script, prints a JSON report.

Replicas of each partition start on three distinct nodes. Under the load, a leader is
killed, then a follower (each replaced on the node its group lacks), then a worker node
holding a leader is removed (``Cluster.remove_node``: its raylet and every process on
it die); the groups elect new leaders on the surviving nodes and replace the lost replicas.
The report says whether every acknowledged write reads back, whether the contended
keys' histories are linearizable, and how many voting replicas each partition has.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before Ray is imported

from ray.cluster_utils import Cluster

import grid
from tests.faults import WriteLoad, group, kill, replica_counts, until
from tests.multinode.scenario import on_three_nodes
from tests.seed import CATALOG_TABLE


async def whole(client: grid.Grid) -> bool:
    return all(count == 3 for count in await replica_counts(client, "catalog"))


async def leader_nodes(client: grid.Grid) -> list[str]:
    """The node of each partition's leader."""
    placement = (await client.describe_table(TableName="catalog"))["Table"]["GridReplicas"]
    return [
        replica["NodeId"]
        for partition in placement["Partitions"]
        for replica in partition["Replicas"]
        if replica["ReplicaId"] == partition["Leader"]
    ]


async def exercise(cluster: Cluster, workers: list[Any]) -> dict[str, Any]:
    async with grid.connect(cluster.address, namespace="node-loss") as client:
        table = await client.create_table(
            TableName="catalog",
            **CATALOG_TABLE,
            # Four partitions throughout (no split or merge of its own under this load): a
            # worker node almost surely holds a leader (leaders are where their groups start).
            GridSettings={"Partitions": 4, "Replicas": 3, "MaxPartitionWriteUnits": 1e9, "MaxPartitionReadUnits": 1e9},
        )
        placement = (await client.describe_table(TableName="catalog"))["Table"]["GridReplicas"]
        async with WriteLoad(table) as load:
            await asyncio.sleep(2.0)
            for position, leader in ((0, True), (1, False)):
                await kill(await group(client, "catalog", position), leader=leader)
                await until(lambda: whole(client), timeout=90, what="the group repaired")
            repaired = (await client.describe_table(TableName="catalog"))["Table"]["GridReplicas"]
            leaders = await leader_nodes(client)
            victim = max(workers, key=lambda node: leaders.count(node.node_id))  # type: ignore[attr-defined]
            before = load.writes
            removed_at = time.monotonic()
            cluster.remove_node(victim)  # type: ignore[arg-type]
            await asyncio.sleep(8.0)
            writes_after = load.writes - before
        elapsed = time.monotonic() - removed_at
        lost: list[str] = []
        try:
            await load.check_acknowledged()
        except (AssertionError, grid.errors.GridError) as error:
            lost.append(f"{type(error).__name__}: {error}")
        try:
            load.check_linearizable()
            linearizable = True
        except AssertionError:
            linearizable = False
        try:
            await until(lambda: whole(client), timeout=90)
        except AssertionError:
            pass  # reported below
        counts = await replica_counts(client, "catalog")
        return {
            "partitions_sharing_a_node_at_start": placement["PartitionsSharingANode"],
            "partitions_sharing_a_node_after_repairs": repaired["PartitionsSharingANode"],
            "nodes_by_partition": [sorted(r["NodeId"][:6] for r in p["Replicas"]) for p in placement["Partitions"]],
            "victim_held_a_leader": victim.node_id in leaders,  # type: ignore[attr-defined]
            "acknowledged_writes": load.writes,
            "writes_after_removal": writes_after,
            "seconds_observed": round(elapsed, 1),
            "lost": lost,
            "linearizable": linearizable,
            "replica_counts": counts,
            "nodes_by_partition_after_repairs": [
                sorted(r["NodeId"][:6] for r in p["Replicas"]) for p in repaired["Partitions"]
            ],
            "victim": victim.node_id[:6],  # type: ignore[attr-defined]
        }


def main() -> None:
    on_three_nodes(exercise)


if __name__ == "__main__":
    main()

"""A node of a simulated three-node Ray cluster is removed under 40 writers; run as a script, prints a JSON report.

Replicas of each partition start on three distinct nodes. A worker node holding a
leader is removed (``Cluster.remove_node``: its raylet and every process on it die);
the groups elect new leaders on the surviving nodes and replace the lost replicas.
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
from tests.faults import WriteLoad, replica_counts
from tests.multinode.scenario import on_three_nodes
from tests.seed import CATALOG_TABLE


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
        leaders = [
            replica["NodeId"]
            for partition in placement["Partitions"]
            for replica in partition["Replicas"]
            if replica["ReplicaId"] == partition["Leader"]
        ]
        victim = max(workers, key=lambda node: leaders.count(node.node_id))  # type: ignore[attr-defined]
        async with WriteLoad(table) as load:
            await asyncio.sleep(2.0)
            before = load.writes
            removed_at = time.monotonic()
            cluster.remove_node(victim)  # type: ignore[arg-type]
            await asyncio.sleep(8.0)
            writes_after = load.writes - before
        elapsed = time.monotonic() - removed_at
        lost: list[str] = []
        try:
            await load.check_acknowledged()
        except AssertionError as error:
            lost.append(str(error))
        try:
            load.check_linearizable()
            linearizable = True
        except AssertionError:
            linearizable = False
        counts: list[int] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            counts = await replica_counts(client, "catalog")
            if all(count == 3 for count in counts):
                break
            await asyncio.sleep(0.5)
        return {
            "partitions_sharing_a_node_at_start": placement["PartitionsSharingANode"],
            "nodes_by_partition": [sorted(r["NodeId"][:6] for r in p["Replicas"]) for p in placement["Partitions"]],
            "victim_held_a_leader": victim.node_id in leaders,  # type: ignore[attr-defined]
            "acknowledged_writes": load.writes,
            "writes_after_removal": writes_after,
            "seconds_observed": round(elapsed, 1),
            "lost": lost,
            "linearizable": linearizable,
            "replica_counts": counts,
        }


def main() -> None:
    on_three_nodes(exercise)


if __name__ == "__main__":
    main()

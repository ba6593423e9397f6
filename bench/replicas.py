"""What replicas cost and what failover takes: Replicas 1 against Replicas 3 in one run.

- PutItem and GetItem (strongly consistent) per second and p99 at 100 and 1000
  callers, on a table of 2 partitions with 1 replica and on one with 3;
- eventually consistent GetItem (DynamoDB's default) with 1 and with 3 replicas
  (any in-sync replica serves them);
- failover stall: under 40 writers, the leader of a partition is killed ``--kills``
  times; the stall is the longest a write to that partition waited from the kill
  until writes flowed again (p50 and p99 over the kills);
- repair: the time from a follower's death to a new replica voting in the group,
  for a partition holding ``--repair-mb`` of catalog documents (seconds per GB);
- the memory (RSS) of one idle replica process.

    python -m bench.replicas --seconds 5 --kills 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from typing import Any

import uvloop

import grid
from bench._common import closed_loop_latencies, fixed_partitions, percentile
from grid._groups import ReplicaGroup
from tests.seed import CATALOG_TABLE, catalog_item

ITEMS = [catalog_item(c, n) for c in range(2000) for n in range(2)]
KEYS = [{"customer_id": item["customer_id"], "sku": item["sku"]} for item in ITEMS]


async def closed_loop(table: grid.Table, operation: str, callers: int, seconds: float) -> dict[str, float]:
    async def call(rng: random.Random) -> Any:
        index = rng.randrange(len(ITEMS))
        if operation == "put":
            return await table.put_item(Item=ITEMS[index])
        return await table.get_item(Key=KEYS[index], ConsistentRead=operation == "get")

    return await closed_loop_latencies(callers, seconds, call, seed=callers)


async def throughput(client: grid.Grid, args: argparse.Namespace) -> dict[str, Any]:
    tables = {}
    for replicas in (1, 3):
        settings = {**fixed_partitions(2), "Replicas": replicas}
        tables[replicas] = await client.create_table(
            TableName=f"replicas-{replicas}", **CATALOG_TABLE, GridSettings=settings
        )
        await asyncio.gather(*(tables[replicas].put_item(Item=item) for item in ITEMS))
        await closed_loop(tables[replicas], "put", 100, 1.0)  # warm up
    results: dict[str, Any] = {}
    for callers in args.callers:
        for operation in ("put", "get", "eventual_get"):
            # Alternate the two tables within each cell, so drift on the machine hits both alike.
            cell = {
                replicas: await closed_loop(tables[replicas], operation, callers, args.seconds) for replicas in (1, 3)
            }
            cell_3_over_1 = cell[3]["ops_per_second"] / cell[1]["ops_per_second"]
            results[f"{operation} x{callers}"] = {
                "replicas_1": cell[1],
                "replicas_3": cell[3],
                "ops_ratio_3_over_1": round(cell_3_over_1, 3),
            }
    for replicas in (1, 3):
        await client.delete_table(TableName=f"replicas-{replicas}")
    return results


async def leader_of(client: grid.Grid, table: str) -> tuple[ReplicaGroup, str]:
    await client.dispatcher.refresh(table, stale_version=None)
    group = (await client.dispatcher.route(table)).map.ranges[0].handle
    assert isinstance(group, ReplicaGroup)
    stats = await group.stats()
    assert stats.leader is not None
    return group, stats.leader


async def until_voters(client: grid.Grid, table: str, count: int, without: str = "", timeout: float = 120.0) -> float:
    """Seconds until the group has ``count`` voters, ``without`` not among them, all in the published map."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        group, _ = await leader_of(client, table)
        stats = await group.stats()
        voters = set(stats.voters)
        if len(voters) == count and without not in voters and voters <= set(group.replica_ids):
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise TimeoutError("the group was not repaired")


async def failover(client: grid.Grid, kills: int) -> dict[str, Any]:
    """Stall of writes to the killed leader's partition, one figure per kill."""
    import ray

    table = await client.create_table(TableName="failover", **CATALOG_TABLE, GridSettings=fixed_partitions(1))
    stop = asyncio.Event()
    completions: list[tuple[float, float]] = []  # (invoked, answered) of each acknowledged write
    errors: dict[str, int] = {}  # what the writers' failed calls raised

    async def writer(customer: int) -> None:
        version = 0
        while not stop.is_set():
            version += 1
            invoked = time.monotonic()
            try:
                await table.put_item(Item=catalog_item(customer, 0, version=version))
            except grid.errors.GridError as error:
                described = f"{type(error).__name__}: {error.message[:80]}"
                errors[described] = errors.get(described, 0) + 1
                continue
            completions.append((invoked, time.monotonic()))

    writers = [asyncio.ensure_future(writer(customer)) for customer in range(40)]
    stalls = []
    for _ in range(kills):
        await until_voters(client, "failover", 3)
        await asyncio.sleep(1.0)
        group, leader = await leader_of(client, "failover")
        service = group.member(leader)
        killed_at = time.monotonic()
        ray.kill(service.handle, no_restart=True)  # type: ignore[union-attr]
        await asyncio.sleep(3.0)
        # The stall: from the kill to the first write invoked after it that was answered
        # (3 s, the window, when none was).
        after = [answered for invoked, answered in completions if invoked >= killed_at]
        stalls.append((min(after) if after else time.monotonic()) - killed_at)
    stop.set()
    await asyncio.gather(*writers)
    await client.delete_table(TableName="failover")
    return {
        "kills": kills,
        "stall_p50_s": round(percentile(stalls, 0.5), 3),
        "stall_p99_s": round(percentile(stalls, 0.99), 3),
        "stall_max_s": round(max(stalls), 3),
        "stalls_s": [round(s, 3) for s in stalls],
        "writer_errors": errors,
    }


async def repair(client: grid.Grid, megabytes: float) -> dict[str, Any]:
    import ray

    table = await client.create_table(TableName="repair", **CATALOG_TABLE, GridSettings=fixed_partitions(1))
    size = len(json.dumps(ITEMS[0]))
    count = int(megabytes * 1e6 / size)
    for start in range(0, count, 2000):
        await asyncio.gather(*(table.put_item(Item=catalog_item(c, 9)) for c in range(start, min(count, start + 2000))))
    group, leader = await leader_of(client, "repair")
    stats = await group.stats()
    follower = next(r for r in stats.voters if r != leader)
    rss = _rss_mb(await group.member(follower).handle.__ray_call__.remote(lambda _: os.getpid()))  # type: ignore[union-attr]
    ray.kill(group.member(follower).handle, no_restart=True)  # type: ignore[union-attr]
    seconds = await until_voters(client, "repair", 3, without=follower)
    await client.delete_table(TableName="repair")
    return {
        "items": count,
        "megabytes": round(stats.size_bytes / 1e6, 1),
        "repair_seconds": round(seconds, 2),
        "seconds_per_gb": round(seconds / (stats.size_bytes / 1e9), 1),
        "replica_rss_mb_holding_it": rss,
    }


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


async def idle_replica_rss(client: grid.Grid) -> float:
    table = await client.create_table(TableName="idle", **CATALOG_TABLE, GridSettings=fixed_partitions(1))
    await table.put_item(Item=ITEMS[0])
    group, leader = await leader_of(client, "idle")
    pid = await group.member(leader).handle.__ray_call__.remote(lambda _: os.getpid())  # type: ignore[union-attr]
    await client.delete_table(TableName="idle")
    return _rss_mb(pid)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with grid.connect(namespace=f"bench-{random.randrange(1 << 30):x}") as client:
        report: dict[str, Any] = {"seconds_per_cell": args.seconds}
        if "throughput" in args.parts:
            report["idle_replica_rss_mb"] = await idle_replica_rss(client)
            report["throughput"] = await throughput(client, args)
        if "failover" in args.parts:
            report["failover"] = await failover(client, args.kills)
        if "repair" in args.parts:
            report["repair"] = await repair(client, args.repair_mb)
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--callers", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--repair-mb", type=float, default=50.0)
    parser.add_argument("--parts", nargs="+", default=["throughput", "failover", "repair"])
    print(json.dumps(uvloop.run(main(parser.parse_args())), indent=2))

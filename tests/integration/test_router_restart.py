"""A router that dies is restarted by Ray and serves the same tables again.

Each test runs its own grid namespace (its own router), so killing that router
leaves the session's other tests alone.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import ray

import grid
from actors.launch import RayActorSystem
from actors.system import PartitionConfig
from grid import _dispatch
from grid._keys import HASH_SPACE
from grid._naming import partition_actor_name, partition_actor_prefix, router_actor_name
from grid.errors import PartitionUnavailableError, ResourceInUseException, ResourceNotFoundException
from tests.integration.conftest import take, unique_name
from tests.seed import CATALOG_TABLE, catalog_item

pytestmark = pytest.mark.asyncio(loop_scope="session")

SCALING = {
    "MinimumUnits": 10,
    "MaximumUnits": 300,
    "ScalingPolicyUpdate": {"TargetTrackingScalingPolicyConfiguration": {"TargetValue": 70}},
}


@pytest_asyncio.fixture(loop_scope="session")
async def own_grid(ray_instance: None) -> AsyncIterator[grid.Grid]:
    async with grid.connect(namespace=unique_name("restart"), retries={"max_attempts": 20}) as client:
        yield client
        for name in (await client.list_tables())["TableNames"]:
            await client.delete_table(TableName=name)


async def kill_router(client: grid.Grid) -> None:
    """Kill the router's process as a crash would, and wait for Ray to bring it back in a new one."""
    router = ray.get_actor(router_actor_name(), namespace=client.namespace)
    before = await router.__ray_call__.remote(lambda _: os.getpid())
    ray.kill(router, no_restart=False)
    for _ in range(300):  # the kill lands asynchronously: the old process may answer first
        try:
            if await router.__ray_call__.remote(lambda _: os.getpid()) != before:
                return
        except ray.exceptions.RayError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("the router was not restarted in a new process")


async def test_a_restarted_router_serves_the_same_tables(own_grid: grid.Grid) -> None:
    client = own_grid
    name, other = unique_name("kept"), unique_name("other")
    table = await client.create_table(
        TableName=name,
        **{**CATALOG_TABLE, "BillingMode": "PROVISIONED"},
        ProvisionedThroughput={"ReadCapacityUnits": 100, "WriteCapacityUnits": 100},
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        GridSettings={"Partitions": 2},
    )
    await client.create_table(TableName=other, **CATALOG_TABLE)
    items = [catalog_item(customer, 0) for customer in range(120)]
    await asyncio.gather(*(table.put_item(Item=item) for item in items))
    await client.update_table(TableName=name, GridSettings={"Partitions": 3})  # a map that is not the first
    scaling = await client.update_table_replica_auto_scaling(
        TableName=name, ProvisionedWriteCapacityAutoScalingUpdate=SCALING
    )
    before = (await client.describe_table(TableName=name))["Table"]

    await kill_router(client)

    assert sorted((await client.list_tables())["TableNames"]) == sorted([name, other])
    after = (await client.describe_table(TableName=name))["Table"]
    for field in ("TableId", "KeySchema", "ProvisionedThroughput", "LatestStreamArn", "ItemCount", "GridSettings"):
        assert after[field] == before[field], field
    assert after["GridSettings"]["Partitions"] == 3
    assert await client.describe_table_replica_auto_scaling(TableName=name) == scaling
    answers = await asyncio.gather(
        *(table.get_item(Key={"customer_id": i["customer_id"], "sku": i["sku"]}) for i in items)
    )
    assert [answer["Item"] for answer in answers] == items
    late = catalog_item(999, 0)
    await table.put_item(Item=late)
    await client.update_table(TableName=name, GridSettings={"Partitions": 4})  # splits go on
    await client.update_table(TableName=name, GridSettings={"Partitions": 1})  # and merges
    assert (await table.scan())["Count"] == len(items) + 1
    async with table.stream(start="TRIM_HORIZON") as reader:
        records = await take(reader, len(items) + 1)
    assert sorted(int(r["dynamodb"]["Keys"]["customer_id"]) for r in records) == [*range(120), 999]
    with pytest.raises(ResourceInUseException):
        await client.create_table(TableName=name, **CATALOG_TABLE)

    await client.delete_table(TableName=other)
    await kill_router(client)
    assert (await client.list_tables())["TableNames"] == [name]
    with pytest.raises(ResourceNotFoundException):
        await client.Table(other).get_item(Key={"customer_id": 1, "sku": "x"})


async def partitions_by_range(namespace: str, table_id: str) -> list[Any]:
    """The leaders of the table's partitions, in hash order."""
    names = [
        actor["name"]
        for actor in ray.util.list_named_actors(all_namespaces=True)
        if actor["namespace"] == namespace and actor["name"].startswith(partition_actor_prefix(table_id))
    ]
    handles = [ray.get_actor(name, namespace=namespace) for name in names]
    for _ in range(100):  # a new group elects its leader within a second
        stats = [await handle.stats.remote() for handle in handles]
        leaders = [(s.low, handle) for s, handle in zip(stats, handles, strict=True) if s.leader == s.replica_id]
        if len(leaders) == len({s.partition_id for s in stats}):
            return [handle for _, handle in sorted(leaders, key=lambda pair: pair[0])]
        await asyncio.sleep(0.1)
    raise AssertionError("a partition has no leader")


@pytest.mark.parametrize(
    ("cut", "partitions_before", "partitions_after"),
    [
        ("split, before the hand-over", 1, 1),
        ("split, after the hand-over", 1, 1),
        ("merge, after the hand-over", 2, 2),
    ],
)
async def test_a_move_cut_short_by_the_router_dying_is_undone(
    own_grid: grid.Grid, cut: str, partitions_before: int, partitions_after: int
) -> None:
    """The router dies mid-split or mid-merge (here: the steps it would have taken, then a
    kill): the restarted router gives the items back to the partition that handed them
    over, stops the split's new partition, and every acknowledged write is still there."""
    client = own_grid
    name = unique_name("cut")
    table = await client.create_table(TableName=name, **CATALOG_TABLE, GridSettings={"Partitions": partitions_before})
    items = [catalog_item(customer, 0) for customer in range(60)]
    await asyncio.gather(*(table.put_item(Item=item) for item in items))
    table_id = (await client.describe_table(TableName=name))["Table"]["TableId"]
    partitions = await partitions_by_range(client.namespace, table_id)
    half = HASH_SPACE // 2
    if cut.startswith("split"):
        new_partition = RayActorSystem(client.namespace).start_partition(
            PartitionConfig(
                table_id=table_id,
                partition_id="p1-cutshort",
                table_name=name,
                key_schema=await table._key_schema(),
                low=half,
                high=HASH_SPACE,
                map_version=2,
                awaiting_items=True,
            )
        )
        await new_partition.ready()
        if cut.endswith("after the hand-over"):
            moved, _ = await partitions[0].split_off.remote(half, 2)
            assert moved  # the items now live only in the old partition's kept hand-over
    else:
        moved, _ = await partitions[1].retire.remote(2)
        assert moved

    await kill_router(client)

    if cut.startswith("split"):
        with pytest.raises(ValueError):
            for _ in range(100):  # stopped by the restarted router
                ray.get_actor(partition_actor_name(table_id, "p1-cutshort", "r0"), namespace=client.namespace)
                await asyncio.sleep(0.1)
    described = (await client.describe_table(TableName=name))["Table"]
    assert described["GridSettings"]["Partitions"] == partitions_after
    assert described["ItemCount"] == len(items)
    answers = await asyncio.gather(
        *(table.get_item(Key={"customer_id": i["customer_id"], "sku": i["sku"]}) for i in items)
    )
    assert [answer.get("Item") for answer in answers] == items
    await asyncio.gather(*(table.put_item(Item={**item, "version": 2}) for item in items))
    assert (await table.scan(Select="COUNT"))["Count"] == len(items)
    await client.update_table(TableName=name, GridSettings={"Partitions": 3})  # it splits again
    assert (await table.scan(Select="COUNT"))["Count"] == len(items)


async def test_a_table_with_a_dead_partition_is_held_not_forgotten(
    own_grid: grid.Grid, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The restarted router cannot rebuild a table whose partition died: the name stays
    taken (a new table of that name would later stop the live partitions), describing it
    is a retryable error (the client tries again for a while first), and deleting it works."""
    monkeypatch.setattr(_dispatch, "ROUTER_RESTART_SECONDS", 1.0)
    client = own_grid
    name = unique_name("held")
    served = await client.create_table(TableName=unique_name("served"), **CATALOG_TABLE)
    await served.put_item(Item=catalog_item(1, 0))
    await client.create_table(TableName=name, **CATALOG_TABLE, GridSettings={"Partitions": 2, "Replicas": 1})
    table_id = (await client.describe_table(TableName=name))["Table"]["TableId"]
    lower, _ = await partitions_by_range(client.namespace, table_id)
    ray.kill(lower, no_restart=True)

    await kill_router(client)

    assert name in (await client.list_tables())["TableNames"]
    with pytest.raises(PartitionUnavailableError) as held:
        await client.describe_table(TableName=name)
    assert held.value.retryable
    with pytest.raises(ResourceInUseException):
        await client.create_table(TableName=name, **CATALOG_TABLE)
    await client.delete_table(TableName=name)
    assert name not in (await client.list_tables())["TableNames"]
    # Deleting the held table stopped its partitions only: the served table still answers.
    assert (await served.get_item(Key={"customer_id": 1, "sku": catalog_item(1, 0)["sku"]}))["Item"]
    await kill_router(client)  # and it stays deleted
    assert (await client.list_tables())["TableNames"] == [served.name]

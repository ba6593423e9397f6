"""Routing by cached partition maps: a split hands out a new map version mid-traffic."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import grid
from tests.integration.conftest import split_partition, unique_name
from tests.seed import CATALOG_TABLE, catalog_item

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def split(client: grid.Grid, name: str, partition_id: str) -> Any:
    return await split_partition(client, name, partition_id)


async def test_writes_during_a_split_are_all_kept(grid_client: grid.Grid, make_table: Any) -> None:
    name = unique_name("split")
    table = await make_table(TableName=name, **CATALOG_TABLE, GridSettings={"Partitions": 2})
    before = (await grid_client.dispatcher.route(name)).map
    acknowledged: list[dict[str, Any]] = []
    stop = asyncio.Event()

    async def writer(worker: int) -> None:
        number = 0
        while not stop.is_set() or number < 50:
            item = catalog_item(worker * 1000 + number % 97, number)
            await table.put_item(Item=item)
            acknowledged.append(item)
            number += 1

    writers = [asyncio.create_task(writer(w)) for w in range(8)]
    await asyncio.sleep(0.2)
    after = await split(grid_client, name, before.ranges[0].partition_id)
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*writers)

    assert after.version == before.version + 1 and len(after.ranges) == 3
    assert (await grid_client.dispatcher.route(name)).map.version == after.version  # the client refreshed its copy
    stored = [
        answer["Item"]
        for answer in await asyncio.gather(
            *(table.get_item(Key={"customer_id": i["customer_id"], "sku": i["sku"]}) for i in acknowledged)
        )
    ]
    assert len(stored) == len(acknowledged) and all(stored)
    scanned: list[Any] = []
    start = None
    while True:
        page = await table.scan(Limit=100, **({"ExclusiveStartKey": start} if start else {}))
        scanned.extend((i["customer_id"], i["sku"]) for i in page["Items"])
        start = page.get("LastEvaluatedKey")
        if start is None:
            break
    assert len(scanned) == len(set(scanned)) == len({(i["customer_id"], i["sku"]) for i in acknowledged})
    described = (await grid_client.describe_table(TableName=name))["Table"]
    assert described["GridSettings"]["Partitions"] == 3 and described["ItemCount"] == len(scanned)


async def test_a_stale_client_follows_the_new_map(grid_client: grid.Grid, make_table: Any) -> None:
    name = unique_name("stale")
    table = await make_table(TableName=name, **CATALOG_TABLE, GridSettings={"Partitions": 1})
    items = [catalog_item(c, 1) for c in range(200)]
    await asyncio.gather(*(table.put_item(Item=i) for i in items))
    async with grid.connect(namespace=grid_client.namespace) as other:
        other_table = other.Table(name)
        await other_table.get_item(Key={"customer_id": 0, "sku": items[0]["sku"]})  # caches map version 1
        stale_version = (await other.dispatcher.route(name)).map.version
        only = (await grid_client.dispatcher.route(name)).map.ranges[0].partition_id
        await split(grid_client, name, only)
        answers = await asyncio.gather(
            *(other_table.get_item(Key={"customer_id": i["customer_id"], "sku": i["sku"]}) for i in items)
        )
        assert all(a["Item"]["sku"] == i["sku"] for a, i in zip(answers, items, strict=True))
        assert (await other.dispatcher.route(name)).map.version == stale_version + 1
        # A scan that began on the old map continues on the new one without loss.
        assert (await other_table.scan())["Count"] == 200

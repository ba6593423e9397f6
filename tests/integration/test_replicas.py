"""Replica groups on Ray: replicas die under 40 writers and nothing acknowledged is lost.

Each test kills Ray actors (``ray.kill``, as a crash would) while ``WriteLoad`` writes,
then checks that every acknowledged write reads back with ``ConsistentRead=True``,
that the contended keys' histories are linearizable, that every key is served again,
and that every partition is back to three voting replicas.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import ray

import grid
from grid._naming import stream_actor_name
from tests.faults import WriteLoad, group, key_of, kill, replica_counts, until
from tests.integration.conftest import merge_partitions, split_partition, unique_name
from tests.seed import CATALOG_TABLE, catalog_item

pytestmark = pytest.mark.asyncio(loop_scope="session")

REPLICATED = {"Partitions": 2, "Replicas": 3}


@pytest_asyncio.fixture(loop_scope="session")
async def replicated(grid_client: grid.Grid) -> AsyncIterator[grid.Table]:
    name = unique_name("replicas")
    table = await grid_client.create_table(TableName=name, **CATALOG_TABLE, GridSettings=REPLICATED)
    yield table
    await grid_client.delete_table(TableName=name)


async def check_whole(client: grid.Grid, table: grid.Table, load: WriteLoad) -> None:
    await load.check_acknowledged()
    load.check_linearizable()
    assert load.writes > 0

    async def three_each() -> bool:
        return all(count == 3 for count in await replica_counts(client, table.name))

    await until(three_each, timeout=60, what="every partition back to three voting replicas")
    count = (await table.scan(Select="COUNT", ConsistentRead=True))["Count"]
    assert count >= len(load.acknowledged)


async def test_a_table_has_three_replicas_on_ray(grid_client: grid.Grid, replicated: grid.Table) -> None:
    described = (await grid_client.describe_table(TableName=replicated.name))["Table"]
    assert described["GridSettings"]["Replicas"] == 3
    assert await replica_counts(grid_client, replicated.name) == [3, 3]


@pytest.mark.parametrize("leader", [True, False], ids=["leader", "follower"])
async def test_a_replica_killed_under_40_writers_loses_no_acknowledged_write(
    grid_client: grid.Grid, replicated: grid.Table, leader: bool
) -> None:
    async with WriteLoad(replicated, first_customer=1000 if leader else 2000) as load:
        await asyncio.sleep(1.0)
        victim = await kill(await group(grid_client, replicated.name), leader=leader)
        before = load.writes
        await asyncio.sleep(3.0)
        assert load.writes > before, f"writes stalled after {victim} died"
    await check_whole(grid_client, replicated, load)


async def test_five_replicas_killed_one_after_another(grid_client: grid.Grid, replicated: grid.Table) -> None:
    async with WriteLoad(replicated, first_customer=3000) as load:

        async def whole() -> bool:
            return all(count == 3 for count in await replica_counts(grid_client, replicated.name))

        for round_number in range(5):
            await asyncio.sleep(1.0)
            await until(whole, timeout=60, what="the groups repaired before the next kill")
            await kill(await group(grid_client, replicated.name, round_number % 2), leader=round_number % 3 == 0)
    await check_whole(grid_client, replicated, load)


@pytest.mark.parametrize("move", ["split", "merge"])
async def test_a_leader_killed_during_a_move(grid_client: grid.Grid, make_table: Any, move: str) -> None:
    table = await make_table(**CATALOG_TABLE, GridSettings=REPLICATED)
    async with WriteLoad(table, first_customer=4000) as load:
        await asyncio.sleep(1.0)
        source = await group(grid_client, table.name, 0)
        first = (await grid_client.dispatcher.route(table.name)).map.ranges[0].partition_id
        moving = asyncio.ensure_future(
            split_partition(grid_client, table.name, first)
            if move == "split"
            else merge_partitions(grid_client, table.name, first)
        )
        await asyncio.sleep(random.uniform(0.0, 0.3))
        await kill(source, leader=True)
        try:
            await moving
        except grid.errors.GridError:
            pass  # the move was undone: the table keeps its old partitions
        await asyncio.sleep(2.0)
    await check_whole(grid_client, table, load)


async def test_a_leader_killed_during_transaction_commits(grid_client: grid.Grid, replicated: grid.Table) -> None:
    """Transactions move one unit between two items: whatever dies, the sum stays."""
    accounts = [catalog_item(5000 + n, 0) for n in range(8)]
    for account in accounts:
        await replicated.put_item(Item={**key_of(account), "balance": 100})

    async def transfer(seed: int) -> None:
        chooser = random.Random(seed)
        for _ in range(30):
            source, target = chooser.sample(accounts, 2)
            try:
                await grid_client.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": replicated.name,
                                "Key": key_of(source),
                                "UpdateExpression": "SET balance = balance - :one",
                                "ExpressionAttributeValues": {":one": 1},
                            }
                        },
                        {
                            "Update": {
                                "TableName": replicated.name,
                                "Key": key_of(target),
                                "UpdateExpression": "SET balance = balance + :one",
                                "ExpressionAttributeValues": {":one": 1},
                            }
                        },
                    ]
                )
            except grid.errors.GridError:
                pass  # cancelled or unavailable: all or nothing either way

    transfers = [asyncio.ensure_future(transfer(seed)) for seed in range(6)]
    for position in (0, 1):
        await asyncio.sleep(0.5)
        await kill(await group(grid_client, replicated.name, position), leader=True)
    await asyncio.gather(*transfers)

    async def settled() -> bool:
        answers = await asyncio.gather(*(replicated.get_item(Key=key_of(a), ConsistentRead=True) for a in accounts))
        return sum(answer["Item"]["balance"] for answer in answers) == 100 * len(accounts)

    await until(settled, timeout=30, what="the balances sum to what they started with")


async def test_stream_records_survive_a_leader_kill_and_a_stream_actor_kill(grid_client: grid.Grid) -> None:
    """Every acknowledged write reaches a stream reader once, in order per key, whatever dies meanwhile.

    A partition's leader dies (its successor's log continues the sequence numbers) and the
    stream actor dies (Ray restarts it from its stored records and the partitions' logs).
    """
    name = unique_name("replicated-stream")
    table = await grid_client.create_table(
        TableName=name,
        **CATALOG_TABLE,
        GridSettings=REPLICATED,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    try:
        described = (await grid_client.describe_table(TableName=name))["Table"]
        stream_actor = ray.get_actor(
            stream_actor_name(described["TableId"], described["LatestStreamLabel"]), namespace=grid_client.namespace
        )
        items = [catalog_item(6000 + n, 0) for n in range(30)]
        acknowledged: dict[int, int] = {}

        async def writer(mine: list[dict[str, Any]]) -> None:
            for version in range(1, 41):
                for item in mine:
                    try:
                        await table.put_item(Item={**item, "version": version})
                    except grid.errors.GridError:
                        return  # not acknowledged: this writer stops here, its keys' last version unknown
                    acknowledged[item["customer_id"]] = version
                await asyncio.sleep(0.01)

        async with table.stream(start="TRIM_HORIZON") as reader:
            writers = asyncio.gather(*(writer(items[w::6]) for w in range(6)))
            await asyncio.sleep(0.5)
            await kill(await group(grid_client, name), leader=True)
            await asyncio.sleep(0.5)
            ray.kill(stream_actor, no_restart=False)
            await writers
            seen: dict[int, list[int]] = {}

            async def read_every_acknowledged_write() -> None:
                while any(seen.get(c, [0])[-1] < v for c, v in acknowledged.items()):
                    image = (await reader.__anext__())["dynamodb"]["NewImage"]
                    seen.setdefault(int(image["customer_id"]), []).append(int(image["version"]))

            await asyncio.wait_for(read_every_acknowledged_write(), 60)
        for customer, versions in seen.items():
            assert versions == list(range(1, len(versions) + 1)), f"customer {customer}: {versions}"
            assert len(versions) >= acknowledged[customer]
    finally:
        await grid_client.delete_table(TableName=name)

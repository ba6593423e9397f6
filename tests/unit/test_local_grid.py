"""``Grid`` and ``Table`` on the local transport: the whole client over in-process actors, no Ray.

These drive the same code paths as the integration tests (dispatcher, batcher, router,
partitions, moves, transactions, streams) in one process, so they run in milliseconds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

import grid
from grid._local_transport import LocalTransport
from grid.conditions import Attr, Key
from grid.errors import (
    ConditionalCheckFailedException,
    PartitionUnavailableError,
    ResourceInUseException,
    ResourceNotFoundException,
    TransactionCanceledException,
    ValidationException,
)
from tests.seed import CATALOG_TABLE, catalog_item
from tests.seed import catalog_key as key

ROOT = Path(__file__).resolve().parents[2]
STREAMED = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}}


@pytest_asyncio.fixture
async def client(local: tuple[grid.Grid, LocalTransport]) -> grid.Grid:
    return local[0]


async def test_tables_are_created_described_listed_and_deleted(client: grid.Grid) -> None:
    await client.create_table(TableName="catalog", **CATALOG_TABLE, GridSettings={"Partitions": 2})
    described = (await client.describe_table(TableName="catalog"))["Table"]
    assert described["TableStatus"] == "ACTIVE" and described["GridSettings"]["Partitions"] == 2
    assert (await client.list_tables())["TableNames"] == ["catalog"]
    with pytest.raises(ResourceInUseException):
        await client.create_table(TableName="catalog", **CATALOG_TABLE)
    await client.delete_table(TableName="catalog")
    assert (await client.list_tables())["TableNames"] == []
    with pytest.raises(ResourceNotFoundException):
        await client.describe_table(TableName="catalog")


async def test_items_round_trip_with_conditions(client: grid.Grid) -> None:
    table = await client.create_table(TableName="catalog", **CATALOG_TABLE, GridSettings={"Partitions": 4})
    item = catalog_item(7, 1, version=1)
    await table.put_item(Item=item, ConditionExpression=Attr("sku").not_exists())
    assert (await table.get_item(Key=key(item)))["Item"] == item
    updated = await table.update_item(
        Key=key(item),
        UpdateExpression="SET version = version + :one",
        ConditionExpression="version = :v",
        ExpressionAttributeValues={":one": 1, ":v": 1},
        ReturnValues="UPDATED_NEW",
    )
    assert updated["Attributes"] == {"version": 2}
    with pytest.raises(ConditionalCheckFailedException):
        await table.put_item(Item=item, ConditionExpression="attribute_not_exists(sku)")
    assert (await table.get_item(Key=key(item)))["Item"]["version"] == 2  # the refused write changed nothing
    await table.delete_item(Key=key(item))
    assert await table.get_item(Key=key(item)) == {}


async def test_query_and_scan_page_through_every_partition(client: grid.Grid) -> None:
    table = await client.create_table(TableName="catalog", **CATALOG_TABLE, GridSettings={"Partitions": 4})
    items = [catalog_item(customer, sku) for customer in range(5) for sku in range(6)]
    for item in items:
        await table.put_item(Item=item)
    page = await table.query(KeyConditionExpression=Key("customer_id").eq(3), Limit=4)
    assert page["Count"] == 4 and "LastEvaluatedKey" in page
    rest = await table.query(
        KeyConditionExpression=Key("customer_id").eq(3), ExclusiveStartKey=page["LastEvaluatedKey"]
    )
    assert page["Count"] + rest["Count"] == 6
    seen: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    while True:
        params: dict[str, Any] = {"Limit": 7, **({"ExclusiveStartKey": start} if start else {})}
        answer = await table.scan(**params)
        seen.extend(answer["Items"])
        start = answer.get("LastEvaluatedKey")
        if start is None:
            break
    assert sorted(i["sku"] for i in seen) == sorted(i["sku"] for i in items)  # each exactly once


async def test_batches_and_transactions(client: grid.Grid) -> None:
    table = await client.create_table(TableName="catalog", **CATALOG_TABLE, GridSettings={"Partitions": 3})
    items = [catalog_item(customer, 0) for customer in range(10)]
    await client.batch_write_item(RequestItems={"catalog": [{"PutRequest": {"Item": i}} for i in items]})
    got = await client.batch_get_item(RequestItems={"catalog": {"Keys": [key(i) for i in items]}})
    assert len(got["Responses"]["catalog"]) == 10 and got["UnprocessedKeys"] == {}
    first, second = items[0], items[1]
    await client.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": "catalog",
                    "Key": key(first),
                    "UpdateExpression": "SET paid = :t",
                    "ExpressionAttributeValues": {":t": True},
                }
            },
            {"Delete": {"TableName": "catalog", "Key": key(second)}},
        ]
    )
    snapshot = await client.transact_get_items(
        TransactItems=[{"Get": {"TableName": "catalog", "Key": key(i)}} for i in (first, second)]
    )
    assert snapshot["Responses"][0]["Item"]["paid"] is True and snapshot["Responses"][1] == {}
    with pytest.raises(TransactionCanceledException) as canceled:
        await client.transact_write_items(
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": "catalog",
                        "Key": key(second),
                        "ConditionExpression": "attribute_exists(sku)",
                    }
                },
                {"Put": {"TableName": "catalog", "Item": catalog_item(99, 0)}},
            ]
        )
    assert [r["Code"] for r in canceled.value.cancellation_reasons] == ["ConditionalCheckFailed", "None"]
    assert await table.get_item(Key=key(catalog_item(99, 0))) == {}


async def test_splits_and_merges_keep_every_item_and_stream_record(client: grid.Grid) -> None:
    table = await client.create_table(TableName="catalog", **CATALOG_TABLE, GridSettings={"Partitions": 1}, **STREAMED)
    items = [catalog_item(customer, 0) for customer in range(40)]
    async with table.stream() as reader:
        for item in items[:20]:
            await table.put_item(Item=item)
        await client.update_table(TableName="catalog", GridSettings={"Partitions": 4})
        for item in items[20:]:
            await table.put_item(Item=item)
        await client.update_table(TableName="catalog", GridSettings={"Partitions": 2})
        records = []
        async for record in reader:
            records.append(record)
            if len(records) == len(items):
                break
    assert sorted(r["dynamodb"]["Keys"]["customer_id"] for r in records) == list(range(40))
    assert (await table.scan(Select="COUNT"))["Count"] == 40
    assert (await client.describe_table(TableName="catalog"))["Table"]["GridSettings"]["Partitions"] == 2


async def test_a_restarted_router_serves_the_same_tables(local: tuple[grid.Grid, LocalTransport]) -> None:
    client, transport = local
    table = await client.create_table(TableName="catalog", **CATALOG_TABLE, GridSettings={"Partitions": 2})
    await table.put_item(Item=catalog_item(1, 1))
    await transport.restart_router()
    assert (await client.list_tables())["TableNames"] == ["catalog"]
    assert (await table.get_item(Key=key(catalog_item(1, 1))))["Item"] == catalog_item(1, 1)


async def test_a_stopped_partition_is_unavailable_and_retried(local: tuple[grid.Grid, LocalTransport]) -> None:
    client, transport = local
    table = await client.create_table(TableName="catalog", **CATALOG_TABLE, GridSettings={"Partitions": 1})
    route = await client.dispatcher.route("catalog")
    transport.system.stop(route.map.ranges[0].handle)
    with pytest.raises(PartitionUnavailableError):
        await table.get_item(Key=key(catalog_item(1, 1)))


async def test_parameters_of_the_wrong_type_are_refused_before_any_call(client: grid.Grid) -> None:
    with pytest.raises(ValidationException, match="Invalid type for parameter ExclusiveStartTableName"):
        await client.list_tables(ExclusiveStartTableName={"a": 1})
    with pytest.raises(ValidationException, match=r"Invalid type for parameter KeySchema\[0\].AttributeName"):
        await client.create_table(
            TableName="bad",
            KeySchema=[{"AttributeName": ["x"], "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "x", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    nested: Any = "x"
    for _ in range(5000):
        nested = [nested]
    with pytest.raises(ValidationException, match="Invalid type for parameter TableName"):
        await client.describe_table(TableName=nested)
    assert (await client.list_tables())["TableNames"] == []


async def test_a_closed_grid_refuses_calls() -> None:
    client = await grid.connect(transport=LocalTransport())
    table = await client.create_table(TableName="catalog", **CATALOG_TABLE)
    await client.close()
    with pytest.raises(RuntimeError, match="closed"):
        await client.list_tables()
    with pytest.raises(RuntimeError, match="closed"):
        await table.get_item(Key={"customer_id": 1, "sku": "a"})


def test_the_local_transport_needs_no_ray() -> None:
    code = (
        "import asyncio, sys, grid\n"
        "async def main():\n"
        "    async with grid.connect(transport=grid.LocalTransport()) as g:\n"
        "        await g.list_tables()\n"
        "asyncio.run(main())\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr

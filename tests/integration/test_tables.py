"""Table calls through Ray: create, describe, list, delete, and their errors."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

import grid
from grid.errors import ResourceInUseException, ResourceNotFoundException, ValidationException
from tests.integration.conftest import unique_name
from tests.seed import CATALOG_TABLE, catalog_item

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_create_describe_list_delete(grid_client: grid.Grid) -> None:
    name = unique_name("life")
    table = await grid_client.create_table(
        TableName=name,
        **{**CATALOG_TABLE, "BillingMode": "PROVISIONED"},
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 500},
        GridSettings={"Partitions": 2},
    )
    assert isinstance(table, grid.Table) and table.name == name
    await asyncio.gather(*(table.put_item(Item=catalog_item(c, 0)) for c in range(30)))
    described = (await grid_client.describe_table(TableName=name))["Table"]
    assert described["TableName"] == name and described["TableStatus"] == "ACTIVE"
    assert described["KeySchema"] == CATALOG_TABLE["KeySchema"]
    assert described["AttributeDefinitions"] == CATALOG_TABLE["AttributeDefinitions"]
    assert described["ItemCount"] == 30 and described["TableSizeBytes"] > 30 * 200
    assert isinstance(described["CreationDateTime"], datetime)
    assert described["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert described["ProvisionedThroughput"]["WriteCapacityUnits"] == 500
    assert described["GridSettings"]["Partitions"] == 2
    assert name in (await grid_client.list_tables())["TableNames"]

    deleted = await grid_client.delete_table(TableName=name)
    assert deleted["TableDescription"]["TableStatus"] == "DELETING"
    assert name not in (await grid_client.list_tables())["TableNames"]
    with pytest.raises(ResourceNotFoundException):
        await grid_client.describe_table(TableName=name)
    with pytest.raises(ResourceNotFoundException):
        await table.get_item(Key={"customer_id": 1, "sku": "x"})  # a cached map of a deleted table


async def test_recreated_table_starts_empty(grid_client: grid.Grid) -> None:
    name = unique_name("again")
    table = await grid_client.create_table(TableName=name, **CATALOG_TABLE, GridSettings={"Partitions": 1})
    await table.put_item(Item=catalog_item(1, 1))
    await grid_client.delete_table(TableName=name)
    table = await grid_client.create_table(TableName=name, **CATALOG_TABLE, GridSettings={"Partitions": 1})
    assert (await table.scan())["Count"] == 0
    await grid_client.delete_table(TableName=name)


async def test_hash_only_table_with_binary_key(make_table: Any) -> None:
    table = await make_table(
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "B"}],
        BillingMode="PAY_PER_REQUEST",
        GridSettings={"Partitions": 1},
    )
    await table.put_item(Item={"id": b"\x01\x02", "v": 1})
    assert (await table.get_item(Key={"id": b"\x01\x02"}))["Item"]["v"] == 1
    with pytest.raises(ValidationException):
        await table.get_item(Key={"id": b"\x01", "sku": "a"})


async def test_duplicate_table_is_resource_in_use(make_table: Any) -> None:
    name = unique_name("dup")
    await make_table(TableName=name, **CATALOG_TABLE, GridSettings={"Partitions": 1})
    with pytest.raises(ResourceInUseException):
        await make_table(TableName=name, **CATALOG_TABLE, GridSettings={"Partitions": 1})


async def test_concurrent_creates_of_one_name_succeed_once(grid_client: grid.Grid) -> None:
    name = unique_name("race")
    outcomes = await asyncio.gather(
        *(grid_client.create_table(TableName=name, **CATALOG_TABLE, GridSettings={"Partitions": 1}) for _ in range(3)),
        return_exceptions=True,
    )
    assert sum(isinstance(o, grid.Table) for o in outcomes) == 1
    assert sum(isinstance(o, ResourceInUseException) for o in outcomes) == 2
    await grid_client.delete_table(TableName=name)


async def test_list_tables_pagination(make_table: Any, grid_client: grid.Grid) -> None:
    prefix = unique_name("list")
    names = [f"{prefix}-{i}" for i in range(3)]
    for name in names:
        await make_table(TableName=name, **CATALOG_TABLE, GridSettings={"Partitions": 1})
    seen: list[str] = []
    params: dict[str, Any] = {"Limit": 2}
    while True:
        page = await grid_client.list_tables(**params)
        assert len(page["TableNames"]) <= 2
        seen.extend(page["TableNames"])
        if "LastEvaluatedTableName" not in page:
            break
        params["ExclusiveStartTableName"] = page["LastEvaluatedTableName"]
    assert [n for n in seen if n.startswith(prefix)] == names
    assert seen == sorted(seen)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"TableName": "x"}, "tableName"),
        ({"KeySchema": [{"AttributeName": "sku", "KeyType": "RANGE"}]}, "HASH"),
        ({"AttributeDefinitions": [{"AttributeName": "customer_id", "AttributeType": "N"}]}, "not defined"),
        (
            {
                "AttributeDefinitions": CATALOG_TABLE["AttributeDefinitions"]
                + [{"AttributeName": "x", "AttributeType": "S"}]
            },
            "exactly match",
        ),
        (
            {
                "AttributeDefinitions": [
                    {"AttributeName": "customer_id", "AttributeType": "X"},
                    {"AttributeName": "sku", "AttributeType": "S"},
                ]
            },
            "enum",
        ),
        ({"BillingMode": "PROVISIONED"}, "ReadCapacityUnits"),
        ({"ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}, "PAY_PER_REQUEST"),
        ({"GridSettings": {"Partitions": 0}}, "Partitions"),
        ({"Bogus": True}, "Unknown parameter in CreateTable input: Bogus"),
        ({"KeySchema": [{"AttributeName": ["a"], "KeyType": "HASH"}]}, "Invalid type for parameter KeySchema"),
    ],
)
async def test_bad_create_table_is_refused(grid_client: grid.Grid, change: dict, message: str) -> None:
    params = {"TableName": unique_name("bad"), **CATALOG_TABLE, **change}
    with pytest.raises(ValidationException, match=message):
        await grid_client.create_table(**params)
    assert params["TableName"] not in (await grid_client.list_tables())["TableNames"]


async def test_missing_tables(grid_client: grid.Grid) -> None:
    with pytest.raises(ResourceNotFoundException):
        await grid_client.delete_table(TableName="never-created")
    with pytest.raises(ResourceNotFoundException):
        await grid_client.describe_table(TableName="never-created")


async def test_closed_grid_refuses_calls(ray_instance: None) -> None:
    client = await grid.connect(namespace=unique_name("ns"))
    await client.list_tables()
    await client.close()
    with pytest.raises(RuntimeError, match="closed"):
        await client.list_tables()

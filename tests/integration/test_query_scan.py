"""Query and Scan through Ray: key conditions, order, pagination, filters, 1 MB pages, parallel scan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

import grid
from grid.conditions import Attr, Key
from grid.errors import ValidationException
from tests.integration.conftest import unique_name
from tests.seed import CATALOG_TABLE, catalog_item

pytestmark = pytest.mark.asyncio(loop_scope="session")

CUSTOMERS = 40
SKUS_PER_CUSTOMER = 25


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def loaded(grid_client: grid.Grid) -> AsyncIterator[grid.Table]:
    """1,000 seed-like items: 40 customers with 25 SKUs each, on 4 partitions."""
    name = unique_name("query")
    table = await grid_client.create_table(TableName=name, **CATALOG_TABLE, GridSettings={"Partitions": 4})
    await asyncio.gather(
        *(
            table.put_item(Item={**catalog_item(c, n), "rank": n, "even": n % 2 == 0})
            for c in range(CUSTOMERS)
            for n in range(SKUS_PER_CUSTOMER)
        )
    )
    yield table
    await grid_client.delete_table(TableName=name)


def skus(answer: dict[str, Any]) -> list[str]:
    return [item["sku"] for item in answer["Items"]]


def sku(customer: int, number: int) -> str:
    return f"{customer}/C{number:08d}"


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        ("customer_id = :c", {}, list(range(25))),
        ("customer_id = :c AND sku = :s", {":s": sku(3, 7)}, [7]),
        ("customer_id = :c AND sku < :s", {":s": sku(3, 3)}, [0, 1, 2]),
        ("customer_id = :c AND sku <= :s", {":s": sku(3, 3)}, [0, 1, 2, 3]),
        ("customer_id = :c AND sku > :s", {":s": sku(3, 21)}, [22, 23, 24]),
        ("customer_id = :c AND sku >= :s", {":s": sku(3, 21)}, [21, 22, 23, 24]),
        ("customer_id = :c AND sku BETWEEN :a AND :b", {":a": sku(3, 5), ":b": sku(3, 8)}, [5, 6, 7, 8]),
        ("customer_id = :c AND begins_with(sku, :p)", {":p": "3/C0000001"}, list(range(10, 20))),
        ("sku BETWEEN :a AND :b AND customer_id = :c", {":a": sku(3, 0), ":b": sku(3, 1)}, [0, 1]),
    ],
)
async def test_key_conditions(loaded: grid.Table, condition: str, values: dict, expected: list[int]) -> None:
    answer = await loaded.query(KeyConditionExpression=condition, ExpressionAttributeValues={":c": 3, **values})
    assert skus(answer) == [sku(3, n) for n in expected]
    assert answer["Count"] == answer["ScannedCount"] == len(expected)
    assert "LastEvaluatedKey" not in answer


async def test_builder_key_condition_and_reverse_order(loaded: grid.Table) -> None:
    answer = await loaded.query(
        KeyConditionExpression=Key("customer_id").eq(5) & Key("sku").between(sku(5, 2), sku(5, 6)),
        ScanIndexForward=False,
    )
    assert skus(answer) == [sku(5, n) for n in (6, 5, 4, 3, 2)]


@pytest.mark.parametrize("forward", [True, False])
async def test_query_pagination_returns_every_item_once_in_order(loaded: grid.Table, forward: bool) -> None:
    seen: list[str] = []
    start = None
    pages = 0
    while True:
        params: dict[str, Any] = {
            "KeyConditionExpression": Key("customer_id").eq(9),
            "Limit": 4,
            "ScanIndexForward": forward,
        }
        if start is not None:
            params["ExclusiveStartKey"] = start
        answer = await loaded.query(**params)
        pages += 1
        seen.extend(skus(answer))
        start = answer.get("LastEvaluatedKey")
        if start is None:
            break
        assert set(start) == {"customer_id", "sku"}
    expected = [sku(9, n) for n in range(25)]
    assert seen == (expected if forward else expected[::-1])
    assert pages == 7


async def test_filter_counts_scanned_and_matched(loaded: grid.Table) -> None:
    answer = await loaded.query(
        KeyConditionExpression="customer_id = :c",
        FilterExpression="#r >= :r AND even = :t",
        ExpressionAttributeNames={"#r": "rank"},
        ExpressionAttributeValues={":c": 2, ":r": 20, ":t": True},
    )
    assert skus(answer) == [sku(2, n) for n in (20, 22, 24)]
    assert answer["Count"] == 3 and answer["ScannedCount"] == 25


async def test_select_count_and_projection(loaded: grid.Table) -> None:
    counted = await loaded.query(KeyConditionExpression=Key("customer_id").eq(2), Select="COUNT")
    assert counted == {"Count": 25, "ScannedCount": 25}
    projected = await loaded.query(
        KeyConditionExpression=Key("customer_id").eq(2), ProjectionExpression="sku, product.brand", Limit=1
    )
    assert projected["Items"] == [{"sku": sku(2, 0), "product": {"brand": "DISCOS"}}]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"KeyConditionExpression": "sku = :s", "ExpressionAttributeValues": {":s": "a"}}, "missed key schema element"),
        (
            {
                "KeyConditionExpression": "customer_id = :c OR sku = :s",
                "ExpressionAttributeValues": {":c": 1, ":s": "a"},
            },
            "Invalid operator",
        ),
        ({"KeyConditionExpression": "customer_id = :c", "ExpressionAttributeValues": {":c": "text"}}, "Type mismatch"),
        ({"KeyConditionExpression": "customer_id = :c", "ExpressionAttributeValues": {":c": 1}, "Limit": 0}, "limit"),
        (
            {
                "KeyConditionExpression": "customer_id = :c",
                "ExpressionAttributeValues": {":c": 1},
                "ExclusiveStartKey": {"customer_id": 2, "sku": "x"},
            },
            "starting key",
        ),
        (
            {
                "KeyConditionExpression": "customer_id = :c AND begins_with(sku, :p)",
                "ExpressionAttributeValues": {":c": 1, ":p": 5},
            },
            "begins_with",
        ),
        ({"FilterExpression": "rank > :r", "ExpressionAttributeValues": {":r": 1}}, "KeyConditionExpression"),
    ],
)
async def test_bad_query_is_refused(loaded: grid.Table, params: dict, message: str) -> None:
    with pytest.raises(ValidationException, match=message):
        await loaded.query(**params)


async def scan_all(table: grid.Table, **params: Any) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    pages = 0
    while True:
        answer = await table.scan(**params)
        pages += 1
        items.extend(answer["Items"])
        if "LastEvaluatedKey" not in answer:
            return items, pages
        params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


async def test_scan_pagination_across_partitions_returns_each_item_once(loaded: grid.Table) -> None:
    items, pages = await scan_all(loaded, Limit=70)
    keys = [(item["customer_id"], item["sku"]) for item in items]
    assert len(keys) == len(set(keys)) == CUSTOMERS * SKUS_PER_CUSTOMER
    assert pages >= CUSTOMERS * SKUS_PER_CUSTOMER // 70


async def test_parallel_scan_segments_are_disjoint_and_complete(loaded: grid.Table) -> None:
    total = 7  # not a divisor of the partition count: segments straddle partitions
    results = await asyncio.gather(*(scan_all(loaded, Segment=s, TotalSegments=total, Limit=50) for s in range(total)))
    keys = [(item["customer_id"], item["sku"]) for items, _ in results for item in items]
    assert len(keys) == len(set(keys)) == CUSTOMERS * SKUS_PER_CUSTOMER
    assert all(items for items, _ in results)  # 1,000 uniform hashes leave no segment empty


async def test_scan_filter_and_count(loaded: grid.Table) -> None:
    answer = await loaded.scan(FilterExpression=Attr("rank").eq(0), Select="COUNT")
    assert answer["Count"] == CUSTOMERS and answer["ScannedCount"] == CUSTOMERS * SKUS_PER_CUSTOMER


@pytest.mark.parametrize(
    "params",
    [{"Segment": 1}, {"TotalSegments": 2}, {"Segment": 2, "TotalSegments": 2}, {"Limit": -1}, {"Select": "NOPE"}],
)
async def test_bad_scan_is_refused(loaded: grid.Table, params: dict) -> None:
    with pytest.raises(ValidationException):
        await loaded.scan(**params)


async def test_pages_stop_near_one_megabyte(make_table: Any) -> None:
    table = await make_table(**CATALOG_TABLE, GridSettings={"Partitions": 1})
    blob = "x" * 100_000
    await asyncio.gather(
        *(table.put_item(Item={"customer_id": 1, "sku": f"s{n:02d}", "blob": blob}) for n in range(25))
    )
    first = await table.query(KeyConditionExpression=Key("customer_id").eq(1))
    assert 10 <= first["Count"] <= 11 and "LastEvaluatedKey" in first
    items, _ = await scan_all(table)
    assert len(items) == 25
    assert isinstance(items[0]["customer_id"], Decimal)

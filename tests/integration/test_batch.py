"""BatchGetItem, BatchWriteItem and batch_writer through Ray."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import grid
from grid.errors import ValidationException
from tests.seed import CATALOG_TABLE, catalog_item

pytestmark = pytest.mark.asyncio(loop_scope="session")


def key_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"customer_id": item["customer_id"], "sku": item["sku"]}


async def test_batch_write_and_get_across_tables(make_table: Any, grid_client: grid.Grid) -> None:
    first = await make_table(**CATALOG_TABLE, GridSettings={"Partitions": 3})
    second = await make_table(**CATALOG_TABLE, GridSettings={"Partitions": 2})
    items = [catalog_item(c, 1) for c in range(20)]
    answer = await grid_client.batch_write_item(
        RequestItems={
            first.name: [{"PutRequest": {"Item": i}} for i in items[:15]],
            second.name: [{"PutRequest": {"Item": i}} for i in items[15:]],
        }
    )
    assert answer == {"UnprocessedItems": {}}
    await grid_client.batch_write_item(RequestItems={first.name: [{"DeleteRequest": {"Key": key_of(items[0])}}]})
    got = await grid_client.batch_get_item(
        RequestItems={
            first.name: {"Keys": [key_of(i) for i in items[:15]], "ProjectionExpression": "sku, version"},
            second.name: {"Keys": [key_of(i) for i in items[15:]] + [{"customer_id": 999, "sku": "missing"}]},
        }
    )
    assert got["UnprocessedKeys"] == {}
    assert sorted(i["sku"] for i in got["Responses"][first.name]) == sorted(i["sku"] for i in items[1:15])
    assert all(set(i) == {"sku", "version"} for i in got["Responses"][first.name])
    assert sorted(i["sku"] for i in got["Responses"][second.name]) == sorted(i["sku"] for i in items[15:])


@pytest.mark.parametrize(
    ("request_items", "message"),
    [
        (lambda t: {t: [{"PutRequest": {"Item": catalog_item(c, 0)}} for c in range(26)]}, "25"),
        (
            lambda t: {
                t: [
                    {"PutRequest": {"Item": catalog_item(1, 0)}},
                    {"DeleteRequest": {"Key": key_of(catalog_item(1, 0))}},
                ]
            },
            "duplicates",
        ),
        (lambda t: {t: [{"PutRequest": {"Item": {"customer_id": "x", "sku": "a"}}}]}, "Type mismatch"),
        (lambda t: {t: [{"PutRequest": {}, "DeleteRequest": {}}]}, "exactly one"),
        (lambda t: {t: []}, "non-empty"),
    ],
)
async def test_bad_batch_write_changes_nothing(
    catalog: grid.Table, grid_client: grid.Grid, request_items: Any, message: str
) -> None:
    with pytest.raises(ValidationException, match=message):
        await grid_client.batch_write_item(RequestItems=request_items(catalog.name))
    assert await catalog.get_item(Key=key_of(catalog_item(0, 0))) == {}
    assert await catalog.get_item(Key=key_of(catalog_item(1, 0))) == {}


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([key_of(catalog_item(c, 0)) for c in range(101)], "100"),
        ([key_of(catalog_item(1, 0))] * 2, "duplicates"),
        ([{"customer_id": 1}], "schema"),
    ],
)
async def test_bad_batch_get_is_refused(catalog: grid.Table, grid_client: grid.Grid, keys: list, message: str) -> None:
    with pytest.raises(ValidationException, match=message):
        await grid_client.batch_get_item(RequestItems={catalog.name: {"Keys": keys}})


async def test_batch_writer_loads_in_batches(make_table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from grid import _batcher

    table = await make_table(**CATALOG_TABLE, GridSettings={"Partitions": 4})
    calls: list[int] = []
    original = _batcher.PartitionBatcher._run

    async def counting(self: Any, batch: Any) -> None:
        calls.append(len(batch))
        await original(self, batch)

    monkeypatch.setattr(_batcher.PartitionBatcher, "_run", counting)
    items = [catalog_item(c, n) for c in range(250) for n in range(4)]
    async with table.batch_writer() as batch:
        for item in items:
            await batch.put_item(Item=item)
        await batch.delete_item(Key=key_of(items[0]))
    assert sum(calls) == len(items) + 1
    assert len(calls) < len(items) / 10, f"{len(calls)} actor calls for {len(items)} items"
    assert (await table.scan(Select="COUNT"))["Count"] == len(items) - 1


async def test_batch_writer_overwrite_by_pkeys(make_table: Any) -> None:
    table = await make_table(**CATALOG_TABLE, GridSettings={"Partitions": 1})
    async with table.batch_writer(overwrite_by_pkeys=["customer_id", "sku"]) as batch:
        for version in range(5):
            await batch.put_item(Item={**catalog_item(1, 1), "version": version})
        await batch.put_item(Item=catalog_item(2, 1))
        await batch.delete_item(Key=key_of(catalog_item(2, 1)))
    assert (await table.get_item(Key=key_of(catalog_item(1, 1))))["Item"]["version"] == 4
    assert await table.get_item(Key=key_of(catalog_item(2, 1))) == {}


async def test_batch_get_in_parallel_reaches_every_partition(make_table: Any, grid_client: grid.Grid) -> None:
    table = await make_table(**CATALOG_TABLE, GridSettings={"Partitions": 4})
    items = [catalog_item(c, 0) for c in range(100)]
    await asyncio.gather(*(table.put_item(Item=i) for i in items))
    got = await grid_client.batch_get_item(RequestItems={table.name: {"Keys": [key_of(i) for i in items]}})
    assert len(got["Responses"][table.name]) == 100

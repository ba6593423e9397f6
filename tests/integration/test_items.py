"""Single-item calls through Ray: put, get, update, delete, conditions, ReturnValues, bad input."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

import grid
from grid.conditions import Attr
from grid.errors import ConditionalCheckFailedException, ResourceNotFoundException, ValidationException
from tests.seed import catalog_item, seed_item

pytestmark = pytest.mark.asyncio(loop_scope="session")


def key_of(item: dict) -> dict:
    return {"customer_id": item["customer_id"], "sku": item["sku"]}


async def test_put_then_get_returns_native_values(catalog: grid.Table) -> None:
    item = seed_item()
    assert await catalog.put_item(Item=item) == {}
    got = (await catalog.get_item(Key=key_of(item)))["Item"]
    assert got["customer_id"] == Decimal(207808519) and isinstance(got["customer_id"], Decimal)
    assert got["product"]["bullet_point"][1] == {"value": "Rearfoot GEL cushioning", "lang": "en_US"}
    assert got["product"]["can_be_giftwrapped"] is True
    assert got == grid_normalized(item)


def grid_normalized(item: dict) -> dict:
    from grid._types import normalize_item

    return normalize_item(item)


async def test_get_missing_item_is_empty(catalog: grid.Table) -> None:
    assert await catalog.get_item(Key={"customer_id": 1, "sku": "nope"}) == {}


async def test_all_value_types_round_trip(catalog: grid.Table) -> None:
    item = {
        "customer_id": 5,
        "sku": "types",
        "s": "",
        "n": 1.5,
        "big": Decimal("1E+125"),
        "b": b"\x00\xff",
        "t": True,
        "nil": None,
        "l": [1, "a", [b"x"]],
        "m": {"a": {"b": {}}},
        "ss": {"a", "b"},
        "ns": {1, 2.25},
        "bs": {b"a"},
    }
    await catalog.put_item(Item=item)
    got = (await catalog.get_item(Key={"customer_id": 5, "sku": "types"}))["Item"]
    assert got["n"] == Decimal("1.5") and got["ns"] == {Decimal(1), Decimal("2.25")}
    assert got["b"] == b"\x00\xff" and got["bs"] == {b"a"} and got["nil"] is None and got["s"] == ""
    assert got["l"] == [Decimal(1), "a", [b"x"]] and got["m"] == {"a": {"b": {}}}


async def test_put_return_values_all_old(catalog: grid.Table) -> None:
    first = catalog_item(10, 1, version=1)
    await catalog.put_item(Item=first)
    answer = await catalog.put_item(Item=catalog_item(10, 1, version=2), ReturnValues="ALL_OLD")
    assert answer["Attributes"]["version"] == 1


async def test_create_only_put_with_attribute_not_exists(catalog: grid.Table) -> None:
    item = catalog_item(11, 1)
    await catalog.put_item(Item=item, ConditionExpression="attribute_not_exists(sku)")
    with pytest.raises(ConditionalCheckFailedException) as failure:
        await catalog.put_item(
            Item={**item, "version": 9},
            ConditionExpression="attribute_not_exists(sku)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert failure.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert failure.value.item is not None and failure.value.item["version"] == 1
    assert (await catalog.get_item(Key=key_of(item)))["Item"]["version"] == 1


async def test_optimistic_locking_under_contention(catalog: grid.Table) -> None:
    """Many writers race on one item's version: exactly one wins each round."""
    item = seed_item()
    await catalog.put_item(Item=item)

    async def bump(expected: int) -> bool:
        try:
            await catalog.update_item(
                Key=key_of(item),
                UpdateExpression="SET version = version + :one, product.brand = :b",
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":one": 1, ":v": expected, ":b": "ASICS"},
            )
            return True
        except ConditionalCheckFailedException:
            return False

    for expected in range(2, 7):
        outcomes = await asyncio.gather(*(bump(expected) for _ in range(20)))
        assert outcomes.count(True) == 1
    final = (await catalog.get_item(Key=key_of(item)))["Item"]
    assert final["version"] == 7 and final["product"]["brand"] == "ASICS"


@pytest.mark.parametrize(
    ("return_values", "expected"),
    [
        ("NONE", {}),
        ("ALL_OLD", {"Attributes": {"customer_id": 12, "sku": "rv", "version": 1, "hits": 5}}),
        ("UPDATED_OLD", {"Attributes": {"version": 1, "hits": 5}}),
        ("ALL_NEW", {"Attributes": {"customer_id": 12, "sku": "rv", "version": 2, "hits": 6, "tag": "x"}}),
        ("UPDATED_NEW", {"Attributes": {"version": 2, "hits": 6, "tag": "x"}}),
    ],
)
async def test_update_return_values(catalog: grid.Table, return_values: str, expected: dict) -> None:
    key = {"customer_id": 12, "sku": "rv"}
    await catalog.put_item(Item={**key, "version": 1, "hits": 5})
    answer = await catalog.update_item(
        Key=key,
        UpdateExpression="SET version = :two, tag = :t ADD hits :one",
        ExpressionAttributeValues={":two": 2, ":one": 1, ":t": "x"},
        ReturnValues=return_values,
    )
    assert answer == expected


async def test_update_creates_missing_item(catalog: grid.Table) -> None:
    key = {"customer_id": 13, "sku": "new"}
    answer = await catalog.update_item(
        Key=key, UpdateExpression="ADD hits :one", ExpressionAttributeValues={":one": 1}, ReturnValues="ALL_NEW"
    )
    assert answer["Attributes"] == {**key, "hits": 1}


async def test_nested_document_update(catalog: grid.Table) -> None:
    item = seed_item()
    await catalog.put_item(Item=item)
    await catalog.update_item(
        Key=key_of(item),
        UpdateExpression="SET product.bullet_point[0].#v = :x REMOVE product.upc",
        ExpressionAttributeNames={"#v": "value"},
        ExpressionAttributeValues={":x": "Mesh runner"},
    )
    product = (await catalog.get_item(Key=key_of(item)))["Item"]["product"]
    assert product["bullet_point"][0]["value"] == "Mesh runner" and "upc" not in product


async def test_update_of_key_attribute_is_refused(catalog: grid.Table) -> None:
    item = catalog_item(14, 1)
    await catalog.put_item(Item=item)
    with pytest.raises(ValidationException, match="part of the key"):
        await catalog.update_item(
            Key=key_of(item), UpdateExpression="SET sku = :s", ExpressionAttributeValues={":s": "x"}
        )
    assert (await catalog.get_item(Key=key_of(item)))["Item"] == grid_normalized(item)


async def test_delete_with_condition_and_return_values(catalog: grid.Table) -> None:
    item = catalog_item(15, 1, version=3)
    await catalog.put_item(Item=item)
    with pytest.raises(ConditionalCheckFailedException):
        await catalog.delete_item(Key=key_of(item), ConditionExpression=Attr("version").lt(3))
    answer = await catalog.delete_item(
        Key=key_of(item), ConditionExpression=Attr("version").eq(3), ReturnValues="ALL_OLD"
    )
    assert answer["Attributes"]["version"] == 3
    assert await catalog.get_item(Key=key_of(item)) == {}
    assert await catalog.delete_item(Key=key_of(item)) == {}  # deleting nothing is no error


async def test_get_item_projection(catalog: grid.Table) -> None:
    item = seed_item()
    await catalog.put_item(Item=item)
    got = await catalog.get_item(
        Key=key_of(item),
        ProjectionExpression="sku, product.bullet_point[1].#v, product.brand",
        ExpressionAttributeNames={"#v": "value"},
    )
    assert got["Item"] == {
        "sku": item["sku"],
        "product": {"bullet_point": [{"value": "Rearfoot GEL cushioning"}], "brand": "DISCOS"},
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"Item": {"customer_id": "not-a-number", "sku": "a"}}, "Type mismatch"),
        ({"Item": {"customer_id": 1}}, "Missing the key sku"),
        ({"Item": {"customer_id": 1, "sku": ""}}, "empty string"),
        ({"Item": {"customer_id": 1, "sku": "a", "x": float("nan")}}, "NaN"),
        ({"Item": {"customer_id": 1, "sku": "a", "x": set()}}, "empty set"),
        ({"Item": {"customer_id": 1, "sku": "a"}, "ConditionExpression": "version = "}, "Syntax error"),
        ({"Item": {"customer_id": 1, "sku": "a"}, "ConditionExpression": "version = :v"}, "not defined"),
        ({"Item": {"customer_id": 1, "sku": "a"}, "ReturnValues": "ALL_NEW"}, "Return values"),
        ({"Item": {"customer_id": 1, "sku": "a"}, "Bogus": 1}, "Unknown parameter"),
        ({"Item": {"customer_id": 1, "sku": "a" * 1025}}, "1024"),
    ],
)
async def test_bad_put_is_refused_and_changes_nothing(catalog: grid.Table, params: dict, message: str) -> None:
    with pytest.raises(ValidationException, match=message) as failure:
        await catalog.put_item(**params)
    assert failure.value.response["Error"]["Code"] == "ValidationException"
    assert (await catalog.query(KeyConditionExpression="customer_id = :c", ExpressionAttributeValues={":c": 1}))[
        "Count"
    ] == 0


@pytest.mark.parametrize(
    "key",
    [{"customer_id": 1}, {"customer_id": 1, "sku": "a", "extra": 1}, {"customer_id": "1", "sku": "a"}, "nope"],
)
async def test_bad_key_is_refused(catalog: grid.Table, key: object) -> None:
    with pytest.raises(ValidationException):
        await catalog.get_item(Key=key)


async def test_unknown_table_is_resource_not_found(grid_client: grid.Grid) -> None:
    table = grid_client.Table("no-such-table")
    with pytest.raises(ResourceNotFoundException) as failure:
        await table.get_item(Key={"id": "a"})
    assert failure.value.response["Error"]["Code"] == "ResourceNotFoundException"


async def test_concurrent_requests_are_coalesced(
    catalog: grid.Table, grid_client: grid.Grid, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent calls to one partition share actor calls instead of one call each."""
    from grid import _batcher

    calls: list[int] = []
    original = _batcher.PartitionBatcher._run

    async def counting(self, batch):  # type: ignore[no-untyped-def]
        calls.append(len(batch))
        return await original(self, batch)

    monkeypatch.setattr(_batcher.PartitionBatcher, "_run", counting)
    items = [catalog_item(77, n) for n in range(500)]  # one customer: one partition
    await asyncio.gather(*(catalog.put_item(Item=item) for item in items))
    assert sum(calls) == 500
    assert len(calls) <= 50, f"{len(calls)} actor calls for 500 concurrent puts"
    got = await asyncio.gather(*(catalog.get_item(Key=key_of(item)) for item in items))
    assert all(answer["Item"]["sku"] == item["sku"] for answer, item in zip(got, items, strict=True))

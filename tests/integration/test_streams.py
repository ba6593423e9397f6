"""Streams through Ray: records, view types, order per key, consumers that resume, retention, splits."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest

import grid
from grid.errors import TrimmedDataAccessException, ValidationException
from tests.integration.conftest import split_partition, take
from tests.seed import CATALOG_TABLE, catalog_item

pytestmark = pytest.mark.asyncio(loop_scope="session")

ITEMS_TABLE = {
    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}


def streaming(view_type: str = "NEW_AND_OLD_IMAGES") -> dict[str, Any]:
    return {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": view_type}}


@pytest.mark.parametrize(
    ("view_type", "new", "old"),
    [
        ("KEYS_ONLY", False, False),
        ("NEW_IMAGE", True, False),
        ("OLD_IMAGE", False, True),
        ("NEW_AND_OLD_IMAGES", True, True),
    ],
)
async def test_view_types_and_event_kinds(
    make_table: Any, grid_client: grid.Grid, view_type: str, new: bool, old: bool
) -> None:
    table = await make_table(**CATALOG_TABLE, GridSettings={"Partitions": 2}, **streaming(view_type))
    arn = (await grid_client.describe_table(TableName=table.name))["Table"]["LatestStreamArn"]
    item = catalog_item(1, 1)
    key = {"customer_id": 1, "sku": item["sku"]}
    await table.put_item(Item=item)
    await table.update_item(Key=key, UpdateExpression="SET version = :v", ExpressionAttributeValues={":v": 2})
    await table.delete_item(Key=key)
    async with table.stream() as reader:
        records = await take(reader, 3)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    for record in records:
        body = record["dynamodb"]
        assert body["Keys"] == {"customer_id": Decimal(1), "sku": item["sku"]}
        assert body["StreamViewType"] == view_type and body["SizeBytes"] > 0
        assert body["SequenceNumber"].isdigit() and record["eventSourceARN"] == arn
    insert, modify, remove = (r["dynamodb"] for r in records)
    assert ("NewImage" in insert) == new and ("OldImage" in remove) == old
    if new:
        assert insert["NewImage"]["product"]["brand"] == "DISCOS" and modify["NewImage"]["version"] == 2
    if old:
        assert modify["OldImage"]["version"] == 1 and "OldImage" not in insert
    assert int(insert["SequenceNumber"]) < int(modify["SequenceNumber"]) < int(remove["SequenceNumber"])


async def test_writes_that_change_nothing_emit_nothing(make_table: Any) -> None:
    table = await make_table(**ITEMS_TABLE, GridSettings={"Partitions": 1}, **streaming())
    await table.put_item(Item={"id": "a", "n": 1})
    await table.put_item(Item={"id": "a", "n": 1})  # the same item again
    await table.update_item(Key={"id": "a"}, UpdateExpression="SET n = :n", ExpressionAttributeValues={":n": 1})
    await table.delete_item(Key={"id": "missing"})
    await table.put_item(Item={"id": "marker"})
    async with table.stream() as reader:
        records = await take(reader, 2)
    assert [(r["eventName"], r["dynamodb"]["Keys"]["id"]) for r in records] == [("INSERT", "a"), ("INSERT", "marker")]


async def test_order_per_key_under_concurrent_writers(make_table: Any) -> None:
    table = await make_table(**ITEMS_TABLE, GridSettings={"Partitions": 4}, **streaming("NEW_IMAGE"))
    keys = [f"k{n}" for n in range(60)]
    rounds = 15

    async def writer(mine: list[str]) -> None:
        for version in range(1, rounds + 1):
            await asyncio.gather(*(table.put_item(Item={"id": k, "v": version}) for k in mine))

    async with table.stream(start="TRIM_HORIZON") as reader:
        await asyncio.gather(*(writer(keys[w::6]) for w in range(6)))
        records = await take(reader, len(keys) * rounds)
    seen: dict[str, list[int]] = defaultdict(list)
    for record in records:
        seen[record["dynamodb"]["Keys"]["id"]].append(int(record["dynamodb"]["NewImage"]["v"]))
    assert set(seen) == set(keys)
    assert all(versions == list(range(1, rounds + 1)) for versions in seen.values())


async def test_named_consumer_resumes_after_its_checkpoint(make_table: Any) -> None:
    table = await make_table(**ITEMS_TABLE, GridSettings={"Partitions": 3}, **streaming("NEW_IMAGE"))
    await asyncio.gather(*(table.put_item(Item={"id": f"i{n}", "n": n}) for n in range(90)))
    first = table.stream(consumer="indexer")
    got = await take(first, 40)
    for record in got[:30]:
        await first.checkpoint(record)
    await first.close()  # dropped mid-stream: ten records read but not checkpointed
    second_reader = table.stream(start="LATEST", consumer="indexer")  # start is ignored: it has a position
    rest = await take(second_reader, 60)
    await second_reader.close()
    ids = [r["dynamodb"]["Keys"]["id"] for r in got[:30] + rest]
    assert sorted(set(ids)) == sorted(f"i{n}" for n in range(90))  # no gaps
    assert len(ids) == 90  # resumed right after the checkpointed records: nothing skipped or repeated

    with pytest.raises(ValidationException):
        await table.stream().checkpoint(got[0])  # an unnamed reader has no position to store


async def test_latest_skips_the_past_and_a_consumer_copy_equals_the_table(make_table: Any) -> None:
    table = await make_table(**ITEMS_TABLE, GridSettings={"Partitions": 3}, **streaming())
    await table.put_item(Item={"id": "before", "n": 0})
    copy: dict[str, Any] = {}
    reader = table.stream(start="LATEST")
    await reader.__aenter__()
    rng = random.Random(3)
    for _ in range(300):
        key = f"k{rng.randrange(40)}"
        action = rng.random()
        if action < 0.5:
            await table.put_item(Item={"id": key, "n": rng.randrange(5)})
        elif action < 0.8:
            await table.update_item(
                Key={"id": key}, UpdateExpression="ADD n :one", ExpressionAttributeValues={":one": 1}
            )
        else:
            await table.delete_item(Key={"id": key})

    async def follow() -> None:
        async for record in reader:
            body = record["dynamodb"]
            if record["eventName"] == "REMOVE":
                copy.pop(body["Keys"]["id"], None)
            else:
                copy[body["Keys"]["id"]] = body["NewImage"]
            if copy == table_now:
                return

    scanned = await table.scan()
    # The copy began at LATEST: it holds every item written since, and not "before".
    table_now = {item["id"]: item for item in scanned["Items"] if item["id"] != "before"}
    await asyncio.wait_for(follow(), 20)
    await reader.close()
    assert "before" not in copy and copy == table_now


async def test_stalled_reader_keeps_memory_bounded_and_then_is_trimmed(make_table: Any, grid_client: grid.Grid) -> None:
    table = await make_table(
        **ITEMS_TABLE, GridSettings={"Partitions": 2, "StreamRetentionRecords": 100}, **streaming("KEYS_ONLY")
    )
    stalled = table.stream(start="TRIM_HORIZON")
    await stalled.__aenter__()
    await asyncio.gather(*(table.put_item(Item={"id": f"w{n}"}) for n in range(1000)))  # all acknowledged
    route = await grid_client.dispatcher.route(table.name)
    for partition in route.map.ranges:
        assert len(await partition.handle.read_log(0)) <= 100  # the log keeps to retention
    with pytest.raises(TrimmedDataAccessException):
        await take(stalled, 1)


async def test_checkpoint_older_than_retention_is_trimmed(make_table: Any) -> None:
    table = await make_table(
        **ITEMS_TABLE, GridSettings={"Partitions": 1, "StreamRetentionSeconds": 1}, **streaming("KEYS_ONLY")
    )
    await table.put_item(Item={"id": "old"})
    reader = table.stream(consumer="slow")
    [record] = await take(reader, 1)
    await reader.checkpoint(record)
    await reader.close()
    await table.put_item(Item={"id": "newer"})
    await asyncio.sleep(1.5)
    await table.put_item(Item={"id": "newest"})  # "newer" is past retention now
    with pytest.raises(TrimmedDataAccessException):
        await take(table.stream(consumer="slow"), 1)
    fresh = await take(table.stream(start="TRIM_HORIZON"), 1)
    assert fresh[0]["dynamodb"]["Keys"]["id"] == "newest"


async def test_enable_later_disable_and_errors(make_table: Any, grid_client: grid.Grid) -> None:
    table = await make_table(**ITEMS_TABLE, GridSettings={"Partitions": 1})
    await table.put_item(Item={"id": "before"})
    with pytest.raises(ValidationException, match="no enabled stream"):
        await take(table.stream(), 1)
    described = await grid_client.update_table(TableName=table.name, **streaming("NEW_IMAGE"))
    assert described["TableDescription"]["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_IMAGE",
    }
    with pytest.raises(ValidationException, match="already has an enabled stream"):
        await grid_client.update_table(TableName=table.name, **streaming("NEW_IMAGE"))
    await table.put_item(Item={"id": "after"})
    [record] = await take(table.stream(), 1)
    assert record["dynamodb"]["Keys"]["id"] == "after"
    await grid_client.update_table(TableName=table.name, StreamSpecification={"StreamEnabled": False})
    assert (await grid_client.describe_table(TableName=table.name))["Table"]["StreamSpecification"] == {
        "StreamEnabled": False
    }
    with pytest.raises(ValidationException):
        await grid_client.update_table(
            TableName=table.name, StreamSpecification={"StreamEnabled": True, "StreamViewType": "ALL"}
        )
    with pytest.raises(ValidationException):
        table.stream(start="AT_SEQUENCE_NUMBER")


async def test_low_level_streams_calls(make_table: Any, grid_client: grid.Grid) -> None:
    table = await make_table(**ITEMS_TABLE, GridSettings={"Partitions": 2}, **streaming("NEW_IMAGE"))
    await asyncio.gather(*(table.put_item(Item={"id": f"x{n}", "n": n}) for n in range(20)))
    arn = (await grid_client.describe_table(TableName=table.name))["Table"]["LatestStreamArn"]
    assert {"StreamArn": arn, "TableName": table.name}.items() <= (
        await grid_client.list_streams(TableName=table.name)
    )["Streams"][0].items()
    description = (await grid_client.describe_stream(StreamArn=arn))["StreamDescription"]
    assert description["StreamStatus"] == "ENABLED" and description["StreamViewType"] == "NEW_IMAGE"
    shards = description["Shards"]
    assert len(shards) == 2 and all("ParentShardId" not in s for s in shards)
    total = 0
    for shard in shards:
        iterator = (
            await grid_client.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )
        )["ShardIterator"]
        page = await grid_client.get_records(ShardIterator=iterator, Limit=3)
        rest = await grid_client.get_records(ShardIterator=page["NextShardIterator"])
        records = page["Records"] + rest["Records"]
        total += len(records)
        numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
        assert numbers == sorted(numbers) and len(page["Records"]) <= 3
        after = (
            await grid_client.get_shard_iterator(
                StreamArn=arn,
                ShardId=shard["ShardId"],
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                SequenceNumber=numbers[0],
            )
        )["ShardIterator"]
        assert (await grid_client.get_records(ShardIterator=after))["Records"][0]["dynamodb"][
            "SequenceNumber"
        ] == numbers[1]
        at = (
            await grid_client.get_shard_iterator(
                StreamArn=arn,
                ShardId=shard["ShardId"],
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                SequenceNumber=numbers[1],
            )
        )["ShardIterator"]
        assert (await grid_client.get_records(ShardIterator=at))["Records"][0]["dynamodb"]["SequenceNumber"] == numbers[
            1
        ]
        latest = (
            await grid_client.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST")
        )["ShardIterator"]
        assert (await grid_client.get_records(ShardIterator=latest))["Records"] == []
    assert total == 20
    with pytest.raises(grid.errors.ExpiredIteratorException):
        await grid_client.get_records(ShardIterator="not-an-iterator")


async def test_order_per_key_survives_a_split(make_table: Any, grid_client: grid.Grid) -> None:
    table = await make_table(**ITEMS_TABLE, GridSettings={"Partitions": 1}, **streaming("NEW_IMAGE"))
    keys = [f"s{n}" for n in range(40)]
    for version in (1, 2):
        await asyncio.gather(*(table.put_item(Item={"id": k, "v": version}) for k in keys))
    only = (await grid_client.dispatcher.route(table.name)).map.ranges[0].partition_id
    await split_partition(grid_client, table.name, only)
    for version in (3, 4):
        await asyncio.gather(*(table.put_item(Item={"id": k, "v": version}) for k in keys))
    async with table.stream(start="TRIM_HORIZON") as reader:
        records = await take(reader, len(keys) * 4)
    seen: dict[str, list[int]] = defaultdict(list)
    for record in records:
        seen[record["dynamodb"]["Keys"]["id"]].append(int(record["dynamodb"]["NewImage"]["v"]))
    assert all(versions == [1, 2, 3, 4] for versions in seen.values()), seen
    arn = (await grid_client.describe_table(TableName=table.name))["Table"]["LatestStreamArn"]
    shards = (await grid_client.describe_stream(StreamArn=arn))["StreamDescription"]["Shards"]
    parent = next(s for s in shards if "ParentShardId" not in s)
    children = [s for s in shards if s.get("ParentShardId") == parent["ShardId"]]
    assert "EndingSequenceNumber" in parent["SequenceNumberRange"] and len(children) == 2


async def test_closing_a_reader_ends_an_iteration_that_waits(make_table: Any) -> None:
    table = await make_table(**ITEMS_TABLE, **streaming())
    reader = table.stream(start="LATEST")
    await reader.__aenter__()

    async def drain() -> list[dict[str, Any]]:
        return [record async for record in reader]

    waiting = asyncio.create_task(drain())
    await asyncio.sleep(0.2)
    await reader.close()
    assert await asyncio.wait_for(waiting, 5.0) == []

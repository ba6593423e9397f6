"""The DynamoDB-compatible endpoint, driven by real boto3 and aioboto3 clients."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import aioboto3
import boto3
import botocore
import pytest
import pytest_asyncio
from aiohttp import web
from boto3.dynamodb.conditions import Attr, Key
from botocore.config import Config

import grid
from grid._http.server import EndpointSettings, make_app
from tests.seed import CATALOG_TABLE, catalog_item

pytestmark = pytest.mark.asyncio(loop_scope="session")

ACCESS_KEY, SECRET_KEY = "AKIDGRIDTEST", "grid-test-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def endpoint(grid_client: grid.Grid) -> AsyncIterator[str]:
    """The endpoint on 127.0.0.1, serving the session's grid, requiring signed requests."""
    settings = EndpointSettings(credentials={ACCESS_KEY: SECRET_KEY})
    runner = web.AppRunner(make_app(grid_client, settings))
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def client_options(url: str, secret: str = SECRET_KEY, key: str = ACCESS_KEY) -> dict[str, Any]:
    return {
        "endpoint_url": url,
        "region_name": "us-east-1",
        "aws_access_key_id": key,
        "aws_secret_access_key": secret,
        "config": Config(retries={"max_attempts": 1}),
    }


async def in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """boto3 blocks: run it off the event loop that serves the endpoint."""
    return await asyncio.to_thread(function, *args, **kwargs)


def table_name() -> str:
    return f"http-{uuid.uuid4().hex[:10]}"


async def test_boto3_client_full_round(endpoint: str) -> None:
    client = boto3.client("dynamodb", **client_options(endpoint))
    name = table_name()
    created = await in_thread(client.create_table, TableName=name, **CATALOG_TABLE)
    assert created["TableDescription"]["TableStatus"] == "ACTIVE"
    await in_thread(
        client.put_item,
        TableName=name,
        Item={
            "customer_id": {"N": "207808519"},
            "sku": {"S": "207808519/C00K2DG90"},
            "version": {"N": "2"},
            "tags": {"SS": ["a", "b"]},
            "blob": {"B": b"\x00\x01"},
            "doc": {"M": {"l": {"L": [{"BOOL": True}, {"NULL": True}]}}},
        },
    )
    got = await in_thread(
        client.get_item, TableName=name, Key={"customer_id": {"N": "207808519"}, "sku": {"S": "207808519/C00K2DG90"}}
    )
    assert got["Item"]["version"] == {"N": "2"} and set(got["Item"]["tags"]["SS"]) == {"a", "b"}
    assert got["Item"]["blob"] == {"B": b"\x00\x01"} and got["Item"]["doc"]["M"]["l"]["L"][1] == {"NULL": True}
    updated = await in_thread(
        client.update_item,
        TableName=name,
        Key={"customer_id": {"N": "207808519"}, "sku": {"S": "207808519/C00K2DG90"}},
        UpdateExpression="SET version = version + :one",
        ConditionExpression="version = :v",
        ExpressionAttributeValues={":one": {"N": "1"}, ":v": {"N": "2"}},
        ReturnValues="UPDATED_NEW",
    )
    assert updated["Attributes"] == {"version": {"N": "3"}}
    with pytest.raises(botocore.exceptions.ClientError) as failure:
        await in_thread(
            client.put_item,
            TableName=name,
            Item={"customer_id": {"N": "207808519"}, "sku": {"S": "207808519/C00K2DG90"}},
            ConditionExpression="attribute_not_exists(sku)",
        )
    assert failure.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    queried = await in_thread(
        client.query,
        TableName=name,
        KeyConditionExpression="customer_id = :c",
        ExpressionAttributeValues={":c": {"N": "207808519"}},
    )
    assert queried["Count"] == 1
    tables = await in_thread(client.list_tables)
    assert name in tables["TableNames"]
    await in_thread(client.delete_table, TableName=name)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        await in_thread(client.describe_table, TableName=name)


async def test_boto3_resource_layer_with_conditions(endpoint: str) -> None:
    dynamodb = boto3.resource("dynamodb", **client_options(endpoint))
    name = table_name()
    table = await in_thread(dynamodb.create_table, TableName=name, **CATALOG_TABLE)
    items = [catalog_item(7, n) for n in range(30)]

    def load() -> None:
        with table.batch_writer() as batch:
            for item in items:
                batch.put_item(Item=item)

    await in_thread(load)
    answer = await in_thread(
        table.query,
        KeyConditionExpression=Key("customer_id").eq(7) & Key("sku").begins_with("7/C0000001"),
        FilterExpression=Attr("version").eq(1),
        ScanIndexForward=False,
    )
    assert [i["sku"] for i in answer["Items"]] == [f"7/C{n:08d}" for n in range(19, 9, -1)]
    assert isinstance(answer["Items"][0]["customer_id"], Decimal)
    scanned = await in_thread(table.scan, Limit=7)
    assert scanned["Count"] == 7 and "LastEvaluatedKey" in scanned
    got = await in_thread(
        dynamodb.batch_get_item, RequestItems={name: {"Keys": [{"customer_id": 7, "sku": i["sku"]} for i in items[:5]]}}
    )
    assert len(got["Responses"][name]) == 5
    client = dynamodb.meta.client  # the resource's client takes native values too
    with pytest.raises(client.exceptions.TransactionCanceledException) as failure:
        await in_thread(
            client.transact_write_items,
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": name,
                        "Key": {"customer_id": 7, "sku": items[0]["sku"]},
                        "ConditionExpression": "version = :v",
                        "ExpressionAttributeValues": {":v": 9},
                    }
                },
                {"Delete": {"TableName": name, "Key": {"customer_id": 7, "sku": items[1]["sku"]}}},
            ],
        )
    assert [r["Code"] for r in failure.value.response["CancellationReasons"]] == ["ConditionalCheckFailed", "None"]
    await in_thread(table.delete)


async def test_aioboto3_and_legacy_parameters(endpoint: str) -> None:
    session = aioboto3.Session()
    name = table_name()
    async with session.client("dynamodb", **client_options(endpoint)) as client:
        await client.create_table(TableName=name, **CATALOG_TABLE)
        for n in range(5):
            await client.put_item(
                TableName=name, Item={"customer_id": {"N": "1"}, "sku": {"S": f"s{n}"}, "n": {"N": str(n)}}
            )
        legacy = await client.query(
            TableName=name,
            KeyConditions={"customer_id": {"AttributeValueList": [{"N": "1"}], "ComparisonOperator": "EQ"}},
            QueryFilter={"n": {"AttributeValueList": [{"N": "2"}], "ComparisonOperator": "GE"}},
            AttributesToGet=["sku"],
        )
        assert [i["sku"]["S"] for i in legacy["Items"]] == ["s2", "s3", "s4"] and all(
            set(i) == {"sku"} for i in legacy["Items"]
        )
        await client.update_item(
            TableName=name,
            Key={"customer_id": {"N": "1"}, "sku": {"S": "s0"}},
            AttributeUpdates={"n": {"Action": "ADD", "Value": {"N": "10"}}},
            Expected={"n": {"Value": {"N": "0"}}},
        )
        got = await client.get_item(TableName=name, Key={"customer_id": {"N": "1"}, "sku": {"S": "s0"}})
        assert got["Item"]["n"] == {"N": "10"}
        await client.delete_table(TableName=name)
    async with session.resource("dynamodb", **client_options(endpoint)) as resource:
        table = await resource.create_table(TableName=name, **CATALOG_TABLE)
        await table.put_item(Item={"customer_id": 2, "sku": "x", "doc": {"a": [1, 2]}})
        answer = await table.get_item(Key={"customer_id": 2, "sku": "x"})
        assert answer["Item"]["doc"] == {"a": [Decimal(1), Decimal(2)]}
        await table.delete()


async def test_boto3_waiters_paginators_and_the_other_item_calls(endpoint: str) -> None:
    """What SDK code leans on beyond single calls: waiters, paginators, UpdateTable, DeleteItem,
    BatchWriteItem, TransactGetItems, legacy ScanFilter with ConditionalOperator, and the old
    item on a failed condition."""
    client = boto3.client("dynamodb", **client_options(endpoint))
    name = table_name()
    await in_thread(client.create_table, TableName=name, **CATALOG_TABLE)
    await in_thread(client.get_waiter("table_exists").wait, TableName=name, WaiterConfig={"Delay": 1})

    def key(number: int) -> dict[str, Any]:
        return {"customer_id": {"N": "3"}, "sku": {"S": f"3/C{number:08d}"}}

    puts = [{"PutRequest": {"Item": {**key(n), "n": {"N": str(n)}}}} for n in range(25)]
    written = await in_thread(client.batch_write_item, RequestItems={name: puts})
    assert written["UnprocessedItems"] == {}
    written = await in_thread(
        client.batch_write_item,
        RequestItems={
            name: [{"DeleteRequest": {"Key": key(24)}}, {"PutRequest": {"Item": {**key(25), "n": {"N": "25"}}}}]
        },
    )
    assert written["UnprocessedItems"] == {}

    def query_pages() -> list[int]:
        pages = client.get_paginator("query").paginate(
            TableName=name,
            KeyConditionExpression="customer_id = :c",
            ExpressionAttributeValues={":c": {"N": "3"}},
            PaginationConfig={"PageSize": 7},
        )
        return [int(item["n"]["N"]) for page in pages for item in page["Items"]]

    assert await in_thread(query_pages) == [*range(24), 25]

    def legacy_scan() -> list[int]:
        pages = client.get_paginator("scan").paginate(
            TableName=name,
            ScanFilter={
                "n": {"AttributeValueList": [{"N": "2"}], "ComparisonOperator": "LT"},
                "sku": {"AttributeValueList": [{"S": "3/C00000020"}], "ComparisonOperator": "GE"},
            },
            ConditionalOperator="OR",
            PaginationConfig={"PageSize": 5},
        )
        return sorted(int(item["n"]["N"]) for page in pages for item in page["Items"])

    assert await in_thread(legacy_scan) == [0, 1, 20, 21, 22, 23, 25]
    deleted = await in_thread(client.delete_item, TableName=name, Key=key(0), ReturnValues="ALL_OLD")
    assert deleted["Attributes"] == {**key(0), "n": {"N": "0"}}
    with pytest.raises(client.exceptions.ConditionalCheckFailedException) as failure:
        await in_thread(
            client.delete_item,
            TableName=name,
            Key=key(1),
            ConditionExpression="n = :nine",
            ExpressionAttributeValues={":nine": {"N": "9"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert failure.value.response["Item"] == {**key(1), "n": {"N": "1"}}
    got = await in_thread(
        client.transact_get_items,
        TransactItems=[
            {"Get": {"TableName": name, "Key": key(1), "ProjectionExpression": "n"}},
            {"Get": {"TableName": name, "Key": key(0)}},
        ],
    )
    assert got["Responses"] == [{"Item": {"n": {"N": "1"}}}, {}]
    updated = await in_thread(
        client.update_table,
        TableName=name,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 50, "WriteCapacityUnits": 20},
    )
    throughput = updated["TableDescription"]["ProvisionedThroughput"]
    assert (throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]) == (50, 20)
    described = await in_thread(client.describe_table, TableName=name)
    assert described["Table"]["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    await in_thread(client.delete_table, TableName=name)
    await in_thread(client.get_waiter("table_not_exists").wait, TableName=name, WaiterConfig={"Delay": 1})


async def test_streams_protocol(endpoint: str, grid_client: grid.Grid) -> None:
    client = boto3.client("dynamodb", **client_options(endpoint))
    streams = boto3.client("dynamodbstreams", **client_options(endpoint))
    name = table_name()
    await in_thread(
        client.create_table,
        TableName=name,
        **CATALOG_TABLE,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    await in_thread(client.put_item, TableName=name, Item={"customer_id": {"N": "1"}, "sku": {"S": "a"}})
    arn = (await in_thread(streams.list_streams, TableName=name))["Streams"][0]["StreamArn"]
    shards = (await in_thread(streams.describe_stream, StreamArn=arn))["StreamDescription"]["Shards"]
    records = []
    for shard in shards:
        iterator = (
            await in_thread(
                streams.get_shard_iterator, StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )
        )["ShardIterator"]
        records += (await in_thread(streams.get_records, ShardIterator=iterator))["Records"]
    assert [r["eventName"] for r in records] == ["INSERT"]
    assert records[0]["dynamodb"]["NewImage"] == {"customer_id": {"N": "1"}, "sku": {"S": "a"}}
    await in_thread(client.delete_table, TableName=name)


@pytest.mark.parametrize(
    ("key", "secret", "code"),
    [
        (ACCESS_KEY, "wrong-secret", "InvalidSignatureException"),
        ("AKIDUNKNOWN", SECRET_KEY, "UnrecognizedClientException"),
    ],
)
async def test_bad_signatures_are_refused(endpoint: str, key: str, secret: str, code: str) -> None:
    client = boto3.client("dynamodb", **client_options(endpoint, secret=secret, key=key))
    with pytest.raises(botocore.exceptions.ClientError) as failure:
        await in_thread(client.list_tables)
    assert failure.value.response["Error"]["Code"] == code


async def test_unsigned_and_malformed_requests(endpoint: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.post(
            endpoint + "/", data=b"{}", headers={"X-Amz-Target": "DynamoDB_20120810.ListTables"}
        ) as answer:
            body = await answer.json(content_type=None)
            assert answer.status == 400 and body["__type"].endswith("#MissingAuthenticationTokenException")
            assert "x-amz-crc32" in answer.headers
        async with session.get(endpoint + "/health") as answer:
            assert answer.status == 200

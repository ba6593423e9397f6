"""ReturnConsumedCapacity on data calls, and provisioned throughput enforced with retries."""

from __future__ import annotations

from typing import Any

import pytest

import grid
from grid.errors import ProvisionedThroughputExceededException
from tests.integration.conftest import unique_name
from tests.seed import CATALOG_TABLE, catalog_item

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_consumed_capacity_on_every_data_call(make_table: Any, grid_client: grid.Grid) -> None:
    table = await make_table(**CATALOG_TABLE, GridSettings={"Partitions": 2})
    big = {**catalog_item(1, 1), "blob": "x" * 5000}  # about 5.3 KB: 6 write units, 2 read units
    put = await table.put_item(Item=big, ReturnConsumedCapacity="TOTAL")
    assert put["ConsumedCapacity"] == {"TableName": table.name, "CapacityUnits": 6.0, "WriteCapacityUnits": 6.0}
    key = {"customer_id": 1, "sku": big["sku"]}
    strong = await table.get_item(Key=key, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    eventual = await table.get_item(Key=key, ReturnConsumedCapacity="INDEXES")
    assert strong["ConsumedCapacity"]["ReadCapacityUnits"] == 2.0
    assert (
        eventual["ConsumedCapacity"]["ReadCapacityUnits"] == 1.0
        and eventual["ConsumedCapacity"]["Table"]["CapacityUnits"] == 1.0
    )
    assert "ConsumedCapacity" not in await table.get_item(Key=key)
    update = await table.update_item(
        Key=key,
        UpdateExpression="REMOVE #b",
        ExpressionAttributeNames={"#b": "blob"},
        ReturnConsumedCapacity="TOTAL",
    )
    assert update["ConsumedCapacity"]["WriteCapacityUnits"] == 6.0  # the larger of before and after
    query = await table.query(
        KeyConditionExpression="customer_id = :c", ExpressionAttributeValues={":c": 1}, ReturnConsumedCapacity="TOTAL"
    )
    assert query["ConsumedCapacity"]["ReadCapacityUnits"] == 0.5
    scan = await table.scan(ReturnConsumedCapacity="TOTAL", ConsistentRead=True)
    assert scan["ConsumedCapacity"]["ReadCapacityUnits"] >= 2.0  # one unit at least from each partition
    batch = await grid_client.batch_write_item(
        RequestItems={table.name: [{"PutRequest": {"Item": catalog_item(c, 1)}} for c in range(3)]},
        ReturnConsumedCapacity="TOTAL",
    )
    assert batch["ConsumedCapacity"] == [{"TableName": table.name, "CapacityUnits": 3.0, "WriteCapacityUnits": 3.0}]
    tx = await grid_client.transact_write_items(
        TransactItems=[{"Put": {"TableName": table.name, "Item": catalog_item(c, 2)}} for c in range(2)],
        ReturnConsumedCapacity="TOTAL",
    )
    assert tx["ConsumedCapacity"] == [{"TableName": table.name, "CapacityUnits": 4.0, "WriteCapacityUnits": 4.0}]


async def test_provisioned_writes_are_throttled_and_retried(grid_client: grid.Grid) -> None:
    name = unique_name("slow")
    await grid_client.create_table(
        TableName=name,
        **{**CATALOG_TABLE, "BillingMode": "PROVISIONED"},
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 2},
        GridSettings={"Partitions": 1},
    )
    try:
        async with grid.connect(namespace=grid_client.namespace, retries={"max_attempts": 1}) as impatient:
            table = impatient.Table(name)
            await table.put_item(Item=catalog_item(1, 1))
            await table.put_item(Item=catalog_item(1, 2))  # the bucket's first second is spent
            with pytest.raises(ProvisionedThroughputExceededException) as failure:
                await table.put_item(Item=catalog_item(1, 3))
            assert failure.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
        async with grid.connect(namespace=grid_client.namespace, retries={"max_attempts": 10}) as patient:
            await patient.Table(name).put_item(Item=catalog_item(1, 4))  # backs off until the bucket refills
        described = (await grid_client.describe_table(TableName=name))["Table"]
        assert described["ProvisionedThroughput"]["WriteCapacityUnits"] == 2
        await grid_client.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")
        table = grid_client.Table(name)
        for number in range(20):  # on demand: no limit
            await table.put_item(Item=catalog_item(2, number))
    finally:
        await grid_client.delete_table(TableName=name)

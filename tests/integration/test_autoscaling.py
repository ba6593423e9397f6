"""Auto scaling on a live table (policy clock sped up by TimeScale), metrics, partition counts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import grid
from grid.errors import ValidationException
from tests.integration.conftest import unique_name
from tests.seed import CATALOG_TABLE, catalog_item

pytestmark = pytest.mark.asyncio(loop_scope="session")

SCALING = {
    "MinimumUnits": 5,
    "MaximumUnits": 200,
    "ScalingPolicyUpdate": {"TargetTrackingScalingPolicyConfiguration": {"TargetValue": 50}},
}


async def test_write_capacity_scales_out_under_load_and_back_in(grid_client: grid.Grid) -> None:
    name = unique_name("scaled")
    await grid_client.create_table(
        TableName=name,
        **{**CATALOG_TABLE, "BillingMode": "PROVISIONED"},
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        GridSettings={"Partitions": 1, "TimeScale": 600},  # a policy minute lasts 0.1 s
    )
    try:
        answer = await grid_client.update_table_replica_auto_scaling(
            TableName=name,
            ProvisionedWriteCapacityAutoScalingUpdate=SCALING,
            ProvisionedReadCapacityAutoScalingUpdate=SCALING,
        )
        replica = answer["TableAutoScalingDescription"]["Replicas"][0]
        assert replica["ReplicaProvisionedWriteCapacityAutoScalingSettings"]["MaximumUnits"] == 200
        described = await grid_client.describe_table_replica_auto_scaling(TableName=name)
        assert described == answer

        async with grid.connect(namespace=grid_client.namespace, retries={"max_attempts": 20}) as client:
            table = client.Table(name)
            stop = asyncio.Event()

            async def writer(number: int) -> None:
                count = 0
                while not stop.is_set():
                    await table.put_item(Item=catalog_item(number, count % 50))
                    count += 1
                    await asyncio.sleep(0.01)

            writers = [asyncio.create_task(writer(n)) for n in range(8)]
            peak = 5
            for _ in range(40):
                await asyncio.sleep(0.25)
                current = (await grid_client.describe_table(TableName=name))["Table"]["ProvisionedThroughput"]
                peak = max(peak, current["WriteCapacityUnits"])
                if peak >= 40:
                    break
            stop.set()
            await asyncio.gather(*writers)
        assert 40 <= peak <= 200, peak  # scaled out toward the load, within the maximum
        settled = peak
        for _ in range(40):
            await asyncio.sleep(0.25)
            settled = (await grid_client.describe_table(TableName=name))["Table"]["ProvisionedThroughput"][
                "WriteCapacityUnits"
            ]
            if settled == 5:
                break
        assert settled == 5  # idle: back to the minimum, never below it
        samples = (await grid_client.table_metrics(TableName=name))["Samples"]
        assert any(s["ConsumedWriteCapacityUnits"] > 10 for s in samples)
        assert {s["Partitions"] for s in samples} == {1}
    finally:
        await grid_client.delete_table(TableName=name)


async def test_auto_scaling_needs_provisioned_mode_and_known_indexes(make_table: Any, grid_client: grid.Grid) -> None:
    table = await make_table(**CATALOG_TABLE, GridSettings={"Partitions": 1})
    with pytest.raises(ValidationException, match="PROVISIONED"):
        await grid_client.update_table_replica_auto_scaling(
            TableName=table.name, ProvisionedWriteCapacityAutoScalingUpdate=SCALING
        )


async def test_partition_count_grows_and_shrinks_online(make_table: Any, grid_client: grid.Grid) -> None:
    table = await make_table(**CATALOG_TABLE, GridSettings={"Partitions": 1})
    items = [catalog_item(c, 0) for c in range(200)]
    await asyncio.gather(*(table.put_item(Item=i) for i in items))
    for count in (4, 2, 3, 1):
        described = await grid_client.update_table(TableName=table.name, GridSettings={"Partitions": count})
        assert described["TableDescription"]["GridSettings"]["Partitions"] == count
        assert len((await grid_client.dispatcher.route(table.name)).map.ranges) == count
        answers = await asyncio.gather(
            *(table.get_item(Key={"customer_id": i["customer_id"], "sku": i["sku"]}) for i in items)
        )
        assert all("Item" in a for a in answers) and (await table.scan(Select="COUNT"))["Count"] == 200
    with pytest.raises(ValidationException):
        await grid_client.update_table(TableName=table.name, GridSettings={"Partitions": 0})


async def test_a_hot_partition_splits_by_itself_and_merges_back_when_cold(
    make_table: Any, grid_client: grid.Grid
) -> None:
    settings = {"Partitions": 1, "MaxPartitionWriteUnits": 30, "TimeScale": 300}  # cold for 1 s: merge
    table = await make_table(**CATALOG_TABLE, GridSettings=settings)
    stop = asyncio.Event()
    written: list[dict[str, Any]] = []

    async def writer(number: int) -> None:
        count = 0
        while not stop.is_set():
            item = catalog_item(number * 1000 + count % 40, count)
            await table.put_item(Item=item)
            written.append(item)
            count += 1
            await asyncio.sleep(0.005)

    async def partitions() -> int:
        described = await grid_client.describe_table(TableName=table.name)
        count: int = described["Table"]["GridSettings"]["Partitions"]
        return count

    writers = [asyncio.create_task(writer(n)) for n in range(4)]
    most = 1
    for _ in range(60):
        await asyncio.sleep(0.25)
        most = max(most, await partitions())
        if most >= 2:
            break
    stop.set()
    await asyncio.gather(*writers)
    assert most >= 2  # past 30 write units a second, the partition split
    for _ in range(80):
        if await partitions() == 1:
            break
        await asyncio.sleep(0.25)
    assert await partitions() == 1  # cold again: merged back, down to the configured count
    answers = await asyncio.gather(
        *(table.get_item(Key={"customer_id": i["customer_id"], "sku": i["sku"]}) for i in written)
    )
    assert all("Item" in answer for answer in answers)  # nothing lost while it split and merged
    await asyncio.sleep(0.5)  # a monitor tick or two on the merged layout
    latest = (await grid_client.table_metrics(TableName=table.name))["Samples"][-1]
    assert latest["Partitions"] == 1
    assert [p["ItemCount"] for p in latest["PartitionMetrics"]] == [
        len({(i["customer_id"], i["sku"]) for i in written})
    ]


async def test_partitions_can_ask_ray_for_cpus(make_table: Any) -> None:
    """With PartitionCpus, partition actors hold Ray resources (what a cluster autoscaler scales on)."""
    import ray

    before = ray.available_resources().get("CPU", 0.0)
    await make_table(**CATALOG_TABLE, GridSettings={"Partitions": 2, "PartitionCpus": 0.25, "Replicas": 1})
    await asyncio.sleep(0.5)  # the resource view catches up
    held = before - ray.available_resources().get("CPU", 0.0)
    assert held == pytest.approx(0.5, abs=0.01)

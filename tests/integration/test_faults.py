"""A partition of one replica that dies: its keys fail fast with a retryable error, the rest keep answering.

(Groups of three ride out such deaths: ``test_replicas.py``.)
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import ray

import grid
from grid._types import normalize_item
from grid.errors import PartitionUnavailableError
from tests.integration.conftest import unique_name
from tests.seed import CATALOG_TABLE, catalog_item

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_dead_partition_fails_its_keys_only(grid_client: grid.Grid, make_table: Any) -> None:
    name = unique_name("fault")
    table = await make_table(TableName=name, **CATALOG_TABLE, GridSettings={"Partitions": 2})
    items = [catalog_item(c, 0) for c in range(100)]
    await asyncio.gather(*(table.put_item(Item=i) for i in items))
    route = await grid_client.dispatcher.route(name)
    victim = route.map.ranges[0]
    ((_, only_replica),) = victim.handle.members
    ray.kill(only_replica.handle, no_restart=True)  # the Ray actor under its proxy

    def owner(item: dict[str, Any]) -> str:
        schema = route.spec.key_schema
        key = schema.storage_key(schema.key_of_item(normalize_item(item)))
        return route.map.partition_for(key.hash).partition_id

    lost = [i for i in items if owner(i) == victim.partition_id]
    kept = [i for i in items if owner(i) != victim.partition_id]
    assert lost and kept
    answers = await asyncio.gather(
        *(table.get_item(Key={"customer_id": i["customer_id"], "sku": i["sku"]}) for i in kept)
    )
    assert all(a["Item"]["sku"] == i["sku"] for a, i in zip(answers, kept, strict=True))

    started = time.monotonic()
    with pytest.raises(PartitionUnavailableError) as failure:
        await table.get_item(Key={"customer_id": lost[0]["customer_id"], "sku": lost[0]["sku"]})
    assert failure.value.retryable and failure.value.response["Error"]["Code"] == "GridPartitionUnavailable"
    assert time.monotonic() - started < 10  # bounded retries, no hang

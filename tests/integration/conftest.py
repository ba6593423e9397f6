"""One Ray instance for the whole test session, on loopback, and a grid client on it."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before Ray is imported

import pytest
import pytest_asyncio
import ray

import grid
from tests.seed import CATALOG_TABLE


@pytest.fixture(scope="session")
def ray_instance() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    yield
    ray.shutdown()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def grid_client(ray_instance: None) -> AsyncIterator[grid.Grid]:
    """Tables of one replica unless a test asks for more: replication has its own tests
    (``test_replicas.py``), and three processes per partition would triple the suite's actors."""
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    async with grid.connect(namespace=namespace, default_grid_settings={"Replicas": 1}) as client:
        yield client


async def split_partition(client: grid.Grid, table: str, partition_id: str) -> Any:
    """Split one of ``table``'s partitions at its middle, as auto scaling would; the new map."""
    return await client.dispatcher.router_call(lambda router: router.split_partition(table, partition_id))


async def merge_partitions(client: grid.Grid, table: str, lower_id: str) -> Any:
    """Merge partition ``lower_id`` with its upper neighbour; the new map."""
    return await client.dispatcher.router_call(lambda router: router.merge_partitions(table, lower_id))


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def catalog(grid_client: grid.Grid) -> AsyncIterator[grid.Table]:
    """A catalog table (customer_id N + sku S) on 4 partitions, shared by a module's tests.

    Starting partition actors costs about a second, so tests in a module share one
    table and keep to customer ids of their own.
    """
    name = unique_name("catalog")
    table = await grid_client.create_table(TableName=name, **CATALOG_TABLE, GridSettings={"Partitions": 4})
    yield table
    await grid_client.delete_table(TableName=name)


@pytest_asyncio.fixture(loop_scope="session")
async def make_table(grid_client: grid.Grid) -> AsyncIterator[Any]:
    """Create tables on demand; all are deleted after the test."""
    names: list[str] = []

    async def create(**params: Any) -> grid.Table:
        params.setdefault("TableName", unique_name())
        names.append(params["TableName"])
        return await grid_client.create_table(**params)

    yield create
    for name in names:
        try:
            await grid_client.delete_table(TableName=name)
        except grid.errors.ResourceNotFoundException:
            pass


async def take(reader: Any, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The next ``count`` records of a stream reader (failing after ``timeout`` seconds)."""
    records: list[dict[str, Any]] = []

    async def collect() -> None:
        async for record in reader:
            records.append(record)
            if len(records) == count:
                return

    await asyncio.wait_for(collect(), timeout)
    return records

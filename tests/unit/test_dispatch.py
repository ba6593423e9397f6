"""The dispatcher's one retry loop, on a grid of in-process actors (no Ray)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

import grid
from grid._local_transport import LocalTransport
from grid.errors import (
    ConditionalCheckFailedException,
    PartitionMovedError,
    PartitionUnavailableError,
    ProvisionedThroughputExceededException,
)
from tests.seed import CATALOG_TABLE


@pytest_asyncio.fixture
async def client() -> AsyncIterator[grid.Grid]:
    async with grid.connect(transport=LocalTransport(), retries={"max_attempts": 3}) as client:
        await client.create_table(TableName="catalog", **CATALOG_TABLE, GridSettings={"Partitions": 2})
        yield client


class Failing:
    """An attempt that raises ``errors`` one after another, then answers "done"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


async def test_retryable_errors_are_tried_again_up_to_max_attempts(client: grid.Grid) -> None:
    dispatcher = client.dispatcher
    twice = Failing(ProvisionedThroughputExceededException("slow down"), ProvisionedThroughputExceededException("x"))
    assert await dispatcher.retrying(["catalog"], twice) == "done" and twice.calls == 3
    thrice = Failing(*(ProvisionedThroughputExceededException("slow down") for _ in range(3)))
    with pytest.raises(ProvisionedThroughputExceededException):
        await dispatcher.retrying(["catalog"], thrice)
    assert thrice.calls == 3  # max_attempts counts the first try


async def test_other_errors_end_the_call_at_once(client: grid.Grid) -> None:
    once = Failing(ConditionalCheckFailedException("no"))
    with pytest.raises(ConditionalCheckFailedException):
        await client.dispatcher.retrying(["catalog"], once)
    assert once.calls == 1


async def test_a_moved_partition_refreshes_the_map_on_a_budget_of_its_own(client: grid.Grid) -> None:
    """Splits are routine: many refreshes in a row never count against max_attempts."""
    moved = Failing(*(PartitionMovedError("moved") for _ in range(10)))
    assert await client.dispatcher.retrying(["catalog"], moved) == "done" and moved.calls == 11


async def test_an_unreachable_partition_the_new_map_no_longer_holds_is_no_failed_try(client: grid.Grid) -> None:
    retired = Failing(*(PartitionUnavailableError("gone", partition_id="merged-away") for _ in range(5)))
    assert await client.dispatcher.retrying(["catalog"], retired) == "done"
    partition_id = (await client.dispatcher.route("catalog")).map.ranges[0].partition_id
    still_mapped = Failing(*(PartitionUnavailableError("gone", partition_id=partition_id) for _ in range(5)))
    with pytest.raises(PartitionUnavailableError):
        await client.dispatcher.retrying(["catalog"], still_mapped)
    assert still_mapped.calls == 3

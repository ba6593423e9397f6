"""A dead router's late calls are fenced: each router start has a higher epoch, and partitions refuse older ones.

The scenario the epoch exists for: a router sends a split or merge, dies, and its call
lands after the restarted router recovered the table. Without the fence the late call
would move items behind the new router's back; with it, the partition refuses it and
the table stays as the new router recovered it.
"""

from __future__ import annotations

import pytest

import grid
from actors.partition_state import Fence, PartitionState, SplitOff
from actors.system import PartitionConfig
from grid._groups import ReplicaGroup
from grid._keys import HASH_SPACE
from grid._local_transport import LocalTransport
from grid._schema import TableSpec
from grid.errors import StaleRouterError
from tests.seed import CATALOG_TABLE, catalog_item
from tests.seed import catalog_key as key


def test_a_fenced_state_refuses_moves_of_older_epochs_and_takes_newer_ones() -> None:
    spec = TableSpec.from_create_params({"TableName": "catalog", **CATALOG_TABLE})
    config = PartitionConfig(
        table_name="catalog",
        table_id=spec.table_id,
        partition_id="p0",
        key_schema=spec.key_schema,
        low=0,
        high=HASH_SPACE,
        map_version=1,
    )
    state = PartitionState(config)
    state.apply(Fence(3), at=0.0)
    with pytest.raises(StaleRouterError):
        state.apply(SplitOff(HASH_SPACE // 2, 2, epoch=2), at=0.0)
    assert state.store.high == HASH_SPACE  # nothing moved
    state.apply(SplitOff(HASH_SPACE // 2, 2, epoch=3), at=0.0)
    assert state.store.high == HASH_SPACE // 2
    state.apply(Fence(1), at=0.0)  # a fence never goes back
    assert state.router_epoch == 3


async def test_a_split_sent_by_a_router_that_has_since_restarted_is_refused(
    local: tuple[grid.Grid, LocalTransport],
) -> None:
    client, transport = local
    table = await client.create_table(TableName="catalog", **CATALOG_TABLE, GridSettings={"Partitions": 1})
    items = [catalog_item(customer, 0) for customer in range(50)]
    for item in items:
        await table.put_item(Item=item)
    await client.update_table(TableName="catalog", GridSettings={"Partitions": 2})  # a split by the first router
    route = await client.dispatcher.route("catalog")
    lower = route.map.ranges[0]
    assert isinstance(lower.handle, ReplicaGroup)
    old_epoch = (await lower.handle.stats()).router_epoch
    assert old_epoch >= 1  # the split carried the first router's epoch

    await transport.restart_router()  # the new router fences every partition before it serves

    assert (await lower.handle.stats()).router_epoch > old_epoch
    middle = (lower.low + lower.high) // 2
    with pytest.raises(StaleRouterError):
        await lower.handle.split_off(middle, route.map.version + 1, old_epoch)  # the dead router's late call
    described = (await client.describe_table(TableName="catalog"))["Table"]
    assert described["GridSettings"]["Partitions"] == 2
    assert described["ItemCount"] == len(items)
    for item in items:
        assert (await table.get_item(Key=key(item), ConsistentRead=True))["Item"] == item
    await client.update_table(TableName="catalog", GridSettings={"Partitions": 3})  # the new router still moves
    assert (await table.scan(Select="COUNT"))["Count"] == len(items)

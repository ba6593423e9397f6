"""Replica groups on the local transport: a leader's death, repair, reads on followers (no Ray).

The same partition actors Ray runs, in one process, with real timers: a group elects a
new leader within about a second of its leader's death, and keeps every acknowledged write.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grid
from grid._groups import ReplicaGroup
from grid._local_transport import LocalTransport
from grid._services import PartitionStats
from grid.errors import PartitionUnavailableError
from tests.seed import CATALOG_TABLE, catalog_item
from tests.seed import catalog_key as key


async def group_of(client: grid.Grid, table: str) -> ReplicaGroup:
    group = (await client.dispatcher.route(table)).map.ranges[0].handle
    assert isinstance(group, ReplicaGroup)
    return group


async def until(predicate: Any, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_table_has_three_replicas_of_each_partition_by_default(local: tuple[grid.Grid, LocalTransport]) -> None:
    client, _ = local
    await client.create_table(TableName="catalog", **CATALOG_TABLE, GridSettings={"Partitions": 2})
    described = (await client.describe_table(TableName="catalog"))["Table"]
    assert described["GridSettings"]["Replicas"] == 3
    group = await group_of(client, "catalog")
    stats: PartitionStats = await group.stats()
    assert len(group.members) == 3 and stats.members == ("r0", "r1", "r2") and stats.leader == stats.replica_id


async def test_one_replica_is_allowed(local: tuple[grid.Grid, LocalTransport]) -> None:
    client, _ = local
    table = await client.create_table(TableName="cache", **CATALOG_TABLE, GridSettings={"Replicas": 1})
    await table.put_item(Item=catalog_item(1, 1))
    assert (await table.get_item(Key=key(catalog_item(1, 1)), ConsistentRead=True))["Item"] == catalog_item(1, 1)
    assert len((await group_of(client, "cache")).members) == 1


async def test_a_client_reads_its_own_writes_from_any_replica(local: tuple[grid.Grid, LocalTransport]) -> None:
    client, _ = local
    table = await client.create_table(TableName="catalog", **CATALOG_TABLE, GridSettings={"Partitions": 1})
    for version in range(30):
        item = catalog_item(1, 1, version=version)
        await table.put_item(Item=item)
        assert (await table.get_item(Key=key(item)))["Item"]["version"] == version  # eventually consistent


async def test_the_leaders_death_loses_no_acknowledged_write_and_the_group_is_repaired(
    local: tuple[grid.Grid, LocalTransport],
) -> None:
    client, transport = local
    table = await client.create_table(TableName="catalog", **CATALOG_TABLE, GridSettings={"Partitions": 1})
    group = await group_of(client, "catalog")
    acknowledged: dict[int, int] = {}
    stop = asyncio.Event()

    async def writer(customer: int) -> None:
        version = 0
        while not stop.is_set():
            version += 1
            await table.put_item(Item=catalog_item(customer, 0, version=version))
            acknowledged[customer] = version

    writers = [asyncio.ensure_future(writer(customer)) for customer in range(20)]
    await asyncio.sleep(0.3)
    leader = (await group.stats()).leader
    assert leader is not None
    table_id = (await client.dispatcher.route("catalog")).spec.table_id
    partition_id = (await client.dispatcher.route("catalog")).map.ranges[0].partition_id
    transport.system.stop_replica(table_id, partition_id, leader)
    await asyncio.sleep(2.0)  # writes go on through the election
    stop.set()
    await asyncio.gather(*writers)
    for customer, version in acknowledged.items():
        answer = await table.get_item(Key=key(catalog_item(customer, 0)), ConsistentRead=True)
        assert answer["Item"]["version"] >= version

    async def repaired() -> bool:
        stats = await (await group_of(client, "catalog")).stats()
        return len(stats.members) == 3 and leader not in stats.members

    await until(repaired)

    async def published() -> bool:  # the router learns the new members just after the group changes
        await client.dispatcher.refresh("catalog", stale_version=None)
        return leader not in (await group_of(client, "catalog")).replica_ids

    await until(published)


async def test_a_client_follows_its_partition_through_three_replaced_replicas(
    local: tuple[grid.Grid, LocalTransport],
) -> None:
    """After three repairs (of leaders, as long as one of the first replicas leads) no replica of
    the client's first map is left: its calls must go to the group as it is now (a batcher
    kept from an old map would call only the dead)."""
    client, transport = local
    table = await client.create_table(TableName="catalog", **CATALOG_TABLE, GridSettings={"Partitions": 1})
    route = await client.dispatcher.route("catalog")
    table_id, partition_id = route.spec.table_id, route.map.ranges[0].partition_id
    first_members = set((await group_of(client, "catalog")).replica_ids)
    for round_number in range(3):
        await table.put_item(Item=catalog_item(1, 0, version=round_number + 1))
        leader = (await (await current_group(client)).stats()).leader
        assert leader is not None
        originals = sorted(first_members & set((await current_group(client)).replica_ids))
        victim = leader if leader in originals else originals[0]  # the leader whenever it is an original
        transport.system.stop_replica(table_id, partition_id, victim)

        async def repaired(dead: str = victim) -> bool:
            stats = await (await current_group(client)).stats()
            return len(stats.voters) == 3 and dead not in stats.members

        await until(repaired, seconds=30)
    assert not first_members & set((await current_group(client)).replica_ids)
    await table.put_item(Item=catalog_item(1, 0, version=9))
    assert (await table.get_item(Key=key(catalog_item(1, 0)), ConsistentRead=True))["Item"]["version"] == 9


async def current_group(client: grid.Grid) -> ReplicaGroup:
    """The group as the router publishes it now (the test's own look, not the client's cached map)."""
    spec, partition_map = await client.dispatcher.router_call(lambda router: router.get_table("catalog"))
    group = partition_map.ranges[0].handle
    assert isinstance(group, ReplicaGroup)
    return group


async def test_a_replacement_never_takes_a_dead_replicas_id(local: tuple[grid.Grid, LocalTransport]) -> None:
    """The replica with the highest id dies: its replacement gets a new id, so a client's or a
    peer's handle kept for the dead one is never taken for the replacement's."""
    client, transport = local
    table = await client.create_table(TableName="catalog", **CATALOG_TABLE, GridSettings={"Partitions": 1})
    await table.put_item(Item=catalog_item(1, 0))
    route = await client.dispatcher.route("catalog")
    transport.system.stop_replica(route.spec.table_id, route.map.ranges[0].partition_id, "r2")

    async def repaired() -> bool:
        stats = await (await current_group(client)).stats()
        return len(stats.voters) == 3 and "r2" not in stats.members

    await until(repaired, seconds=30)
    assert set((await current_group(client)).replica_ids) == {"r0", "r1", "r3"}


async def test_a_replacement_that_fails_to_start_is_tried_again(
    local: tuple[grid.Grid, LocalTransport], monkeypatch: Any
) -> None:
    """The dead replica is out of the group before its replacement starts: if that start
    fails (a node lost meanwhile), the group is short of a replica and its leader adds one."""
    client, transport = local
    table = await client.create_table(TableName="catalog", **CATALOG_TABLE, GridSettings={"Partitions": 1})
    await table.put_item(Item=catalog_item(1, 0))
    route = await client.dispatcher.route("catalog")
    system = transport.system
    starts = system.start_partition
    failures = [1]

    def start_partition(config: Any) -> Any:
        if failures[0]:
            failures[0] -= 1
            raise PartitionUnavailableError("the node it was placed on is gone")
        return starts(config)

    monkeypatch.setattr(system, "start_partition", start_partition)
    system.stop_replica(route.spec.table_id, route.map.ranges[0].partition_id, "r1")

    async def whole() -> bool:
        stats = await (await current_group(client)).stats()
        return len(stats.voters) == 3 and "r1" not in stats.members

    await until(whole, seconds=30)
    assert failures == [0]

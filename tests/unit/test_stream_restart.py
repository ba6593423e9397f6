"""A stream actor that dies and starts again (as Ray restarts it) keeps its stream whole.

Its records in the key-value store bring back what the partitions' logs cannot: where
the stream began, the shards and records of partitions a merge retired, and named
consumers' checkpoints. Every record stays readable once, in order per key.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grid
from actors.stream_journal import StreamJournal
from grid._local_transport import LocalTransport
from tests.seed import CATALOG_TABLE, catalog_item

READ_SECONDS = 10.0
STREAMED = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}}


async def read(table: grid.Table, count: int, **options: Any) -> list[dict[str, Any]]:
    """``count`` records from a new reader (a named consumer checkpoints each); fails if they do not come."""
    records: list[dict[str, Any]] = []

    async def follow() -> None:
        async with table.stream(**options) as reader:
            async for record in reader:
                records.append(record)
                if options.get("consumer"):
                    await reader.checkpoint(record)
                if len(records) == count:
                    return

    await asyncio.wait_for(follow(), READ_SECONDS)
    return records


def versions(records: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return [(int(r["dynamodb"]["NewImage"]["customer_id"]), int(r["dynamodb"]["NewImage"]["version"])) for r in records]


async def restart_stream(client: grid.Grid, transport: LocalTransport, table: grid.Table) -> None:
    route = await client.dispatcher.route(table.name)
    label = (await client.describe_table(TableName=table.name))["Table"]["LatestStreamLabel"]
    transport.system.restart_stream(table_name=table.name, table_id=route.spec.table_id, label=label)


async def test_a_restarted_stream_actor_keeps_records_lineage_and_checkpoints(
    local: tuple[grid.Grid, LocalTransport],
) -> None:
    client, transport = local
    table = await client.create_table(TableName="catalog", **CATALOG_TABLE, GridSettings={"Partitions": 2})
    await table.put_item(Item={**catalog_item(0, 0), "version": 0})  # before the stream: in no record
    await client.update_table(TableName="catalog", **STREAMED)

    written = []
    for version in (1, 2, 3):
        for customer in range(12):
            await table.put_item(Item={**catalog_item(customer, 0), "version": version})
            written.append((customer, version))
        # Splits, then a merge that retires partitions: their records live only in the stream actor.
        await client.update_table(TableName="catalog", GridSettings={"Partitions": (4, 1, 3)[version - 1]})
    first = versions(await read(table, 10, consumer="audit"))

    await restart_stream(client, transport, table)

    everything = await read(table, len(written), start="TRIM_HORIZON")
    assert sorted(versions(everything)) == sorted(written)
    for customer in range(12):  # in order per key, each once
        assert [v for c, v in versions(everything) if c == customer] == [1, 2, 3]
    resumed = versions(await read(table, len(written) - 10, consumer="audit"))
    assert sorted(first + resumed) == sorted(written)

    # Records written after the restart reach readers too.
    await table.put_item(Item={**catalog_item(5, 0), "version": 4})
    later = await read(table, 1, consumer="audit")
    assert versions(later) == [(5, 4)]


async def test_a_deleted_tables_stream_leaves_no_records(local: tuple[grid.Grid, LocalTransport]) -> None:
    client, transport = local
    table = await client.create_table(TableName="catalog", **CATALOG_TABLE, **STREAMED)
    route = await client.dispatcher.route(table.name)
    label = (await client.describe_table(TableName=table.name))["Table"]["LatestStreamLabel"]
    journal = StreamJournal(transport.system.key_value(), route.spec.table_id, label)
    assert journal.load() is not None
    await client.delete_table(TableName="catalog")
    assert journal.load() is None

"""TransactWriteItems and TransactGetItems through Ray: atomicity, reasons, isolation, recovery."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
import ray

import grid
from grid._changes import EVENT, NEW_IMAGE, ChangeEvent
from grid._naming import LEDGER_COUNT, ledger_actor_name
from grid.errors import (
    IdempotentParameterMismatchException,
    TransactionCanceledException,
    TransactionConflictException,
    ValidationException,
)
from tests.integration.conftest import unique_name
from tests.seed import CATALOG_TABLE, catalog_item

pytestmark = pytest.mark.asyncio(loop_scope="session")

ACCOUNTS_TABLE = {
    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}
LEASE = 1.0


class CoordinatorDied(Exception):
    """Raised by a fault hook: the client stops mid-protocol, as if its process died."""


@pytest_asyncio.fixture(loop_scope="session")
async def short_lease_client(grid_client: grid.Grid) -> AsyncIterator[grid.Grid]:
    """A second client of the same grid whose transactions hold items for one second only."""
    async with grid.connect(namespace=grid_client.namespace, transaction_lease=LEASE) as client:
        yield client


async def spread_ids(client: grid.Grid, table: str, count: int) -> list[str]:
    """Account ids that fall in ``count`` different partitions (so a transaction takes two phases)."""
    route = await client.dispatcher.route(table)
    schema = route.spec.key_schema
    chosen: dict[str, str] = {}
    for number in range(1000):
        candidate = f"acct-{number}"
        partition = route.map.partition_for(schema.storage_key({"id": candidate}).hash).partition_id
        chosen.setdefault(partition, candidate)
        if len(chosen) == count:
            return list(chosen.values())
    raise AssertionError("not enough partitions")


def key_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"customer_id": item["customer_id"], "sku": item["sku"]}


async def test_all_action_kinds_across_tables_apply_together(make_table: Any, grid_client: grid.Grid) -> None:
    orders = await make_table(**CATALOG_TABLE, GridSettings={"Partitions": 3})
    stock = await make_table(**ACCOUNTS_TABLE, GridSettings={"Partitions": 2})
    await stock.put_item(Item={"id": "sku-1", "count": 5})
    await stock.put_item(Item={"id": "sku-2", "count": 1})
    await orders.put_item(Item=catalog_item(7, 99))
    await grid_client.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": stock.name,
                    "Key": {"id": "sku-1"},
                    "UpdateExpression": "SET #c = #c - :one",
                    "ConditionExpression": "#c >= :one",
                    "ExpressionAttributeNames": {"#c": "count"},
                    "ExpressionAttributeValues": {":one": 1},
                }
            },
            {
                "Put": {
                    "TableName": orders.name,
                    "Item": catalog_item(7, 1),
                    "ConditionExpression": "attribute_not_exists(sku)",
                }
            },
            {"Delete": {"TableName": orders.name, "Key": key_of(catalog_item(7, 99))}},
            {
                "ConditionCheck": {
                    "TableName": stock.name,
                    "Key": {"id": "sku-2"},
                    "ConditionExpression": "attribute_exists(id)",
                }
            },
        ]
    )
    assert (await stock.get_item(Key={"id": "sku-1"}))["Item"]["count"] == 4
    assert "Item" in await orders.get_item(Key=key_of(catalog_item(7, 1)))
    assert await orders.get_item(Key=key_of(catalog_item(7, 99))) == {}


async def test_cancellation_reasons_in_order_and_nothing_applied(make_table: Any, grid_client: grid.Grid) -> None:
    table = await make_table(**ACCOUNTS_TABLE, GridSettings={"Partitions": 2})
    await table.put_item(Item={"id": "a", "balance": 10})
    await table.put_item(Item={"id": "b", "balance": 0})
    with pytest.raises(TransactionCanceledException) as failure:
        await grid_client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table.name,
                        "Key": {"id": "a"},
                        "UpdateExpression": "SET balance = :z",
                        "ExpressionAttributeValues": {":z": 0},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": table.name,
                        "Key": {"id": "b"},
                        "ConditionExpression": "balance > :z",
                        "ExpressionAttributeValues": {":z": 0},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {"Put": {"TableName": table.name, "Item": {"id": "c"}}},
            ]
        )
    reasons = failure.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed", "None"]
    assert reasons[1]["Item"] == {"id": "b", "balance": Decimal(0)}
    assert failure.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert (await table.get_item(Key={"id": "a"}))["Item"]["balance"] == 10
    assert await table.get_item(Key={"id": "c"}) == {}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            lambda t: [
                {"Put": {"TableName": t, "Item": {"id": "x"}}},
                {"Delete": {"TableName": t, "Key": {"id": "x"}}},
            ],
            "multiple operations on one item",
        ),
        (lambda t: [{"Put": {"TableName": t, "Item": {"id": str(i)}}} for i in range(101)], "100"),
        (lambda t: [], "1"),
        (lambda t: [{"Get": {"TableName": t, "Key": {"id": "x"}}}], r'Unknown parameter in TransactItems\[0\]: "Get"'),
        (lambda t: [{"ConditionCheck": {"TableName": t, "Key": {"id": "x"}}}], "ConditionExpression"),
        (
            lambda t: (
                [{"Put": {"TableName": t, "Item": {"id": "x", "big": "x" * 300_000}}} for _ in range(1)]
                + [{"Put": {"TableName": t, "Item": {"id": str(i), "big": "x" * 300_000}}} for i in range(14)]
            ),
            "4 MB",
        ),
    ],
)
async def test_bad_transactions_are_refused(make_table: Any, grid_client: grid.Grid, items: Any, message: str) -> None:
    table = await make_table(**ACCOUNTS_TABLE, GridSettings={"Partitions": 1})
    with pytest.raises(ValidationException, match=message):
        await grid_client.transact_write_items(TransactItems=items(table.name))
    assert (await table.scan(Select="COUNT"))["Count"] == 0


async def test_a_key_of_the_wrong_type_cancels_the_transaction_with_its_reason(
    make_table: Any, grid_client: grid.Grid
) -> None:
    table = await make_table(**ACCOUNTS_TABLE, GridSettings={"Partitions": 1})
    with pytest.raises(TransactionCanceledException) as failure:
        await grid_client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table.name, "Item": {"id": "fine", "balance": 1}}},
                {"Put": {"TableName": table.name, "Item": {"id": 7}}},
                {"Delete": {"TableName": table.name, "Key": {"id": 8}}},
            ]
        )
    reasons = failure.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "ValidationError", "ValidationError"]
    assert reasons[1]["Message"] == (
        "One or more parameter values were invalid: Type mismatch for key id expected: S actual: N"
    )
    assert reasons[2]["Message"] == "The provided key element does not match the schema"
    assert "[None, ValidationError, ValidationError]" in failure.value.message
    assert (await table.scan(Select="COUNT"))["Count"] == 0  # nothing written


async def test_idempotent_token(make_table: Any, grid_client: grid.Grid) -> None:
    table = await make_table(**ACCOUNTS_TABLE, GridSettings={"Partitions": 2})
    token = uuid.uuid4().hex
    actions = [
        {
            "Update": {
                "TableName": table.name,
                "Key": {"id": "a"},
                "UpdateExpression": "ADD hits :one",
                "ExpressionAttributeValues": {":one": 1},
            }
        },
        {
            "Update": {
                "TableName": table.name,
                "Key": {"id": "b"},
                "UpdateExpression": "ADD hits :one",
                "ExpressionAttributeValues": {":one": 1},
            }
        },
    ]
    assert await grid_client.transact_write_items(TransactItems=actions, ClientRequestToken=token) == {}
    assert await grid_client.transact_write_items(TransactItems=actions, ClientRequestToken=token) == {}
    assert (await table.get_item(Key={"id": "a"}))["Item"]["hits"] == 1
    assert (await table.get_item(Key={"id": "b"}))["Item"]["hits"] == 1
    with pytest.raises(IdempotentParameterMismatchException):
        await grid_client.transact_write_items(TransactItems=actions[:1], ClientRequestToken=token)


async def two_accounts_and_a_coordinator_dying_at(
    make_table: Any, client: grid.Grid, point: str
) -> tuple[grid.Table, str, str]:
    """Two accounts on different partitions, and a transfer between them whose client dies at ``point``."""
    table = await make_table(**ACCOUNTS_TABLE, GridSettings={"Partitions": 2})
    a, b = await spread_ids(client, table.name, 2)
    await table.put_item(Item={"id": a, "balance": 10})
    await table.put_item(Item={"id": b, "balance": 10})

    def die(reached: str) -> None:
        if reached == point:
            raise CoordinatorDied(reached)

    client.dispatcher.fault_hook = die
    try:
        with pytest.raises(CoordinatorDied):
            await transfer(client, table.name, a, b, 5, checked=False)
    finally:
        client.dispatcher.fault_hook = None
    return table, a, b


async def test_a_dead_coordinator_after_prepare_is_aborted_and_unlocks(
    make_table: Any, short_lease_client: grid.Grid, grid_client: grid.Grid
) -> None:
    table, a, b = await two_accounts_and_a_coordinator_dying_at(make_table, short_lease_client, "prepared")
    # The items are locked now: reads see the last committed image, single-item writes
    # conflict, other transactions are canceled.
    assert (await table.get_item(Key={"id": a}))["Item"]["balance"] == 10
    with pytest.raises(TransactionConflictException):
        await table.put_item(Item={"id": a, "balance": 99})
    with pytest.raises(TransactionCanceledException) as failure:
        await transfer(grid_client, table.name, a, b, 1, checked=False)
    assert "TransactionConflict" in {r["Code"] for r in failure.value.cancellation_reasons}
    # After the lease the partitions ask the ledger, which aborts: nothing changed, nothing locked.
    await asyncio.sleep(LEASE + 1.0)
    assert (await table.get_item(Key={"id": a}))["Item"]["balance"] == 10
    await table.put_item(Item={"id": a, "balance": 10})


async def test_a_dead_coordinator_after_the_decision_is_committed(
    make_table: Any, short_lease_client: grid.Grid
) -> None:
    table, a, b = await two_accounts_and_a_coordinator_dying_at(make_table, short_lease_client, "decided")
    await asyncio.sleep(LEASE + 1.0)
    snapshot = await short_lease_client.transact_get_items(
        TransactItems=[{"Get": {"TableName": table.name, "Key": {"id": i}}} for i in (a, b)]
    )
    assert [r["Item"]["balance"] for r in snapshot["Responses"]] == [5, 15]


async def test_a_decision_survives_its_ledgers_death(make_table: Any, short_lease_client: grid.Grid) -> None:
    """The coordinator dies after the decision, then every ledger dies: Ray restarts them, and
    the partitions, asking after the lease, still learn COMMITTED."""
    table, a, b = await two_accounts_and_a_coordinator_dying_at(make_table, short_lease_client, "decided")
    killed = 0
    for index in range(LEDGER_COUNT):
        try:
            ledger = ray.get_actor(ledger_actor_name(index), namespace=short_lease_client.namespace)
        except ValueError:
            continue  # not started: no transaction asked it yet
        ray.kill(ledger, no_restart=False)
        killed += 1
    assert killed
    await asyncio.sleep(LEASE + 2.0)
    snapshot = await short_lease_client.transact_get_items(
        TransactItems=[{"Get": {"TableName": table.name, "Key": {"id": i}}} for i in (a, b)]
    )
    assert [r["Item"]["balance"] for r in snapshot["Responses"]] == [5, 15]


async def transfer(
    client: grid.Grid, table: str, source: str, target: str, amount: int, *, checked: bool = True
) -> None:
    await client.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": table,
                    "Key": {"id": source},
                    "UpdateExpression": "SET balance = balance - :a",
                    **({"ConditionExpression": "balance >= :a"} if checked else {}),
                    "ExpressionAttributeValues": {":a": amount},
                }
            },
            {
                "Update": {
                    "TableName": table,
                    "Key": {"id": target},
                    "UpdateExpression": "SET balance = balance + :a",
                    "ExpressionAttributeValues": {":a": amount},
                }
            },
        ]
    )


async def test_transfers_keep_the_total_at_every_snapshot(
    make_table: Any, grid_client: grid.Grid, short_lease_client: grid.Grid
) -> None:
    """Concurrent transfers (some failing their conditions, some coordinators dying) never break the total."""
    table = await make_table(TableName=unique_name("bank"), **ACCOUNTS_TABLE, GridSettings={"Partitions": 4})
    accounts = [f"acct-{i}" for i in range(16)]
    await asyncio.gather(*(table.put_item(Item={"id": a, "balance": 100}) for a in accounts))
    total = 100 * len(accounts)
    rng = random.Random(7)
    stop = asyncio.Event()
    outcomes = {"committed": 0, "canceled": 0, "died": 0}
    snapshots: list[int] = []

    dying = asyncio.Event()

    def sometimes_die(point: str) -> None:
        if dying.is_set() and rng.random() < 0.03:
            raise CoordinatorDied(point)

    short_lease_client.dispatcher.fault_hook = sometimes_die

    async def worker(client: grid.Grid) -> None:
        while not stop.is_set():
            source, target = rng.sample(accounts, 2)
            try:
                await transfer(client, table.name, source, target, rng.randint(1, 150))
                outcomes["committed"] += 1
            except TransactionCanceledException:
                outcomes["canceled"] += 1
            except CoordinatorDied:
                outcomes["died"] += 1
            await asyncio.sleep(rng.uniform(0, 0.02))

    async def auditor() -> None:
        while not stop.is_set():
            try:
                snapshot = await grid_client.transact_get_items(
                    TransactItems=[{"Get": {"TableName": table.name, "Key": {"id": a}}} for a in accounts]
                )
            except TransactionCanceledException:
                continue
            snapshots.append(sum(r["Item"]["balance"] for r in snapshot["Responses"]))

    tasks = [asyncio.create_task(worker(grid_client)) for _ in range(6)]
    tasks += [asyncio.create_task(worker(short_lease_client)) for _ in range(3)]
    tasks.append(asyncio.create_task(auditor()))
    await asyncio.sleep(3.0)  # first without failures, then with coordinators dying mid-protocol
    dying.set()
    await asyncio.sleep(3.0)
    stop.set()
    await asyncio.gather(*tasks)
    short_lease_client.dispatcher.fault_hook = None
    await asyncio.sleep(LEASE + 1.0)  # dead coordinators' transactions get finished by the partitions

    assert outcomes["committed"] > 20 and outcomes["canceled"] > 0 and outcomes["died"] > 0, outcomes
    # Snapshots succeed while transfers run (reads hold items as they come free), and all are exact.
    assert len(snapshots) >= 5 and all(s == total for s in snapshots), (outcomes, snapshots[:20])
    final = await grid_client.transact_get_items(
        TransactItems=[{"Get": {"TableName": table.name, "Key": {"id": a}}} for a in accounts]
    )
    balances = [r["Item"]["balance"] for r in final["Responses"]]
    assert sum(balances) == total and min(balances) >= 0


async def test_committed_transactions_reach_each_partitions_change_log(make_table: Any, grid_client: grid.Grid) -> None:
    """The change log (what streams read) holds one record per item a transaction changed."""
    table = await make_table(**ACCOUNTS_TABLE, GridSettings={"Partitions": 2})
    a, b = await spread_ids(grid_client, table.name, 2)
    await table.put_item(Item={"id": a, "balance": 10})
    await table.put_item(Item={"id": b, "balance": 10})
    await transfer(grid_client, table.name, a, b, 3)
    route = await grid_client.dispatcher.route(table.name)
    records = []
    for partition in route.map.ranges:
        records.extend(await partition.handle.read_log(0))
    modified = [r for r in records if r[EVENT] == ChangeEvent.MODIFY]
    assert len(modified) == 2
    from grid._codec import decode_item

    assert sorted(decode_item(r[NEW_IMAGE])["balance"] for r in modified) == [7, 13]


@pytest.mark.parametrize(("count", "message"), [(0, "greater than or equal to 1"), (101, "less than or equal to 100")])
async def test_transact_get_items_holds_1_to_100_gets(
    make_table: Any, grid_client: grid.Grid, count: int, message: str
) -> None:
    table = await make_table(**ACCOUNTS_TABLE, GridSettings={"Partitions": 1})
    gets = [{"Get": {"TableName": table.name, "Key": {"id": str(n)}}} for n in range(count)]
    with pytest.raises(ValidationException, match=message):
        await grid_client.transact_get_items(TransactItems=gets)

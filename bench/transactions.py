"""Transactions and bulk loads, against the single-item put rate measured in the same run.

Committed TransactWriteItems per second with two and with ten items (accounts spread
over a 4-partition table, no contention: each caller moves between its own accounts),
and items per second loaded through ``Table.batch_writer()``, each as a ratio to
PutItem per second with the same number of concurrent callers.

    python -m bench.transactions --seconds 5 --callers 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop

import grid
from bench._common import closed_loop_rate, fixed_partitions
from tests.seed import CATALOG_TABLE, catalog_item

ACCOUNTS = {
    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "GridSettings": fixed_partitions(4),
}


def transfer_items(table: str, ids: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "Update": {
                "TableName": table,
                "Key": {"id": account},
                "UpdateExpression": "SET balance = balance + :d",
                "ExpressionAttributeValues": {":d": 1 if position % 2 else -1},
            }
        }
        for position, account in enumerate(ids)
    ]


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with grid.connect(namespace=f"bench-tx-{random.randrange(1 << 30):x}") as client:
        accounts = await client.create_table(TableName="accounts", **ACCOUNTS)
        catalog = await client.create_table(TableName="catalog", **CATALOG_TABLE, GridSettings=fixed_partitions(4))
        ids = [f"acct-{n}" for n in range(args.callers * 10)]
        await asyncio.gather(*(accounts.put_item(Item={"id": i, "balance": 1000}) for i in ids))
        seed = catalog_item(1, 1)

        async def put(caller: int, number: int) -> int:
            await catalog.put_item(Item={**seed, "customer_id": caller, "sku": f"p{number % 100}"})
            return 1

        def transaction(size: int) -> Callable[[int, int], Awaitable[int]]:
            async def run(caller: int, number: int) -> int:
                mine = ids[caller * 10 : caller * 10 + size]
                await client.transact_write_items(TransactItems=transfer_items("accounts", mine))
                return 1

            return run

        async def bulk(caller: int, number: int) -> int:
            async with catalog.batch_writer() as batch:
                for n in range(250):
                    await batch.put_item(Item={**seed, "customer_id": 10_000 + caller, "sku": f"b{number}-{n}"})
            return 250

        await closed_loop_rate(args.callers, 1.0, put)  # warm-up
        put_rate = await closed_loop_rate(args.callers, args.seconds, put)
        two = await closed_loop_rate(args.callers, args.seconds, transaction(2))
        ten = await closed_loop_rate(args.callers, args.seconds, transaction(10))
        loaded = await closed_loop_rate(max(1, args.callers // 8), args.seconds, bulk)
        found = await client.batch_get_item(RequestItems={"accounts": {"Keys": [{"id": i} for i in ids[:100]]}})
        total = sum(item["balance"] for item in found["Responses"]["accounts"])
        assert total == 100 * 1000, "transfers must keep the total"
        for name in ("accounts", "catalog"):
            await client.delete_table(TableName=name)
    return {
        "callers": args.callers,
        "put_items_per_second": put_rate,
        "two_item_transactions_per_second": two,
        "ten_item_transactions_per_second": ten,
        "batch_writer_items_per_second": loaded,
        "ratio_two_item_tx_to_put": two / put_rate,
        "ratio_ten_item_tx_to_put": ten / put_rate,
        "ratio_batch_writer_items_to_put": loaded / put_rate,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--callers", type=int, default=32)
    print(json.dumps(uvloop.run(main(parser.parse_args())), indent=2))

"""The seed's catalog table on an embedded grid: load, query, update with optimistic locking.

Creates the Prime Day talk's catalog table (customer_id + sku) on a local Ray that
grid starts on 127.0.0.1, loads seed-like product documents, then shows the calls a
catalog service makes: GetItem, Query by customer (all SKUs, a SKU prefix, newest
first, paginated), conditional writes with a ``version`` attribute (optimistic
locking, with concurrent writers), and a parallel Scan.

    python examples/catalog.py --customers 1000 --skus 4
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import time
from pathlib import Path
from typing import Any

import uvloop

import grid
from grid.conditions import Attr, Key
from grid.errors import ConditionalCheckFailedException

SEED = json.loads((Path(__file__).parent / "catalog-item.json").read_text())


def product(customer_id: int, number: int) -> dict[str, Any]:
    item = copy.deepcopy(SEED)
    item.update(customer_id=customer_id, sku=f"{customer_id}/C{number:08d}", version=1)
    item["product"]["upc"] = str(887649299485 + number)
    return item


async def optimistic_increment(table: grid.Table, key: dict[str, Any]) -> int:
    """Read-modify-write with a version check; returns how many tries it took."""
    for attempt in range(1, 1000):
        current = (await table.get_item(Key=key))["Item"]
        try:
            await table.update_item(
                Key=key,
                UpdateExpression="SET version = :next, product.stock = if_not_exists(product.stock, :zero) + :one",
                ConditionExpression=Attr("version").eq(current["version"]),
                ExpressionAttributeValues={":next": current["version"] + 1, ":zero": 0, ":one": 1},
            )
            return attempt
        except ConditionalCheckFailedException:
            continue  # another writer got there first: read again
    raise RuntimeError("gave up")


async def main(args: argparse.Namespace) -> None:
    async with grid.connect(namespace="catalog-example") as client:
        if "catalog" in (await client.list_tables())["TableNames"]:
            await client.delete_table(TableName="catalog")
        table = await client.create_table(
            TableName="catalog",
            KeySchema=[
                {"AttributeName": "customer_id", "KeyType": "HASH"},
                {"AttributeName": "sku", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "customer_id", "AttributeType": "N"},
                {"AttributeName": "sku", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            GridSettings={"Partitions": args.partitions},
        )
        print(f"created table catalog on {args.partitions} partitions (Ray on 127.0.0.1)")

        base = SEED["customer_id"]
        documents = [product(base + c, c * args.skus + n) for c in range(args.customers) for n in range(args.skus)]
        started = time.perf_counter()
        await asyncio.gather(*(table.put_item(Item=doc) for doc in documents))
        seconds = time.perf_counter() - started
        print(
            f"loaded {len(documents)} seed-like documents in {seconds:.2f} s ({len(documents) / seconds:,.0f} puts/s)"
        )

        first = documents[0]
        key = {"customer_id": first["customer_id"], "sku": first["sku"]}
        item = (await table.get_item(Key=key))["Item"]
        print(f"get_item {key}: brand={item['product']['brand']} version={item['version']}")

        skus = await table.query(KeyConditionExpression=Key("customer_id").eq(base))
        prefix = await table.query(
            KeyConditionExpression=Key("customer_id").eq(base) & Key("sku").begins_with(f"{base}/C0000000"),
            ScanIndexForward=False,
            ProjectionExpression="sku, version",
        )
        print(
            f"query customer {base}: {skus['Count']} SKUs; newest first with prefix: {[i['sku'] for i in prefix['Items']]}"
        )

        pages, start, seen = 0, None, 0
        while True:
            page = await table.query(
                KeyConditionExpression=Key("customer_id").eq(base + 1),
                Limit=2,
                **({"ExclusiveStartKey": start} if start else {}),
            )
            pages, seen, start = pages + 1, seen + page["Count"], page.get("LastEvaluatedKey")
            if start is None:
                break
        print(f"paginated query: {seen} items in {pages} pages of at most 2")

        await table.update_item(
            Key=key,
            UpdateExpression="SET product.brand = :brand, version = version + :one",
            ConditionExpression="version = :seen",
            ExpressionAttributeValues={":brand": "ASICS", ":one": 1, ":seen": item["version"]},
        )
        try:
            await table.update_item(
                Key=key,
                UpdateExpression="SET product.brand = :brand",
                ConditionExpression="version = :seen",
                ExpressionAttributeValues={":brand": "stale", ":seen": item["version"]},
            )
            raise AssertionError("a stale write was accepted")
        except ConditionalCheckFailedException:
            print("optimistic locking: the update with the current version won; the stale one was refused")

        tries = await asyncio.gather(*(optimistic_increment(table, key) for _ in range(args.writers)))
        final = (await table.get_item(Key=key))["Item"]
        assert final["product"]["stock"] == args.writers, final
        print(
            f"{args.writers} concurrent read-modify-write writers: stock={final['product']['stock']} "
            f"version={final['version']} after {sum(tries)} tries (no lost update)"
        )

        async def count_segment(segment: int) -> int:
            counted, start = 0, None
            while True:
                page = await table.scan(
                    Segment=segment, TotalSegments=4, Select="COUNT", **({"ExclusiveStartKey": start} if start else {})
                )
                counted, start = counted + page["Count"], page.get("LastEvaluatedKey")
                if start is None:
                    return counted

        counts = await asyncio.gather(*(count_segment(s) for s in range(4)))
        assert sum(counts) == len(documents), counts
        print(f"parallel scan, 4 segments: {counts} = {sum(counts)} items, each exactly once")

        description = (await client.describe_table(TableName="catalog"))["Table"]
        print(
            f"describe_table: {description['TableStatus']}, {description['ItemCount']} items, "
            f"{description['TableSizeBytes']:,} bytes on {description['GridSettings']['Partitions']} partitions"
        )
        await client.delete_table(TableName="catalog")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--skus", type=int, default=4)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--writers", type=int, default=25)
    uvloop.run(main(parser.parse_args()))

"""Prime Day on an embedded grid: the catalog table through a day of traffic, scaling up and down.

Creates the seed's catalog table (customer_id + sku) with auto scaling at the seed's
settings (target 50 %, minimum 5, maximum 1000 units) and a stream, loads seed-like
product documents, then replays a Prime Day curve: a quiet start, a ramp to about ten
times the start, a peak, and a fall. The traffic mixes gets, queries, conditional
updates with optimistic locking and order transactions, while a stream consumer keeps
a derived view. It prints a summary, writes a plot of consumed against provisioned
capacity and partitions over time, and checks that the stream-derived view equals
the table.

    python examples/prime_day.py                       # about two minutes on a laptop
    python examples/prime_day.py --customers 200 --seconds 20 --plot /tmp/prime_day.png
    ray job submit -- python examples/prime_day.py --address auto --customers 100000 --seconds 600
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvloop
from tqdm import tqdm

import grid
from grid.conditions import Key
from grid.errors import ConditionalCheckFailedException, TransactionCanceledException

SEED = json.loads((Path(__file__).parent / "catalog-item.json").read_text())
SCALING = {
    "MinimumUnits": 5,
    "MaximumUnits": 1000,
    "ScalingPolicyUpdate": {"TargetTrackingScalingPolicyConfiguration": {"TargetValue": 50}},
}


def product(customer_id: int, number: int) -> dict[str, Any]:
    item = copy.deepcopy(SEED)
    item.update(customer_id=customer_id, sku=f"{customer_id}/C{number:08d}", version=1, stock=1000)
    item["product"]["upc"] = str(887649299485 + number)
    return item


def traffic_multiplier(progress: float) -> float:
    """The Prime Day curve over the run (0..1): quiet, ramp to 10x, peak, fall."""
    if progress < 0.15:
        return 1.0
    if progress < 0.45:
        return 1.0 + 9.0 * (progress - 0.15) / 0.30
    if progress < 0.70:
        return 10.0
    if progress < 0.85:
        return 10.0 - 9.0 * (progress - 0.70) / 0.15
    return 1.0


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    per_second: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    throttled: int = 0
    conflicts: int = 0
    acked_writes: dict[str, float] = field(default_factory=dict)


class Shopper:
    """One kind of request at a time, as a catalog service sends them."""

    def __init__(self, table: grid.Table, client: grid.Grid, keys: list[tuple[int, str]], tally: Tally) -> None:
        self.table, self.client, self.keys, self.tally = table, client, keys, tally
        self.rng = random.Random(7)
        self.orders = 0

    async def one(self, started_run: float) -> None:
        kind = self.rng.choices(["get", "query", "update", "order"], weights=[50, 15, 25, 10])[0]
        customer, sku = self.rng.choice(self.keys)
        began = time.perf_counter()
        try:
            if kind == "get":
                await self.table.get_item(Key={"customer_id": customer, "sku": sku})
            elif kind == "query":
                await self.table.query(KeyConditionExpression=Key("customer_id").eq(customer), Limit=10)
            elif kind == "update":
                await self._update_price(customer, sku)
            else:
                await self._order(customer, sku)
        except ConditionalCheckFailedException:
            self.tally.conflicts += 1
        except TransactionCanceledException:
            self.tally.conflicts += 1
        except grid.errors.ProvisionedThroughputExceededException:
            self.tally.throttled += 1
            return
        elapsed = time.perf_counter() - began
        self.tally.latencies.append(elapsed)
        self.tally.per_second[int(time.perf_counter() - started_run)] += 1
        self.tally.kinds[kind] += 1

    async def _update_price(self, customer: int, sku: str) -> None:
        current = await self.table.get_item(Key={"customer_id": customer, "sku": sku}, ProjectionExpression="version")
        version = current["Item"]["version"]
        await self.table.update_item(
            Key={"customer_id": customer, "sku": sku},
            UpdateExpression="SET version = :next, price = :price",
            ConditionExpression="version = :seen",
            ExpressionAttributeValues={
                ":next": version + 1,
                ":seen": version,
                ":price": Decimal(self.rng.randint(5, 500)),
            },
        )
        self.tally.acked_writes[f"{customer}|{sku}|{version + 1}"] = time.time()

    async def _order(self, customer: int, sku: str) -> None:
        self.orders += 1
        order_sku = f"{customer}/ORDER-{self.rng.getrandbits(48):012x}"
        await self.client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self.table.name,
                        "Key": {"customer_id": customer, "sku": sku},
                        "UpdateExpression": "SET stock = stock - :one",
                        "ConditionExpression": "stock >= :one",
                        "ExpressionAttributeValues": {":one": 1},
                    }
                },
                {
                    "Put": {
                        "TableName": self.table.name,
                        "Item": {"customer_id": customer, "sku": order_sku, "ordered": sku},
                    }
                },
            ]
        )


async def follow_stream(
    table: grid.Table, view: dict[str, Any], lags: list[float], tally: Tally, done: asyncio.Event
) -> None:
    async with table.stream(start="TRIM_HORIZON", consumer="prime-day-view") as changes:
        async for record in changes:
            body = record["dynamodb"]
            key = f"{body['Keys']['customer_id']}|{body['Keys']['sku']}"
            if record["eventName"] == "REMOVE":
                view.pop(key, None)
            else:
                view[key] = body["NewImage"]
            new_version = body.get("NewImage", {}).get("version")
            if record["eventName"] == "MODIFY" and body.get("OldImage", {}).get("version") != new_version:
                # Lag of the price updates (they bump the version): acknowledged to delivered.
                acked = tally.acked_writes.get(f"{key}|{new_version}")
                if acked is not None:
                    lags.append(time.time() - acked)
            if done.is_set():
                return


async def main(args: argparse.Namespace) -> int:
    async with grid.connect(args.address, namespace=args.namespace, retries={"max_attempts": 8}) as client:
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
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 1000, "WriteCapacityUnits": 1000},
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            GridSettings={
                "Partitions": args.partitions,
                "TimeScale": args.time_scale,
                "MaxPartitionReadUnits": args.partition_read_units,
                "MaxPartitionWriteUnits": args.partition_write_units,
            },
        )
        base = SEED["customer_id"]
        documents = [product(base + c, c * args.skus + n) for c in range(args.customers) for n in range(args.skus)]
        keys = [(d["customer_id"], d["sku"]) for d in documents]
        with tqdm(total=len(documents), desc="loading catalog", unit="item", file=sys.stdout) as bar:
            async with table.batch_writer() as batch:
                for document in documents:
                    await batch.put_item(Item=document)
                    bar.update(1)
        # Start small, as a table before the sale: auto scaling must follow the curve.
        await client.update_table(
            TableName="catalog", ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        )
        await client.update_table_replica_auto_scaling(
            TableName="catalog",
            ProvisionedReadCapacityAutoScalingUpdate=SCALING,
            ProvisionedWriteCapacityAutoScalingUpdate=SCALING,
        )

        tally, view, lags = Tally(), {}, []
        done = asyncio.Event()
        consumer = asyncio.create_task(follow_stream(table, view, lags, tally, done))
        shoppers = Shopper(table, client, keys, tally)
        started = time.perf_counter()
        pending: set[asyncio.Task[None]] = set()
        with tqdm(total=int(args.seconds), desc="prime day", unit="s", file=sys.stdout) as bar:
            second = 0
            while (elapsed := time.perf_counter() - started) < args.seconds:
                rate = args.base_rate * traffic_multiplier(elapsed / args.seconds)
                if len(pending) < args.concurrency:
                    task = asyncio.ensure_future(shoppers.one(started))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                await asyncio.sleep(1.0 / rate)
                if int(elapsed) > second:
                    second = int(elapsed)
                    bar.update(1)
        await asyncio.gather(*pending)
        # Let auto scaling see the quiet after the sale, then settle the derived view.
        await asyncio.sleep(args.cooldown)
        scanned: dict[str, Any] = {}
        start = None
        while True:
            page = await table.scan(**({"ExclusiveStartKey": start} if start else {}))
            for item in page["Items"]:
                scanned[f"{item['customer_id']}|{item['sku']}"] = item
            start = page.get("LastEvaluatedKey")
            if start is None:
                break
        for _ in range(100):
            if view == scanned:
                break
            await asyncio.sleep(0.1)
        done.set()
        if consumer.done() and consumer.exception() is not None:
            print(f"the stream consumer failed: {consumer.exception()!r}", file=sys.stderr)
        consumer.cancel()
        samples = (await client.table_metrics(TableName="catalog"))["Samples"]
        summary = summarize(tally, lags, samples, args.seconds, view == scanned, len(scanned))
        print(json.dumps(summary, indent=2))
        if args.plot:
            plot(samples, args.plot)
            print(f"plot written to {args.plot}")
        await client.delete_table(TableName="catalog")
        return 0 if summary["checks"]["stream_view_equals_table"] else 1


def summarize(
    tally: Tally, lags: list[float], samples: list[dict[str, Any]], seconds: float, equal: bool, items: int
) -> dict[str, Any]:
    ordered = sorted(tally.latencies)
    per_second = [tally.per_second.get(s, 0) for s in range(int(seconds))]
    # Throttled attempts as the partitions counted them: the client retried most of them.
    throttled_attempts = sum(s["ThrottledReadRequests"] + s["ThrottledWriteRequests"] for s in samples)
    provisioned = [s["ProvisionedWriteCapacityUnits"] for s in samples if s["ProvisionedWriteCapacityUnits"]]
    return {
        "operations": dict(tally.kinds),
        "peak_ops_per_second": max(per_second or [0]),
        "mean_ops_per_second": statistics.fmean(per_second) if per_second else 0.0,
        "p50_latency_ms": 1000 * ordered[len(ordered) // 2] if ordered else None,
        "p99_latency_ms": 1000 * ordered[int(len(ordered) * 0.99)] if ordered else None,
        "throttled_attempts_percent": 100.0 * throttled_attempts / (len(ordered) + throttled_attempts)
        if ordered
        else 0.0,
        "failed_throttled_percent": 100.0 * tally.throttled / (len(ordered) + tally.throttled) if ordered else 0.0,
        "conditional_conflicts": tally.conflicts,
        "write_capacity_min_max": [min(provisioned or [0]), max(provisioned or [0])],
        "partitions_min_max": [min(s["Partitions"] for s in samples), max(s["Partitions"] for s in samples)]
        if samples
        else None,
        "stream_lag_p50_ms": 1000 * statistics.median(lags) if lags else None,
        "stream_lag_p99_ms": 1000 * sorted(lags)[int(len(lags) * 0.99)] if lags else None,
        "checks": {"stream_view_equals_table": equal, "items": items},
    }


def plot(samples: list[dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = samples[0]["Timestamp"] if samples else 0.0
    times = [s["Timestamp"] - start for s in samples]
    figure, (capacity, partitions) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, height_ratios=[3, 1])
    for key, label in (
        ("ConsumedWriteCapacityUnits", "consumed write units/s"),
        ("ProvisionedWriteCapacityUnits", "provisioned write units"),
        ("ConsumedReadCapacityUnits", "consumed read units/s"),
        ("ProvisionedReadCapacityUnits", "provisioned read units"),
    ):
        capacity.plot(times, [s[key] or 0 for s in samples], label=label)
    capacity.set_ylabel("capacity units")
    capacity.legend(loc="upper left")
    capacity.set_title("Prime Day on grid: consumed against provisioned capacity")
    partitions.step(times, [s["Partitions"] for s in samples], where="post")
    partitions.set_ylabel("partitions")
    partitions.set_xlabel("seconds")
    figure.tight_layout()
    figure.savefig(path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default=None, help='Ray cluster to join ("auto" in a Ray job); default: embedded')
    parser.add_argument("--namespace", default="prime-day")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--skus", type=int, default=4)
    parser.add_argument("--partitions", type=int, default=1, help="partitions at the start (and the fewest)")
    parser.add_argument(
        "--partition-read-units", type=float, default=150.0, help="a partition past this many RCU/s splits"
    )
    parser.add_argument(
        "--partition-write-units", type=float, default=100.0, help="a partition past this many WCU/s splits"
    )
    parser.add_argument("--seconds", type=float, default=90.0, help="length of the traffic curve")
    parser.add_argument("--base-rate", type=float, default=60.0, help="requests per second before the ramp")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument(
        "--time-scale", type=float, default=60.0, help="auto scaling's clock: a policy minute in 60/k s"
    )
    parser.add_argument("--cooldown", type=float, default=15.0, help="quiet seconds after the curve")
    parser.add_argument("--plot", default="prime_day.png")
    sys.exit(uvloop.run(main(parser.parse_args())))

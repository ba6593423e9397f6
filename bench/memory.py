"""Memory per item of a partition holding N seed-like catalog documents.

Loads N items into one ``PartitionStore`` (the partition actor's whole state: items,
sorted key index, change log) through the same batched ``execute`` path the actor
serves, and reports resident memory per item and the time of one full garbage
collection. The baseline, measured in the same run, holds the same documents as
nested Python dicts keyed by (customer_id, sku).

    python -m bench.memory --items 1000000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
from collections.abc import Callable
from typing import Any

from actors.partition_store import PartitionStore
from grid._codec import encode_item
from grid._keys import HASH_SPACE, KeySchema
from grid._requests import PutOp
from grid._types import normalize_item
from tests.seed import catalog_item

SCHEMA = KeySchema(hash_name="customer_id", hash_type="N", range_name="sku", range_type="S")
BATCH = 1000


def resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def documents(count: int) -> Any:
    """Seed-like documents: about four SKUs per customer, as a catalog has."""
    for number in range(count):
        yield normalize_item(catalog_item(100_000_000 + number // 4, number))


def load_store(count: int) -> PartitionStore:
    store = PartitionStore(key_schema=SCHEMA, low=0, high=HASH_SPACE)
    batch: list[PutOp] = []
    for item in documents(count):
        key = SCHEMA.storage_key(SCHEMA.key_of_item(item))
        batch.append(PutOp(key=key, item=encode_item(item)))
        if len(batch) == BATCH:
            store.execute(batch)
            batch = []
    store.execute(batch)
    return store


def load_dicts(count: int) -> dict[tuple[Any, Any], dict[str, Any]]:
    return {(item["customer_id"], item["sku"]): item for item in documents(count)}


def measure(build: Callable[[int], Any], count: int) -> dict[str, float]:
    gc.collect()
    before = resident_bytes()
    started = time.perf_counter()
    held = build(count)
    load_seconds = time.perf_counter() - started
    gc.collect()
    after = resident_bytes()
    started = time.perf_counter()
    gc.collect()
    gc_seconds = time.perf_counter() - started
    result = {
        "bytes_per_item": (after - before) / count,
        "full_gc_seconds": gc_seconds,
        "load_items_per_second": count / load_seconds,
    }
    del held
    gc.collect()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    args = parser.parse_args()
    seed_size = len(encode_item(normalize_item(catalog_item(100_000_000, 0))))
    store = measure(load_store, args.items)
    baseline = measure(load_dicts, args.items)
    report = {
        "items": args.items,
        "encoded_document_bytes": seed_size,
        "partition": store,
        "baseline_python_dicts": baseline,
        "memory_ratio_partition_to_dicts": store["bytes_per_item"] / baseline["bytes_per_item"],
        "gc_ratio_partition_to_dicts": store["full_gc_seconds"] / max(baseline["full_gc_seconds"], 1e-9),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

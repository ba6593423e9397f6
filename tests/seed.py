"""The seed catalog document from the DynamoDB Prime Day talk, and documents like it."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

_SEED_PATHS = [
    Path(__file__).resolve().parents[2] / "shared" / "catalog-item.json",
    Path(__file__).resolve().parents[1] / "examples" / "catalog-item.json",
]

CATALOG_TABLE = {
    "KeySchema": [
        {"AttributeName": "customer_id", "KeyType": "HASH"},
        {"AttributeName": "sku", "KeyType": "RANGE"},
    ],
    "AttributeDefinitions": [
        {"AttributeName": "customer_id", "AttributeType": "N"},
        {"AttributeName": "sku", "AttributeType": "S"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
}


@functools.cache
def _seed_text() -> str:
    for path in _SEED_PATHS:
        if path.exists():
            return path.read_text()
    raise FileNotFoundError("catalog-item.json not found beside the project or in examples/")


def seed_item() -> dict[str, Any]:
    """A fresh copy of ``shared/catalog-item.json``."""
    return json.loads(_seed_text())


def catalog_item(customer_id: int, number: int, version: int = 1) -> dict[str, Any]:
    """A seed-like document for ``customer_id``, its ``number``-th SKU."""
    item = copy.deepcopy(seed_item())
    item["customer_id"] = customer_id
    item["sku"] = f"{customer_id}/C{number:08d}"
    item["version"] = version
    item["product"]["upc"] = f"{887649299485 + number}"
    return item


def catalog_key(item: dict[str, Any]) -> dict[str, Any]:
    """The primary key of a catalog document."""
    return {"customer_id": item["customer_id"], "sku": item["sku"]}

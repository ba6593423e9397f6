"""Capacity units, metered DynamoDB's way, and the ``ConsumedCapacity`` grid reports.

Reads cost one unit per 4 KB read (rounded up, at least one), half that when eventually
consistent; writes one unit per 1 KB written (the larger of the old and new item),
at least one; transactional reads and writes cost double. Query and Scan add up the
sizes of every item they evaluate before rounding. Sizes are the items' stored sizes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from grid.errors import ValidationException

__all__ = ["Consumed", "consumed_capacity_response", "read_units", "return_consumed_capacity", "write_units"]

READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024
RETURN_CONSUMED_CAPACITY = ("NONE", "TOTAL", "INDEXES")


def read_units(size_bytes: int, *, consistent: bool = True, transactional: bool = False) -> float:
    units = max(1, -(-size_bytes // READ_UNIT_BYTES))
    factor = 2.0 if transactional else (1.0 if consistent else 0.5)
    return units * factor


def write_units(size_bytes: int, *, transactional: bool = False) -> float:
    units = max(1, -(-size_bytes // WRITE_UNIT_BYTES))
    return units * (2.0 if transactional else 1.0)


@dataclass(frozen=True, slots=True)
class Consumed:
    """Units one request consumed on one table."""

    table: str
    read: float = 0.0
    write: float = 0.0

    def __add__(self, other: Consumed) -> Consumed:
        return Consumed(self.table, self.read + other.read, self.write + other.write)


def return_consumed_capacity(params: Mapping[str, Any]) -> str:
    value = params.get("ReturnConsumedCapacity", "NONE")
    if value not in RETURN_CONSUMED_CAPACITY:
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at 'returnConsumedCapacity' failed to satisfy "
            "constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]"
        )
    return str(value)


def _entry(consumed: Consumed, mode: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"TableName": consumed.table, "CapacityUnits": consumed.read + consumed.write}
    if consumed.read:
        entry["ReadCapacityUnits"] = consumed.read
    if consumed.write:
        entry["WriteCapacityUnits"] = consumed.write
    if mode == "INDEXES":
        table: dict[str, Any] = {"CapacityUnits": consumed.read + consumed.write}
        if consumed.read:
            table["ReadCapacityUnits"] = consumed.read
        if consumed.write:
            table["WriteCapacityUnits"] = consumed.write
        entry["Table"] = table
    return entry


def consumed_capacity_response(consumed: Iterable[Consumed], mode: str, *, as_list: bool = False) -> dict[str, Any]:
    """``{"ConsumedCapacity": ...}`` as DynamoDB answers it (a list for batches and transactions)."""
    if mode == "NONE":
        return {}
    totals: dict[str, Consumed] = {}
    for part in consumed:
        totals[part.table] = totals[part.table] + part if part.table in totals else part
    entries = [_entry(total, mode) for total in totals.values()]
    if as_list:
        return {"ConsumedCapacity": entries}
    return {"ConsumedCapacity": entries[0]} if entries else {}

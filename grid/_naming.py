"""Names of grid's Ray actors: one helper, so every process finds the same actors.

A grid namespace maps to a Ray namespace of the same name, so several grids (and
every test) can share one Ray cluster without seeing each other.
"""

from __future__ import annotations

import xxhash

__all__ = [
    "LEDGER_COUNT",
    "ledger_actor_name",
    "ledger_index",
    "parse_partition_actor_name",
    "partition_actor_name",
    "partition_actor_prefix",
    "router_actor_name",
    "stream_actor_name",
]

ROUTER_ACTOR = "grid-router"
# Transaction ledgers per grid: decisions spread over them by transaction id.
LEDGER_COUNT = 2


def router_actor_name() -> str:
    return ROUTER_ACTOR


def partition_actor_name(table_id: str, partition_id: str, replica_id: str) -> str:
    return f"{partition_actor_prefix(table_id)}{partition_id}-{replica_id}"


def partition_actor_prefix(table_id: str | None = None) -> str:
    """What the names of ``table_id``'s partition actors start with (of every table's, without it)."""
    return "grid-partition-" if table_id is None else f"grid-partition-{table_id}-"


def parse_partition_actor_name(actor_name: str) -> tuple[str, str, str]:
    """``(table id, partition id, replica id)`` of a partition actor's name.

    Table ids are hex and replica ids ``r<n>``: neither holds a "-" (partition ids do).
    """
    table_id, _, rest = actor_name.removeprefix(partition_actor_prefix()).partition("-")
    partition_id, _, replica_id = rest.rpartition("-")
    return table_id, partition_id, replica_id


def ledger_actor_name(index: int) -> str:
    return f"grid-ledger-{index}"


def ledger_index(txid: str) -> int:
    """Which ledger holds ``txid``'s decision (stable across processes)."""
    return xxhash.xxh32_intdigest(txid.encode("utf-8")) % LEDGER_COUNT


def stream_actor_name(table_id: str, label: str) -> str:
    return f"grid-stream-{table_id}-{label}"

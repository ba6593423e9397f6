"""Names of grid's Ray actors: one helper, so every process finds the same actors.

A grid namespace maps to a Ray namespace of the same name, so several grids (and
every test) can share one Ray cluster without seeing each other.
"""

from __future__ import annotations

__all__ = ["partition_actor_name", "router_actor_name"]

ROUTER_ACTOR = "grid-router"


def router_actor_name() -> str:
    return ROUTER_ACTOR


def partition_actor_name(table_id: str, partition_id: str) -> str:
    return f"grid-partition-{table_id}-{partition_id}"

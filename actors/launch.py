"""The one place where grid's actor classes become Ray actors.

Names, namespaces, lifetimes, resources and concurrency are set here on purpose:
partitions and the router are detached (the data outlives the client that created
it), ask for no CPU (they are I/O-bound event loops; Ray should not refuse to place
them on a small machine), and partitions are spread over the cluster's nodes.
"""

from __future__ import annotations

from typing import Any

import ray

from actors.partition import PartitionActor
from grid._naming import ledger_actor_name, partition_actor_name, router_actor_name, stream_actor_name

__all__ = ["get_or_start_ledger", "get_or_start_router", "start_partition", "start_stream"]

# Async actors interleave calls only at awaits, and ours never await mid-operation;
# the limit just bounds how many calls queue inside the actor.
MAX_CONCURRENCY = 1000


def get_or_start_router(namespace: str) -> Any:
    """The router of ``namespace``, started if this is the grid's first client.

    Ray restarts it whenever it dies; the new one reads its catalog back. Calls
    that were running when it died fail as unavailable and Ray does not retry them;
    the client tries them again (``Grid._ask_router``), so a create that had taken
    effect may then answer that the table exists, as a retried DynamoDB call may.
    """
    from actors.router import RouterActor  # the router itself starts partitions through here

    return (
        ray.remote(RouterActor)
        .options(
            name=router_actor_name(),
            namespace=namespace,
            lifetime="detached",
            get_if_exists=True,
            num_cpus=0,
            max_concurrency=MAX_CONCURRENCY,
            max_restarts=-1,
        )
        .remote(namespace)
    )


def get_or_start_ledger(namespace: str, index: int) -> Any:
    """Transaction ledger ``index`` of ``namespace``, started by whoever needs it first."""
    from actors.ledger import LedgerActor

    return (
        ray.remote(LedgerActor)
        .options(
            name=ledger_actor_name(index),
            namespace=namespace,
            lifetime="detached",
            get_if_exists=True,
            num_cpus=0,
            max_concurrency=MAX_CONCURRENCY,
        )
        .remote()
    )


def start_stream(namespace: str, *, table_name: str, table_id: str, label: str) -> Any:
    """The stream actor of one table stream (one per stream: it fans out to every subscriber)."""
    from actors.stream import StreamActor

    return (
        ray.remote(StreamActor)
        .options(
            name=stream_actor_name(table_id, label),
            namespace=namespace,
            lifetime="detached",
            num_cpus=0,
            max_concurrency=MAX_CONCURRENCY,
        )
        .remote(namespace=namespace, table_name=table_name, table_id=table_id)
    )


def start_partition(namespace: str, *, table_id: str, partition_id: str, num_cpus: float = 0.0, **config: Any) -> Any:
    """A partition actor; ``num_cpus`` above 0 lets Ray's cluster autoscaler add nodes for it."""
    return (
        ray.remote(PartitionActor)
        .options(
            name=partition_actor_name(table_id, partition_id),
            namespace=namespace,
            lifetime="detached",
            num_cpus=num_cpus,
            max_concurrency=MAX_CONCURRENCY,
            scheduling_strategy="SPREAD",
        )
        .remote(partition_id=partition_id, **config)
    )

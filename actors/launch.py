"""The one place where grid's actor classes become Ray actors.

Names, namespaces, lifetimes, resources and concurrency are set here on purpose:
partitions, streams, ledgers and the router are detached (the data outlives the
client that created it), ask for no CPU (they are I/O-bound event loops; Ray should
not refuse to place them on a small machine), and partitions are spread over the
cluster's nodes. ``RayActorSystem`` is how the actors themselves start, find and
stop each other on Ray.
"""

from __future__ import annotations

import logging
import zlib
from typing import Any

import ray

from actors.catalog_store import RayKeyValue
from actors.ledger import LedgerActor
from actors.partition import PartitionActor
from actors.proxies import RayLedger, RayPartition, RayRouter, RayStream
from actors.router import RouterActor
from actors.stream import StreamActor
from actors.system import KeyValue, LivePartitions, PartitionConfig
from grid._groups import ReplicaGroup
from grid._naming import (
    ledger_actor_name,
    parse_partition_actor_name,
    partition_actor_name,
    partition_actor_prefix,
    router_actor_name,
    stream_actor_name,
)
from grid.errors import PartitionUnavailableError

__all__ = ["RayActorSystem", "get_or_start_ledger", "get_or_start_router"]

log = logging.getLogger("grid")

# Async actors interleave calls only at awaits, and ours never await mid-operation;
# the limit just bounds how many calls queue inside the actor.
MAX_CONCURRENCY = 1000


def get_or_start_router(namespace: str) -> RayRouter:
    """The router of ``namespace``, started if this is the grid's first client.

    Ray restarts it whenever it dies; the new one reads its catalog back. Calls
    that were running when it died fail as unavailable and Ray does not retry them;
    the client tries them again (``Dispatcher.router_call``), so a create that had
    taken effect may then answer that the table exists, as a retried DynamoDB call may.
    """
    handle = (
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
        .remote(RayActorSystem(namespace))
    )
    return RayRouter(handle)


def get_or_start_ledger(namespace: str, index: int) -> RayLedger:
    """Transaction ledger ``index`` of ``namespace``, started by whoever needs it first.

    Ray restarts a ledger that dies (it reads its records back) and sends the calls it
    was running again: each of its calls may run twice with the same answer.
    """
    handle = (
        ray.remote(LedgerActor)
        .options(
            name=ledger_actor_name(index),
            namespace=namespace,
            lifetime="detached",
            get_if_exists=True,
            num_cpus=0,
            max_concurrency=MAX_CONCURRENCY,
            max_restarts=-1,
            max_task_retries=-1,
        )
        .remote(RayActorSystem(namespace), index)
    )
    return RayLedger(handle)


class RayActorSystem:
    """grid's actors as detached, named Ray actors of one namespace (picklable: actors carry it)."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def __reduce__(self) -> tuple[Any, ...]:
        return (RayActorSystem, (self.namespace,))

    def start_partition(self, config: PartitionConfig) -> RayPartition:
        """One replica of a partition, on a node the group's other replicas are not on if there is one.

        ``num_cpus`` above 0 lets Ray's cluster autoscaler add nodes for partitions.
        """
        handle = (
            ray.remote(PartitionActor)
            .options(
                name=partition_actor_name(config.table_id, config.partition_id, config.replica_id),
                namespace=self.namespace,
                lifetime="detached",
                num_cpus=config.num_cpus,
                max_concurrency=MAX_CONCURRENCY,
                scheduling_strategy=_placement(config),
            )
            .remote(config, self)
        )
        return RayPartition(handle)

    def find_replica(self, table_id: str, partition_id: str, replica_id: str) -> RayPartition | None:
        try:
            name = partition_actor_name(table_id, partition_id, replica_id)
            return RayPartition(ray.get_actor(name, namespace=self.namespace))
        except ValueError:
            return None

    def stop_replica(self, table_id: str, partition_id: str, replica_id: str) -> None:
        replica = self.find_replica(table_id, partition_id, replica_id)
        if replica is not None:
            ray.kill(replica.handle, no_restart=True)

    def start_stream(self, *, table_name: str, table_id: str, label: str) -> RayStream:
        """The stream actor; Ray restarts it when it dies (it reads its records back) and sends
        its running calls again (each is idempotent: cursors travel with the calls)."""
        handle = (
            ray.remote(StreamActor)
            .options(
                name=stream_actor_name(table_id, label),
                namespace=self.namespace,
                lifetime="detached",
                num_cpus=0,
                max_concurrency=MAX_CONCURRENCY,
                max_restarts=-1,
                max_task_retries=-1,
            )
            .remote(self, table_name=table_name, table_id=table_id, label=label)
        )
        return RayStream(handle)

    def stop(self, actor: Any) -> None:
        members: list[Any] = [member for _, member in actor.members] if isinstance(actor, ReplicaGroup) else [actor]
        for member in members:
            ray.kill(member.handle, no_restart=True)

    def live_partitions(self) -> LivePartitions:
        found: LivePartitions = {}
        prefix = partition_actor_prefix()
        for entry in ray.util.list_named_actors(all_namespaces=True):
            if entry["namespace"] != self.namespace or not entry["name"].startswith(prefix):
                continue
            try:
                handle = ray.get_actor(entry["name"], namespace=self.namespace)
            except ValueError:
                continue  # gone since it was listed
            table_id, partition_id, replica_id = parse_partition_actor_name(entry["name"])
            found.setdefault(table_id, {}).setdefault(partition_id, []).append((replica_id, RayPartition(handle)))
        return found

    def find_stream(self, table_id: str, label: str) -> RayStream | None:
        try:
            return RayStream(ray.get_actor(stream_actor_name(table_id, label), namespace=self.namespace))
        except ValueError:
            return None

    def ledger(self, index: int) -> RayLedger:
        return get_or_start_ledger(self.namespace, index)

    def router(self) -> RayRouter:
        try:
            return RayRouter(ray.get_actor(router_actor_name(), namespace=self.namespace))
        except ValueError:
            raise PartitionUnavailableError("The router is not running") from None

    def key_value(self) -> KeyValue:
        return RayKeyValue(self.namespace)

    def node_id(self) -> str | None:
        return str(ray.get_runtime_context().get_node_id())


def _placement(config: PartitionConfig) -> Any:
    """A node for one replica: the group's replicas on distinct nodes when the cluster has enough.

    A new group's replicas take consecutive nodes from one that depends on the partition;
    a replacement takes a node none of the group's live replicas is on. A cluster with
    fewer nodes than replicas still places them all, spread as Ray sees fit
    (``describe_table`` says so). The affinity is strict: Ray's soft affinity moves an
    actor elsewhere whenever the node has no idle worker process at that moment, which
    would put replicas of a group together. A node that died meanwhile fails the start,
    and the group's repair tries again.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = sorted(node["NodeID"] for node in ray.nodes() if node.get("Alive"))
    free = [node for node in nodes if node not in config.avoid_nodes]
    if not free:
        return "SPREAD"
    number = int(config.replica_id[1:]) if config.replica_id[1:].isdigit() else 0
    start = zlib.crc32(config.partition_id.encode("utf-8"))
    return NodeAffinitySchedulingStrategy(node_id=free[(start + number) % len(free)], soft=False)

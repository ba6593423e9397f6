"""Where actors come from: the seam between grid's actor logic and what runs it.

The router starts and stops partitions and stream actors, finds them again after a
restart, and keeps its records; partitions look up ledgers; stream actors ask the
router for new maps. They do all of that through an ``ActorSystem``: Ray's
(``actors.launch.RayActorSystem``: detached named actors, the GCS key-value store) or
one process's (``actors.local.LocalActorSystem``: plain objects, for unit tests and
an embedded grid without Ray). The actor classes never import either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from actors.replication import Timing
from grid._keys import KeySchema
from grid._services import LedgerService, ReplicaService, RouterService, StreamService

__all__ = ["ActorSystem", "KeyValue", "LivePartitions", "PartitionConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionConfig:
    """Everything a new partition actor is started with."""

    table_name: str
    table_id: str
    partition_id: str
    key_schema: KeySchema
    low: int
    high: int
    map_version: int
    awaiting_items: bool = False  # a split's new partition, until its items arrive
    num_cpus: float = 0.0
    # This replica of the partition's group, and the group's voters when it starts (empty
    # for a replica that replaces a lost one: its leader brings it in).
    replica_id: str = "r0"
    members: tuple[str, ...] = ("r0",)
    replicas: int = 0  # how many replicas the group keeps (0: as many as ``members``)
    campaign: bool = True  # stand for election at once (a new group's first replica)
    timing: Timing = field(default_factory=Timing)
    avoid_nodes: tuple[str, ...] = ()  # nodes that hold the group's other replicas

    @property
    def group_size(self) -> int:
        return self.replicas or len(self.members)


class KeyValue(Protocol):
    """A small durable key-value store that outlives the router (Ray's GCS store on a cluster)."""

    def put(self, key: bytes, value: bytes) -> None: ...
    def delete(self, key: bytes) -> None: ...
    def values(self, prefix: bytes) -> list[bytes]: ...
    def items(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        """Keys under ``prefix`` (without the store's own prefix) and their values, by key."""
        ...


# The partition replicas alive in a grid: table id -> partition id -> [(replica id, replica)].
LivePartitions = dict[str, dict[str, list[tuple[str, Any]]]]


class ActorSystem(Protocol):
    namespace: str

    def start_partition(self, config: PartitionConfig) -> ReplicaService:
        """One replica of a partition (``config.replica_id``), placed away from ``config.avoid_nodes`` if it can be."""
        ...

    def find_replica(self, table_id: str, partition_id: str, replica_id: str) -> ReplicaService | None: ...
    def stop_replica(self, table_id: str, partition_id: str, replica_id: str) -> None: ...
    def start_stream(self, *, table_name: str, table_id: str, label: str) -> StreamService:
        """The stream actor of one table stream (one per stream: it fans out to every subscriber)."""
        ...

    def stop(self, actor: Any) -> None:
        """Stop an actor (a replica group: every member) for good; calls on it fail as unavailable."""
        ...

    def live_partitions(self) -> LivePartitions:
        """The partition replicas alive in this grid (a restarted router's census)."""
        ...

    def find_stream(self, table_id: str, label: str) -> StreamService | None: ...
    def ledger(self, index: int) -> LedgerService:
        """Transaction ledger ``index``, started by whoever needs it first."""
        ...

    def router(self) -> RouterService: ...
    def key_value(self) -> KeyValue: ...
    def node_id(self) -> str | None:
        """The id of the node the calling actor runs on (None where there are no nodes)."""
        ...

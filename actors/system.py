"""Where actors come from: the seam between grid's actor logic and what runs it.

The router starts and stops partitions and stream actors, finds them again after a
restart, and keeps its records; partitions look up ledgers; stream actors ask the
router for new maps. They do all of that through an ``ActorSystem``: Ray's
(``actors.launch.RayActorSystem``: detached named actors, the GCS key-value store) or
one process's (``actors.local.LocalActorSystem``: plain objects, for unit tests and
an embedded grid without Ray). The actor classes never import either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from grid._keys import KeySchema
from grid._services import LedgerService, PartitionService, RouterService, StreamService

__all__ = ["ActorSystem", "KeyValue", "PartitionConfig"]


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


class KeyValue(Protocol):
    """A small durable key-value store that outlives the router (Ray's GCS store on a cluster)."""

    def put(self, key: bytes, value: bytes) -> None: ...
    def delete(self, key: bytes) -> None: ...
    def values(self, prefix: bytes) -> list[bytes]: ...


class ActorSystem(Protocol):
    namespace: str

    def start_partition(self, config: PartitionConfig) -> PartitionService: ...
    def start_stream(self, *, table_name: str, table_id: str, label: str) -> StreamService:
        """The stream actor of one table stream (one per stream: it fans out to every subscriber)."""
        ...

    def stop(self, actor: PartitionService | StreamService) -> None:
        """Stop an actor for good (it is not restarted); calls on it fail as unavailable."""
        ...

    def live_partitions(self) -> dict[str, list[PartitionService]]:
        """The partition actors alive in this grid, by table id (a restarted router's census)."""
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

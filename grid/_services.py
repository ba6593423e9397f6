"""What each of grid's actors offers, as typed interfaces, and the records they answer with.

Partitions, the router, transaction ledgers and stream actors are plain classes in
``actors/``; a Ray actor handle, a proxy over one, or the plain object itself in one
process all satisfy these protocols, so callers are typed and do not care which they
hold. Every method either returns its result or raises a ``GridError`` (never returns
one): the transport that carries a call is the one place that turns a dead or
unreachable actor into ``PartitionUnavailableError``.

Methods are declared as returning awaitables, not as coroutines: the plain classes
implement them with ``async def``, and a Ray proxy sends the call the moment it is
made (a coroutine would wait until the event loop first ran it).

Part of grid's Ray-free core: the client and the actors both build on it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from grid._autoscaling import AutoScalingUpdate
from grid._changes import ChangeRecord, LogSlice
from grid._keys import KeySchema
from grid._partition_map import PartitionMap
from grid._requests import Page, QueryRequest, ScanRequest
from grid._schema import StreamSpecification, TableSpec, TableUpdate

__all__ = [
    "HandOverItems",
    "LedgerService",
    "PartitionDataPlane",
    "PartitionService",
    "PartitionStats",
    "ReplicaService",
    "RouterService",
    "StreamInfo",
    "StreamService",
]

# A split's or merge's items: (storage key, encoded item) pairs.
HandOverItems = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionStats:
    """What a partition says of itself: its range, contents and counters since it started."""

    partition_id: str
    node_id: str | None
    awaiting_items: bool  # a split's new partition that has not received its items yet
    item_count: int
    size_bytes: int
    low: int
    high: int  # equal to ``low`` once retired by a merge
    map_version: int
    hand_over: tuple[int, int] | None  # a kept hand-over's (high, map version) to undo to
    last_sequence: int
    consumed_read_units: float = 0.0
    consumed_write_units: float = 0.0
    throttled_reads: int = 0
    throttled_writes: int = 0
    batches: int = 0
    service_seconds: float = 0.0
    replica_id: str = "r0"  # the replica that answered, the leader it knows, and its group's members
    leader: str | None = None
    members: tuple[str, ...] = ()
    voters: tuple[str, ...] = ()  # the members that count for the majority (the rest still catch up)
    router_epoch: int = 0  # the newest router epoch the partition follows (older routers' moves are refused)


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamInfo:
    """What a stream client needs of one table stream: its actor, its shape and its state."""

    arn: str
    label: str
    status: str
    view_type: str
    key_schema: KeySchema
    table_name: str
    service: StreamService


class PartitionDataPlane(Protocol):
    """What clients ask of a partition: item operations (coalesced in batches), Query and Scan."""

    def execute(self, wire_ops: Sequence[tuple[Any, ...]]) -> Awaitable[list[Any]]: ...
    def query(self, request: QueryRequest) -> Awaitable[Page]: ...
    def scan(self, request: ScanRequest) -> Awaitable[Page]: ...


class PartitionService(PartitionDataPlane, Protocol):
    """A partition, as the router and stream actors also see it: moves, logs, settings, stats.

    Moves carry the ``epoch`` of the router that sends them; ``fence`` raises the
    partition's floor, and moves from older epochs are refused (``StaleRouterError``).
    """

    def ready(self) -> Awaitable[str]: ...
    def fence(self, epoch: int) -> Awaitable[None]: ...
    def split_off(self, at: int, map_version: int, epoch: int = 0) -> Awaitable[tuple[HandOverItems, str]]: ...
    def ingest(self, entries: HandOverItems, parent_shard_id: str | None = None, epoch: int = 0) -> Awaitable[None]: ...
    def retire(self, map_version: int, epoch: int = 0) -> Awaitable[tuple[HandOverItems, str]]: ...
    def release_hand_over(self, epoch: int = 0) -> Awaitable[None]: ...
    def undo_hand_over(self, map_version: int, epoch: int = 0) -> Awaitable[bool]: ...
    def absorb_upper(
        self, entries: HandOverItems, high: int, map_version: int, other_parent: str, epoch: int = 0
    ) -> Awaitable[None]: ...
    def read_log(self, after: int = 0, limit: int | None = None) -> Awaitable[list[ChangeRecord]]: ...
    def wait_log(self, after: int, limit: int, timeout: float) -> Awaitable[LogSlice]: ...
    def provision(self, read_per_second: float | None, write_per_second: float | None) -> Awaitable[None]: ...
    def set_retention(self, max_records: int, max_age_seconds: float) -> Awaitable[None]: ...
    def stats(self) -> Awaitable[PartitionStats]: ...


class ReplicaService(Protocol):
    """One replica of a partition (``grid._groups.ReplicaGroup`` makes a group of them one partition).

    Its data-plane answers carry the replica's applied log index, and reads take the
    index the caller has already seen (``min_index``): a replica that has not applied
    that far does not serve the read, so a client reads its own writes and never goes
    back in time, whichever replica answers. ``request_id`` names a change across tries:
    a change that was applied and is sent again (after its leader died) answers what it
    answered the first time, and is not applied twice. ``deliver`` carries the replication protocol's messages
    between replicas and returns the replies; ``watch`` is held open by followers on
    their leader, to learn of its death when the call fails.
    """

    def execute(
        self, wire_ops: Sequence[tuple[Any, ...]], request_id: str | None = None, min_index: int = 0
    ) -> Awaitable[tuple[list[Any], int]]: ...
    def query(self, request: QueryRequest, min_index: int = 0) -> Awaitable[tuple[Page, int]]: ...
    def scan(self, request: ScanRequest, min_index: int = 0) -> Awaitable[tuple[Page, int]]: ...
    def deliver(self, messages: Sequence[Any]) -> Awaitable[list[Any]]: ...
    def watch(self, term: int) -> Awaitable[None]: ...
    def ready(self) -> Awaitable[str]: ...
    def fence(self, epoch: int, request_id: str | None = None) -> Awaitable[None]: ...
    def split_off(
        self, at: int, map_version: int, epoch: int = 0, request_id: str | None = None
    ) -> Awaitable[tuple[HandOverItems, str]]: ...
    def ingest(
        self,
        entries: HandOverItems,
        parent_shard_id: str | None = None,
        epoch: int = 0,
        request_id: str | None = None,
    ) -> Awaitable[None]: ...
    def retire(
        self, map_version: int, epoch: int = 0, request_id: str | None = None
    ) -> Awaitable[tuple[HandOverItems, str]]: ...
    def release_hand_over(self, epoch: int = 0, request_id: str | None = None) -> Awaitable[None]: ...
    def undo_hand_over(self, map_version: int, epoch: int = 0, request_id: str | None = None) -> Awaitable[bool]: ...
    def absorb_upper(
        self,
        entries: HandOverItems,
        high: int,
        map_version: int,
        other_parent: str,
        epoch: int = 0,
        request_id: str | None = None,
    ) -> Awaitable[None]: ...
    def read_log(self, after: int = 0, limit: int | None = None) -> Awaitable[list[ChangeRecord]]: ...
    def wait_log(self, after: int, limit: int, timeout: float) -> Awaitable[LogSlice]: ...
    def provision(
        self, read_per_second: float | None, write_per_second: float | None, request_id: str | None = None
    ) -> Awaitable[None]: ...
    def set_retention(
        self, max_records: int, max_age_seconds: float, request_id: str | None = None
    ) -> Awaitable[None]: ...
    def stats(self, leading: bool = False) -> Awaitable[PartitionStats]: ...


class LedgerService(Protocol):
    """A transaction ledger: decisions by transaction id, and client request tokens."""

    def decide_many(self, decisions: list[tuple[str, str]]) -> Awaitable[list[str]]: ...
    def resolve(self, txid: str) -> Awaitable[str]: ...
    def begin_token(self, token: str, digest: str, txid: str, lease: float) -> Awaitable[tuple[bool, Any]]: ...
    def finish_token(self, token: str, outcome: Any) -> Awaitable[None]: ...


class StreamService(Protocol):
    """One table stream's actor: subscriptions, polls, checkpoints, and DynamoDB Streams' shard calls."""

    def ready(self) -> Awaitable[bool]: ...
    def subscribe(self, start: str, consumer: str | None) -> Awaitable[dict[str, int]]: ...
    def poll(
        self, cursors: dict[str, int], limit: int, wait: float
    ) -> Awaitable[list[tuple[str, list[ChangeRecord]]]]: ...
    def checkpoint(self, consumer: str, shard_id: str, sequence: int) -> Awaitable[None]: ...
    def describe_shards(self) -> Awaitable[list[dict[str, Any]]]: ...
    def read_shard(self, shard_id: str, after: int, limit: int) -> Awaitable[tuple[list[ChangeRecord], bool]]: ...
    def shard_position(self, shard_id: str, kind: str, sequence: int | None) -> Awaitable[int]: ...
    # The router's side: which partitions to follow, and merges.
    def start(self, partitions: list[tuple[str, PartitionService]]) -> Awaitable[None]: ...
    def retire_partition(
        self, partition_id: str, partition: PartitionService, retention_seconds: float
    ) -> Awaitable[None]: ...
    def restore_partition(self, partition_id: str, partition: PartitionService) -> Awaitable[None]: ...


class RouterService(Protocol):
    """The router: the catalog of tables and their partition maps (metadata, never item traffic).

    It takes typed specs: DynamoDB's parameters are validated by the client first.
    """

    def ping(self) -> Awaitable[str]: ...
    def create_table(self, spec: TableSpec, stream: StreamSpecification | None) -> Awaitable[dict[str, Any]]: ...
    def update_table(self, name: str, update: TableUpdate) -> Awaitable[dict[str, Any]]: ...
    def delete_table(self, name: str) -> Awaitable[dict[str, Any]]: ...
    def describe_table(self, name: str) -> Awaitable[dict[str, Any]]: ...
    def list_tables(self, exclusive_start: str | None, limit: int) -> Awaitable[dict[str, Any]]: ...
    def get_table(self, name: str) -> Awaitable[tuple[TableSpec, PartitionMap]]: ...
    def update_table_replica_auto_scaling(self, name: str, update: AutoScalingUpdate) -> Awaitable[dict[str, Any]]: ...
    def describe_table_replica_auto_scaling(self, name: str) -> Awaitable[dict[str, Any]]: ...
    def table_metrics(self, name: str, since: float | None) -> Awaitable[list[dict[str, Any]]]: ...
    def split_partition(self, name: str, partition_id: str, at: int | None = None) -> Awaitable[PartitionMap]: ...
    def merge_partitions(self, name: str, lower_id: str) -> Awaitable[PartitionMap]: ...
    def list_streams(self, table_name: str | None) -> Awaitable[list[dict[str, Any]]]: ...
    def get_stream(self, arn: str) -> Awaitable[StreamInfo]: ...
    def replicas_changed(self, table_name: str, partition_id: str, members: tuple[str, ...]) -> Awaitable[None]:
        """A partition's group replaced a lost replica: maps name its members from now on."""
        ...

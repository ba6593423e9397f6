"""Typed proxies over Ray actor handles: each actor's methods, called through ``actors.calls``.

A proxy satisfies the actor's protocol in ``grid._services``, so code that holds one
(the router, a stream actor, the client's Ray transport) calls typed methods, not
method names, and gets each answer or its ``GridError``. Proxies pickle as their
handle: they travel inside partition maps and stream infos.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any

from actors.calls import submit
from grid._autoscaling import AutoScalingUpdate
from grid._changes import ChangeRecord, LogSlice
from grid._partition_map import PartitionMap
from grid._requests import Page, QueryRequest, ScanRequest
from grid._schema import StreamSpecification, TableSpec, TableUpdate
from grid._services import HandOverItems, PartitionService, PartitionStats, StreamInfo

__all__ = ["RayLedger", "RayPartition", "RayRouter", "RayStream"]


class _Proxy:
    __slots__ = ("handle",)

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.handle,))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.handle!r})"


class RayPartition(_Proxy):
    """One partition replica (``grid._services.ReplicaService``)."""

    __slots__ = ()

    def execute(
        self, wire_ops: Sequence[tuple[Any, ...]], request_id: str | None = None, min_index: int = 0
    ) -> Awaitable[tuple[list[Any], int]]:
        return submit(self.handle.execute, wire_ops, request_id, min_index)

    def query(self, request: QueryRequest, min_index: int = 0) -> Awaitable[tuple[Page, int]]:
        return submit(self.handle.query, request, min_index)

    def scan(self, request: ScanRequest, min_index: int = 0) -> Awaitable[tuple[Page, int]]:
        return submit(self.handle.scan, request, min_index)

    def deliver(self, messages: Sequence[Any]) -> Awaitable[list[Any]]:
        return submit(self.handle.deliver, messages)

    def watch(self, term: int) -> Awaitable[None]:
        return submit(self.handle.watch, term)

    def ready(self) -> Awaitable[str]:
        return submit(self.handle.ready)

    def fence(self, epoch: int, request_id: str | None = None) -> Awaitable[None]:
        return submit(self.handle.fence, epoch, request_id)

    def split_off(
        self, at: int, map_version: int, epoch: int = 0, request_id: str | None = None
    ) -> Awaitable[tuple[HandOverItems, str]]:
        return submit(self.handle.split_off, at, map_version, epoch, request_id)

    def ingest(
        self,
        entries: HandOverItems,
        parent_shard_id: str | None = None,
        epoch: int = 0,
        request_id: str | None = None,
    ) -> Awaitable[None]:
        return submit(self.handle.ingest, entries, parent_shard_id, epoch, request_id)

    def retire(
        self, map_version: int, epoch: int = 0, request_id: str | None = None
    ) -> Awaitable[tuple[HandOverItems, str]]:
        return submit(self.handle.retire, map_version, epoch, request_id)

    def release_hand_over(self, epoch: int = 0, request_id: str | None = None) -> Awaitable[None]:
        return submit(self.handle.release_hand_over, epoch, request_id)

    def undo_hand_over(self, map_version: int, epoch: int = 0, request_id: str | None = None) -> Awaitable[bool]:
        return submit(self.handle.undo_hand_over, map_version, epoch, request_id)

    def absorb_upper(
        self,
        entries: HandOverItems,
        high: int,
        map_version: int,
        other_parent: str,
        epoch: int = 0,
        request_id: str | None = None,
    ) -> Awaitable[None]:
        return submit(self.handle.absorb_upper, entries, high, map_version, other_parent, epoch, request_id)

    def read_log(self, after: int = 0, limit: int | None = None) -> Awaitable[list[ChangeRecord]]:
        return submit(self.handle.read_log, after, limit)

    def wait_log(self, after: int, limit: int, timeout: float) -> Awaitable[LogSlice]:
        return submit(self.handle.wait_log, after, limit, timeout)

    def provision(
        self, read_per_second: float | None, write_per_second: float | None, request_id: str | None = None
    ) -> Awaitable[None]:
        return submit(self.handle.provision, read_per_second, write_per_second, request_id)

    def set_retention(self, max_records: int, max_age_seconds: float, request_id: str | None = None) -> Awaitable[None]:
        return submit(self.handle.set_retention, max_records, max_age_seconds, request_id)

    def stats(self, leading: bool = False) -> Awaitable[PartitionStats]:
        return submit(self.handle.stats, leading)


class RayLedger(_Proxy):
    __slots__ = ()

    def decide_many(self, decisions: list[tuple[str, str]]) -> Awaitable[list[str]]:
        return submit(self.handle.decide_many, decisions)

    def resolve(self, txid: str) -> Awaitable[str]:
        return submit(self.handle.resolve, txid)

    def begin_token(self, token: str, digest: str, txid: str, lease: float) -> Awaitable[tuple[bool, Any]]:
        return submit(self.handle.begin_token, token, digest, txid, lease)

    def finish_token(self, token: str, outcome: Any) -> Awaitable[None]:
        return submit(self.handle.finish_token, token, outcome)


class RayStream(_Proxy):
    __slots__ = ()

    def ready(self) -> Awaitable[bool]:
        return submit(self.handle.ready)

    def subscribe(self, start: str, consumer: str | None) -> Awaitable[dict[str, int]]:
        return submit(self.handle.subscribe, start, consumer)

    def poll(self, cursors: dict[str, int], limit: int, wait: float) -> Awaitable[list[tuple[str, list[ChangeRecord]]]]:
        return submit(self.handle.poll, cursors, limit, wait)

    def checkpoint(self, consumer: str, shard_id: str, sequence: int) -> Awaitable[None]:
        return submit(self.handle.checkpoint, consumer, shard_id, sequence)

    def describe_shards(self) -> Awaitable[list[dict[str, Any]]]:
        return submit(self.handle.describe_shards)

    def read_shard(self, shard_id: str, after: int, limit: int) -> Awaitable[tuple[list[ChangeRecord], bool]]:
        return submit(self.handle.read_shard, shard_id, after, limit)

    def shard_position(self, shard_id: str, kind: str, sequence: int | None) -> Awaitable[int]:
        return submit(self.handle.shard_position, shard_id, kind, sequence)

    def start(self, partitions: list[tuple[str, PartitionService]]) -> Awaitable[None]:
        return submit(self.handle.start, partitions)

    def retire_partition(
        self, partition_id: str, partition: PartitionService, retention_seconds: float
    ) -> Awaitable[None]:
        return submit(self.handle.retire_partition, partition_id, partition, retention_seconds)

    def restore_partition(self, partition_id: str, partition: PartitionService) -> Awaitable[None]:
        return submit(self.handle.restore_partition, partition_id, partition)


class RayRouter(_Proxy):
    __slots__ = ()

    def ping(self) -> Awaitable[str]:
        return submit(self.handle.ping)

    def create_table(self, spec: TableSpec, stream: StreamSpecification | None) -> Awaitable[dict[str, Any]]:
        return submit(self.handle.create_table, spec, stream)

    def update_table(self, name: str, update: TableUpdate) -> Awaitable[dict[str, Any]]:
        return submit(self.handle.update_table, name, update)

    def delete_table(self, name: str) -> Awaitable[dict[str, Any]]:
        return submit(self.handle.delete_table, name)

    def describe_table(self, name: str) -> Awaitable[dict[str, Any]]:
        return submit(self.handle.describe_table, name)

    def list_tables(self, exclusive_start: str | None, limit: int) -> Awaitable[dict[str, Any]]:
        return submit(self.handle.list_tables, exclusive_start, limit)

    def get_table(self, name: str) -> Awaitable[tuple[TableSpec, PartitionMap]]:
        return submit(self.handle.get_table, name)

    def update_table_replica_auto_scaling(self, name: str, update: AutoScalingUpdate) -> Awaitable[dict[str, Any]]:
        return submit(self.handle.update_table_replica_auto_scaling, name, update)

    def describe_table_replica_auto_scaling(self, name: str) -> Awaitable[dict[str, Any]]:
        return submit(self.handle.describe_table_replica_auto_scaling, name)

    def table_metrics(self, name: str, since: float | None) -> Awaitable[list[dict[str, Any]]]:
        return submit(self.handle.table_metrics, name, since)

    def split_partition(self, name: str, partition_id: str, at: int | None = None) -> Awaitable[PartitionMap]:
        return submit(self.handle.split_partition, name, partition_id, at)

    def merge_partitions(self, name: str, lower_id: str) -> Awaitable[PartitionMap]:
        return submit(self.handle.merge_partitions, name, lower_id)

    def list_streams(self, table_name: str | None) -> Awaitable[list[dict[str, Any]]]:
        return submit(self.handle.list_streams, table_name)

    def get_stream(self, arn: str) -> Awaitable[StreamInfo]:
        return submit(self.handle.get_stream, arn)

    def replicas_changed(self, table_name: str, partition_id: str, members: tuple[str, ...]) -> Awaitable[None]:
        return submit(self.handle.replicas_changed, table_name, partition_id, members)

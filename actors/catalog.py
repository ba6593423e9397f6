"""The router's catalog: each table's entry, its partitions and streams, and its record.

The router keeps its tables in memory; every change is also written to the
``CatalogStore`` (see ``actors.catalog_store``), so a restarted router serves the same
tables. Changes are decided synchronously (no await between check and update), so
two concurrent creates of one name cannot both succeed. The catalog trusts its
input: the client validated DynamoDB's parameters into typed specs.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from actors.catalog_store import CatalogStore, TableRecord, TableStream
from actors.stream_journal import forget_stream
from actors.system import ActorSystem, PartitionConfig
from actors.table_monitor import Scaling, TableMonitor
from grid._groups import ReplicaGroup
from grid._messages import describe_value
from grid._partition_map import PartitionMap, PartitionRange
from grid._schema import StreamSpecification, TableSpec, TableUpdate, billing_settings
from grid._services import PartitionService, PartitionStats, StreamInfo
from grid.errors import (
    PartitionUnavailableError,
    ResourceInUseException,
    ResourceNotFoundException,
    ValidationException,
)

__all__ = ["Catalog", "TableEntry", "not_found", "wait_for_leader"]

log = logging.getLogger("grid.router")


@dataclass(slots=True, kw_only=True)
class TableEntry:
    spec: TableSpec
    status: str
    partition_map: PartitionMap | None = None
    streams: list[TableStream] = field(default_factory=list)  # the newest last
    monitor: TableMonitor | None = None
    resizing: bool = False  # update_table is setting the partition count

    @property
    def stream(self) -> TableStream | None:
        return self.streams[-1] if self.streams else None

    @property
    def ranges(self) -> tuple[PartitionRange, ...]:
        return self.partition_map.ranges if self.partition_map is not None else ()


class Catalog:
    """The tables of one grid: entries in memory, records in the store, actors through the system."""

    def __init__(self, system: ActorSystem, store: CatalogStore) -> None:
        self.system = system
        self.store = store
        self.tables: dict[str, TableEntry] = {}
        # Tables a restarted router could not serve yet (a partition unreachable): retried.
        self.held: dict[str, TableRecord] = {}

    # -- lookups -----------------------------------------------------------------------

    def active(self, name: str) -> TableEntry:
        """The ACTIVE table ``name``; ``ResourceNotFoundException`` otherwise."""
        entry = self.tables.get(name)
        if entry is None or entry.partition_map is None or entry.status != "ACTIVE":
            raise not_found(name)
        return entry

    def get_table(self, name: str) -> tuple[TableSpec, PartitionMap]:
        """The spec and current partition map of an ACTIVE table, for clients to cache."""
        self._refuse_held(name)
        entry = self.tables.get(name)
        if entry is None or entry.partition_map is None or entry.status != "ACTIVE":
            # Item operations say no more than this in DynamoDB (DescribeTable names the table).
            raise ResourceNotFoundException("Requested resource not found")
        return entry.spec, entry.partition_map

    def list_tables(self, exclusive_start: str | None, limit: int) -> dict[str, Any]:
        names = sorted([name for name, entry in self.tables.items() if entry.status != "DELETING"] + list(self.held))
        if exclusive_start is not None:
            names = [name for name in names if name > exclusive_start]
        page = names[:limit]
        answer: dict[str, Any] = {"TableNames": page}
        if len(names) > limit:
            answer["LastEvaluatedTableName"] = page[-1]
        return answer

    def _refuse_held(self, name: str) -> None:
        # Unavailable, not an internal error: clients try again (as while the router restarts),
        # and a partition that was only electing a leader or on a lost node is served again soon.
        if name in self.held:
            raise PartitionUnavailableError(
                f"Table {name} is not served since the router restarted: one of its partitions is unreachable; "
                "recovery is tried again every few seconds"
            )

    # -- create and delete -------------------------------------------------------------

    async def create(self, spec: TableSpec) -> TableEntry:
        """A new table's entry with its partitions started and provisioned (status CREATING)."""
        if spec.name in self.tables:
            raise ResourceInUseException(f"Table already exists: {spec.name}")
        if spec.name in self.held:
            raise ResourceInUseException(f"Table already exists: {spec.name} (not served since the router restarted)")
        entry = TableEntry(spec=spec, status="CREATING")
        self.tables[spec.name] = entry
        ranges: list[PartitionRange] = []
        try:
            for index, (low, high) in enumerate(PartitionMap.uniform_bounds(spec.grid_settings.partitions)):
                partition_id = f"p{index}-{uuid.uuid4().hex[:8]}"
                group = self.start_group(spec, partition_id, low, high, map_version=1)
                ranges.append(PartitionRange(partition_id=partition_id, low=low, high=high, handle=group))
            await asyncio.gather(*(wait_for_leader(partition.handle) for partition in ranges))
        except Exception:
            del self.tables[spec.name]
            for started in ranges:
                self.system.stop(started.handle)
            raise
        entry.partition_map = PartitionMap(
            table_name=spec.name, table_id=spec.table_id, version=1, ranges=tuple(ranges)
        )
        await self.provision(entry)
        return entry

    async def delete(self, name: str) -> dict[str, Any]:
        held = self.held.pop(name, None)
        if held is not None:  # not served since a restart: its record and whatever partitions live go
            self.store.delete(name)
            for members in self.system.live_partitions().get(held.spec.table_id, {}).values():
                for _, replica in members:
                    self.system.stop(replica)
            for stream in held.streams:
                service = self.system.find_stream(held.spec.table_id, stream.label)
                if service is not None:
                    self.system.stop(service)
                forget_stream(self.system.key_value(), held.spec.table_id, stream.label)
            return held.spec.describe(status="DELETING")
        entry = self.tables.get(name)
        if entry is None or entry.status == "DELETING":
            raise not_found(name)
        if entry.status != "ACTIVE":
            raise ResourceInUseException(
                f"Attempt to change a resource which is still in use: Table is being created: {name}"
            )
        entry.status = "DELETING"
        description = await self.describe(entry)
        del self.tables[name]
        self.store.delete(name)  # first: a router restarted from here on must not bring the table back
        for entry_range in entry.ranges:
            self.system.stop(entry_range.handle)
        for stream in entry.streams:
            self.system.stop(stream.service)
            forget_stream(self.system.key_value(), entry.spec.table_id, stream.label)
        if entry.monitor is not None:
            entry.monitor.stop()
        return description

    def start_group(
        self, spec: TableSpec, partition_id: str, low: int, high: int, *, map_version: int, awaiting_items: bool = False
    ) -> ReplicaGroup:
        """A new partition's replica group (``Replicas`` actors; the first stands for election at once)."""
        members = tuple(f"r{number}" for number in range(spec.grid_settings.replicas))
        replicas = [
            (
                replica,
                self.system.start_partition(
                    PartitionConfig(
                        table_name=spec.name,
                        table_id=spec.table_id,
                        partition_id=partition_id,
                        key_schema=spec.key_schema,
                        low=low,
                        high=high,
                        map_version=map_version,
                        awaiting_items=awaiting_items,
                        num_cpus=spec.grid_settings.partition_cpus,
                        replica_id=replica,
                        members=members,
                        replicas=len(members),
                        campaign=replica == members[0],
                    )
                ),
            )
            for replica in members
        ]
        return ReplicaGroup(replicas, leader=members[0])

    def group_of(self, table_id: str, partition_id: str, members: tuple[str, ...]) -> ReplicaGroup | None:
        """The group of the named replicas that live (None if none does)."""
        found = [(m, s) for m in members if (s := self.system.find_replica(table_id, partition_id, m)) is not None]
        return ReplicaGroup(found) if found else None

    # -- settings ----------------------------------------------------------------------

    async def provision(self, entry: TableEntry) -> None:
        """Split the table's provisioned throughput evenly over its partitions (None: on demand)."""
        count = len(entry.ranges)
        throughput = entry.spec.provisioned_throughput if entry.spec.billing_mode == "PROVISIONED" else None
        read, write = (throughput[0] / count, throughput[1] / count) if throughput else (None, None)
        await asyncio.gather(*(r.handle.provision(read, write) for r in entry.ranges))

    async def update_billing(self, entry: TableEntry, update: TableUpdate) -> None:
        """A new billing mode or throughput, combined with the table's current settings."""
        mode = update.billing_mode or entry.spec.billing_mode
        throughput = update.provisioned_throughput
        if throughput is None and mode == "PROVISIONED" and entry.spec.provisioned_throughput is not None:
            read, write = entry.spec.provisioned_throughput
            throughput = {"ReadCapacityUnits": read, "WriteCapacityUnits": write}
        mode, units = billing_settings(mode, throughput)
        entry.spec = replace(entry.spec, billing_mode=mode, provisioned_throughput=units)
        await self.provision(entry)

    def save(self, entry: TableEntry) -> None:
        """Write ``entry``'s record (a short blocking call to the store: catalog changes are rare)."""
        if self.tables.get(entry.spec.name) is not entry:
            return  # deleted meanwhile (an update or auto scaling step finishing late): no record
        scaling = entry.monitor.scaling if entry.monitor is not None else Scaling()
        record = TableRecord(
            spec=entry.spec,
            streams=tuple(replace(stream, service=None) for stream in entry.streams),
            read_scaling=scaling.read.settings,
            write_scaling=scaling.write.settings,
            auto_scaling_enabled=scaling.enabled,
        )
        self.store.save(record)

    # -- streams -----------------------------------------------------------------------

    async def enable_stream(self, entry: TableEntry, wanted: StreamSpecification) -> None:
        """Start a stream actor following every partition from its log's end (splits and merges must wait)."""
        assert wanted.view_type is not None
        settings = entry.spec.grid_settings
        await asyncio.gather(
            *(
                r.handle.set_retention(settings.stream_retention_records, settings.stream_retention_seconds)
                for r in entry.ranges
            )
        )
        label = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        service = self.system.start_stream(table_name=entry.spec.name, table_id=entry.spec.table_id, label=label)
        await service.start([(r.partition_id, r.handle) for r in entry.ranges])
        arn = f"{entry.spec.arn}/stream/{label}"
        entry.streams.append(TableStream(view_type=wanted.view_type, label=label, arn=arn, service=service))

    def check_stream_change(self, entry: TableEntry, wanted: StreamSpecification) -> TableStream | None:
        """The enabled stream ``wanted`` turns off (None when it turns one on); refuses a change to nothing."""
        current = entry.stream if entry.stream is not None and entry.stream.status == "ENABLED" else None
        if wanted.enabled and current is not None:
            raise ValidationException(f"Table already has an enabled stream: {current.arn}")
        if not wanted.enabled and current is None:
            raise ValidationException("Table does not have a stream enabled")
        return current

    def list_streams(self, table_name: str | None) -> list[dict[str, Any]]:
        return [
            {"StreamArn": stream.arn, "TableName": name, "StreamLabel": stream.label}
            for name, entry in sorted(self.tables.items())
            if table_name is None or name == table_name
            for stream in entry.streams
        ]

    def get_stream(self, arn: str) -> StreamInfo:
        for entry in self.tables.values():
            for stream in entry.streams:
                if stream.arn == arn:
                    return StreamInfo(
                        arn=stream.arn,
                        label=stream.label,
                        status=stream.status,
                        view_type=stream.view_type,
                        key_schema=entry.spec.key_schema,
                        table_name=entry.spec.name,
                        service=stream.service,
                    )
        raise ResourceNotFoundException(f"Requested resource not found: Stream: {describe_value(arn)} not found")

    # -- descriptions ------------------------------------------------------------------

    async def describe_table(self, name: str) -> dict[str, Any]:
        self._refuse_held(name)
        entry = self.tables.get(name)
        if entry is None:
            raise not_found(name)
        return await self.describe(entry)

    async def describe(self, entry: TableEntry) -> dict[str, Any]:
        partitions = len(entry.ranges) if entry.partition_map is not None else entry.spec.grid_settings.partitions
        answers = await asyncio.gather(*(r.handle.stats() for r in entry.ranges), return_exceptions=True)
        stats = [answer for answer in answers if isinstance(answer, PartitionStats)]  # a dead partition counts nothing
        description = entry.spec.describe(
            status=entry.status,
            item_count=sum(s.item_count for s in stats),
            size_bytes=sum(s.size_bytes for s in stats),
            partitions=partitions,
        )
        stream = entry.stream
        if stream is not None:
            enabled = stream.status == "ENABLED"
            description["StreamSpecification"] = StreamSpecification(
                enabled=enabled, view_type=stream.view_type if enabled else None
            ).describe()
            description["LatestStreamArn"] = stream.arn
            description["LatestStreamLabel"] = stream.label
        description["GridReplicas"] = await describe_replicas(entry.spec.grid_settings.replicas, entry.ranges)
        return description


async def describe_replicas(replicas: int, ranges: Sequence[PartitionRange]) -> dict[str, Any]:
    """Where each partition's replicas run, and how many partitions have two on one node.

    ``PartitionsSharingANode`` above 0 means the cluster had fewer live nodes than
    ``Replicas`` when they were placed: one node's loss can then take a majority.
    """
    partitions = []
    sharing = 0
    for partition in ranges:
        group = partition.handle
        members = group.members if isinstance(group, ReplicaGroup) else ()
        answers = await asyncio.gather(*(service.stats() for _, service in members), return_exceptions=True)
        found = [answer for answer in answers if isinstance(answer, PartitionStats)]
        leader = next((s.leader for s in found if s.leader == s.replica_id), None)
        voters = next((s.voters for s in found if s.replica_id == leader), ())
        nodes = [s.node_id for s in found]
        sharing += len(set(nodes)) < len(nodes)
        partitions.append(
            {
                "PartitionId": partition.partition_id,
                "Leader": leader,
                "Replicas": [
                    {"ReplicaId": s.replica_id, "NodeId": s.node_id, "Voting": s.replica_id in voters} for s in found
                ],
            }
        )
    return {"Replicas": replicas, "PartitionsSharingANode": sharing, "Partitions": partitions}


async def wait_for_leader(group: PartitionService) -> None:
    """Until every replica runs and one leads (a new group elects its first replica in milliseconds)."""
    await group.ready()
    await group.stats()  # answered by the leader


def not_found(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Requested resource not found: Table: {describe_value(name)} not found")

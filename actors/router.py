"""The router: the grid's catalog of tables and their partition maps, as one actor.

It owns metadata, never traffic: clients fetch a table's map once, cache it and call
partitions directly. ``Router`` is the call surface over plain parts, each with one
job: the catalog (``actors.catalog``: tables, streams, records), partition moves
(``actors.moves``: splits and merges), recovery after a restart (``actors.recovery``)
and each table's metrics and auto scaling (``actors.table_monitor``). ``RouterActor``
is the shell Ray runs: Ray restarts a router that dies, and the new one recovers its
tables before it answers any call.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from actors.background import Background
from actors.catalog import Catalog, TableEntry, not_found
from actors.catalog_store import CatalogStore, TableRecord
from actors.moves import PartitionMoves
from actors.recovery import recover_table, stop_unrecorded_partitions
from actors.system import ActorSystem, LivePartitions
from actors.table_monitor import PartitionLimits, Scaling, TableMonitor
from grid._autoscaling import AutoScalingUpdate, TargetTracker
from grid._partition_map import PartitionMap, PartitionRange
from grid._schema import MAX_PARTITIONS, StreamSpecification, TableSpec, TableUpdate
from grid._services import StreamInfo
from grid.errors import GridError, ResourceNotFoundException, ValidationException

__all__ = ["Router", "RouterActor"]

log = logging.getLogger("grid.router")

HELD_TABLE_RETRY_SECONDS = 5.0  # how often a restarted router tries again to serve a table it could not


class Router:
    """The router's calls (``grid._services.RouterService``); ``recover()`` first after a restart."""

    def __init__(self, system: ActorSystem) -> None:
        self._namespace = system.namespace
        self._system = system
        self._background = Background()
        store = CatalogStore(system.key_value())
        # Each router start takes a higher epoch; its moves carry it, and recovery fences
        # every partition with it, so a dead router's late moves are refused.
        self.epoch = store.next_epoch()
        self.catalog = Catalog(system, store)
        self.moves = PartitionMoves(self.catalog, self._background, self.epoch)

    async def ping(self) -> str:
        return self._namespace

    # -- tables ------------------------------------------------------------------------

    async def create_table(self, spec: TableSpec, stream: StreamSpecification | None) -> dict[str, Any]:
        entry = await self.catalog.create(spec)
        self._start_monitor(entry)
        if stream is not None and stream.enabled:
            await self.catalog.enable_stream(entry, stream)
        entry.status = "ACTIVE"
        self.catalog.save(entry)
        return await self.catalog.describe(entry)

    async def update_table(self, name: str, update: TableUpdate) -> dict[str, Any]:
        """DynamoDB's UpdateTable: the stream, the billing mode and throughput, and grid's own settings."""
        entry = self.catalog.active(name)
        try:
            if update.stream is not None:
                current = self.catalog.check_stream_change(entry, update.stream)
                if update.stream.enabled:
                    async with self.moves.lock:  # a merge meanwhile would not tell the new stream
                        await self.catalog.enable_stream(entry, update.stream)
                elif current is not None:
                    current.status = "DISABLED"  # still readable until its records age out
            if update.changes_billing:
                await self.catalog.update_billing(entry, update)
            if update.partitions is not None or update.time_scale is not None:
                await self._update_grid_settings(entry, update)
        finally:
            self.catalog.save(entry)  # what changed before a failure stays changed
        return await self.catalog.describe(entry)

    async def _update_grid_settings(self, entry: TableEntry, update: TableUpdate) -> None:
        """``GridSettings`` changed online: the policy clock, and the partition count (by splits or merges)."""
        settings = entry.spec.grid_settings.updated(update.partitions, update.time_scale)
        entry.spec = replace(entry.spec, grid_settings=settings)
        if entry.monitor is not None:
            entry.monitor.time_scale = settings.time_scale
        if update.partitions is None:
            return
        entry.resizing = True  # the monitor's own splits and merges wait: they could undo these
        try:
            await self.moves.resize(entry, update.partitions)
        finally:
            entry.resizing = False

    async def delete_table(self, name: str) -> dict[str, Any]:
        return await self.catalog.delete(name)

    async def describe_table(self, name: str) -> dict[str, Any]:
        return await self.catalog.describe_table(name)

    async def list_tables(self, exclusive_start: str | None, limit: int) -> dict[str, Any]:
        return self.catalog.list_tables(exclusive_start, limit)

    async def get_table(self, name: str) -> tuple[TableSpec, PartitionMap]:
        return self.catalog.get_table(name)

    # -- partition moves ---------------------------------------------------------------

    async def split_partition(self, name: str, partition_id: str, at: int | None = None) -> PartitionMap:
        return await self.moves.split(name, partition_id, at)

    async def merge_partitions(self, name: str, lower_id: str) -> PartitionMap:
        return await self.moves.merge(name, lower_id)

    async def replicas_changed(self, table_name: str, partition_id: str, members: tuple[str, ...]) -> None:
        await self.moves.replicas_changed(table_name, partition_id, members)

    # -- streams -----------------------------------------------------------------------

    async def list_streams(self, table_name: str | None) -> list[dict[str, Any]]:
        return self.catalog.list_streams(table_name)

    async def get_stream(self, arn: str) -> StreamInfo:
        return self.catalog.get_stream(arn)

    # -- auto scaling and metrics ------------------------------------------------------

    async def update_table_replica_auto_scaling(self, name: str, update: AutoScalingUpdate) -> dict[str, Any]:
        entry = self.catalog.tables.get(name)
        if entry is None or entry.status != "ACTIVE" or entry.monitor is None:
            raise not_found(name)
        if update.index_names:
            raise ResourceNotFoundException(f"The table does not have the specified index: {update.index_names[0]}")
        if entry.spec.billing_mode != "PROVISIONED":
            raise ValidationException("Auto scaling needs a table in PROVISIONED billing mode")
        scaling = entry.monitor.scaling
        try:
            for change, dimension, what in (
                (update.read, "read", "ProvisionedReadCapacityAutoScalingUpdate"),
                (update.write, "write", "ProvisionedWriteCapacityAutoScalingUpdate"),
            ):
                if change is not None:
                    tracker: TargetTracker = getattr(scaling, dimension)
                    setattr(scaling, dimension, TargetTracker(tracker.settings.updated(change, what)))
            scaling.enabled = True
        finally:
            self.catalog.save(entry)  # what changed before a failure stays changed
        return await self.describe_table_replica_auto_scaling(name)

    async def describe_table_replica_auto_scaling(self, name: str) -> dict[str, Any]:
        entry = self.catalog.tables.get(name)
        if entry is None or entry.monitor is None:
            raise not_found(name)
        scaling = entry.monitor.scaling
        read, write = entry.spec.provisioned_throughput or (0, 0)
        replica: dict[str, Any] = {
            "RegionName": "local",
            "GlobalSecondaryIndexes": [],
            "ReplicaProvisionedReadCapacityAutoScalingSettings": scaling.read.settings.describe(),
            "ReplicaProvisionedWriteCapacityAutoScalingSettings": scaling.write.settings.describe(),
            "ReplicaStatus": "ACTIVE",
        }
        if not scaling.enabled:
            for key in (
                "ReplicaProvisionedReadCapacityAutoScalingSettings",
                "ReplicaProvisionedWriteCapacityAutoScalingSettings",
            ):
                replica[key] = {**replica[key], "AutoScalingDisabled": True}
        return {
            "TableAutoScalingDescription": {
                "TableName": name,
                "TableStatus": entry.status,
                "Replicas": [replica],
                "GridProvisionedThroughput": {"ReadCapacityUnits": read, "WriteCapacityUnits": write},
            }
        }

    async def table_metrics(self, name: str, since: float | None) -> list[dict[str, Any]]:
        entry = self.catalog.tables.get(name)
        if entry is None or entry.monitor is None:
            raise not_found(name)
        return [s for s in entry.monitor.samples if since is None or s["Timestamp"] > since]

    def _start_monitor(self, entry: TableEntry, scaling: Scaling | None = None) -> None:
        """The table's metrics and auto scaling loop; its decisions act through the catalog and moves."""
        name = entry.spec.name

        async def apply(read: int, write: int) -> None:
            entry.spec = replace(entry.spec, provisioned_throughput=(read, write))
            self.catalog.save(entry)
            await self.catalog.provision(entry)

        def provisioned() -> tuple[int, int] | None:
            return entry.spec.provisioned_throughput if entry.spec.billing_mode == "PROVISIONED" else None

        async def split(partition_id: str) -> None:
            if not entry.resizing:
                await _logged(self.moves.split(name, partition_id), "split", name)

        async def merge(lower_id: str) -> None:
            if not entry.resizing:
                await _logged(self.moves.merge(name, lower_id), "merge", name)

        def ranges() -> tuple[PartitionRange, ...]:
            return entry.ranges

        def limits() -> PartitionLimits:
            settings = entry.spec.grid_settings
            return PartitionLimits(
                max_bytes=settings.max_partition_bytes,
                max_read_units=settings.max_partition_read_units,
                max_write_units=settings.max_partition_write_units,
                max_partitions=MAX_PARTITIONS,
                min_partitions=settings.partitions,
            )

        entry.monitor = TableMonitor(
            name,
            provisioned=provisioned,
            apply=apply,
            split=split,
            merge=merge,
            ranges=ranges,
            limits=limits,
            time_scale=entry.spec.grid_settings.time_scale,
        )
        if scaling is not None:
            entry.monitor.scaling = scaling
        entry.monitor.start()

    # -- recovery after a restart ------------------------------------------------------

    async def recover(self) -> None:
        """Serve the tables a dead router served: records from the store, maps from the partitions.

        A table whose live partitions do not own the whole ring (one is unreachable or
        died) is held: it keeps its name (``create_table`` refuses it, calls on it get a
        ``PartitionUnavailableError``, which clients try again for a while, ``delete_table``
        drops it) and recovery is tried again in the background. Partitions of tables without a record (a create
        or delete cut short) are stopped.
        """
        records = self.catalog.store.load()
        live = self._system.live_partitions()
        await asyncio.gather(*(self._recover_table(record, live) for record in records))
        stop_unrecorded_partitions(records, self._system, live)
        if records:
            log.warning(
                "router restarted: serving %d table(s) again, %d held", len(self.catalog.tables), len(self.catalog.held)
            )
        if self.catalog.held:
            self._background.spawn(self._recover_held())

    async def _recover_table(self, record: TableRecord, live: LivePartitions) -> None:
        try:
            recovered = await recover_table(record, self._system, live.get(record.spec.table_id, {}), self.epoch)
        except Exception:  # one table's trouble must not keep the router from serving the others
            log.exception("table %s not recovered", record.spec.name)
            recovered = None
        if recovered is None:
            self.catalog.held[record.spec.name] = record
            return
        self.catalog.held.pop(record.spec.name, None)
        entry = TableEntry(
            spec=record.spec, status="ACTIVE", partition_map=recovered.partition_map, streams=recovered.streams
        )
        self.catalog.tables[record.spec.name] = entry
        scaling = Scaling(
            read=TargetTracker(record.read_scaling),
            write=TargetTracker(record.write_scaling),
            enabled=record.auto_scaling_enabled,
        )
        self._start_monitor(entry, scaling)
        await self.catalog.provision(entry)  # a split recovery finished has a partition without its share

    async def _recover_held(self) -> None:
        while self.catalog.held:
            await asyncio.sleep(HELD_TABLE_RETRY_SECONDS)
            live = self._system.live_partitions()
            await asyncio.gather(*(self._recover_table(record, live) for record in list(self.catalog.held.values())))

    def stop(self) -> None:
        """Stop background work: every table's monitor, retries of held tables, pending stops."""
        for entry in self.catalog.tables.values():
            if entry.monitor is not None:
                entry.monitor.stop()
        self._background.cancel_all()


class RouterActor(Router):
    """The router as Ray runs it (detached, restarted by Ray whenever it dies)."""

    # Ray awaits an async actor's __init__ before it delivers any call (mypy knows no such thing):
    # a restarted router knows its tables again before it answers.
    async def __init__(self, system: ActorSystem) -> None:  # type: ignore[misc]
        super().__init__(system)
        await self.recover()


async def _logged(move: Any, what: str, table: str) -> None:
    """An automatic split or merge: a refusal (a transaction holding items, a partition gone) waits for the next tick."""
    try:
        await move
    except GridError as error:
        log.info("automatic %s of table %s not done now: %s", what, table, error.message)

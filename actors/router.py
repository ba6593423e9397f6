"""The router actor: the grid's catalog of tables and their partition maps.

It owns metadata, never traffic: clients fetch a table's map once, cache it and call
partitions directly. Catalog changes are decided synchronously (no await between
check and update), so two concurrent ``create_table`` calls for one name cannot
both succeed.

Every catalog change is also written to a ``CatalogStore``. Ray restarts a router
that dies, and the new one serves the same tables: their records from the store,
their partition maps from what the live partitions say they own (``_recover``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

import ray

from actors.catalog import CatalogStore, RayKeyValue, TableRecord, TableStream
from actors.launch import start_partition, start_stream
from actors.recovery import grid_actor_names, recover_table, stop_table_partitions, stop_unrecorded_partitions
from actors.table_monitor import PartitionLimits, Scaling, TableMonitor
from grid._autoscaling import TargetTracker
from grid._partition_map import PartitionMap, PartitionRange
from grid._schema import MAX_PARTITIONS, GridSettings, StreamSpecification, TableSpec, billing_settings
from grid.errors import (
    GridError,
    InternalServerError,
    ResourceInUseException,
    ResourceNotFoundException,
    TransactionInProgressException,
    ValidationException,
)

__all__ = ["RouterActor"]

log = logging.getLogger("grid.router")

RETIRED_PARTITION_GRACE_SECONDS = 2.0  # a merged-away partition answers calls already sent, then stops
HELD_TABLE_RETRY_SECONDS = 5.0  # how often a restarted router tries again to serve a table it could not


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


class RouterActor:
    # Ray awaits an async actor's __init__ before it delivers any call (mypy knows no such thing).
    async def __init__(self, namespace: str, catalog: CatalogStore | None = None) -> None:  # type: ignore[misc]
        self._namespace = namespace
        self._tables: dict[str, TableEntry] = {}
        self._split_lock = asyncio.Lock()  # one split or merge at a time
        self._background: set[asyncio.Task[None]] = set()
        self._catalog = catalog if catalog is not None else CatalogStore(RayKeyValue(namespace))
        # Tables a restarted router could not serve yet (a partition unreachable): retried.
        self._held: dict[str, TableRecord] = {}
        await self._recover()  # Ray holds calls back until a restarted router knows its tables again

    async def ping(self) -> str:
        return self._namespace

    # -- catalog -------------------------------------------------------------------

    async def create_table(self, params: dict[str, Any]) -> dict[str, Any] | GridError:
        try:
            spec = TableSpec.from_create_params(params)
        except GridError as error:
            return error
        if spec.name in self._tables:
            return ResourceInUseException(f"Table already exists: {spec.name}")
        if spec.name in self._held:
            return ResourceInUseException(f"Table already exists: {spec.name} (not served since the router restarted)")
        entry = TableEntry(spec=spec, status="CREATING")
        self._tables[spec.name] = entry
        ranges: list[PartitionRange] = []
        try:
            for index, (low, high) in enumerate(PartitionMap.uniform_bounds(spec.grid_settings.partitions)):
                partition_id = f"p{index}-{uuid.uuid4().hex[:8]}"
                handle = self._start_partition(spec, partition_id, low, high, map_version=1)
                ranges.append(PartitionRange(partition_id=partition_id, low=low, high=high, handle=handle))
            await asyncio.gather(*(partition.handle.ready.remote() for partition in ranges))
        except Exception:
            del self._tables[spec.name]
            for partition in ranges:
                ray.kill(partition.handle, no_restart=True)
            raise
        entry.partition_map = PartitionMap(
            table_name=spec.name, table_id=spec.table_id, version=1, ranges=tuple(ranges)
        )
        await self._provision(entry)
        self._start_monitor(entry)
        stream = params.get("StreamSpecification")
        if stream is not None and StreamSpecification.from_params(stream).enabled:
            await self._enable_stream(entry, StreamSpecification.from_params(stream))
        entry.status = "ACTIVE"
        self._save(entry)
        return await self._describe(entry)

    async def update_table(self, name: str, params: dict[str, Any]) -> dict[str, Any] | GridError:
        """DynamoDB's UpdateTable: the stream, the billing mode and throughput, and grid's own settings."""
        entry = self._tables.get(name)
        if entry is None or entry.status != "ACTIVE":
            return _not_found(name)
        unknown = set(params) - {
            "TableName",
            "StreamSpecification",
            "ProvisionedThroughput",
            "BillingMode",
            "GridSettings",
        }
        if unknown:
            return ValidationException(f"Unsupported UpdateTable parameters: {', '.join(sorted(unknown))}")
        try:
            if "StreamSpecification" in params:
                wanted = StreamSpecification.from_params(params["StreamSpecification"])
                current = entry.stream if entry.stream is not None and entry.stream.status == "ENABLED" else None
                if wanted.enabled and current is not None:
                    return ValidationException(f"Table already has an enabled stream: {current.arn}")
                if not wanted.enabled and current is None:
                    return ValidationException("Table does not have a stream enabled")
                if wanted.enabled:
                    async with self._split_lock:  # a merge meanwhile would not tell the new stream
                        await self._enable_stream(entry, wanted)
                elif current is not None:
                    current.status = "DISABLED"  # still readable until its records age out
            if "ProvisionedThroughput" in params or "BillingMode" in params:
                mode = params.get("BillingMode", entry.spec.billing_mode)
                default = _throughput_params(entry.spec) if mode == "PROVISIONED" else None
                mode, throughput = billing_settings(mode, params.get("ProvisionedThroughput", default))
                entry.spec = replace(entry.spec, billing_mode=mode, provisioned_throughput=throughput)
                await self._provision(entry)
            if "GridSettings" in params:
                await self._update_grid_settings(entry, params["GridSettings"])
        except GridError as error:
            return error
        finally:
            self._save(entry)  # what changed before a failure stays changed
        return await self._describe(entry)

    async def _update_grid_settings(self, entry: TableEntry, raw: Any) -> None:
        """``GridSettings`` changed online: the partition count (by splits or merges) and the policy clock."""
        if not isinstance(raw, dict) or set(raw) - {"Partitions", "TimeScale"}:
            raise ValidationException("update_table's GridSettings takes Partitions and TimeScale")
        settings = GridSettings.from_params({**entry.spec.grid_settings.describe(), **raw})
        entry.spec = replace(entry.spec, grid_settings=settings)
        if entry.monitor is not None:
            entry.monitor.time_scale = settings.time_scale
        assert entry.partition_map is not None
        entry.resizing = True  # the monitor's own splits and merges wait: they could undo these
        try:
            await self._resize(entry, settings.partitions)
        finally:
            entry.resizing = False

    async def _resize(self, entry: TableEntry, partitions: int) -> None:
        """Split the widest or merge the narrowest neighbours until the table has ``partitions``."""
        assert entry.partition_map is not None
        while len(entry.partition_map.ranges) != partitions:
            ranges = entry.partition_map.ranges
            answer: PartitionMap | GridError
            if len(ranges) < partitions:
                widest = max(ranges, key=lambda r: r.high - r.low)
                answer = await self.split_partition(entry.spec.name, widest.partition_id)
            else:
                # The narrowest neighbours merge first: the ranges stay as even as they can.
                lower, _ = min(itertools.pairwise(ranges), key=lambda pair: pair[1].high - pair[0].low)
                answer = await self.merge_partitions(entry.spec.name, lower.partition_id)
            if isinstance(answer, GridError):
                raise answer

    # -- auto scaling and metrics ----------------------------------------------------------

    def _start_monitor(self, entry: TableEntry) -> None:
        async def apply(read: int, write: int) -> None:
            entry.spec = replace(entry.spec, provisioned_throughput=(read, write))
            self._save(entry)
            await self._provision(entry)

        def provisioned() -> tuple[int, int] | None:
            return entry.spec.provisioned_throughput if entry.spec.billing_mode == "PROVISIONED" else None

        async def split(partition_id: str) -> None:
            if not entry.resizing:
                await self.split_partition(entry.spec.name, partition_id)

        async def merge(lower_id: str) -> None:
            if not entry.resizing:
                await self.merge_partitions(entry.spec.name, lower_id)

        def ranges() -> tuple[PartitionRange, ...]:
            return entry.partition_map.ranges if entry.partition_map else ()

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
            entry.spec.name,
            provisioned=provisioned,
            apply=apply,
            split=split,
            merge=merge,
            ranges=ranges,
            limits=limits,
            time_scale=entry.spec.grid_settings.time_scale,
        )
        entry.monitor.start()

    async def update_table_replica_auto_scaling(self, name: str, params: dict[str, Any]) -> dict[str, Any] | GridError:
        entry = self._tables.get(name)
        if entry is None or entry.status != "ACTIVE" or entry.monitor is None:
            return _not_found(name)
        unknown = set(params) - {
            "TableName",
            "ProvisionedReadCapacityAutoScalingUpdate",
            "ProvisionedWriteCapacityAutoScalingUpdate",
            "GlobalSecondaryIndexUpdates",
            "ReplicaUpdates",
        }
        if unknown:
            return ValidationException(
                f"Unsupported UpdateTableReplicaAutoScaling parameters: {', '.join(sorted(unknown))}"
            )
        if entry.spec.billing_mode != "PROVISIONED":
            return ValidationException("Auto scaling needs a table in PROVISIONED billing mode")
        scaling = entry.monitor.scaling
        try:
            for key, dimension in (
                ("ProvisionedReadCapacityAutoScalingUpdate", "read"),
                ("ProvisionedWriteCapacityAutoScalingUpdate", "write"),
            ):
                if key in params:
                    tracker: TargetTracker = getattr(scaling, dimension)
                    setattr(scaling, dimension, TargetTracker(tracker.settings.updated(params[key], key)))
            for index_update in params.get("GlobalSecondaryIndexUpdates") or []:
                index_name = index_update.get("IndexName") if isinstance(index_update, dict) else None
                return ResourceNotFoundException(f"The table does not have the specified index: {index_name}")
            scaling.enabled = True
        except GridError as error:
            return error
        finally:
            self._save(entry)  # what changed before a failure stays changed
        return await self.describe_table_replica_auto_scaling(name)

    async def describe_table_replica_auto_scaling(self, name: str) -> dict[str, Any] | GridError:
        entry = self._tables.get(name)
        if entry is None or entry.monitor is None:
            return _not_found(name)
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

    async def table_metrics(self, name: str, since: float | None) -> list[dict[str, Any]] | GridError:
        entry = self._tables.get(name)
        if entry is None or entry.monitor is None:
            return _not_found(name)
        return [s for s in entry.monitor.samples if since is None or s["Timestamp"] > since]

    async def _provision(self, entry: TableEntry) -> None:
        """Split the table's provisioned throughput evenly over its partitions (None: on demand)."""
        assert entry.partition_map is not None
        count = len(entry.partition_map.ranges)
        throughput = entry.spec.provisioned_throughput if entry.spec.billing_mode == "PROVISIONED" else None
        read, write = (throughput[0] / count, throughput[1] / count) if throughput else (None, None)
        await asyncio.gather(*(r.handle.provision.remote(read, write) for r in entry.partition_map.ranges))

    # -- streams ---------------------------------------------------------------------

    async def _enable_stream(self, entry: TableEntry, wanted: StreamSpecification) -> None:
        assert entry.partition_map is not None and wanted.view_type is not None
        settings = entry.spec.grid_settings
        await asyncio.gather(
            *(
                r.handle.set_retention.remote(settings.stream_retention_records, settings.stream_retention_seconds)
                for r in entry.partition_map.ranges
            )
        )
        label = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        handle = start_stream(self._namespace, table_name=entry.spec.name, table_id=entry.spec.table_id, label=label)
        await handle.start.remote([(r.partition_id, r.handle) for r in entry.partition_map.ranges])
        arn = f"{entry.spec.arn}/stream/{label}"
        entry.streams.append(TableStream(view_type=wanted.view_type, label=label, arn=arn, handle=handle))

    async def list_streams(self, table_name: str | None) -> list[dict[str, Any]]:
        return [
            {"StreamArn": stream.arn, "TableName": name, "StreamLabel": stream.label}
            for name, entry in sorted(self._tables.items())
            if table_name is None or name == table_name
            for stream in entry.streams
        ]

    async def get_stream(self, arn: str) -> dict[str, Any] | GridError:
        """What a stream client needs: the stream actor, the view type and the key schema."""
        for entry in self._tables.values():
            for stream in entry.streams:
                if stream.arn == arn:
                    return {
                        "handle": stream.handle,
                        "view_type": stream.view_type,
                        "key_schema": entry.spec.key_schema,
                        "table_name": entry.spec.name,
                        "label": stream.label,
                        "status": stream.status,
                        "arn": stream.arn,
                    }
        return ResourceNotFoundException(f"Requested resource not found: Stream: {arn} not found")

    async def delete_table(self, name: str) -> dict[str, Any] | GridError:
        held = self._held.pop(name, None)
        if held is not None:  # not served since a restart: its record and whatever partitions live go
            self._catalog.delete(name)
            stop_table_partitions(held.spec.table_id, self._namespace, grid_actor_names(self._namespace))
            return held.spec.describe(status="DELETING")
        entry = self._tables.get(name)
        if entry is None or entry.status == "DELETING":
            return _not_found(name)
        if entry.status != "ACTIVE":
            return ResourceInUseException(
                f"Attempt to change a resource which is still in use: Table is being created: {name}"
            )
        entry.status = "DELETING"
        description = await self._describe(entry)
        del self._tables[name]
        self._catalog.delete(name)  # first: a router restarted from here on must not bring the table back
        assert entry.partition_map is not None
        for partition in entry.partition_map.ranges:
            ray.kill(partition.handle, no_restart=True)
        for stream in entry.streams:
            ray.kill(stream.handle, no_restart=True)
        if entry.monitor is not None:
            entry.monitor.stop()
        return description

    async def describe_table(self, name: str) -> dict[str, Any] | GridError:
        if name in self._held:
            return _held_error(name)
        entry = self._tables.get(name)
        if entry is None:
            return _not_found(name)
        return await self._describe(entry)

    async def list_tables(self, exclusive_start: str | None = None, limit: int = 100) -> dict[str, Any]:
        names = sorted([name for name, entry in self._tables.items() if entry.status != "DELETING"] + list(self._held))
        if exclusive_start is not None:
            names = [name for name in names if name > exclusive_start]
        page = names[:limit]
        answer: dict[str, Any] = {"TableNames": page}
        if len(names) > limit:
            answer["LastEvaluatedTableName"] = page[-1]
        return answer

    async def get_table(self, name: str) -> tuple[TableSpec, PartitionMap] | GridError:
        """The spec and current partition map of an ACTIVE table, for clients to cache."""
        if name in self._held:
            return _held_error(name)
        entry = self._tables.get(name)
        if entry is None or entry.partition_map is None or entry.status != "ACTIVE":
            # Item operations say no more than this in DynamoDB (DescribeTable names the table).
            return ResourceNotFoundException("Requested resource not found")
        return entry.spec, entry.partition_map

    # -- partition maps --------------------------------------------------------------

    async def split_partition(self, name: str, partition_id: str, at: int | None = None) -> PartitionMap | GridError:
        """Split one partition at hash ``at`` (its middle by default), moving the upper half to a new actor.

        The old partition refuses the moved keys from the moment it hands them over;
        the new map is published only after the new partition holds them, so a
        client that meets the refusal retries until it sees the new map. No write is
        lost: every write lands either before the handover (and moves) or after it
        (on the new partition). If the new partition fails to take them, the old one
        takes them back.
        """
        async with self._split_lock:
            found = self._partition_of(name, partition_id)
            if isinstance(found, GridError):
                return found
            entry, current, source = found
            at = (source.low + source.high) // 2 if at is None else at
            if not source.low < at < source.high:
                return ValidationException("split point outside the partition's range")
            version = current.version + 1
            new_id = f"p{len(current.ranges)}-{uuid.uuid4().hex[:8]}"
            handle = self._start_partition(
                entry.spec, new_id, at, source.high, map_version=version, awaiting_items=True
            )
            try:
                await handle.ready.remote()
                moved, closed_shard = await _when_unlocked(lambda: source.handle.split_off.remote(at, version))
            except Exception:
                ray.kill(handle, no_restart=True)  # nothing moved yet
                raise
            try:
                await handle.ingest.remote(moved, closed_shard)
            except Exception:
                # The new partition did not take the items: the source, which kept them, owns them again.
                try:
                    await source.handle.undo_hand_over.remote(current.version)
                finally:
                    ray.kill(handle, no_restart=True)
                raise
            entry.partition_map = current.with_split(partition_id, at, new_id, handle)
            # Until now, a restarted router would undo the split. A source that died since
            # has nothing left to release: the new map is out either way.
            await asyncio.gather(source.handle.release_hand_over.remote(), return_exceptions=True)
            await self._provision(entry)  # each partition's share of the throughput changed
            return entry.partition_map

    async def merge_partitions(self, name: str, lower_id: str) -> PartitionMap | GridError:
        """Merge partition ``lower_id`` with its upper neighbour, which retires.

        The upper one hands over every item and refuses every key from then on; the
        lower one takes them and the range, and its next stream shard names both
        closed shards as parents. The new map is published after that, so a client
        refused by the retired partition retries until it sees the new map (if the
        lower one fails to take the items, the upper one takes them back). The
        retired partition's log moves into each stream actor, and the partition
        stops a little later, once calls already on their way have been answered.
        """
        async with self._split_lock:
            found = self._partition_of(name, lower_id)
            if isinstance(found, GridError):
                return found
            entry, current, lower = found
            upper = current.upper_neighbour(lower_id)
            if upper is None:
                return ValidationException(f"Partition {lower_id} is the last on the ring: nothing to merge it with")
            version = current.version + 1
            moved, closed_shard = await _when_unlocked(lambda: upper.handle.retire.remote(version))
            # Streams take the retired log (and learn its closed shard) before the merged
            # shard exists, so no reader can get to the merged shard before it.
            retention = entry.spec.grid_settings.stream_retention_seconds
            await asyncio.gather(
                *(
                    stream.handle.retire_partition.remote(upper.partition_id, upper.handle, retention)
                    for stream in entry.streams
                ),
                return_exceptions=True,  # a stream actor that is gone needs no archive
            )
            try:
                await lower.handle.absorb_upper.remote(moved, upper.high, version, closed_shard)
            except Exception:
                # The lower partition did not take the items: the upper one, which kept them, owns them again.
                await upper.handle.undo_hand_over.remote(current.version)
                await asyncio.gather(
                    *(s.handle.restore_partition.remote(upper.partition_id, upper.handle) for s in entry.streams),
                    return_exceptions=True,
                )
                raise
            entry.partition_map = current.with_merge(lower_id)
            await self._provision(entry)
            self._stop_later(upper.handle)
            return entry.partition_map

    def _partition_of(
        self, name: str, partition_id: str
    ) -> tuple[TableEntry, PartitionMap, PartitionRange] | GridError:
        """An active table's entry, its current map and the range of ``partition_id`` in it."""
        entry = self._tables.get(name)
        if entry is None or entry.partition_map is None or entry.status != "ACTIVE":
            return _not_found(name)
        current = entry.partition_map
        partition = next((r for r in current.ranges if r.partition_id == partition_id), None)
        if partition is None:
            return ValidationException(f"No partition {partition_id} in table {name}")
        return entry, current, partition

    def _stop_later(self, handle: Any) -> None:
        async def stop() -> None:
            await asyncio.sleep(RETIRED_PARTITION_GRACE_SECONDS)
            ray.kill(handle, no_restart=True)

        self._keep_in_background(stop())

    # -- the catalog's record, and recovery ------------------------------------------

    def _save(self, entry: TableEntry) -> None:
        """Write ``entry``'s record (a short blocking call to the store: catalog changes are rare)."""
        if self._tables.get(entry.spec.name) is not entry:
            return  # deleted meanwhile (an update or auto scaling step finishing late): no record
        scaling = entry.monitor.scaling if entry.monitor is not None else Scaling()
        record = TableRecord(
            spec=entry.spec,
            streams=tuple(replace(stream, handle=None) for stream in entry.streams),
            read_scaling=scaling.read.settings,
            write_scaling=scaling.write.settings,
            auto_scaling_enabled=scaling.enabled,
        )
        self._catalog.save(record)

    async def _recover(self) -> None:
        """Serve the tables a dead router served: records from the store, maps from the partitions.

        A table whose live partitions do not own the whole ring (one is unreachable or
        died) is held: it keeps its name (``create_table`` refuses it, calls on it get a
        retryable ``InternalServerError``, ``delete_table`` drops it) and recovery is
        tried again in the background. Partitions of
        tables without a record (a create or delete cut short) are stopped.
        """
        records = self._catalog.load()
        names = grid_actor_names(self._namespace)
        await asyncio.gather(*(self._recover_table(record, names) for record in records))
        stop_unrecorded_partitions(records, self._namespace, names)
        if records:
            log.warning("router restarted: serving %d table(s) again, %d held", len(self._tables), len(self._held))
        if self._held:
            self._keep_in_background(self._recover_held())

    async def _recover_table(self, record: TableRecord, actor_names: list[str]) -> None:
        try:
            recovered = await recover_table(record, self._namespace, actor_names)
        except Exception:  # one table's trouble must not keep the router from serving the others
            log.exception("table %s not recovered", record.spec.name)
            recovered = None
        if recovered is None:
            self._held[record.spec.name] = record
            return
        self._held.pop(record.spec.name, None)
        entry = TableEntry(
            spec=record.spec, status="ACTIVE", partition_map=recovered.partition_map, streams=recovered.streams
        )
        self._tables[record.spec.name] = entry
        self._start_monitor(entry)
        assert entry.monitor is not None
        entry.monitor.scaling = Scaling(
            read=TargetTracker(record.read_scaling),
            write=TargetTracker(record.write_scaling),
            enabled=record.auto_scaling_enabled,
        )
        await self._provision(entry)  # a split recovery finished has a partition without its share

    async def _recover_held(self) -> None:
        while self._held:
            await asyncio.sleep(HELD_TABLE_RETRY_SECONDS)
            names = grid_actor_names(self._namespace)
            await asyncio.gather(*(self._recover_table(record, names) for record in list(self._held.values())))

    def _keep_in_background(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- helpers ---------------------------------------------------------------------

    def _start_partition(
        self, spec: TableSpec, partition_id: str, low: int, high: int, *, map_version: int, awaiting_items: bool = False
    ) -> Any:
        return start_partition(
            self._namespace,
            table_id=spec.table_id,
            partition_id=partition_id,
            num_cpus=spec.grid_settings.partition_cpus,
            table_name=spec.name,
            key_schema=spec.key_schema,
            low=low,
            high=high,
            map_version=map_version,
            grid_namespace=self._namespace,
            awaiting_items=awaiting_items,
        )

    async def _describe(self, entry: TableEntry) -> dict[str, Any]:
        items = size = 0
        partitions = entry.spec.grid_settings.partitions
        if entry.partition_map is not None:
            partitions = len(entry.partition_map.ranges)
            answers = await asyncio.gather(
                *(r.handle.stats.remote() for r in entry.partition_map.ranges), return_exceptions=True
            )
            stats = [answer for answer in answers if isinstance(answer, dict)]  # a dead partition counts nothing
            items = sum(s["item_count"] for s in stats)
            size = sum(s["size_bytes"] for s in stats)
        description = entry.spec.describe(status=entry.status, item_count=items, size_bytes=size, partitions=partitions)
        stream = entry.stream
        if stream is not None:
            enabled = stream.status == "ENABLED"
            description["StreamSpecification"] = StreamSpecification(
                enabled=enabled, view_type=stream.view_type if enabled else None
            ).describe()
            description["LatestStreamArn"] = stream.arn
            description["LatestStreamLabel"] = stream.label
        return description


async def _when_unlocked(hand_over: Callable[[], Any]) -> tuple[list[tuple[bytes, bytes]], str]:
    """A partition's hand-over of a range (split or merge), waiting out transactions that hold items there."""
    from ray.exceptions import RayTaskError

    for _ in range(600):
        try:
            answer: tuple[list[tuple[bytes, bytes]], str] = await hand_over()
            return answer
        except RayTaskError as error:
            if not isinstance(error.cause, TransactionInProgressException):
                raise
        await asyncio.sleep(0.05)
    raise TransactionInProgressException("Transactions kept the range to hand over locked")


def _throughput_params(spec: TableSpec) -> dict[str, int] | None:
    if spec.provisioned_throughput is None:
        return None
    read, write = spec.provisioned_throughput
    return {"ReadCapacityUnits": read, "WriteCapacityUnits": write}


def _held_error(name: str) -> InternalServerError:
    return InternalServerError(
        f"Table {name} is not served since the router restarted: one of its partitions is unreachable; "
        "recovery is tried again every few seconds"
    )


def _not_found(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")

"""How a restarted router serves a table again: ask its live partitions, carry out the plan.

The plan itself (which move to finish, which to undo) is ``actors.catalog.recovery_plan``;
this module makes the actor calls around it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import ray

from actors.catalog import PartitionReport, TableRecord, TableStream, recovery_plan
from grid._naming import partition_actor_prefix, stream_actor_name
from grid._partition_map import PartitionMap, PartitionRange

__all__ = [
    "RecoveredTable",
    "grid_actor_names",
    "recover_table",
    "stop_table_partitions",
    "stop_unrecorded_partitions",
]

log = logging.getLogger("grid.router")

RECOVERY_CALL_SECONDS = 10.0  # a partition that does not answer a restarted router by then is taken as dead


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveredTable:
    partition_map: PartitionMap
    streams: list[TableStream]


def grid_actor_names(namespace: str) -> list[str]:
    """The names of the named actors in ``namespace`` (partitions, streams, ledgers, the router)."""
    return [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["namespace"] == namespace]


async def recover_table(record: TableRecord, namespace: str, actor_names: Sequence[str]) -> RecoveredTable | None:
    """The table of ``record`` made whole (a split or merge cut short finished or undone); None if it cannot be.

    It cannot be when a partition died: then its live partitions do not own the whole
    ring between them. The log says which partitions were found.
    """
    spec = record.spec
    prefix = partition_actor_prefix(spec.table_id)
    handles = [ray.get_actor(name, namespace=namespace) for name in actor_names if name.startswith(prefix)]
    answers = await asyncio.gather(
        *(asyncio.wait_for(handle.stats.remote(), RECOVERY_CALL_SECONDS) for handle in handles),
        return_exceptions=True,
    )
    reports: list[PartitionReport] = []
    for handle, answer in zip(handles, answers, strict=True):
        if isinstance(answer, dict):  # else dead or unreachable: it owns nothing now
            reports.append(
                PartitionReport(
                    partition_id=answer["partition_id"],
                    low=answer["low"],
                    high=answer["high"],
                    map_version=answer["map_version"],
                    handle=handle,
                    awaiting_items=answer["awaiting_items"],
                    hand_over=answer["hand_over"],
                )
            )
    plan = recovery_plan(reports)
    if plan is None:
        log.error(
            "table %s not recovered: its live partitions do not own the whole hash ring between them: %s",
            spec.name,
            [(r.partition_id, r.low, r.high) for r in reports],
        )
        return None
    streams = _found_streams(record, namespace)
    for report in plan.undo:
        await report.handle.undo_hand_over.remote(plan.version)
        if report.high <= report.low:  # a merge's retired partition: the streams read it again
            await asyncio.gather(
                *(s.handle.restore_partition.remote(report.partition_id, report.handle) for s in streams),
                return_exceptions=True,
            )
    await asyncio.gather(*(report.handle.release_hand_over.remote() for report in plan.release))
    for report in plan.stop:
        ray.kill(report.handle, no_restart=True)
    ranges = tuple(
        PartitionRange(partition_id=r.partition_id, low=r.low, high=r.high, handle=r.handle) for r in plan.ranges
    )
    partition_map = PartitionMap(table_name=spec.name, table_id=spec.table_id, version=plan.version, ranges=ranges)
    return RecoveredTable(partition_map=partition_map, streams=streams)


def stop_unrecorded_partitions(records: Sequence[TableRecord], namespace: str, actor_names: Sequence[str]) -> None:
    """Stop the partitions of tables without a record: a create or delete the router's death cut short."""
    known = tuple(partition_actor_prefix(record.spec.table_id) for record in records)
    _stop(namespace, [n for n in actor_names if n.startswith(partition_actor_prefix()) and not n.startswith(known)])


def stop_table_partitions(table_id: str, namespace: str, actor_names: Sequence[str]) -> None:
    """Stop whatever partitions of one table still live (a held table being deleted)."""
    _stop(namespace, [name for name in actor_names if name.startswith(partition_actor_prefix(table_id))])


def _stop(namespace: str, actor_names: Sequence[str]) -> None:
    for name in actor_names:
        try:
            ray.kill(ray.get_actor(name, namespace=namespace), no_restart=True)
        except ValueError:
            continue  # gone already


def _found_streams(record: TableRecord, namespace: str) -> list[TableStream]:
    """The record's streams whose actors are alive, with their handles."""
    streams = []
    for stream in record.streams:
        try:
            handle = ray.get_actor(stream_actor_name(record.spec.table_id, stream.label), namespace=namespace)
        except ValueError:
            log.error("table %s: stream %s lost its actor; not recovered", record.spec.name, stream.arn)
            continue
        streams.append(replace(stream, handle=handle))
    return streams

"""How a restarted router serves a table again: ask its live partitions, plan, carry out the plan.

``recovery_plan`` decides from what the partitions report (pure, unit-tested without
actors): which split or merge the router's death cut short, whether to finish or undo
it, and the map to serve. ``recover_table`` makes the calls around it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from actors.catalog_store import TableRecord, TableStream
from actors.system import ActorSystem, LivePartitions
from grid._groups import ReplicaGroup
from grid._keys import HASH_SPACE
from grid._partition_map import PartitionMap, PartitionRange
from grid._services import PartitionService, PartitionStats

__all__ = [
    "PartitionReport",
    "RecoveredTable",
    "RecoveryPlan",
    "recover_table",
    "recovery_plan",
    "stop_unrecorded_partitions",
]

log = logging.getLogger("grid.router")

# A partition whose group finds no leader by then is taken as lost (a group elects one in well under a second).
RECOVERY_CALL_SECONDS = 12.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionReport:
    """What a live partition says of itself to a restarted router."""

    partition_id: str
    low: int
    high: int  # equal to ``low`` once retired by a merge
    map_version: int
    partition: Any = None  # its PartitionService
    awaiting_items: bool = False  # a split's new partition that has not received its items
    hand_over: tuple[int, int] | None = None  # kept items of its last move: the (high, map version) to undo to


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryPlan:
    """How a restarted router makes one table's partitions whole again, and the map it then serves."""

    ranges: list[PartitionReport]  # in hash order, tiling the ring; an undone move's partition with its old range
    version: int  # above every version a partition may have told a client about
    undo: list[PartitionReport]  # moves cut short: these partitions take their items back
    release: list[PartitionReport]  # moves that finished: these partitions forget the items they kept
    stop: list[PartitionReport]  # split partitions never given items, and retired partitions


def recovery_plan(reports: Sequence[PartitionReport]) -> RecoveryPlan | None:
    """The plan for a table whose router died, from what its live partitions report; None if there is none.

    A split or merge cut short by the router's death is finished if the receiver took
    the items (the ranges tile the ring), else undone: the partition that handed them
    over kept them, and owns them again. A move is undone only when its receiver is
    alive and provably never took the items (a split's new partition still awaiting
    them; a merge's lower neighbour whose range still ends where the retired one's
    began), so a kept hand-over can never roll back writes a receiver acknowledged.
    A split's new partition that never got its items is stopped either way. If no
    such reading tiles the ring (a partition died), the table cannot be served.
    """
    if not reports:
        return None
    version = max(max(r.map_version, r.hand_over[1] if r.hand_over else 0) for r in reports)
    orphans = [r for r in reports if r.awaiting_items]
    settled = [r for r in reports if not r.awaiting_items]
    owning = _in_hash_order(settled)
    if _tiles(owning):
        retired = [r for r in settled if r.high <= r.low]
        release = [r for r in owning if r.hand_over is not None]
        return RecoveryPlan(ranges=owning, version=version, undo=[], release=release, stop=orphans + retired)
    undo = [r for r in settled if r.hand_over is not None and _never_received(r, reports)]
    restored = [
        replace(r, high=r.hand_over[0], map_version=r.hand_over[1], hand_over=None) if r.hand_over else r
        for r in settled
    ]
    owning = _in_hash_order(restored)
    if not undo or not _tiles(owning):
        return None
    retired = [r for r in restored if r.high <= r.low]
    return RecoveryPlan(ranges=owning, version=version, undo=undo, release=[], stop=orphans + retired)


def _never_received(giver: PartitionReport, reports: Sequence[PartitionReport]) -> bool:
    """Whether the receiver of ``giver``'s kept hand-over is alive and did not take the items."""
    if giver.high <= giver.low:  # retired by a merge: the lower neighbour has not grown over it
        return any(r.low < giver.low == r.high for r in reports)
    return any(r.awaiting_items and r.low == giver.high for r in reports)  # a split's new partition


def _in_hash_order(reports: Iterable[PartitionReport]) -> list[PartitionReport]:
    return sorted((r for r in reports if r.high > r.low), key=lambda r: r.low)


def _tiles(ranges: Sequence[PartitionReport]) -> bool:
    expected = 0
    for report in ranges:
        if report.low != expected:
            return False
        expected = report.high
    return expected == HASH_SPACE and bool(ranges)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveredTable:
    partition_map: PartitionMap
    streams: list[TableStream]


def _report(stats: PartitionStats, partition: PartitionService) -> PartitionReport:
    return PartitionReport(
        partition_id=stats.partition_id,
        low=stats.low,
        high=stats.high,
        map_version=stats.map_version,
        partition=partition,
        awaiting_items=stats.awaiting_items,
        hand_over=stats.hand_over,
    )


async def recover_table(
    record: TableRecord, system: ActorSystem, replicas: dict[str, list[tuple[str, Any]]], epoch: int
) -> RecoveredTable | None:
    """The table of ``record`` made whole (a split or merge cut short finished or undone); None if it cannot be.

    ``replicas`` are the table's live partition replicas, by partition. Each partition
    answers through its group's leader. The table cannot be made whole when a
    partition is lost (no majority of its replicas lives): then the live partitions do
    not own the whole ring between them. The log says which partitions were found.

    Each partition is fenced with the router's ``epoch`` first: a move the dead router
    sent that lands later is refused, so what the partitions report stays true.
    """
    spec = record.spec
    partitions: list[PartitionService] = [ReplicaGroup(members) for members in replicas.values()]
    await asyncio.gather(
        *(asyncio.wait_for(partition.fence(epoch), RECOVERY_CALL_SECONDS) for partition in partitions),
        return_exceptions=True,  # a partition that cannot be fenced is dead or unreachable: it answers nothing below
    )
    answers = await asyncio.gather(
        *(asyncio.wait_for(partition.stats(), RECOVERY_CALL_SECONDS) for partition in partitions),
        return_exceptions=True,
    )
    reports = [
        _report(answer, partition)
        for partition, answer in zip(partitions, answers, strict=True)
        if isinstance(answer, PartitionStats)  # else dead or unreachable: it owns nothing now
    ]
    plan = recovery_plan(reports)
    if plan is None:
        log.error(
            "table %s not recovered: its live partitions do not own the whole hash ring between them: %s",
            spec.name,
            [(r.partition_id, r.low, r.high) for r in reports],
        )
        return None
    streams = _found_streams(record, system)
    for report in plan.undo:
        await report.partition.undo_hand_over(plan.version, epoch)
        if report.high <= report.low:  # a merge's retired partition: the streams read it again
            await asyncio.gather(
                *(s.service.restore_partition(report.partition_id, report.partition) for s in streams),
                return_exceptions=True,
            )
    await asyncio.gather(*(report.partition.release_hand_over(epoch) for report in plan.release))
    for report in plan.stop:
        system.stop(report.partition)
    ranges = tuple(
        PartitionRange(partition_id=r.partition_id, low=r.low, high=r.high, handle=r.partition) for r in plan.ranges
    )
    partition_map = PartitionMap(table_name=spec.name, table_id=spec.table_id, version=plan.version, ranges=ranges)
    return RecoveredTable(partition_map=partition_map, streams=streams)


def stop_unrecorded_partitions(records: Sequence[TableRecord], system: ActorSystem, live: LivePartitions) -> None:
    """Stop the partitions of tables without a record: a create or delete the router's death cut short."""
    known = {record.spec.table_id for record in records}
    for table_id, partitions in live.items():
        if table_id not in known:
            for members in partitions.values():
                for _, replica in members:
                    system.stop(replica)


def _found_streams(record: TableRecord, system: ActorSystem) -> list[TableStream]:
    """The record's streams whose actors are alive, with their services."""
    streams = []
    for stream in record.streams:
        service = system.find_stream(record.spec.table_id, stream.label)
        if service is None:
            log.error("table %s: stream %s lost its actor; not recovered", record.spec.name, stream.arn)
            continue
        streams.append(replace(stream, service=service))
    return streams

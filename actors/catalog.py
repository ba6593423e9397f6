"""The router's catalog, kept where a restarted router finds it again.

The router holds its tables in memory for speed, and writes each table's record
(its spec, its streams, its auto scaling settings) to a key-value store on every
change. Ray restarts a router that dies; the new one reads the records back and
asks the partitions, which outlive it, which hash ranges they own: partition maps
are never stored, since the partitions themselves are their truth.

The store on a cluster is Ray's GCS key-value store (the store Ray Serve's
controller recovers from); ``MemoryKeyValue`` stands in for it in unit tests.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from grid._autoscaling import ScalingSettings
from grid._keys import HASH_SPACE
from grid._schema import TableSpec

__all__ = [
    "CatalogStore",
    "MemoryKeyValue",
    "PartitionReport",
    "RayKeyValue",
    "RecoveryPlan",
    "TableRecord",
    "TableStream",
    "recovery_plan",
]

log = logging.getLogger("grid.router")


@dataclass(slots=True, kw_only=True)
class TableStream:
    """One stream of a table: how DynamoDB Streams names it, and its stream actor.

    Records keep it without the handle: a restarted router finds the actor by name.
    """

    view_type: str
    label: str
    arn: str
    handle: Any = None
    status: str = "ENABLED"


@dataclass(frozen=True, slots=True, kw_only=True)
class TableRecord:
    """What a restarted router needs to serve a table again, besides its partitions."""

    spec: TableSpec
    streams: tuple[TableStream, ...] = ()  # without their handles
    read_scaling: ScalingSettings = ScalingSettings()
    write_scaling: ScalingSettings = ScalingSettings()
    auto_scaling_enabled: bool = False


class KeyValue(Protocol):
    def put(self, key: bytes, value: bytes) -> None: ...
    def delete(self, key: bytes) -> None: ...
    def values(self, prefix: bytes) -> list[bytes]: ...


class RayKeyValue:
    """Ray's GCS key-value store: grid's keys, under a prefix of their own per grid namespace."""

    # Ray's store namespace must hold no ":" (Ray splits listed keys at the first one),
    # so the grid namespace, which may, goes hex-encoded into the keys instead.
    STORE_NAMESPACE = "grid"

    def __init__(self, grid_namespace: str) -> None:
        self._prefix = grid_namespace.encode("utf-8").hex().encode("ascii") + b"/"

    def put(self, key: bytes, value: bytes) -> None:
        from ray.experimental import internal_kv

        internal_kv._internal_kv_put(self._prefix + key, value, overwrite=True, namespace=self.STORE_NAMESPACE)

    def delete(self, key: bytes) -> None:
        from ray.experimental import internal_kv

        internal_kv._internal_kv_del(self._prefix + key, namespace=self.STORE_NAMESPACE)

    def values(self, prefix: bytes) -> list[bytes]:
        from ray.experimental import internal_kv

        keys = internal_kv._internal_kv_list(self._prefix + prefix, namespace=self.STORE_NAMESPACE)
        found = (internal_kv._internal_kv_get(key, namespace=self.STORE_NAMESPACE) for key in keys)
        return [value for value in found if value is not None]


class MemoryKeyValue:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def put(self, key: bytes, value: bytes) -> None:
        self.data[key] = value

    def delete(self, key: bytes) -> None:
        self.data.pop(key, None)

    def values(self, prefix: bytes) -> list[bytes]:
        return [value for key, value in sorted(self.data.items()) if key.startswith(prefix)]


_TABLE_PREFIX = b"table/"


class CatalogStore:
    """The table records of one grid: written on every catalog change, read by a restarted router."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    def save(self, record: TableRecord) -> None:
        self._kv.put(_TABLE_PREFIX + record.spec.name.encode("utf-8"), pickle.dumps(record, protocol=5))

    def delete(self, table_name: str) -> None:
        self._kv.delete(_TABLE_PREFIX + table_name.encode("utf-8"))

    def load(self) -> list[TableRecord]:
        """Every record that reads back (one that does not is logged and skipped)."""
        records = []
        for value in self._kv.values(_TABLE_PREFIX):
            try:
                records.append(pickle.loads(value))
            except Exception:  # noqa: BLE001 - a record written by an incompatible grid
                log.exception("a catalog record does not read back; skipped")
        return records


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionReport:
    """What a live partition says of itself to a restarted router."""

    partition_id: str
    low: int
    high: int  # equal to ``low`` once retired by a merge
    map_version: int
    handle: Any = None
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

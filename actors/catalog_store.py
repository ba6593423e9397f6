"""The router's records, kept where a restarted router finds them again.

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
from dataclasses import dataclass
from typing import Any

from actors.system import KeyValue
from grid._autoscaling import ScalingSettings
from grid._schema import TableSpec

__all__ = ["CatalogStore", "MemoryKeyValue", "RayKeyValue", "TableRecord", "TableStream"]

log = logging.getLogger("grid.router")


@dataclass(slots=True, kw_only=True)
class TableStream:
    """One stream of a table: how DynamoDB Streams names it, and its stream actor.

    Records keep it without its actor: a restarted router finds the actor by name.
    """

    view_type: str
    label: str
    arn: str
    service: Any = None  # a StreamService while the router runs
    status: str = "ENABLED"


@dataclass(frozen=True, slots=True, kw_only=True)
class TableRecord:
    """What a restarted router needs to serve a table again, besides its partitions."""

    spec: TableSpec
    streams: tuple[TableStream, ...] = ()  # without their handles
    read_scaling: ScalingSettings = ScalingSettings()
    write_scaling: ScalingSettings = ScalingSettings()
    auto_scaling_enabled: bool = False


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
        return [value for _, value in self.items(prefix)]

    def items(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        from ray.experimental import internal_kv

        keys = sorted(internal_kv._internal_kv_list(self._prefix + prefix, namespace=self.STORE_NAMESPACE))
        found = ((key, internal_kv._internal_kv_get(key, namespace=self.STORE_NAMESPACE)) for key in keys)
        return [(key[len(self._prefix) :], value) for key, value in found if value is not None]


class MemoryKeyValue:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def put(self, key: bytes, value: bytes) -> None:
        self.data[key] = value

    def delete(self, key: bytes) -> None:
        self.data.pop(key, None)

    def values(self, prefix: bytes) -> list[bytes]:
        return [value for _, value in self.items(prefix)]

    def items(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        return [(key, value) for key, value in sorted(self.data.items()) if key.startswith(prefix)]


_TABLE_PREFIX = b"table/"
_EPOCH_KEY = b"router-epoch"


class CatalogStore:
    """The table records of one grid: written on every catalog change, read by a restarted router."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    def save(self, record: TableRecord) -> None:
        self._kv.put(_TABLE_PREFIX + record.spec.name.encode("utf-8"), pickle.dumps(record, protocol=5))

    def delete(self, table_name: str) -> None:
        self._kv.delete(_TABLE_PREFIX + table_name.encode("utf-8"))

    def next_epoch(self) -> int:
        """A number higher than any earlier router of this grid took (each router start takes one)."""
        taken = [int(value) for value in self._kv.values(_EPOCH_KEY)]
        epoch = max(taken, default=0) + 1
        self._kv.put(_EPOCH_KEY, str(epoch).encode("ascii"))
        return epoch

    def load(self) -> list[TableRecord]:
        """Every record that reads back (one that does not is logged and skipped)."""
        records = []
        for value in self._kv.values(_TABLE_PREFIX):
            try:
                records.append(pickle.loads(value))
            except Exception:  # noqa: BLE001 - a record written by an incompatible grid
                log.exception("a catalog record does not read back; skipped")
        return records

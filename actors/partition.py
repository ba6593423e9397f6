"""The partition actor: a thin async shell over ``PartitionStore``.

Each method calls the store without awaiting, so one operation (or one batch of
single-item operations) runs atomically on the actor's event loop. Expected errors
come back as values, not raised: Ray then ships them without wrapping, and the
client's one choke point (``grid._transport``) raises them where the caller waits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from actors.change_log import ChangeRecord, RetentionPolicy
from actors.partition_store import PartitionStore
from grid._keys import KeySchema
from grid._requests import Page, QueryRequest, ScanRequest, WriteResult, op_from_wire
from grid.errors import GridError

__all__ = ["PartitionActor"]


class PartitionActor:
    def __init__(
        self,
        *,
        table_name: str,
        partition_id: str,
        key_schema: KeySchema,
        low: int,
        high: int,
        map_version: int,
        retention: RetentionPolicy | None = None,
    ) -> None:
        self.table_name = table_name
        self.partition_id = partition_id
        self.store = PartitionStore(
            key_schema=key_schema, low=low, high=high, map_version=map_version, retention=retention
        )

    async def ready(self) -> str:
        return self.partition_id

    async def execute(self, wire_ops: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Apply a batch sent as ``ItemOp.to_wire`` tuples; write results go back as tuples too."""
        results = self.store.execute([op_from_wire(wire) for wire in wire_ops])
        return [result.to_wire() if isinstance(result, WriteResult) else result for result in results]

    async def query(self, request: QueryRequest) -> Page | GridError:
        try:
            return self.store.query(request)
        except GridError as error:
            return error

    async def scan(self, request: ScanRequest) -> Page | GridError:
        try:
            return self.store.scan(request)
        except GridError as error:
            return error

    async def split_off(self, at: int, map_version: int) -> list[tuple[bytes, bytes]]:
        return self.store.split_off(at, map_version)

    async def ingest(self, entries: list[tuple[bytes, bytes]]) -> None:
        self.store.ingest(entries)

    async def set_map_version(self, version: int) -> None:
        self.store.set_map_version(version)

    async def read_log(self, after: int = 0, limit: int | None = None) -> list[ChangeRecord]:
        return self.store.log.read(after, limit)

    async def stats(self) -> dict[str, Any]:
        import ray

        node_id = ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
        return {"partition_id": self.partition_id, "node_id": node_id, **self.store.stats()}

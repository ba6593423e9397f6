"""The local transport: a whole grid in this process, no Ray (unit tests, embedded use).

Partitions, the router, ledgers and stream actors are the same classes Ray runs,
started as plain objects on the caller's event loop (``actors.local``). Everything
but the process boundary behaves as on Ray: maps, moves, transactions, streams.

>>> async with grid.connect(transport=LocalTransport()) as g:
...     table = await g.create_table(TableName="catalog", ...)
"""

from __future__ import annotations

from actors.local import LocalActorSystem
from grid._partition_map import PartitionRange
from grid._services import LedgerService, PartitionDataPlane, RouterService, StreamInfo, StreamService

__all__ = ["LocalTransport"]


class LocalTransport:
    def __init__(self, namespace: str = "grid") -> None:
        self.namespace = namespace
        self.system = LocalActorSystem(namespace)

    async def open(self) -> RouterService:
        return await self.system.start_router()

    async def close(self) -> None:
        self.system.shutdown()

    async def restart_router(self) -> RouterService:
        """Stop the router and start a new one that recovers from its records (as Ray restarts one)."""
        return await self.system.start_router()

    def partition(self, partition: PartitionRange) -> PartitionDataPlane:
        service: PartitionDataPlane = partition.handle
        return service

    def ledger(self, index: int) -> LedgerService:
        return self.system.ledger(index)

    def stream(self, info: StreamInfo) -> StreamService:
        return info.service

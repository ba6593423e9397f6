"""The seam between grid's client and its actors: what the client needs, whatever carries it.

A ``Transport`` starts or joins a grid and hands the client typed services: the
router, a partition's data plane, a transaction ledger, a stream actor. Each call on
them returns its answer or raises a ``GridError``; a dead or unreachable actor is a
``PartitionUnavailableError``, which the dispatcher's retry policy understands.

Two transports exist: ``grid._ray_transport.RayTransport`` (Ray actors, the default)
and ``grid._local_transport.LocalTransport`` (every actor a plain object in this
process: unit tests, and a grid without Ray). Only those two modules of the client
import Ray or ``actors``.
"""

from __future__ import annotations

from typing import Protocol

from grid._partition_map import PartitionRange
from grid._services import LedgerService, PartitionDataPlane, RouterService, StreamInfo, StreamService

__all__ = ["Transport"]


class Transport(Protocol):
    namespace: str

    async def open(self) -> RouterService:
        """Start or join the grid; the namespace's router, started if this is its first client."""
        ...

    async def close(self) -> None:
        """Release what this transport holds, and stop what it started (an embedded Ray)."""
        ...

    def partition(self, partition: PartitionRange) -> PartitionDataPlane:
        """The data plane of the partition a map's range names."""
        ...

    def ledger(self, index: int) -> LedgerService:
        """Transaction ledger ``index``, started by whoever needs it first."""
        ...

    def stream(self, info: StreamInfo) -> StreamService: ...

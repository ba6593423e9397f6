"""The Ray transport: grid's actors are detached, named Ray actors; calls are Ray actor calls.

``open`` starts an embedded local Ray whose sockets listen on 127.0.0.1 only, or joins
a cluster; ``close`` stops an embedded Ray this transport started (the tables die
with it, as they would with the process). Calls go through typed proxies
(``actors.proxies``) and ``actors.calls``, the one place that knows Ray's errors.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from grid._partition_map import PartitionRange
from grid._services import LedgerService, PartitionDataPlane, RouterService, StreamInfo, StreamService

__all__ = ["RayTransport"]

log = logging.getLogger("grid")

LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
WORKER_NICENESS_ENV = "RAY_worker_niceness"


def import_ray() -> Any:
    # Ray reads this variable once, when it is first imported: with "0", every Ray
    # socket of an embedded instance listens on 127.0.0.1 only.
    if "ray" not in sys.modules:
        os.environ.setdefault(LOOPBACK_ENV, "0")
    import ray

    return ray


class RayTransport:
    """Starts or joins Ray and reaches the namespace's actors through it."""

    def __init__(self, address: str | None, namespace: str, ray_init_kwargs: dict[str, Any]) -> None:
        self.address = address
        self.namespace = namespace
        self._ray_init_kwargs = ray_init_kwargs
        self.started_ray = False

    async def open(self) -> RouterService:
        ray = import_ray()
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
            if self.address is None and os.environ.get(LOOPBACK_ENV) != "0":
                # Ray was imported before grid could ask for loopback sockets.
                log.warning("Ray was imported before grid; its sockets may listen beyond 127.0.0.1")
                options["_node_ip_address"] = "127.0.0.1"
            options.update(self._ray_init_kwargs)
            if self.address is None:
                # Ray runs workers at niceness 15 below their driver; grid's partitions and
                # stream actors are the service, so an embedded grid runs them at the
                # driver's priority (measured: stream lag p99 7.8 s at niceness 15, 0.12 s at 0).
                os.environ.setdefault(WORKER_NICENESS_ENV, "0")
            ray.init(address=self.address, **options)
            self.started_ray = True
        from actors.launch import get_or_start_router

        return get_or_start_router(self.namespace)

    async def close(self) -> None:
        if self.started_ray:
            import_ray().shutdown()
            self.started_ray = False

    def partition(self, partition: PartitionRange) -> PartitionDataPlane:
        service: PartitionDataPlane = partition.handle  # a RayPartition proxy
        return service

    def ledger(self, index: int) -> LedgerService:
        from actors.launch import get_or_start_ledger

        return get_or_start_ledger(self.namespace, index)

    def stream(self, info: StreamInfo) -> StreamService:
        return info.service

    @property
    def gcs_address(self) -> str:
        """The address other processes join this grid's Ray cluster at."""
        return str(import_ray().get_runtime_context().gcs_address)

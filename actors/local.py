"""Every actor of a grid as a plain object in one process: for unit tests, and a grid without Ray.

``LocalActorSystem`` starts partitions, stream actors, ledgers and the router as the
plain classes they are, on the caller's event loop. Each is called through a
``LocalActor``, which keeps Ray's contract where a test would notice the difference:
a stopped actor answers ``PartitionUnavailableError``, and an unexpected exception
becomes ``InternalServerError``. Nothing is copied between caller and actor (Ray
pickles), so callers must not mutate what they send or receive; grid's messages are
frozen dataclasses, bytes and fresh dicts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, cast

from actors.catalog_store import MemoryKeyValue
from actors.ledger import LedgerActor
from actors.partition import PartitionActor
from actors.router import Router
from actors.stream import StreamActor
from actors.system import KeyValue, LivePartitions, PartitionConfig
from grid._groups import ReplicaGroup
from grid._naming import ledger_actor_name, parse_partition_actor_name, partition_actor_name, stream_actor_name
from grid._services import LedgerService, ReplicaService, RouterService, StreamService
from grid.errors import GridError, InternalServerError, PartitionUnavailableError

__all__ = ["LocalActor", "LocalActorSystem"]

log = logging.getLogger("grid")


class LocalActor:
    """Calls one actor object as Ray would: unavailable once stopped, internal errors for bugs."""

    def __init__(self, name: str, target: Any) -> None:
        self.name = name
        self.target = target
        self.alive = True
        self._in_flight: set[asyncio.Task[Any]] = set()

    def __getattr__(self, method: str) -> Callable[..., Coroutine[Any, Any, Any]]:
        bound = getattr(self.target, method)

        async def call(*args: Any) -> Any:
            if not self.alive:
                raise PartitionUnavailableError(f"Actor unavailable: {self.name} was stopped")
            # A task of its own, so that stopping the actor fails it as Ray fails calls to a killed actor.
            running = asyncio.ensure_future(bound(*args))
            self._in_flight.add(running)
            try:
                return await running
            except asyncio.CancelledError:
                if self.alive or not running.cancelled():
                    raise  # the caller was cancelled, not the actor stopped
                raise PartitionUnavailableError(f"Actor unavailable: {self.name} was stopped") from None
            except GridError:
                raise
            except Exception:
                log.exception("internal error in %s.%s", self.name, method)
                raise InternalServerError("Internal error in a grid actor") from None
            finally:
                self._in_flight.discard(running)

        return call

    def stop(self) -> None:
        self.alive = False
        for running in list(self._in_flight):
            running.cancel()
        stop = getattr(self.target, "stop", None)
        if stop is not None:
            stop()

    def __repr__(self) -> str:
        return f"LocalActor({self.name!r})"


class LocalActorSystem:
    """The actors of one grid namespace in this process, named as Ray would name them."""

    def __init__(self, namespace: str = "grid") -> None:
        self.namespace = namespace
        self._actors: dict[str, LocalActor] = {}
        self._kv = MemoryKeyValue()  # outlives a router restarted by ``restart_router``
        self._router: LocalActor | None = None

    def _add(self, name: str, target: Any) -> LocalActor:
        actor = LocalActor(name, target)
        self._actors[name] = actor
        return actor

    def start_partition(self, config: PartitionConfig) -> ReplicaService:
        name = partition_actor_name(config.table_id, config.partition_id, config.replica_id)
        return cast(ReplicaService, self._add(name, PartitionActor(config, self)))

    def find_replica(self, table_id: str, partition_id: str, replica_id: str) -> ReplicaService | None:
        return cast(ReplicaService | None, self._actors.get(partition_actor_name(table_id, partition_id, replica_id)))

    def stop_replica(self, table_id: str, partition_id: str, replica_id: str) -> None:
        replica = self._actors.get(partition_actor_name(table_id, partition_id, replica_id))
        if replica is not None:
            self.stop(replica)

    def start_stream(self, *, table_name: str, table_id: str, label: str) -> StreamService:
        actor = StreamActor(self, table_name=table_name, table_id=table_id, label=label)
        return cast(StreamService, self._add(stream_actor_name(table_id, label), actor))

    def restart_stream(self, *, table_name: str, table_id: str, label: str) -> None:
        """The stream actor dies and starts again from its records, as Ray restarts one; handles keep working."""
        actor = self._actors[stream_actor_name(table_id, label)]
        actor.stop()
        actor.target = StreamActor(self, table_name=table_name, table_id=table_id, label=label)
        actor.alive = True

    def stop(self, actor: Any) -> None:
        if isinstance(actor, ReplicaGroup):
            for _, member in actor.members:
                self.stop(member)
        elif isinstance(actor, LocalActor):
            actor.stop()
            self._actors.pop(actor.name, None)

    def live_partitions(self) -> LivePartitions:
        found: LivePartitions = {}
        for name, actor in self._actors.items():
            if isinstance(actor.target, PartitionActor):
                table_id, partition_id, replica_id = parse_partition_actor_name(name)
                found.setdefault(table_id, {}).setdefault(partition_id, []).append((replica_id, actor))
        return found

    def find_stream(self, table_id: str, label: str) -> StreamService | None:
        return cast(StreamService | None, self._actors.get(stream_actor_name(table_id, label)))

    def ledger(self, index: int) -> LedgerService:
        name = ledger_actor_name(index)
        actor = self._actors.get(name) or self._add(name, LedgerActor(self, index))
        return cast(LedgerService, actor)

    async def start_router(self) -> RouterService:
        """The router, recovered from this system's records; a running one is replaced, as Ray restarts one.

        Callers keep the same ``RouterService``: like a Ray handle, it reaches the new router.
        """
        if self._router is not None:
            self._router.stop()
        router = Router(self)
        await router.recover()
        if self._router is None:
            self._router = LocalActor("grid-router", router)
        self._router.target, self._router.alive = router, True
        return cast(RouterService, self._router)

    def router(self) -> RouterService:
        if self._router is None or not self._router.alive:
            raise PartitionUnavailableError("The router is not running")
        return cast(RouterService, self._router)

    def key_value(self) -> KeyValue:
        return self._kv

    def node_id(self) -> str | None:
        return None

    def shutdown(self) -> None:
        """Stop every actor's background work (the grid ends with the process's event loop)."""
        if self._router is not None:
            self._router.stop()
        for actor in list(self._actors.values()):
            actor.stop()
        self._actors.clear()

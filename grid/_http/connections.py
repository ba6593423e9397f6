"""The endpoint's connections: a deadline for every phase of each, and a cap on their number.

aiohttp times out idle keep-alive connections but has no deadline for a request's
headers or body trickling in, and no limit on connections. ``EndpointSite`` adds both
without touching aiohttp's internals: it accepts connections itself (stopping at the
cap) and wraps aiohttp's protocol for each in a ``ConnectionGuard``, an ordinary
``asyncio.Protocol`` that passes everything through and keeps one timer. The
application's handlers tell the guard where a request is, through ``Connections``
(the middleware and ``Connections.enter``).
"""

from __future__ import annotations

import asyncio
import enum
import errno
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiohttp import web
from yarl import URL

__all__ = ["CONNECTIONS", "Connections", "EndpointSite", "Phase"]

log = logging.getLogger("grid.http")


class Phase(enum.Enum):
    """Where a connection is, and so which deadline it is under."""

    HEADERS = "headers"  # a request's line and headers are arriving: header_timeout
    BODY = "body"  # the handler waits for the body: body_timeout
    BUSY = "busy"  # the grid is working on the request: no deadline of the connection's
    IDLE = "idle"  # answered (the answer may still be on its way out): idle_timeout


class ConnectionGuard(asyncio.Protocol):
    """aiohttp's protocol for one connection, under a deadline for its current phase.

    It passes every event through unchanged and only watches: a new connection and the
    first byte after an answer start the header deadline; the handler marks the body's
    start and end and the answer. A deadline that passes aborts the connection, which
    also ends a handler still waiting for the body.
    """

    def __init__(self, inner: asyncio.Protocol, connections: Connections) -> None:
        self._inner = inner
        self._connections = connections
        self._transport: asyncio.Transport | None = None
        self._phase = Phase.HEADERS
        self._timer: asyncio.TimerHandle | None = None
        self._holds_slot = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._connections.guards[self._transport] = self
        self.enter(Phase.HEADERS)  # a client connects to send a request: it gets header_timeout
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._phase is Phase.IDLE:
            self.enter(Phase.HEADERS)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        if self._transport is not None:
            self._connections.guards.pop(self._transport, None)
        self.release_slot()
        self._inner.connection_lost(exc)

    def enter(self, phase: Phase) -> None:
        self._phase = phase
        self._cancel_timer()
        seconds = self._connections.deadline(phase)
        if seconds is not None and self._transport is not None:
            self._timer = asyncio.get_running_loop().call_later(seconds, self._expire)

    def release_slot(self) -> None:
        if self._holds_slot:
            self._holds_slot = False
            self._connections.slots.release()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        log.debug("closing a connection: its %s deadline passed", self._phase.value)
        if self._transport is not None:
            self._transport.abort()  # not close(): that would wait for a reader that does not read


class Connections:
    """An application's live connections: their guards, their deadlines and the cap on them."""

    def __init__(
        self, *, header_timeout: float, body_timeout: float, idle_timeout: float, max_connections: int
    ) -> None:
        self._deadlines = {Phase.HEADERS: header_timeout, Phase.BODY: body_timeout, Phase.IDLE: idle_timeout}
        self.guards: dict[asyncio.BaseTransport, ConnectionGuard] = {}
        self.slots = asyncio.Semaphore(max_connections)

    def deadline(self, phase: Phase) -> float | None:
        return self._deadlines.get(phase)

    def enter(self, request: web.BaseRequest, phase: Phase) -> None:
        """Move ``request``'s connection to ``phase`` (nothing if no guard watches it)."""
        transport = request.transport
        guard = self.guards.get(transport) if transport is not None else None
        if guard is not None:
            guard.enter(phase)

    @property
    def middleware(self) -> Any:
        """aiohttp middleware: a handler's start, and its end, move its connection's phase."""

        @web.middleware
        async def track(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
            self.enter(request, Phase.BODY if request.body_exists else Phase.BUSY)
            try:
                return await handler(request)
            finally:
                self.enter(request, Phase.IDLE)

        return track

    async def accept_forever(self, listener: socket.socket, server: web.Server) -> None:
        """Accept connections on ``listener`` while there is a free slot.

        At the cap this stops calling accept(): further clients wait in the kernel's
        listen queue, costing this process nothing, and are served as connections close
        (their own deadlines see to that). Refusing them instead would cost an accept
        and a close each and make clients retry in a loop.
        """
        loop = asyncio.get_running_loop()
        while True:
            await self.slots.acquire()
            try:
                connection, _ = await loop.sock_accept(listener)
            except OSError as error:
                self.slots.release()
                if error.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.warning("cannot accept connections: %s", error.strerror)
                    await asyncio.sleep(0.5)  # let connections close before trying again
                continue
            except BaseException:
                self.slots.release()
                raise
            guard: ConnectionGuard | None = None

            def protect() -> ConnectionGuard:
                nonlocal guard
                guard = ConnectionGuard(server(), self)
                return guard

            try:
                connection.setblocking(False)
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                await loop.connect_accepted_socket(protect, connection)
            except OSError:  # the client left already
                connection.close()
                if guard is None:
                    self.slots.release()
                else:
                    guard.release_slot()


CONNECTIONS = web.AppKey("grid_connections", Connections)


class EndpointSite(web.BaseSite):
    """A TCP site for an application whose ``CONNECTIONS`` it enforces (``make_app``'s).

    It accepts connections itself, at most ``max_connections`` at a time, and runs each
    under a ``ConnectionGuard``; ``runner.cleanup()`` stops it like any site. ``host``
    may name several addresses (``localhost``): it listens on each.

    Example::

        runner = web.AppRunner(make_app(client, settings), access_log=None)
        await runner.setup()
        await EndpointSite(runner, "127.0.0.1", 8000).start()
    """

    def __init__(
        self, runner: web.AppRunner, host: str, port: int, *, reuse_port: bool = False, backlog: int = 1024
    ) -> None:
        super().__init__(runner, backlog=backlog)
        if CONNECTIONS not in runner.app:
            raise ValueError("EndpointSite serves an application made by make_app")
        self._app_runner = runner  # BaseSite keeps its own private
        self._host, self._port, self._reuse_port, self._listen_backlog = host, port, reuse_port, backlog
        self._listeners: list[socket.socket] = []
        self._accepting: list[asyncio.Task[None]] = []

    @property
    def name(self) -> str:
        return str(URL.build(scheme="http", host=self._host, port=self.port))

    @property
    def port(self) -> int:
        return int(self._listeners[0].getsockname()[1]) if self._listeners else self._port

    async def start(self) -> None:
        await super().start()
        server = self._app_runner.server
        assert server is not None, "the runner is set up before its sites start"
        connections = self._app_runner.app[CONNECTIONS]
        loop = asyncio.get_running_loop()
        found = await loop.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, address in dict.fromkeys((info[0], info[4]) for info in found):
            listener = socket.create_server(
                address, family=family, backlog=self._listen_backlog, reuse_port=self._reuse_port
            )
            listener.setblocking(False)
            self._listeners.append(listener)
        self._accepting = [loop.create_task(connections.accept_forever(each, server)) for each in self._listeners]

    async def stop(self) -> None:
        for task in self._accepting:
            task.cancel()
        await asyncio.gather(*self._accepting, return_exceptions=True)
        for listener in self._listeners:
            listener.close()
        await super().stop()

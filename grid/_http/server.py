"""grid's DynamoDB-compatible HTTP endpoint: DynamoDB's JSON 1.0 protocol over aiohttp.

``POST /`` with ``X-Amz-Target: DynamoDB_20120810.<Operation>`` (DynamoDB's operations)
or ``DynamoDBStreams_20120810.<Operation>`` (the four streams operations) runs the
operation through the same ``Grid`` client the Python API uses, with its per-partition
coalescing, so many concurrent HTTP requests share actor calls. Every answer is
DynamoDB's: JSON bodies in DynamoDB JSON, an ``x-amz-crc32`` header, errors as HTTP
400 with ``__type`` and ``message`` (5xx only for a real internal failure, with a fixed
message: the detail goes to the server's log). ``GET /health`` is for probes.

Requests are authenticated with AWS Signature Version 4 against the server's keys,
unless the server runs in development mode (any key), which it refuses beyond
loopback.

Served through ``EndpointSite``, every connection lives under deadlines (headers, body,
keep-alive idle) and the number of connections is capped (``grid._http.connections``);
every request body is bounded, compressed or not (``grid._http.bodies``); requests
that take long to prepare run on a second client on its own thread (``HeavyLane``),
so they do not hold up the others.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import threading
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from aiohttp import web

from grid._client import Grid
from grid._http.bodies import LARGE_BODY_BYTES, MemoryReleaser, decode_body, read_body
from grid._http.connections import CONNECTIONS, Connections, EndpointSite, Phase
from grid._http.legacy import convert_legacy
from grid._http.shapes import decode_request, encode_error_item, encode_response
from grid._http.sigv4 import verify
from grid._operations import STREAMS_OPERATIONS
from grid.errors import (
    GridError,
    InternalServerError,
    RequestEntityTooLarge,
    SerializationException,
    TransactionCanceledException,
    UnknownOperationException,
    ValidationException,
)

__all__ = ["EndpointSettings", "EndpointSite", "make_app"]

log = logging.getLogger("grid.http")

MAX_BODY_BYTES = 16 * 1024 * 1024
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
DYNAMODB_TARGET = "DynamoDB_20120810."
STREAMS_TARGET = "DynamoDBStreams_20120810."
# What a 5xx says: its cause (a Ray error, a bug's exception) is logged, never sent.
SERVER_FAULT_MESSAGES = {500: "Internal server error", 503: "Service unavailable"}

Operation = Callable[[Grid, dict[str, Any]], Awaitable[dict[str, Any]]]
_T = TypeVar("_T")


def _table_call(method: str) -> Operation:
    async def run(grid: Grid, params: dict[str, Any]) -> dict[str, Any]:
        name = params.pop("TableName", None)
        if not isinstance(name, str):
            raise ValidationException(
                "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null"
            )
        result: dict[str, Any] = await getattr(grid.Table(name), method)(**params)
        return result

    return run


def _grid_call(method: str) -> Operation:
    async def run(grid: Grid, params: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await getattr(grid, method)(**params)
        return result

    return run


async def _create_table(grid: Grid, params: dict[str, Any]) -> dict[str, Any]:
    await grid.create_table(**params)
    description = await grid.describe_table(TableName=params["TableName"])
    return {"TableDescription": description["Table"]}


OPERATIONS: dict[str, Operation] = {
    "CreateTable": _create_table,
    "DeleteTable": _grid_call("delete_table"),
    "DescribeTable": _grid_call("describe_table"),
    "ListTables": _grid_call("list_tables"),
    "UpdateTable": _grid_call("update_table"),
    "PutItem": _table_call("put_item"),
    "GetItem": _table_call("get_item"),
    "UpdateItem": _table_call("update_item"),
    "DeleteItem": _table_call("delete_item"),
    "Query": _table_call("query"),
    "Scan": _table_call("scan"),
    "BatchGetItem": _grid_call("batch_get_item"),
    "BatchWriteItem": _grid_call("batch_write_item"),
    "TransactWriteItems": _grid_call("transact_write_items"),
    "TransactGetItems": _grid_call("transact_get_items"),
    "ListStreams": _grid_call("list_streams"),
    "DescribeStream": _grid_call("describe_stream"),
    "GetShardIterator": _grid_call("get_shard_iterator"),
    "GetRecords": _grid_call("get_records"),
}
# Each operation under its own API's prefix only, as AWS serves them (two endpoints, two
# APIs): DynamoDB answers DynamoDB_20120810.ListStreams with UnknownOperationException.
ROUTES: dict[str, str] = {
    (STREAMS_TARGET if name in STREAMS_OPERATIONS else DYNAMODB_TARGET) + name: name for name in OPERATIONS
}


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointSettings:
    """How the endpoint authenticates, and what it allows a connection and a request.

    ``credentials`` are the keys requests must be signed with (SigV4), unless
    ``allow_any_credentials`` (development mode, loopback only). A request body may have
    ``max_body_bytes`` as sent and again once decompressed (DynamoDB's 16 MB). A
    connection must send a request's line and headers within ``header_timeout`` seconds
    of its first byte (or of the connection's start), its body within ``body_timeout`` of
    the headers, and its next request within ``idle_timeout`` of the last answer; past a
    deadline it is closed. At most ``max_connections`` are served at once; more wait in
    the kernel's listen queue until one closes. (Deadlines and the cap hold for
    ``EndpointSite``, which ``grid serve`` uses.)

    Raises ``ValueError`` for a limit that is not positive.
    """

    credentials: Mapping[str, str] = field(default_factory=dict)
    allow_any_credentials: bool = False
    max_body_bytes: int = MAX_BODY_BYTES
    # SDKs send a request's headers in one write: 10 s is generous for them and short
    # for a client that trickles them in to hold a connection.
    header_timeout: float = 10.0
    # 16 MB in 30 s needs about 4.5 Mbit/s: any client on a data-centre network.
    body_timeout: float = 30.0
    # Longer than load balancers' usual 60 s, so a proxy in front closes an idle
    # connection first and never sends on one the endpoint is closing.
    idle_timeout: float = 75.0
    # Each connection costs this process about 20 KB and a descriptor; 1000 of them stay
    # well inside the memory of one serving process and its open-file limit.
    max_connections: int = 1000

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "header_timeout", "body_timeout", "idle_timeout", "max_connections"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")

    def check_binding(self, host: str) -> None:
        if self.allow_any_credentials and not _is_loopback(host):
            raise ValueError("development mode (any credentials) only binds to loopback addresses")
        if not self.allow_any_credentials and not self.credentials:
            raise ValueError(
                "no credentials: pass --credentials FILE, set GRID_ACCESS_KEY_ID/GRID_SECRET_ACCESS_KEY, "
                "or use development mode on loopback"
            )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _json(status: int, body: Mapping[str, Any]) -> web.Response:
    return _json_response(status, orjson.dumps(body))


def _json_response(status: int, payload: bytes) -> web.Response:
    return web.Response(
        status=status,
        body=payload,
        content_type="application/x-amz-json-1.0",
        headers={"x-amz-crc32": str(zlib.crc32(payload) & 0xFFFFFFFF), "x-amzn-RequestId": uuid.uuid4().hex},
    )


def error_response(error: GridError) -> web.Response:
    """DynamoDB's error body for ``error``; a 5xx carries a fixed message, never its cause."""
    message = error.message
    if error.http_status >= 500:
        message = SERVER_FAULT_MESSAGES.get(error.http_status, SERVER_FAULT_MESSAGES[500])
    body: dict[str, Any] = {"__type": ERROR_PREFIX + error.code, "message": message, "Message": message}
    if isinstance(error, TransactionCanceledException):
        body["CancellationReasons"] = [encode_error_item(reason) for reason in error.cancellation_reasons]
    item = error.details.get("item") if error.code == "ConditionalCheckFailedException" else None
    if item is not None:
        body["Item"] = encode_error_item({"Item": item})["Item"]
    return _json(error.http_status, body)


def make_app(grid: Grid, settings: EndpointSettings, *, lane: Callable[[], Grid] | None = None) -> web.Application:
    """The aiohttp application serving ``grid`` (opened and closed by the caller).

    ``lane`` makes a second client of the same grid (``lambda: grid.connect(namespace=...)``
    once Ray runs): the application opens it on a thread of its own and serves there the
    requests that take long to prepare (see ``HeavyLane``), so they do not hold up the
    others. Serve the application with ``EndpointSite`` for the connection deadlines and
    cap; any other site still gets the bounded bodies, the routing and the errors.
    """
    connections = Connections(
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        idle_timeout=settings.idle_timeout,
        max_connections=settings.max_connections,
    )
    probe = _GridProbe(grid)
    heavy = HeavyLane(lane) if lane is not None else None
    memory = MemoryReleaser()

    async def handle(request: web.Request) -> web.Response:
        body = b""
        try:
            body = await read_body(request, settings.max_body_bytes)
            connections.enter(request, Phase.BUSY)
            return await _serve(request, body, grid, settings, heavy)
        except GridError as error:
            if error.http_status >= 500:
                log.warning("request failed: %r", error)
            # The traceback holds the frames that raised, and their locals (a request's
            # items); futures on the way from the heavy lane may keep the error a while.
            error.__traceback__ = None
            response = error_response(error)
            if isinstance(error, RequestEntityTooLarge):
                memory.release_soon()
                response.force_close()  # the rest of the body is unread: no next request can follow
            return response
        except ConnectionError:  # the client left (or its connection passed a deadline): nobody to answer
            return web.Response(status=400)
        except Exception:  # a bug: answer 500, keep serving
            log.exception("internal error")
            return error_response(InternalServerError("Internal server error"))
        finally:
            if len(body) >= LARGE_BODY_BYTES or request.headers.get("Content-Encoding", "identity") != "identity":
                memory.release_soon()

    async def health(request: web.Request) -> web.Response:
        if not probe.reachable:
            return _json(503, {"status": "unavailable"})
        return _json(200, {"status": "ok"})

    async def run_probe(app: web.Application) -> AsyncIterator[None]:
        await probe.check()  # answered before the first request: a fresh server is not "unavailable"
        task = asyncio.get_running_loop().create_task(probe.run())
        yield
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    async def run_lane(app: web.Application) -> AsyncIterator[None]:
        if heavy is None:
            yield
            return
        await heavy.open()
        yield
        await heavy.close()

    app = web.Application(
        client_max_size=settings.max_body_bytes + 1,
        middlewares=[connections.middleware],
        handler_args={
            # Bodies are decompressed here, incrementally and capped (aiohttp would inflate
            # a whole chunk of a bomb at once and answer 500 to a broken one).
            "auto_decompress": False,
            # A backstop only: an EndpointSite's guard closes idle connections first.
            "keepalive_timeout": settings.idle_timeout + settings.header_timeout,
        },
    )
    app[CONNECTIONS] = connections
    app.cleanup_ctx.extend([run_probe, run_lane])
    app.router.add_post("/", handle)
    app.router.add_get("/health", health)
    return app


# What makes a request heavy: a body past this many bytes (about 4 microseconds of
# Python per attribute value to decode, check, size and encode), or expressions past
# this many (lark parses and validation take about 15 microseconds a byte).
HEAVY_BODY_BYTES = 64 * 1024
HEAVY_EXPRESSION_BYTES = 1024


async def _serve(
    request: web.Request, body: bytes, grid: Grid, settings: EndpointSettings, heavy: HeavyLane | None
) -> web.Response:
    if not settings.allow_any_credentials:
        check = functools.partial(verify, request.method, request.path, request.query_string, request.headers)
        if len(body) > HEAVY_BODY_BYTES:
            await asyncio.to_thread(check, body, settings.credentials)  # hashing lets go of the GIL
        else:
            check(body, settings.credentials)
    target = request.headers.get("X-Amz-Target", "")
    operation = ROUTES.get(target)
    if operation is None:
        raise UnknownOperationException(f"Unknown operation: {target or '(no X-Amz-Target)'}")
    body = await decode_body(body, request.headers.get("Content-Encoding", ""), settings.max_body_bytes)
    if heavy is not None and len(body) > HEAVY_BODY_BYTES:
        return _json_response(200, await heavy.run(lambda lane: _execute(lane, operation, _parse_json(body))))
    parsed = _parse_json(body)
    if heavy is not None and _expression_bytes(parsed) > HEAVY_EXPRESSION_BYTES:
        return _json_response(200, await heavy.run(lambda lane: _execute(lane, operation, parsed)))
    return _json_response(200, await _execute(grid, operation, parsed))


def _parse_json(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        raise SerializationException("Start of structure or map found where not expected.") from None
    if not isinstance(parsed, dict):
        raise SerializationException("Start of structure or map found where not expected.")
    return parsed


async def _execute(grid: Grid, operation: str, parsed: dict[str, Any]) -> bytes:
    """Run ``operation`` on ``grid``: the answer's JSON."""
    params = convert_legacy(operation, decode_request(operation, parsed))
    result = await OPERATIONS[operation](grid, params)
    return orjson.dumps(encode_response(operation, result))


def _expression_bytes(value: Any, depth: int = 0) -> int:
    """How many bytes of expressions a request holds (at the depths requests put them)."""
    if depth > 4:  # below TransactItems[n].Update: items, not expressions
        return 0
    if isinstance(value, dict):
        return sum(
            len(inner) if isinstance(inner, str) and key.endswith("Expression") else _expression_bytes(inner, depth + 1)
            for key, inner in value.items()
        )
    if isinstance(value, list):
        return sum(_expression_bytes(inner, depth + 1) for inner in value)
    return 0


class HeavyLane:
    """A second client of the grid, on a thread and event loop of its own, for heavy requests.

    The grid client prepares a request synchronously, in Python, on its event loop:
    parses and validates expressions (about 40 ms for 300 operators), decodes, checks,
    sizes and encodes items (70 ms for a 10 MB BatchWriteItem, seconds for a body of a
    million small values). On the endpoint's loop every other request would wait that
    long. On this thread the work holds the GIL for a switch interval at a time (or one
    C call, such as parsing 10 MB of JSON), so the endpoint's loop keeps answering.

    Heavy requests run here one at a time (``concurrency``): two at once interleave on
    one thread anyway, and each takes the GIL from the endpoint's loop as often
    (measured with four connections sending the largest requests: 118 ms added to other
    requests' p99 with two at a time, 60 to 68 ms with one). One at a time also bounds
    the memory their Python objects take (tens of times their JSON) to one request's.
    """

    def __init__(self, connect: Callable[[], Grid], concurrency: int = 1) -> None:
        self._connect = connect
        self._concurrency = concurrency
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._grid: Grid | None = None
        self._turns: asyncio.Semaphore | None = None

    async def open(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="grid-http-heavy", daemon=True)
        self._thread.start()
        await self._submit(self._open())

    async def run(self, work: Callable[[Grid], Awaitable[_T]]) -> _T:
        """``work(grid)`` on the lane's client and loop, when its turn comes."""
        return await self._submit(self._run(work))

    async def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            await self._submit(self._close())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            await asyncio.to_thread(thread.join)
            loop.close()

    async def _submit(self, work: Coroutine[Any, Any, _T]) -> _T:
        assert self._loop is not None, "the lane is open"
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._loop))

    async def _open(self) -> None:
        self._grid = await self._connect()
        self._turns = asyncio.Semaphore(self._concurrency)

    async def _run(self, work: Callable[[Grid], Awaitable[_T]]) -> _T:
        assert self._grid is not None and self._turns is not None, "the lane is open"
        async with self._turns:
            return await work(self._grid)

    async def _close(self) -> None:
        if self._grid is not None:
            await self._grid.close()


class _GridProbe:
    """Whether the grid answers, asked in the background so ``/health`` answers at once.

    Asking the router on every ``/health`` (ListTables, a round trip) would make a probe
    wait behind whatever the router and the event loop are doing. Instead one question
    every ``interval`` seconds, with ``timeout``: the grid counts as reachable while the
    last answer is younger than both, so a grid that fails or hangs is reported within
    about ``interval + timeout`` seconds.
    """

    def __init__(self, grid: Grid, interval: float = 1.0, timeout: float = 2.0) -> None:
        self._grid = grid
        self._interval = interval
        self._timeout = timeout
        self._reachable_until = float("-inf")

    @property
    def reachable(self) -> bool:
        return asyncio.get_running_loop().time() < self._reachable_until

    async def check(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(self._grid.list_tables(Limit=1), self._timeout)
        except Exception as error:
            if loop.time() < self._reachable_until:
                log.warning("the grid does not answer: %r", error)
            self._reachable_until = float("-inf")
        else:
            self._reachable_until = loop.time() + self._interval + self._timeout

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.check()

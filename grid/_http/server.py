"""grid's DynamoDB-compatible HTTP endpoint: DynamoDB's JSON 1.0 protocol over aiohttp.

``POST /`` with ``X-Amz-Target: DynamoDB_20120810.<Operation>`` (or the streams
protocol's ``DynamoDBStreams_20120810.<Operation>``) runs the operation through the
same ``Grid`` client the Python API uses, with its per-partition coalescing, so many
concurrent HTTP requests share actor calls. Every answer is DynamoDB's: JSON bodies
in DynamoDB JSON, an ``x-amz-crc32`` header, errors as HTTP 400 with ``__type`` and
``message`` (500 only for a real internal failure). ``GET /health`` is for probes.

Requests are authenticated with AWS Signature Version 4 against the server's keys,
unless the server runs in development mode (any key), which it refuses beyond
loopback.
"""

from __future__ import annotations

import ipaddress
import logging
import uuid
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from grid._client import Grid
from grid._http.legacy import convert_legacy
from grid._http.shapes import decode_request, encode_error_item, encode_response
from grid._http.sigv4 import verify
from grid.errors import (
    GridError,
    InternalServerError,
    RequestEntityTooLarge,
    SerializationException,
    TransactionCanceledException,
    UnknownOperationException,
    ValidationException,
)

__all__ = ["EndpointSettings", "make_app"]

log = logging.getLogger("grid.http")

MAX_BODY_BYTES = 16 * 1024 * 1024
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
TARGET_PREFIXES = ("DynamoDB_20120810.", "DynamoDBStreams_20120810.")

Operation = Callable[[Grid, dict[str, Any]], Awaitable[dict[str, Any]]]


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


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointSettings:
    """How the endpoint authenticates: SigV4 against ``credentials``, or any key in development mode."""

    credentials: Mapping[str, str] = field(default_factory=dict)
    allow_any_credentials: bool = False
    max_body_bytes: int = MAX_BODY_BYTES

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
    payload = orjson.dumps(body)
    return web.Response(
        status=status,
        body=payload,
        content_type="application/x-amz-json-1.0",
        headers={"x-amz-crc32": str(zlib.crc32(payload) & 0xFFFFFFFF), "x-amzn-RequestId": uuid.uuid4().hex},
    )


def error_response(error: GridError) -> web.Response:
    body: dict[str, Any] = {"__type": ERROR_PREFIX + error.code, "message": error.message, "Message": error.message}
    if isinstance(error, TransactionCanceledException):
        body["CancellationReasons"] = [encode_error_item(reason) for reason in error.cancellation_reasons]
    item = error.details.get("item") if error.code == "ConditionalCheckFailedException" else None
    if item is not None:
        body["Item"] = encode_error_item({"Item": item})["Item"]
    return _json(error.http_status, body)


def make_app(grid: Grid, settings: EndpointSettings) -> web.Application:
    """The aiohttp application serving ``grid`` (opened and closed by the caller)."""

    async def handle(request: web.Request) -> web.Response:
        try:
            return await _serve(request, grid, settings)
        except GridError as error:
            if error.http_status >= 500:
                log.warning("request failed: %r", error)
            return error_response(error)
        except Exception:  # a bug: answer 500, keep serving
            log.exception("internal error")
            return error_response(InternalServerError("Internal server error"))

    async def health(request: web.Request) -> web.Response:
        try:
            await grid.list_tables(Limit=1)
        except Exception as error:  # the grid behind the endpoint is unreachable
            return _json(503, {"status": "unavailable", "reason": repr(error)})
        return _json(200, {"status": "ok"})

    app = web.Application(client_max_size=settings.max_body_bytes + 1)
    app.router.add_post("/", handle)
    app.router.add_get("/health", health)
    return app


async def _serve(request: web.Request, grid: Grid, settings: EndpointSettings) -> web.Response:
    target = request.headers.get("X-Amz-Target", "")
    prefix = next((p for p in TARGET_PREFIXES if target.startswith(p)), None)
    operation = target[len(prefix) :] if prefix else ""
    if request.content_length is not None and request.content_length > settings.max_body_bytes:
        raise RequestEntityTooLarge(f"Request body exceeds {settings.max_body_bytes} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise RequestEntityTooLarge(f"Request body exceeds {settings.max_body_bytes} bytes") from None
    if not settings.allow_any_credentials:
        verify(request.method, request.path, request.query_string, request.headers, body, settings.credentials)
    handler = OPERATIONS.get(operation)
    if handler is None:
        raise UnknownOperationException(f"Unknown operation: {target or '(no X-Amz-Target)'}")
    try:
        parsed = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        raise SerializationException("Start of structure or map found where not expected.") from None
    if not isinstance(parsed, dict):
        raise SerializationException("Start of structure or map found where not expected.")
    params = convert_legacy(operation, decode_request(operation, parsed))
    result = await handler(grid, params)
    return _json(200, encode_response(operation, result))

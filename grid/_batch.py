"""BatchGetItem, BatchWriteItem and ``Table.batch_writer``.

A batch is not atomic: each item is its own operation. The items go through the same
per-partition batchers as single calls, so a batch costs one actor call per partition
it touches, all in parallel. Items that meet a retryable condition (an unreachable
partition, a transaction holding the item) come back as ``UnprocessedKeys`` /
``UnprocessedItems``, as DynamoDB returns them, for the caller to retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from grid._capacity import Consumed, consumed_capacity_response, read_units, return_consumed_capacity
from grid._codec import decode_item
from grid._dispatch import Dispatcher
from grid._expression_args import PreparedExpressions
from grid._item_requests import build_delete, build_get, build_put, prepared, shape_item
from grid._keys import KeySchema
from grid._operations import check_request
from grid._requests import DeleteOp, GetOp, PutOp
from grid.errors import GridError, InternalServerError, TransactionConflictException, ValidationException

__all__ = ["BatchWriter", "batch_get_item", "batch_write_item"]

MAX_BATCH_GET_KEYS = 100
MAX_BATCH_WRITE_ITEMS = 25


def _requests_map(params: Mapping[str, Any], operation: str) -> Mapping[str, Any]:
    check_request(operation, params)
    requests = params.get("RequestItems")
    if not isinstance(requests, Mapping) or not requests:
        raise ValidationException(f"{operation}: RequestItems must be a non-empty map of table names to requests")
    return requests


def _build_gets(
    schema: KeySchema, request: Mapping[str, Any], keys: list[Any]
) -> list[tuple[GetOp, PreparedExpressions]]:
    return [build_get(schema, {**request, "Key": key}) for key in keys]


def _unprocessed(error: BaseException) -> bool:
    """Whether an item's failure is one DynamoDB reports as unprocessed (retry later)."""
    return isinstance(error, TransactionConflictException) or (isinstance(error, GridError) and error.retryable)


async def batch_get_item(dispatcher: Dispatcher, params: Mapping[str, Any]) -> dict[str, Any]:
    requests = _requests_map(params, "BatchGetItem")
    capacity = return_consumed_capacity(params)
    consumed: list[Consumed] = []
    plans = []
    total = 0
    for table_name, request in requests.items():
        keys = request.get("Keys")
        if not isinstance(keys, list) or not keys:
            raise ValidationException("1 validation error detected: Keys must have length of at least 1")
        schema = (await dispatcher.route(table_name)).spec.key_schema
        built = await prepared(request, _build_gets, schema, request, keys)
        if len({op.key.key for op, _ in built}) != len(built):
            raise ValidationException("Provided list of item keys contains duplicates")
        total += len(built)
        plans.append((table_name, request, keys, built))
    if total > MAX_BATCH_GET_KEYS:
        raise ValidationException(
            "Too many items requested for the BatchGetItem call: the limit is 100 keys in one request"
        )
    calls = [dispatcher.run_item_op(name, op) for name, _, _, built in plans for op, _ in built]
    answers = iter(await asyncio.gather(*calls, return_exceptions=True))
    responses: dict[str, list[dict[str, Any]]] = {}
    unprocessed: dict[str, dict[str, Any]] = {}
    for table_name, request, keys, built in plans:
        found = responses.setdefault(table_name, [])
        for key, (op, expressions) in zip(keys, built, strict=True):
            answer = next(answers)
            if isinstance(answer, BaseException):
                if not _unprocessed(answer):
                    raise answer
                entry = unprocessed.setdefault(table_name, {**request, "Keys": []})
                entry["Keys"].append(key)
                continue
            consumed.append(Consumed(table_name, read=read_units(len(answer or b""), consistent=op.consistent)))
            if answer is not None:
                found.append(shape_item(decode_item(answer), expressions, request))
    response = {"Responses": responses, "UnprocessedKeys": unprocessed}
    return {**response, **consumed_capacity_response(consumed, capacity, as_list=True)}


async def batch_write_item(dispatcher: Dispatcher, params: Mapping[str, Any]) -> dict[str, Any]:
    requests = _requests_map(params, "BatchWriteItem")
    capacity = return_consumed_capacity(params)
    plans: list[tuple[str, Any, PutOp | DeleteOp]] = []
    for table_name, writes in requests.items():
        if not isinstance(writes, list) or not writes:
            raise ValidationException("Each BatchWriteItem table request must be a non-empty list")
        schema = (await dispatcher.route(table_name)).spec.key_schema
        for write in writes:
            if len(write) != 1:
                raise ValidationException("Each write request must have exactly one of PutRequest or DeleteRequest")
            if "PutRequest" in write:
                plans.append((table_name, write, build_put(schema, write["PutRequest"])))
            else:
                plans.append((table_name, write, build_delete(schema, write["DeleteRequest"])))
    if len(plans) > MAX_BATCH_WRITE_ITEMS:
        raise ValidationException(
            "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: "
            "Map value must satisfy constraint: Member must have length less than or equal to 25"
        )
    if len({(name, op.key.key) for name, _, op in plans}) != len(plans):
        raise ValidationException("Provided list of item keys contains duplicates")
    answers = await asyncio.gather(*(dispatcher.run_item_op(name, op) for name, _, op in plans), return_exceptions=True)
    unprocessed: dict[str, list[Any]] = {}
    consumed: list[Consumed] = []
    for (table_name, write, _), answer in zip(plans, answers, strict=True):
        if isinstance(answer, BaseException):
            if not _unprocessed(answer):
                raise answer
            unprocessed.setdefault(table_name, []).append(write)
        else:
            consumed.append(Consumed(table_name, write=answer.units))
    return {"UnprocessedItems": unprocessed, **consumed_capacity_response(consumed, capacity, as_list=True)}


class BatchWriter:
    """Buffers a table's puts and deletes and writes them 25 at a time (boto3's ``batch_writer``).

    Several flushes may be in flight at once, so a loader that awaits each
    ``put_item`` still keeps the partitions busy. An error of a flush is raised by the
    next call or when the block exits; unprocessed items are retried with backoff.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        table_name: str,
        *,
        overwrite_by_pkeys: list[str] | None,
        flush_amount: int = 25,
        max_in_flight: int = 8,
    ) -> None:
        if not 1 <= flush_amount <= MAX_BATCH_WRITE_ITEMS:
            raise ValidationException("flush_amount must be from 1 to 25")
        self._dispatcher = dispatcher
        self._table_name = table_name
        self._pkeys = list(overwrite_by_pkeys or [])
        self._flush_amount = flush_amount
        self._buffer: list[dict[str, Any]] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._error: BaseException | None = None

    async def __aenter__(self) -> BatchWriter:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.flush()

    async def put_item(self, Item: dict[str, Any]) -> None:  # noqa: N803 - boto3's keyword
        await self._add({"PutRequest": {"Item": Item}}, Item)

    async def delete_item(self, Key: dict[str, Any]) -> None:  # noqa: N803 - boto3's keyword
        await self._add({"DeleteRequest": {"Key": Key}}, Key)

    async def flush(self) -> None:
        """Write everything buffered and wait for every flush in flight."""
        while self._buffer:
            await self._start_flush()
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        self._raise_pending_error()

    async def _add(self, request: dict[str, Any], attributes: Mapping[str, Any]) -> None:
        self._raise_pending_error()
        if self._pkeys:
            identity = [attributes.get(name) for name in self._pkeys]
            self._buffer = [r for r in self._buffer if self._identity(r) != identity]
        self._buffer.append(request)
        if len(self._buffer) >= self._flush_amount:
            await self._start_flush()

    def _identity(self, request: dict[str, Any]) -> list[Any]:
        body = request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key", {})
        return [body.get(name) for name in self._pkeys]

    async def _start_flush(self) -> None:
        batch, self._buffer = self._buffer[: self._flush_amount], self._buffer[self._flush_amount :]
        await self._slots.acquire()
        task = asyncio.ensure_future(self._write(batch))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _write(self, batch: list[dict[str, Any]]) -> None:
        try:
            pending = batch
            for attempt in range(1, 50):
                answer = await batch_write_item(self._dispatcher, {"RequestItems": {self._table_name: pending}})
                pending = answer["UnprocessedItems"].get(self._table_name, [])
                if not pending:
                    return
                await asyncio.sleep(self._dispatcher.policy.backoff(attempt))
            raise InternalServerError(f"{len(pending)} items stayed unprocessed after repeated retries")
        except BaseException as error:
            self._error = self._error or error
        finally:
            self._slots.release()

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

"""``Table``: boto3's DynamoDB ``Table`` resource, async, over grid's partitions.

Keyword names and response shapes are boto3's, so code written for aioboto3's
``Table`` runs after swapping how the table is obtained. Every call validates and
encodes on the client, routes by the cached partition map, and goes to the owning
partition (single-item calls coalesced per partition by ``PartitionBatcher``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from grid._batch import BatchWriter
from grid._capacity import Consumed, consumed_capacity_response, read_units, return_consumed_capacity
from grid._codec import decode_item
from grid._dispatch import Dispatcher
from grid._expression_args import PreparedExpressions
from grid._expressions import key_condition_parts
from grid._item_requests import (
    build_delete,
    build_get,
    build_put,
    build_update,
    consistent_read,
    has_long_expressions,
    prepare_request_expressions,
    shape_item,
)
from grid._keys import HASH_SPACE, KeySchema, encode_sort_value, increment_bytes
from grid._messages import describe_value
from grid._operations import check_request, positive_limit
from grid._requests import Page, QueryRequest, ScanRequest, WriteResult
from grid._streams import StreamReader
from grid.errors import ValidationException

__all__ = ["Table"]

T = TypeVar("T")

_SELECT = ("ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "SPECIFIC_ATTRIBUTES", "COUNT")


class Table:
    """One table of a ``Grid``; get it with ``grid.Table(name)`` or ``await grid.create_table(...)``."""

    def __init__(self, dispatcher: Dispatcher, name: str) -> None:
        self._dispatcher = dispatcher
        self.name = name

    @property
    def table_name(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"grid.Table(name={self.name!r})"

    async def _key_schema(self) -> KeySchema:
        return (await self._dispatcher.route(self.name)).spec.key_schema

    def _build_now(self, params: Mapping[str, Any], build: Callable[[KeySchema, Mapping[str, Any]], T]) -> T | None:
        """``build(schema, params)`` at once, the common case: the map is cached and expressions are short.

        None otherwise (what it builds never is), for ``_build_later``. Every item call runs
        this: no await on the way is a measurable share of the client's time.
        """
        route = self._dispatcher.cached_route(self.name)
        if route is None or has_long_expressions(params):
            return None
        return build(route.spec.key_schema, params)

    async def _build_later(self, params: Mapping[str, Any], build: Callable[[KeySchema, Mapping[str, Any]], T]) -> T:
        """``build(schema, params)`` once the map is fetched, on a worker thread for long expressions."""
        schema = await self._key_schema()
        if has_long_expressions(params):
            return await asyncio.to_thread(build, schema, params)
        return build(schema, params)

    # -- single items --------------------------------------------------------------------

    async def put_item(self, **params: Any) -> dict[str, Any]:
        """Create or replace an item, if ``ConditionExpression`` holds (atomically).

        Raises ``ConditionalCheckFailedException`` when the condition is false (nothing
        changes), ``ValidationException`` for bad input.
        """
        self._check("PutItem", params)
        capacity = return_consumed_capacity(params)
        op = self._build_now(params, build_put)
        if op is None:
            op = await self._build_later(params, build_put)
        result: WriteResult = await self._dispatcher.run_item_op(self.name, op)
        answer = {"Attributes": decode_item(result.old)} if result.old is not None else {}
        return self._with_capacity(answer, capacity, write=result.units)

    async def get_item(self, **params: Any) -> dict[str, Any]:
        """The item with ``Key``, as ``{"Item": {...}}``, or ``{}`` if there is none."""
        self._check("GetItem", params)
        capacity = return_consumed_capacity(params)
        built = self._build_now(params, build_get)
        if built is None:
            built = await self._build_later(params, build_get)
        op, expressions = built
        data = await self._dispatcher.run_item_op(self.name, op)
        units = read_units(len(data) if data is not None else 0, consistent=op.consistent)
        answer = {"Item": shape_item(decode_item(data), expressions, params)} if data is not None else {}
        return self._with_capacity(answer, capacity, read=units)

    async def update_item(self, **params: Any) -> dict[str, Any]:
        """Edit (or create) the item with ``Key`` by ``UpdateExpression``, if the condition holds."""
        self._check("UpdateItem", params)
        capacity = return_consumed_capacity(params)
        op = self._build_now(params, build_update)
        if op is None:
            op = await self._build_later(params, build_update)
        result: WriteResult = await self._dispatcher.run_item_op(self.name, op)
        return_values = op.return_values
        attributes: dict[str, Any] = {}
        if return_values in ("ALL_OLD", "UPDATED_OLD") and result.old is not None:
            attributes = decode_item(result.old)
        elif return_values in ("ALL_NEW", "UPDATED_NEW") and result.new is not None:
            attributes = decode_item(result.new)
        if return_values.startswith("UPDATED_"):
            attributes = {n: attributes[n] for n in result.updated_names if n in attributes}
        answer = {"Attributes": attributes} if attributes else {}
        return self._with_capacity(answer, capacity, write=result.units)

    async def delete_item(self, **params: Any) -> dict[str, Any]:
        """Delete the item with ``Key``, if the condition holds; deleting nothing is no error."""
        self._check("DeleteItem", params)
        capacity = return_consumed_capacity(params)
        op = self._build_now(params, build_delete)
        if op is None:
            op = await self._build_later(params, build_delete)
        result: WriteResult = await self._dispatcher.run_item_op(self.name, op)
        answer = {"Attributes": decode_item(result.old)} if result.old is not None else {}
        return self._with_capacity(answer, capacity, write=result.units)

    def stream(self, start: str = "TRIM_HORIZON", consumer: str | None = None) -> StreamReader:
        """Every change of this table as DynamoDB Streams records, in order per item key.

        ``async for record in table.stream(): ...``; with ``async with`` it is released
        at the end. A named ``consumer`` resumes after its last ``checkpoint(record)``,
        in this or another process; ``start`` ("TRIM_HORIZON" or "LATEST") applies
        only while it has no stored position.
        """
        return StreamReader(self._dispatcher, self.name, start=start, consumer=consumer)

    def batch_writer(self, overwrite_by_pkeys: list[str] | None = None, flush_amount: int = 25) -> BatchWriter:
        """An async context manager that buffers puts and deletes and writes them in batches.

        Like boto3's: ``async with table.batch_writer() as batch: await batch.put_item(Item=...)``;
        unprocessed items are retried, and leaving the block flushes the rest.
        ``overwrite_by_pkeys`` drops an earlier buffered request for the same key.
        """
        return BatchWriter(
            self._dispatcher, self.name, overwrite_by_pkeys=overwrite_by_pkeys, flush_amount=flush_amount
        )

    # -- Query and Scan ------------------------------------------------------------------

    async def query(self, **params: Any) -> dict[str, Any]:
        """One page of the items of one partition key, in sort-key order.

        A page holds at most ``Limit`` evaluated items and about 1 MB; when more remain,
        ``LastEvaluatedKey`` is set and goes back as ``ExclusiveStartKey``.
        """
        self._check("Query", params)
        _refuse_index(params)
        capacity = return_consumed_capacity(params)
        built = self._build_now(params, _query_request)
        if built is None:
            built = await self._build_later(params, _query_request)
        request, expressions = built
        page = await self._dispatcher.query(self.name, request)
        return self._page_response(page, expressions, params, request.count_only, capacity)

    async def scan(self, **params: Any) -> dict[str, Any]:
        """One page of every item, walking partitions in hash order.

        With ``Segment``/``TotalSegments`` each segment is a disjoint slice of the hash
        ring: parallel workers, one per segment, together see each item exactly once.
        """
        self._check("Scan", params)
        _refuse_index(params)
        capacity = return_consumed_capacity(params)
        built = self._build_now(params, _scan_request)
        if built is None:
            built = await self._build_later(params, _scan_request)
        request, expressions = built
        page = await self._dispatcher.scan(self.name, request)
        return self._page_response(page, expressions, params, request.count_only, capacity)

    # -- helpers -------------------------------------------------------------------------

    def _check(self, operation: str, params: Mapping[str, Any]) -> None:
        """DynamoDB's parameter checks; ``TableName``, if given, must name this table."""
        check_request(operation, params)
        name = params.get("TableName")
        if name is not None and name != self.name:
            raise ValidationException(
                f"TableName {describe_value(name)} does not match this table ({self.name}); leave it out"
            )

    def _with_capacity(
        self, answer: dict[str, Any], mode: str, *, read: float = 0.0, write: float = 0.0
    ) -> dict[str, Any]:
        """Add ``ConsumedCapacity`` as ``ReturnConsumedCapacity`` asked (``NONE``: nothing)."""
        if mode != "NONE":
            answer.update(consumed_capacity_response([Consumed(self.name, read, write)], mode))
        return answer

    def _page_response(
        self, page: Page, expressions: PreparedExpressions, params: Mapping[str, Any], count_only: bool, capacity: str
    ) -> dict[str, Any]:
        """A Query or Scan answer: items (unless counting), counts, where to go on, capacity."""
        response: dict[str, Any] = {"Count": page.count, "ScannedCount": page.scanned_count}
        if not count_only:
            response["Items"] = [shape_item(decode_item(data), expressions, params) for data in page.items]
        if page.more and page.last_key is not None:
            response["LastEvaluatedKey"] = page.last_key
        return self._with_capacity(response, capacity, read=page.units)


def _query_request(schema: KeySchema, params: Mapping[str, Any]) -> tuple[QueryRequest, PreparedExpressions]:
    """A Query's request to its partition, and its expressions (for shaping the answer)."""
    if params.get("KeyConditionExpression") is None:
        raise ValidationException(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."
        )
    limit = positive_limit(params)
    count_only = _select(params)
    expressions = prepare_request_expressions(
        params, "KeyConditionExpression", "FilterExpression", "ProjectionExpression"
    )
    condition = key_condition_parts(
        expressions.parsed["KeyConditionExpression"],
        expressions.args.names,
        expressions.args.values,
        schema.hash_name,
        schema.range_name,
    )
    hash_value = condition.hash_value
    schema.check_key_value(schema.hash_name, hash_value)
    prefix = schema.partition_prefix(hash_value)
    low, low_inclusive, high, high_inclusive = _sort_bounds(prefix, condition.range, schema)
    forward = params.get("ScanIndexForward")
    exclusive_start = _start_key(params, schema)
    if exclusive_start is not None and not exclusive_start.startswith(prefix):
        raise ValidationException(
            "The provided starting key is invalid: The query can return at most one partition key"
        )
    request = QueryRequest(
        hash=int.from_bytes(prefix[:8], "big"),
        low=low,
        low_inclusive=low_inclusive,
        high=high,
        high_inclusive=high_inclusive,
        forward=forward is not False,
        exclusive_start=exclusive_start,
        limit=limit,
        filter=expressions.text("FilterExpression"),
        args=expressions.args,
        count_only=count_only,
        consistent=consistent_read(params),
    )
    return request, expressions


def _scan_request(schema: KeySchema, params: Mapping[str, Any]) -> tuple[ScanRequest, PreparedExpressions]:
    """A Scan's request (the whole ring, or one segment of it), and its expressions."""
    limit = positive_limit(params)
    count_only = _select(params)
    low_hash, high_hash = _segment(params)
    expressions = prepare_request_expressions(params, "FilterExpression", "ProjectionExpression")
    exclusive_start = _start_key(params, schema)
    if exclusive_start is not None and not low_hash <= int.from_bytes(exclusive_start[:8], "big") < high_hash:
        raise ValidationException("The provided Exclusive start key does not map to the provided segment")
    request = ScanRequest(
        low_hash=low_hash,
        high_hash=high_hash,
        exclusive_start=exclusive_start,
        limit=limit,
        filter=expressions.text("FilterExpression"),
        args=expressions.args,
        count_only=count_only,
        consistent=consistent_read(params),
    )
    return request, expressions


def _select(params: Mapping[str, Any]) -> bool:
    """Check ``Select`` against the projection; True when only counting."""
    projected = "ProjectionExpression" in params or "AttributesToGet" in params
    select = params.get("Select", "SPECIFIC_ATTRIBUTES" if projected else "ALL_ATTRIBUTES")
    if select not in _SELECT:
        raise ValidationException(
            f"1 validation error detected: Value '{describe_value(select)}' at 'select' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(_SELECT)}]"
        )
    if select == "ALL_PROJECTED_ATTRIBUTES":
        raise ValidationException("ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName")
    if select == "SPECIFIC_ATTRIBUTES" and not projected:
        raise ValidationException("SPECIFIC_ATTRIBUTES requires a ProjectionExpression or AttributesToGet")
    if select != "SPECIFIC_ATTRIBUTES" and projected:
        raise ValidationException(f"Cannot specify a ProjectionExpression when choosing to get {select}")
    return bool(select == "COUNT")


def _start_key(params: Mapping[str, Any], schema: KeySchema) -> bytes | None:
    start = params.get("ExclusiveStartKey")
    if start is None:
        return None
    try:
        return schema.storage_key(schema.normalize_key(start)).key
    except ValidationException:
        raise ValidationException(
            "The provided starting key is invalid: The provided key element does not match the schema"
        ) from None


def _sort_bounds(prefix: bytes, condition: Any, schema: KeySchema) -> tuple[bytes, bool, bytes, bool]:
    """Storage-key bounds for a Query: all of ``prefix``'s items, narrowed by the sort-key condition."""
    end = increment_bytes(prefix)
    assert end is not None  # a prefix holds a type tag and a length: never all 0xff
    if condition is None:
        return prefix, True, end, False
    assert schema.range_name is not None  # key_condition_parts refuses a sort-key condition otherwise
    for value in condition.values:
        schema.check_key_value(schema.range_name, value)
    encoded = [prefix + encode_sort_value(v) for v in condition.values]
    op = condition.op
    if op == "=":
        return encoded[0], True, encoded[0], True
    if op == "<":
        return prefix, True, encoded[0], False
    if op == "<=":
        return prefix, True, encoded[0], True
    if op == ">":
        return encoded[0], False, end, False
    if op == ">=":
        return encoded[0], True, end, False
    if op == "between":
        if encoded[0] > encoded[1]:
            raise ValidationException(
                "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than "
                f"or equal to lower bound; lower bound operand: {condition.values[0]!r}, upper bound operand: {condition.values[1]!r}"
            )
        return encoded[0], True, encoded[1], True
    if op == "begins_with":
        upper = increment_bytes(encoded[0])
        return encoded[0], True, upper if upper is not None else end, False
    raise ValidationException(f"Invalid KeyConditionExpression: unsupported operator {op}")


def _refuse_index(params: Mapping[str, Any]) -> None:
    if params.get("IndexName") is not None:
        raise ValidationException(f"The table does not have the specified index: {describe_value(params['IndexName'])}")


def _segment(params: Mapping[str, Any]) -> tuple[int, int]:
    segment, total = params.get("Segment"), params.get("TotalSegments")
    if segment is None and total is None:
        return 0, HASH_SPACE
    if segment is None or total is None:
        raise ValidationException(
            "The TotalSegments parameter is required but was not present in the request when Segment parameter is present"
            if total is None
            else "The Segment parameter is required but was not present in the request when parameter TotalSegments is present"
        )
    if isinstance(total, bool) or not isinstance(total, int) or not 1 <= total <= 1_000_000:
        raise ValidationException(
            "1 validation error detected: Value at 'totalSegments' failed to satisfy constraint: Member must have value between 1 and 1000000"
        )
    if isinstance(segment, bool) or not isinstance(segment, int) or not 0 <= segment < total:
        raise ValidationException(
            f"The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {segment} is not less than TotalSegments: {total}"
        )
    return HASH_SPACE * segment // total, HASH_SPACE * (segment + 1) // total

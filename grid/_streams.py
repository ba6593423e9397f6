"""Stream consumers: ``Table.stream()`` and DynamoDB Streams' low-level calls.

A ``StreamReader`` long-polls the table's stream actor with its own cursors (one
sequence number per shard) and yields records in DynamoDB Streams' shape, decoded
here in the consumer's process as they are yielded. The next poll is on its way
while the consumer works through the last one's records (a poll is a Ray round trip
and two short lingers: overlapping it with the consumer's work keeps lag down), and
no further: a slow consumer holds at most two polls' worth and slows nobody.
A named consumer's position is stored in the grid by ``checkpoint``; a new reader
of that name continues right after it: at least once, no gaps, in order per key.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import json
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from grid._changes import EVENT, KEY, NEW_IMAGE, OLD_IMAGE, SEQUENCE, TIMESTAMP, ChangeEvent, ChangeRecord
from grid._codec import decode_item
from grid._item_requests import check_params
from grid._keys import KeySchema
from grid._transport import call, submit
from grid.errors import ExpiredIteratorException, PartitionUnavailableError, ValidationException

if TYPE_CHECKING:
    from grid._client import Grid

__all__ = ["StreamReader", "describe_stream", "get_records", "get_shard_iterator", "list_streams"]

POLL_LIMIT = 1000
POLL_WAIT_SECONDS = 1.0
SEQUENCE_DIGITS = 21
NEW_VIEWS = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
OLD_VIEWS = ("OLD_IMAGE", "NEW_AND_OLD_IMAGES")
ITERATOR_TYPES = ("TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER")


class ReaderState(enum.Enum):
    NEW = "new"  # made by table.stream(); subscribes on first use
    OPEN = "open"
    CLOSED = "closed"


def format_sequence(sequence: int) -> str:
    return str(sequence).zfill(SEQUENCE_DIGITS)


def stream_record(record: ChangeRecord, shard_id: str, stream: Mapping[str, Any]) -> dict[str, Any]:
    """A change record in DynamoDB Streams' shape, with native Python values."""
    view_type: str = stream["view_type"]
    schema: KeySchema = stream["key_schema"]
    sequence, old_image, new_image = record[SEQUENCE], record[OLD_IMAGE], record[NEW_IMAGE]
    # Decode only the images the view shows (decoding is most of a record's cost), and
    # one image for the keys when the view shows none.
    new = decode_item(new_image) if new_image is not None and view_type in NEW_VIEWS else None
    old = decode_item(old_image) if old_image is not None and view_type in OLD_VIEWS else None
    source = new if new is not None else old
    if source is None:
        image = new_image if new_image is not None else old_image
        source = decode_item(image) if image is not None else {}
    keys = {name: source[name] for name in schema.names}
    body: dict[str, Any] = {
        "ApproximateCreationDateTime": datetime.fromtimestamp(record[TIMESTAMP], tz=timezone.utc),
        "Keys": keys,
        "SequenceNumber": format_sequence(sequence),
        "StreamViewType": view_type,
    }
    # SizeBytes from the encoded images: walking every decoded image would cost more than
    # the rest of the record together.
    size = len(record[KEY])
    if new is not None:
        body["NewImage"] = new
        size += len(new_image or b"")
    if old is not None:
        body["OldImage"] = old
        size += len(old_image or b"")
    body["SizeBytes"] = size
    return {
        "eventID": f"{shard_id}:{sequence}",
        "eventName": ChangeEvent(record[EVENT]).name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "local",
        "dynamodb": body,
        "eventSourceARN": stream["arn"],
    }


def _position(record: Mapping[str, Any]) -> tuple[str, int]:
    try:
        shard_id, sequence = str(record["eventID"]).rsplit(":", 1)
        return shard_id, int(sequence)
    except (KeyError, ValueError, TypeError):
        raise ValidationException("checkpoint takes a record this stream yielded") from None


async def _stream_of_table(grid: Grid, table_name: str) -> dict[str, Any]:
    description = (await grid.describe_table(TableName=table_name))["Table"]
    arn = description.get("LatestStreamArn")
    if arn is None or not description.get("StreamSpecification", {}).get("StreamEnabled"):
        raise ValidationException(f"Table {table_name} has no enabled stream: set StreamSpecification first")
    return await _stream(grid, arn)


async def _stream(grid: Grid, arn: str, *, fresh: bool = False) -> dict[str, Any]:
    """A stream's actor, view type and key schema, from the router once per client.

    Cached like partition maps: the router stays off the path of GetRecords calls.
    ``fresh`` asks again (for a status that can change, as DescribeStream shows).
    """
    info = grid._stream_info.get(arn)
    if info is None or fresh:
        info = await grid._ask_router("get_stream", arn)
        grid._stream_info[arn] = info
    return info


class StreamReader:
    """Every change of a table, in order per item key: ``async for record in table.stream(): ...``.

    Use it with ``async with`` to release it; ``checkpoint(record)`` stores a named
    consumer's position. The first iteration subscribes: ``start`` ("TRIM_HORIZON",
    the oldest retained record, or "LATEST", only what comes next) applies when the
    consumer has no stored position.
    """

    def __init__(self, grid: Grid, table_name: str, *, start: str, consumer: str | None) -> None:
        if start not in ("TRIM_HORIZON", "LATEST"):
            raise ValidationException('start must be "TRIM_HORIZON" or "LATEST"')
        if consumer is not None and (not isinstance(consumer, str) or not consumer):
            raise ValidationException("consumer must be a non-empty string")
        self._grid = grid
        self.table_name = table_name
        self.start = start
        self.consumer = consumer
        self._state = ReaderState.NEW
        self._stream: dict[str, Any] = {}
        self._cursors: dict[str, int] = {}  # through what each shard has been received
        self._received: deque[tuple[str, ChangeRecord]] = deque()
        self._next_poll: asyncio.Future[list[tuple[str, list[ChangeRecord]]]] | None = None

    async def __aenter__(self) -> StreamReader:
        await self._open()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def __aiter__(self) -> StreamReader:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self._state is ReaderState.CLOSED:
            raise StopAsyncIteration
        await self._open()
        while not self._received:
            if self._state is ReaderState.CLOSED:
                raise StopAsyncIteration  # closed while waiting
            await self._fill()
        shard_id, record = self._received.popleft()
        return stream_record(record, shard_id, self._stream)

    async def _open(self) -> None:
        if self._state is ReaderState.NEW:
            self._stream = await _stream_of_table(self._grid, self.table_name)
            self._cursors = await call(self._stream["handle"].subscribe, self.start, self.consumer)
            self._state = ReaderState.OPEN

    async def _fill(self) -> None:
        poll = self._next_poll or self._poll()
        self._next_poll = None
        found = await poll
        if self._state is ReaderState.CLOSED:
            return  # closed while this poll was out: its records are dropped, as close() says
        for shard_id, records in found:
            self._received.extend((shard_id, record) for record in records)
            if records:
                self._cursors[shard_id] = records[-1][SEQUENCE]
        if found and self._state is ReaderState.OPEN:
            self._next_poll = self._poll()  # the next batch travels while this one is consumed

    def _poll(self) -> asyncio.Future[list[tuple[str, list[ChangeRecord]]]]:
        # Sent now, not when the event loop next runs a coroutine: a consumer that works
        # through a batch without awaiting would otherwise hold the next poll back.
        future = asyncio.ensure_future(
            submit(self._stream["handle"].poll, dict(self._cursors), POLL_LIMIT, POLL_WAIT_SECONDS)
        )
        # A reader dropped without close() leaves its last poll behind: never an unretrieved error.
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        return future

    async def checkpoint(self, record: Mapping[str, Any]) -> None:
        """Store this named consumer's position: a new reader of that name continues after ``record``."""
        if self.consumer is None:
            raise ValidationException("checkpoint needs a named consumer: table.stream(consumer=...)")
        await self._open()
        shard_id, sequence = _position(record)
        await call(self._stream["handle"].checkpoint, self.consumer, shard_id, sequence)

    async def close(self) -> None:
        """Release the reader; records it received but did not yield are dropped."""
        self._state = ReaderState.CLOSED
        self._received.clear()
        if self._next_poll is not None:
            self._next_poll.cancel()
            self._next_poll = None


# -- DynamoDB Streams' low-level calls -------------------------------------------------------


async def list_streams(grid: Grid, params: Mapping[str, Any]) -> dict[str, Any]:
    check_params("ListStreams", params, frozenset({"TableName", "Limit", "ExclusiveStartStreamArn"}))
    table = params.get("TableName")
    if table is not None and not isinstance(table, str):
        raise ValidationException("TableName must be a string")
    streams = await grid._ask_router("list_streams", table)
    start = params.get("ExclusiveStartStreamArn")
    if start is not None:
        arns = [s["StreamArn"] for s in streams]
        streams = streams[arns.index(start) + 1 :] if start in arns else []
    limit = _limit(params, 100)
    answer: dict[str, Any] = {"Streams": streams[:limit]}
    if len(streams) > limit:
        answer["LastEvaluatedStreamArn"] = streams[limit - 1]["StreamArn"]
    return answer


async def describe_stream(grid: Grid, params: Mapping[str, Any]) -> dict[str, Any]:
    check_params("DescribeStream", params, frozenset({"StreamArn", "Limit", "ExclusiveStartShardId"}))
    stream = await _stream(grid, _string(params, "StreamArn"), fresh=True)
    shards = await call(stream["handle"].describe_shards)
    start = params.get("ExclusiveStartShardId")
    if start is not None:
        ids = [s["ShardId"] for s in shards]
        shards = shards[ids.index(start) + 1 :] if start in ids else []
    return {
        "StreamDescription": {
            "StreamArn": stream["arn"],
            "StreamLabel": stream["label"],
            "StreamStatus": stream["status"],
            "StreamViewType": stream["view_type"],
            "TableName": stream["table_name"],
            "KeySchema": [
                {"AttributeName": name, "KeyType": kind}
                for name, kind in zip(stream["key_schema"].names, ("HASH", "RANGE"), strict=False)
            ],
            "Shards": shards[: _limit(params, 100)],
        }
    }


async def _stream_call(grid: Grid, stream: dict[str, Any], method: str, *args: Any) -> Any:
    """Call the stream actor; if the cached one is gone (table deleted), ask the router again."""
    try:
        return await call(getattr(stream["handle"], method), *args)
    except PartitionUnavailableError:
        fresh = await _stream(grid, stream["arn"], fresh=True)  # ResourceNotFoundException if it is gone
        return await call(getattr(fresh["handle"], method), *args)


def _limit(params: Mapping[str, Any], highest: int) -> int:
    limit = params.get("Limit", highest)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= highest:
        raise ValidationException(f"Limit must be an integer from 1 to {highest}")
    return limit


def _string(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise ValidationException(f"{name} must be a non-empty string")
    return value


def _encode_iterator(arn: str, shard_id: str, after: int) -> str:
    raw = json.dumps({"a": arn, "s": shard_id, "p": after}).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode_iterator(iterator: Any) -> tuple[str, str, int]:
    try:
        fields = json.loads(base64.urlsafe_b64decode(str(iterator).encode("ascii")))
        return str(fields["a"]), str(fields["s"]), int(fields["p"])
    except (ValueError, KeyError, TypeError):
        raise ExpiredIteratorException("Iterator is not valid or has expired") from None


async def get_shard_iterator(grid: Grid, params: Mapping[str, Any]) -> dict[str, Any]:
    check_params("GetShardIterator", params, frozenset({"StreamArn", "ShardId", "ShardIteratorType", "SequenceNumber"}))
    kind = params.get("ShardIteratorType")
    if kind not in ITERATOR_TYPES:
        raise ValidationException(f"ShardIteratorType must be one of {', '.join(ITERATOR_TYPES)}")
    sequence = params.get("SequenceNumber")
    number = int(sequence) if isinstance(sequence, str) and sequence.isdigit() else None
    if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER") and number is None:
        raise ValidationException(f"A valid SequenceNumber is required for {kind}")
    stream = await _stream(grid, _string(params, "StreamArn"))
    after = await _stream_call(grid, stream, "shard_position", _string(params, "ShardId"), kind, number)
    return {"ShardIterator": _encode_iterator(stream["arn"], params["ShardId"], after)}


async def get_records(grid: Grid, params: Mapping[str, Any]) -> dict[str, Any]:
    check_params("GetRecords", params, frozenset({"ShardIterator", "Limit"}))
    limit = _limit(params, 1000)
    arn, shard_id, after = _decode_iterator(params.get("ShardIterator"))
    stream = await _stream(grid, arn)
    records, finished = await _stream_call(grid, stream, "read_shard", shard_id, after, limit)
    end = records[-1][SEQUENCE] if records else after
    answer: dict[str, Any] = {"Records": [stream_record(r, shard_id, stream) for r in records]}
    answer["NextShardIterator"] = None if finished else _encode_iterator(arn, shard_id, end)
    return answer

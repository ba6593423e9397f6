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
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar

from grid._changes import (
    EVENT,
    KEY,
    NEW_IMAGE,
    OLD_IMAGE,
    SEQUENCE,
    TIMESTAMP,
    ChangeEvent,
    ChangeRecord,
    format_sequence,
)
from grid._codec import decode_item
from grid._dispatch import Dispatcher
from grid._operations import check_request, page_limit, required_string
from grid._services import StreamInfo, StreamService
from grid.errors import ExpiredIteratorException, PartitionUnavailableError, ValidationException

__all__ = ["StreamReader", "describe_stream", "get_records", "get_shard_iterator", "list_streams"]

POLL_LIMIT = 1000
POLL_WAIT_SECONDS = 1.0
NEW_VIEWS = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
OLD_VIEWS = ("OLD_IMAGE", "NEW_AND_OLD_IMAGES")
ITERATOR_TYPES = ("TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER")
MAX_ITERATOR_CHARS = 2048  # DynamoDB Streams' ShardIterator is at most 2048 characters
T = TypeVar("T")


class ReaderState(enum.Enum):
    NEW = "new"  # made by table.stream(); subscribes on first use
    OPEN = "open"
    CLOSED = "closed"


def stream_record(record: ChangeRecord, shard_id: str, stream: StreamInfo) -> dict[str, Any]:
    """A change record in DynamoDB Streams' shape, with native Python values."""
    view_type = stream.view_type
    schema = stream.key_schema
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
        "eventSourceARN": stream.arn,
    }


def _position(record: Mapping[str, Any]) -> tuple[str, int]:
    try:
        shard_id, sequence = str(record["eventID"]).rsplit(":", 1)
        return shard_id, int(sequence)
    except (KeyError, ValueError, TypeError):
        raise ValidationException("checkpoint takes a record this stream yielded") from None


async def _stream_of_table(dispatcher: Dispatcher, table_name: str) -> StreamInfo:
    description = await dispatcher.router_call(lambda router: router.describe_table(table_name))
    arn = description.get("LatestStreamArn")
    if arn is None or not description.get("StreamSpecification", {}).get("StreamEnabled"):
        raise ValidationException(f"Table {table_name} has no enabled stream: set StreamSpecification first")
    return await dispatcher.stream_info(arn)


class StreamReader:
    """Every change of a table, in order per item key: ``async for record in table.stream(): ...``.

    Use it with ``async with`` to release it; ``checkpoint(record)`` stores a named
    consumer's position. The first iteration subscribes: ``start`` ("TRIM_HORIZON",
    the oldest retained record, or "LATEST", only what comes next) applies when the
    consumer has no stored position.
    """

    def __init__(self, dispatcher: Dispatcher, table_name: str, *, start: str, consumer: str | None) -> None:
        if start not in ("TRIM_HORIZON", "LATEST"):
            raise ValidationException('start must be "TRIM_HORIZON" or "LATEST"')
        if consumer is not None and (not isinstance(consumer, str) or not consumer):
            raise ValidationException("consumer must be a non-empty string")
        self._dispatcher = dispatcher
        self.table_name = table_name
        self.start = start
        self.consumer = consumer
        self._state = ReaderState.NEW
        self._stream: StreamInfo | None = None
        self._service: StreamService | None = None
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
        assert self._stream is not None
        return stream_record(record, shard_id, self._stream)

    async def _open(self) -> StreamService:
        if self._state is ReaderState.NEW:
            self._stream = await _stream_of_table(self._dispatcher, self.table_name)
            self._service = self._dispatcher.transport.stream(self._stream)
            self._cursors = await self._service.subscribe(self.start, self.consumer)
            self._state = ReaderState.OPEN
        assert self._service is not None
        return self._service

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
        assert self._service is not None
        future = asyncio.ensure_future(self._service.poll(dict(self._cursors), POLL_LIMIT, POLL_WAIT_SECONDS))
        # A reader dropped without close() leaves its last poll behind: never an unretrieved error.
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        return future

    async def checkpoint(self, record: Mapping[str, Any]) -> None:
        """Store this named consumer's position: a new reader of that name continues after ``record``."""
        if self.consumer is None:
            raise ValidationException("checkpoint needs a named consumer: table.stream(consumer=...)")
        service = await self._open()
        shard_id, sequence = _position(record)
        await service.checkpoint(self.consumer, shard_id, sequence)

    async def close(self) -> None:
        """Release the reader; records it received but did not yield are dropped."""
        self._state = ReaderState.CLOSED
        self._received.clear()
        if self._next_poll is not None:
            self._next_poll.cancel()
            self._next_poll = None


# -- DynamoDB Streams' low-level calls -------------------------------------------------------


async def list_streams(dispatcher: Dispatcher, params: Mapping[str, Any]) -> dict[str, Any]:
    check_request("ListStreams", params)
    table = params.get("TableName")
    streams = await dispatcher.router_call(lambda router: router.list_streams(table))
    start = params.get("ExclusiveStartStreamArn")
    if start is not None:
        arns = [s["StreamArn"] for s in streams]
        streams = streams[arns.index(start) + 1 :] if start in arns else []
    limit = page_limit(params, 100)
    answer: dict[str, Any] = {"Streams": streams[:limit]}
    if len(streams) > limit:
        answer["LastEvaluatedStreamArn"] = streams[limit - 1]["StreamArn"]
    return answer


async def describe_stream(dispatcher: Dispatcher, params: Mapping[str, Any]) -> dict[str, Any]:
    check_request("DescribeStream", params)
    limit = page_limit(params, 100)
    stream = await dispatcher.stream_info(required_string(params, "StreamArn"), fresh=True)
    shards = await dispatcher.transport.stream(stream).describe_shards()
    start = params.get("ExclusiveStartShardId")
    if start is not None:
        ids = [s["ShardId"] for s in shards]
        shards = shards[ids.index(start) + 1 :] if start in ids else []
    return {
        "StreamDescription": {
            "StreamArn": stream.arn,
            "StreamLabel": stream.label,
            "StreamStatus": stream.status,
            "StreamViewType": stream.view_type,
            "TableName": stream.table_name,
            "KeySchema": [
                {"AttributeName": name, "KeyType": kind}
                for name, kind in zip(stream.key_schema.names, ("HASH", "RANGE"), strict=False)
            ],
            "Shards": shards[:limit],
        }
    }


async def _on_stream(dispatcher: Dispatcher, stream: StreamInfo, call: Callable[[StreamService], Awaitable[T]]) -> T:
    """``call`` on the stream actor; if the cached one is gone (table deleted), ask the router again."""
    try:
        return await call(dispatcher.transport.stream(stream))
    except PartitionUnavailableError:
        fresh = await dispatcher.stream_info(stream.arn, fresh=True)  # ResourceNotFoundException if it is gone
        return await call(dispatcher.transport.stream(fresh))


def _encode_iterator(arn: str, shard_id: str, after: int) -> str:
    raw = json.dumps({"a": arn, "s": shard_id, "p": after}).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode_iterator(iterator: Any) -> tuple[str, str, int]:
    if not isinstance(iterator, str) or len(iterator) > MAX_ITERATOR_CHARS:
        raise ExpiredIteratorException("Iterator is not valid or has expired")
    try:
        fields = json.loads(base64.urlsafe_b64decode(iterator.encode("ascii")))
        arn, shard_id, after = fields["a"], fields["s"], fields["p"]
    except (ValueError, KeyError, TypeError):
        raise ExpiredIteratorException("Iterator is not valid or has expired") from None
    if (
        not isinstance(arn, str)
        or not isinstance(shard_id, str)
        or isinstance(after, bool)
        or not isinstance(after, int)
    ):
        raise ExpiredIteratorException("Iterator is not valid or has expired")
    return arn, shard_id, after


async def get_shard_iterator(dispatcher: Dispatcher, params: Mapping[str, Any]) -> dict[str, Any]:
    check_request("GetShardIterator", params)
    kind = params.get("ShardIteratorType")
    if kind not in ITERATOR_TYPES:
        raise ValidationException(f"ShardIteratorType must be one of {', '.join(ITERATOR_TYPES)}")
    sequence = params.get("SequenceNumber")
    number = int(sequence) if isinstance(sequence, str) and sequence.isdigit() and len(sequence) <= 40 else None
    if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER") and number is None:
        raise ValidationException(f"A valid SequenceNumber is required for {kind}")
    shard_id = required_string(params, "ShardId")
    stream = await dispatcher.stream_info(required_string(params, "StreamArn"))
    after = await _on_stream(dispatcher, stream, lambda service: service.shard_position(shard_id, kind, number))
    return {"ShardIterator": _encode_iterator(stream.arn, shard_id, after)}


async def get_records(dispatcher: Dispatcher, params: Mapping[str, Any]) -> dict[str, Any]:
    check_request("GetRecords", params)
    limit = page_limit(params, 1000)
    arn, shard_id, after = _decode_iterator(params.get("ShardIterator"))
    stream = await dispatcher.stream_info(arn)
    records, finished = await _on_stream(dispatcher, stream, lambda service: service.read_shard(shard_id, after, limit))
    end = records[-1][SEQUENCE] if records else after
    answer: dict[str, Any] = {"Records": [stream_record(r, shard_id, stream) for r in records]}
    answer["NextShardIterator"] = None if finished else _encode_iterator(arn, shard_id, end)
    return answer

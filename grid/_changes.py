"""The change records every partition logs, as streams, replication and indexes read them.

Part of grid's Ray-free core: partitions write these, and stream readers in client
processes decode them, so the format belongs to neither side alone.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final, NamedTuple

__all__ = [
    "EVENT",
    "KEY",
    "NEW_IMAGE",
    "OLD_IMAGE",
    "SEQUENCE",
    "TIMESTAMP",
    "ChangeEvent",
    "ChangeRecord",
    "LogSlice",
    "format_sequence",
]

# DynamoDB Streams' sequence numbers are decimal strings of 21 to 40 digits.
SEQUENCE_DIGITS = 21


def format_sequence(sequence: int) -> str:
    """A change record's sequence number as DynamoDB Streams writes it."""
    return str(sequence).zfill(SEQUENCE_DIGITS)


class ChangeEvent(IntEnum):
    INSERT = 1
    MODIFY = 2
    REMOVE = 3


# One accepted write: ``(sequence, event, key, old_image, new_image, timestamp)``, where
# ``event`` is a ``ChangeEvent`` value, ``key`` the storage key and the images encoded
# items. A plain tuple of plain values on purpose: CPython's collector stops tracking
# such tuples, so the hundreds of thousands that change logs and stream buffers hold
# cost full collections nothing (as NamedTuples, 200,000 records cost a 40 ms pause,
# and a stream actor paused 80 ms, measured).
ChangeRecord = tuple[int, int, bytes, bytes | None, bytes | None, float]
SEQUENCE: Final = 0
EVENT: Final = 1
KEY: Final = 2
OLD_IMAGE: Final = 3
NEW_IMAGE: Final = 4
TIMESTAMP: Final = 5


class LogSlice(NamedTuple):
    """What a log reader gets: records, the shard lineage, and the retained range."""

    records: list[ChangeRecord]
    shards: list[tuple[str, tuple[str, ...], int, int | None]]  # id, parents, first, last
    first_retained: int
    last_sequence: int
    map_version: int = 0  # the table map version the partition has seen (a split or merge raises it)

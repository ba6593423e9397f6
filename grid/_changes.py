"""The change records every partition logs, as streams, replication and indexes read them.

Part of grid's Ray-free core: partitions write these, and stream readers in client
processes decode them, so the format belongs to neither side alone.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

__all__ = ["ChangeEvent", "ChangeRecord", "LogSlice"]


class ChangeEvent(IntEnum):
    INSERT = 1
    MODIFY = 2
    REMOVE = 3


class ChangeRecord(NamedTuple):
    """One accepted write. ``key`` is the storage key; images are encoded items."""

    sequence: int
    event: ChangeEvent
    key: bytes
    old_image: bytes | None
    new_image: bytes | None
    timestamp: float


class LogSlice(NamedTuple):
    """What a log reader gets: records, the shard lineage, and the retained range."""

    records: list[ChangeRecord]
    shards: list[tuple[str, tuple[str, ...], int, int | None]]  # id, parents, first, last
    first_retained: int
    last_sequence: int
    map_version: int = 0  # the table map version the partition has seen (a split or merge raises it)

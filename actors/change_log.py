"""A partition's change log: the single, ordered record of every accepted write.

Streams, replication, secondary indexes and recovery all read this log. Records are
compact tuples whose images are the very bytes objects the partition stores, so a
record costs little beyond its tuple. Retention is bounded by count and by age,
whichever trims first, so memory stays bounded under a steady write load.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

__all__ = ["ChangeEvent", "ChangeLog", "ChangeRecord", "RetentionPolicy"]


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


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionPolicy:
    max_records: int = 100_000
    max_age_seconds: float = 24 * 3600.0


class ChangeLog:
    """Append-only within retention; sequence numbers start at 1 and never repeat."""

    def __init__(self, retention: RetentionPolicy | None = None, *, first_sequence: int = 1) -> None:
        self._retention = retention or RetentionPolicy()
        self._records: deque[ChangeRecord] = deque()
        self._next_sequence = first_sequence

    def append(self, event: ChangeEvent, key: bytes, old_image: bytes | None, new_image: bytes | None) -> ChangeRecord:
        record = ChangeRecord(self._next_sequence, event, key, old_image, new_image, time.time())
        self._next_sequence += 1
        self._records.append(record)
        self._trim(record.timestamp)
        return record

    @property
    def last_sequence(self) -> int:
        """Sequence number of the newest record ever appended (0 before the first)."""
        return self._next_sequence - 1

    @property
    def first_retained_sequence(self) -> int:
        return self._records[0].sequence if self._records else self._next_sequence

    def read(self, after: int = 0, limit: int | None = None) -> list[ChangeRecord]:
        """Records with ``sequence > after``, oldest first, at most ``limit``."""
        if not self._records:
            return []
        start = max(0, after + 1 - self._records[0].sequence)
        stop = len(self._records) if limit is None else min(len(self._records), start + limit)
        return [self._records[i] for i in range(start, stop)]

    def __len__(self) -> int:
        return len(self._records)

    def _trim(self, now: float) -> None:
        records = self._records
        while len(records) > self._retention.max_records:
            records.popleft()
        horizon = now - self._retention.max_age_seconds
        while records and records[0].timestamp < horizon:
            records.popleft()

"""A partition's change log: the single, ordered record of every accepted write.

Streams, replication, secondary indexes and recovery all read this log. Records are
compact tuples whose images are the very bytes objects the partition stores, so a
record costs little beyond its tuple. Retention is bounded by count and by age,
whichever trims first, so memory stays bounded under a steady write load.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from grid._changes import SEQUENCE, TIMESTAMP, ChangeEvent, ChangeRecord, LogSlice

__all__ = ["ChangeEvent", "ChangeLog", "ChangeRecord", "LogSlice", "RetentionPolicy", "Shard"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionPolicy:
    """Records are trimmed once older than ``max_age_seconds`` or beyond the newest ``max_records``."""

    max_records: int = 100_000
    max_age_seconds: float = 24 * 3600.0


@dataclass(slots=True, kw_only=True)
class Shard:
    """A stretch of one log, as DynamoDB Streams shows it: closed by a split or a merge, its children name it.

    A split's children have one parent; a merge's child has two (the merged ranges'
    shards), and readers finish both before it.
    """

    shard_id: str
    parents: tuple[str, ...]
    first_sequence: int
    last_sequence: int | None = None  # set when the shard closes

    def describe(self) -> tuple[str, tuple[str, ...], int, int | None]:
        return (self.shard_id, self.parents, self.first_sequence, self.last_sequence)


class ChangeLog:
    """Append-only within retention; sequence numbers start at 1 and never repeat."""

    def __init__(
        self,
        retention: RetentionPolicy | None = None,
        *,
        first_sequence: int = 1,
        shard_id: str = "shard-0",
        parent_shard_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.retention = retention or RetentionPolicy()
        # Stamps records; a replicated partition passes its log entry's time, the same on every replica.
        self._clock = clock
        self._records: deque[ChangeRecord] = deque()
        self._next_sequence = first_sequence
        parents = (parent_shard_id,) if parent_shard_id is not None else ()
        self.shards: list[Shard] = [Shard(shard_id=shard_id, parents=parents, first_sequence=first_sequence)]

    def append(self, event: ChangeEvent, key: bytes, old_image: bytes | None, new_image: bytes | None) -> ChangeRecord:
        record = (self._next_sequence, int(event), key, old_image, new_image, self._clock())
        self._next_sequence += 1
        self._records.append(record)
        self._trim(record[TIMESTAMP])
        return record

    @property
    def last_sequence(self) -> int:
        """Sequence number of the newest record ever appended (0 before the first)."""
        return self._next_sequence - 1

    @property
    def first_retained_sequence(self) -> int:
        return self._records[0][SEQUENCE] if self._records else self._next_sequence

    def read(self, after: int = 0, limit: int | None = None) -> list[ChangeRecord]:
        """Records with ``sequence > after``, oldest first, at most ``limit``."""
        if not self._records:
            return []
        start = max(0, after + 1 - self._records[0][SEQUENCE])
        stop = len(self._records) if limit is None else min(len(self._records), start + limit)
        if start >= stop:
            return []
        return list(itertools.islice(self._records, start, stop))

    def __len__(self) -> int:
        return len(self._records)

    def open_shard(self, shard_id: str, other_parents: tuple[str, ...] = ()) -> Shard:
        """Close the current shard after the last record and start a child of it (and of ``other_parents``)."""
        current = self.close_shard()
        child = Shard(shard_id=shard_id, parents=(current.shard_id, *other_parents), first_sequence=self._next_sequence)
        self.shards.append(child)
        return child

    def close_shard(self) -> Shard:
        """Close the current shard after the last record (a retiring partition writes no more)."""
        current = self.shards[-1]
        if current.last_sequence is None:
            current.last_sequence = self.last_sequence
        return current

    def trim(self, now: float | None = None) -> None:
        """Drop what retention no longer keeps, as of ``now`` (by default this log's clock)."""
        self._trim(self._clock() if now is None else now)

    def _trim(self, now: float) -> None:
        records = self._records
        while len(records) > self.retention.max_records:
            records.popleft()
        horizon = now - self.retention.max_age_seconds
        while records and records[0][TIMESTAMP] < horizon:
            records.popleft()

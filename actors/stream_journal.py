"""A stream actor's records in the key-value store, read back when Ray restarts it.

Most of a stream comes back by itself: the partitions' logs hold every record and
every live shard (with its parents). What they cannot give back is kept here:
- where the stream began in each partition it started with (its floors: earlier
  writes belong to no stream);
- the shards and retained records of partitions a merge retired (their logs stop);
- named consumers' checkpoints.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from actors.system import KeyValue

__all__ = ["StreamJournal", "StreamRecords", "forget_stream"]

log = logging.getLogger("grid.stream")

_FLOORS = b"floors"
_CHECKPOINTS = b"checkpoints"
_ARCHIVE = b"archive/"


# A key's name, how to read its value, and the value encoded when taken.
Taken = tuple[bytes, Callable[[], Any], bytes | None]


def _prefix(table_id: str, label: str) -> bytes:
    return b"stream/" + f"{table_id}/{label}/".encode()


@dataclass(slots=True, kw_only=True)
class StreamRecords:
    """What a restarted stream actor starts from."""

    floors: dict[str, int] = field(default_factory=dict)
    archives: dict[str, list[Any]] = field(default_factory=dict)  # retired partition -> its ShardStates
    checkpoints: dict[str, dict[str, int]] = field(default_factory=dict)


class StreamJournal:
    """One stream's keys. The actor marks what changed (with how to read it now); ``take`` encodes it."""

    def __init__(self, kv: KeyValue, table_id: str, label: str) -> None:
        self._kv = kv
        self._prefix = _prefix(table_id, label)
        self._dirty: dict[bytes, Callable[[], Any]] = {}
        self.version = 0  # changes marked so far

    def load(self) -> StreamRecords | None:
        """The stream's records, or None for a stream that never stored any (a new one)."""
        found = self._kv.items(self._prefix)
        if not found:
            return None
        records = StreamRecords()
        for key, value in found:
            name = key[len(self._prefix) :]
            try:
                decoded = pickle.loads(value)
            except Exception:  # noqa: BLE001 - written by an incompatible grid
                log.exception("a stream record does not read back; skipped")
                continue
            if name == _FLOORS:
                records.floors = decoded
            elif name == _CHECKPOINTS:
                records.checkpoints = decoded
            elif name.startswith(_ARCHIVE):
                records.archives[name[len(_ARCHIVE) :].decode()] = decoded
        return records

    def floors_changed(self, floors: Callable[[], dict[str, int]]) -> None:
        self._mark(_FLOORS, floors)

    def checkpoints_changed(self, checkpoints: Callable[[], dict[str, dict[str, int]]]) -> None:
        self._mark(_CHECKPOINTS, checkpoints)

    def archive_changed(self, partition_id: str, shards: Callable[[], list[Any] | None]) -> None:
        """A retired partition's shards (None: it writes again, after a failed merge)."""
        self._mark(_ARCHIVE + partition_id.encode(), shards)

    def _mark(self, name: bytes, read: Callable[[], Any]) -> None:
        self._dirty[name] = read
        self.version += 1

    def take(self) -> list[Taken]:
        """The marked keys with their values as they are now (None: delete the key)."""
        dirty, self._dirty = self._dirty, {}
        taken = []
        for name, read in dirty.items():
            value = read()
            taken.append((name, read, None if value is None else pickle.dumps(value, protocol=5)))
        return taken

    def give_back(self, taken: list[Taken]) -> None:
        """Keys whose write failed: marked again (read again at the next write, so as they are then)."""
        for name, read, _ in taken:
            self._dirty.setdefault(name, read)

    def write(self, taken: list[Taken]) -> None:
        for name, _, value in taken:
            if value is None:
                self._kv.delete(self._prefix + name)
            else:
                self._kv.put(self._prefix + name, value)


def forget_stream(kv: KeyValue, table_id: str, label: str) -> None:
    """Delete a stream's records (its table is deleted)."""
    for key, _ in kv.items(_prefix(table_id, label)):
        kv.delete(key)

"""Write-before-answer for actors whose state lives in the key-value store.

A ledger or a stream actor changes its state in memory (atomically: no await), then
waits for ``StoreWriter.stored()`` before it answers: so nothing it ever answered is
lost when Ray restarts it, and one write carries every change made while the
previous write ran (a call costs one write at most, a busy actor far less).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from grid.errors import PartitionUnavailableError

__all__ = ["StoreWriter"]

log = logging.getLogger("grid")

Batch = TypeVar("Batch")


class StoreWriter(Generic[Batch]):
    """Group commit to a key-value store.

    ``version`` counts the owner's changes so far; ``take`` takes (and encodes) the
    changes not yet written, in the event loop, so nothing changes them meanwhile;
    ``write`` stores them, on a thread (the store's client blocks); ``give_back``
    returns a batch whose write failed, to go out with the next one.
    """

    def __init__(
        self,
        *,
        version: Callable[[], int],
        take: Callable[[], Batch],
        write: Callable[[Batch], None],
        give_back: Callable[[Batch], None],
    ) -> None:
        self._version, self._take, self._write, self._give_back = version, take, write, give_back
        self._stored = version()  # what the owner loaded from the store is stored
        self._writing: asyncio.Future[None] | None = None

    async def stored(self) -> None:
        """Return once every change made so far is in the store; ``PartitionUnavailableError`` if it cannot be."""
        wanted = self._version()
        while self._stored < wanted:
            if self._writing is None:
                self._writing = asyncio.ensure_future(self._write_now())
            await asyncio.shield(self._writing)

    async def _write_now(self) -> None:
        version = self._version()
        batch = self._take()
        try:
            await asyncio.to_thread(self._write, batch)
        except Exception as error:
            self._give_back(batch)
            log.exception("an actor cannot write to the key-value store")
            raise PartitionUnavailableError("A grid actor cannot reach the cluster's key-value store") from error
        else:
            self._stored = version
        finally:
            self._writing = None

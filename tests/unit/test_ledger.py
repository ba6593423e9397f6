"""The transaction ledger keeps its word across its own death.

A ledger answers only once its change is in the key-value store, and a restarted
ledger (a new ``LedgerActor`` on the same store, as Ray restarts one) reads every
decision and token back: a COMMITTED that a coordinator heard is never resolved as
ABORTED by a partition that asks later.
"""

from __future__ import annotations

import asyncio

import pytest

from actors.catalog_store import MemoryKeyValue
from actors.ledger import TOKEN_WINDOW_SECONDS, LedgerActor, LedgerJournal
from grid._requests import ABORTED, COMMITTED, PENDING
from grid.errors import PartitionUnavailableError, TransactionInProgressException


class Store:
    """An actor system reduced to its key-value store (all a ledger uses)."""

    def __init__(self) -> None:
        self.kv = CountingKeyValue()

    def key_value(self) -> CountingKeyValue:
        return self.kv


class CountingKeyValue(MemoryKeyValue):
    def __init__(self) -> None:
        super().__init__()
        self.puts = 0
        self.failures = 0  # writes still to fail

    def put(self, key: bytes, value: bytes) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the store is unreachable")
        self.puts += 1
        super().put(key, value)


async def test_a_restarted_ledger_keeps_every_decision() -> None:
    store = Store()
    ledger = LedgerActor(store, 0)  # type: ignore[arg-type]
    assert await ledger.decide_many([("t1", COMMITTED), ("t2", ABORTED)]) == [COMMITTED, ABORTED]

    restarted = LedgerActor(store, 0)  # type: ignore[arg-type]
    # A partition whose lock outlived its lease asks: the decision stands.
    assert await restarted.resolve("t1") == COMMITTED
    assert await restarted.decide_many([("t2", COMMITTED)]) == [ABORTED]
    assert restarted.ledger.state("t3") == PENDING
    # Ledgers do not share records.
    assert LedgerActor(store, 1).ledger.state("t1") == PENDING  # type: ignore[arg-type]


async def test_a_restarted_ledger_keeps_client_tokens() -> None:
    store = Store()
    ledger = LedgerActor(store, 0)  # type: ignore[arg-type]
    assert await ledger.begin_token("token:a", "digest", "t1", 30.0) == (False, None)
    # The same call again (Ray retries calls a dead ledger was running) changes nothing.
    assert await ledger.begin_token("token:a", "digest", "t1", 30.0) == (False, None)

    restarted = LedgerActor(store, 0)  # type: ignore[arg-type]
    with pytest.raises(TransactionInProgressException):
        await restarted.begin_token("token:a", "digest", "t2", 30.0)
    await restarted.decide_many([("t1", COMMITTED)])
    await restarted.finish_token("token:a", {"done": True})

    again = LedgerActor(store, 0)  # type: ignore[arg-type]
    assert await again.begin_token("token:a", "digest", "t3", 30.0) == (True, {"done": True})


async def test_concurrent_calls_share_writes() -> None:
    store = Store()
    ledger = LedgerActor(store, 0)  # type: ignore[arg-type]
    answers = await asyncio.gather(*(ledger.decide_many([(f"t{n}", COMMITTED)]) for n in range(50)))
    assert answers == [[COMMITTED]] * 50
    assert store.kv.puts < 50
    restarted = LedgerActor(store, 0)  # type: ignore[arg-type]
    assert all(restarted.ledger.state(f"t{n}") == COMMITTED for n in range(50))


async def test_a_failed_write_is_not_answered_and_goes_out_with_the_next() -> None:
    store = Store()
    ledger = LedgerActor(store, 0)  # type: ignore[arg-type]
    store.kv.failures = 1
    with pytest.raises(PartitionUnavailableError):
        await ledger.decide_many([("t1", COMMITTED)])
    assert await ledger.decide_many([("t2", ABORTED)]) == [ABORTED]
    restarted = LedgerActor(store, 0)  # type: ignore[arg-type]
    assert (restarted.ledger.state("t1"), restarted.ledger.state("t2")) == (COMMITTED, ABORTED)


def test_records_older_than_the_token_window_leave_the_store() -> None:
    now = [1000.0]
    kv = MemoryKeyValue()
    journal = LedgerJournal(kv, 0, clock=lambda: now[0])
    ledger = journal.load()
    ledger.decide("old", COMMITTED)
    ledger.begin_token("token:old", "digest", "old", 30.0)
    journal.write(*journal.encode(ledger.take_changes()))
    assert len(kv.data) == 2

    now[0] += TOKEN_WINDOW_SECONDS + 1
    ledger.decide("new", ABORTED)  # collects the old decision and token
    journal.write(*journal.encode(ledger.take_changes()))
    assert len(kv.data) == 1

    reloaded = LedgerJournal(kv, 0, clock=lambda: now[0]).load()
    assert (reloaded.state("old"), reloaded.state("new")) == (PENDING, ABORTED)

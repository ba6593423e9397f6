"""The transaction ledger: the durable record of each transaction's decision.

grid's coordinator is the client that runs a transaction; it may die at any point.
The ledger (a few detached actors per grid, chosen by transaction id) is where the
outcome is decided, exactly once: the first ``decide`` for a transaction stands. The
coordinator decides COMMITTED or ABORTED after the prepare phase; a partition whose
lock outlived its lease calls ``resolve``, which decides ABORTED unless a decision
already stands. Both decide without awaiting, so exactly one of them wins. The ledger
also keeps ``ClientRequestToken`` records for ten minutes, for idempotent retries.

A ledger answers only once what it decided is in the grid's key-value store (Ray's
GCS store on a cluster): Ray restarts a ledger that dies, and the new one reads its
decisions and tokens back, so a decision that anyone has heard is never taken back.
Decisions are written in batches (one write per group of calls), tokens one key each.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from actors.store_writer import StoreWriter
from actors.system import ActorSystem, KeyValue
from grid._requests import ABORTED, COMMITTED, PENDING
from grid.errors import IdempotentParameterMismatchException, TransactionInProgressException

__all__ = ["LedgerActor", "LedgerJournal", "TransactionLedger"]

log = logging.getLogger("grid.ledger")
TOKEN_WINDOW_SECONDS = 600.0  # DynamoDB keeps a ClientRequestToken for 10 minutes


@dataclass(slots=True, kw_only=True)
class Decision:
    state: str
    decided_at: float


@dataclass(slots=True, kw_only=True)
class TokenRecord:
    digest: str
    created_at: float
    attempt: str | None = None  # the transaction now running for this token
    attempt_lease_ends: float = 0.0
    outcome: Any = None
    finished: bool = False


@dataclass(slots=True)
class LedgerChanges:
    """What changed since the ledger's last write: new decisions, and tokens changed (None: dropped)."""

    decisions: list[tuple[str, Decision]] = field(default_factory=list)
    tokens: dict[str, TokenRecord | None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.decisions or self.tokens)


class TransactionLedger:
    """Decisions of transactions by id, and client tokens; every method is atomic.

    Each change is also noted in ``changes`` (and counted in ``version``) until the
    actor takes it to be written.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        decisions: dict[str, Decision] | None = None,
        tokens: dict[str, TokenRecord] | None = None,
    ) -> None:
        self._clock = clock
        self._decisions: dict[str, Decision] = decisions or {}
        self._tokens: dict[str, TokenRecord] = tokens or {}
        self.changes = LedgerChanges()
        self.version = 0  # changes made so far

    def take_changes(self) -> LedgerChanges:
        changes, self.changes = self.changes, LedgerChanges()
        return changes

    def untake_changes(self, changes: LedgerChanges) -> None:
        """Changes whose write failed: they go out with the next write (newer token states win)."""
        self.changes.decisions[:0] = changes.decisions
        for token, record in changes.tokens.items():
            self.changes.tokens.setdefault(token, record)

    def _changed_token(self, token: str, record: TokenRecord | None) -> None:
        self.changes.tokens[token] = record
        self.version += 1

    # -- decisions ------------------------------------------------------------------

    def decide(self, txid: str, state: str) -> str:
        """Record the outcome once; answers the outcome that stands.

        A recoverer may have aborted the transaction first (``resolve``): then a
        coordinator's COMMITTED is answered with ABORTED and must not be applied.
        """
        decision = self._decisions.get(txid)
        if decision is None:
            self._collect()
            decision = self._decisions[txid] = Decision(state=state, decided_at=self._clock())
            self.changes.decisions.append((txid, decision))
            self.version += 1
        return decision.state

    def resolve(self, txid: str) -> str:
        """The outcome for a partition whose lock outlived its lease.

        A transaction with no decision yet is decided ABORTED here: its coordinator has
        been silent for a whole lease, and from now on it can no longer commit.
        """
        return self.decide(txid, ABORTED)

    def state(self, txid: str) -> str:
        decision = self._decisions.get(txid)
        return decision.state if decision is not None else PENDING

    # -- client request tokens -----------------------------------------------------------

    def begin_token(self, token: str, digest: str, txid: str, lease: float) -> tuple[bool, Any]:
        """Register a ``ClientRequestToken`` for attempt ``txid``; ``(True, outcome)`` replays a finished request.

        Raises ``IdempotentParameterMismatchException`` for a token reused with other
        parameters and ``TransactionInProgressException`` while an earlier attempt may
        still commit.
        """
        self._collect()
        now = self._clock()
        record = self._tokens.get(token)
        if record is None:
            record = self._tokens[token] = TokenRecord(
                digest=digest, created_at=now, attempt=txid, attempt_lease_ends=now + lease
            )
            self._changed_token(token, record)
            return False, None
        if record.digest != digest:
            raise IdempotentParameterMismatchException(
                "The request uses the same client token as a previous, but non-identical request."
            )
        if record.finished:
            return True, record.outcome
        if record.attempt == txid:
            return False, None  # the same attempt again: its call was retried
        if record.attempt is not None:
            state = self.state(record.attempt)
            if state == PENDING and record.attempt_lease_ends > now:
                raise TransactionInProgressException("Another transaction with this client token is in progress")
            if self.resolve(record.attempt) == COMMITTED:  # its coordinator died after the decision
                record.finished, record.outcome = True, None
                self._changed_token(token, record)
                return True, None
        record.attempt, record.attempt_lease_ends = txid, now + lease
        self._changed_token(token, record)
        return False, None

    def finish_token(self, token: str, outcome: Any) -> None:
        record = self._tokens.get(token)
        if record is not None:
            record.finished, record.outcome = True, outcome
            self._changed_token(token, record)

    def _collect(self) -> None:
        horizon = self._clock() - TOKEN_WINDOW_SECONDS
        for txid in [t for t, d in self._decisions.items() if d.decided_at < horizon]:
            del self._decisions[txid]
        for token in [t for t, r in self._tokens.items() if r.created_at < horizon]:
            del self._tokens[token]
            self._changed_token(token, None)


_DECISIONS = b"decisions/"
_TOKENS = b"tokens/"


class LedgerJournal:
    """One ledger's records in the key-value store: decision batches, and a key per token.

    A batch of decisions is dropped once its newest decision is older than the token
    window (the ledger forgets those decisions then too).
    """

    def __init__(self, kv: KeyValue, index: int, clock: Callable[[], float] = time.time) -> None:
        self._kv = kv
        self._prefix = b"ledger/%d/" % index
        self._clock = clock
        self._batches: deque[tuple[bytes, float]] = deque()  # (key, newest decision's time), oldest first
        self._next_batch = 0

    def load(self) -> TransactionLedger:
        """The ledger as its records leave it (a record that does not read back is logged and skipped)."""
        decisions: dict[str, Decision] = {}
        tokens: dict[str, TokenRecord] = {}
        for key, value in self._kv.items(self._prefix):
            name = key[len(self._prefix) :]
            try:
                if name.startswith(_DECISIONS):
                    batch: list[tuple[str, Decision]] = pickle.loads(value)
                    decisions.update(batch)
                    newest = max((d.decided_at for _, d in batch), default=0.0)
                    self._batches.append((key, newest))
                    self._next_batch = max(self._next_batch, int(name[len(_DECISIONS) :], 16) + 1)
                elif name.startswith(_TOKENS):
                    tokens[bytes.fromhex(name[len(_TOKENS) :].decode("ascii")).decode("utf-8")] = pickle.loads(value)
            except Exception:  # noqa: BLE001 - written by an incompatible grid
                log.exception("a ledger record does not read back; skipped")
        self._batches = deque(sorted(self._batches, key=lambda batch: batch[0]))
        return TransactionLedger(self._clock, decisions, tokens)

    def encode(self, changes: LedgerChanges) -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
        """The writes and deletes that record ``changes`` (encoded now, while nothing changes them)."""
        puts: list[tuple[bytes, bytes]] = []
        deletes: list[bytes] = []
        if changes.decisions:
            key = self._prefix + _DECISIONS + b"%016x" % self._next_batch
            self._next_batch += 1
            puts.append((key, pickle.dumps(changes.decisions, protocol=5)))
            self._batches.append((key, max(d.decided_at for _, d in changes.decisions)))
        for token, record in changes.tokens.items():
            key = self._prefix + _TOKENS + token.encode("utf-8").hex().encode("ascii")
            if record is None:
                deletes.append(key)
            else:
                puts.append((key, pickle.dumps(record, protocol=5)))
        horizon = self._clock() - TOKEN_WINDOW_SECONDS
        while self._batches and self._batches[0][1] < horizon:
            deletes.append(self._batches.popleft()[0])
        return puts, deletes

    def write(self, puts: list[tuple[bytes, bytes]], deletes: list[bytes]) -> None:
        for key, value in puts:
            self._kv.put(key, value)
        for key in deletes:
            self._kv.delete(key)


class LedgerActor:
    """The ledger as an async actor: every method decides without awaiting, so each is atomic,
    and answers once its change is stored."""

    def __init__(self, system: ActorSystem, index: int) -> None:
        journal = LedgerJournal(system.key_value(), index)
        self.ledger = ledger = journal.load()

        def take() -> tuple[LedgerChanges, list[tuple[bytes, bytes]], list[bytes]]:
            changes = ledger.take_changes()
            return (changes, *journal.encode(changes))

        self._writer = StoreWriter(
            version=lambda: ledger.version,
            take=take,
            write=lambda batch: journal.write(batch[1], batch[2]),
            give_back=lambda batch: ledger.untake_changes(batch[0]),
        )

    async def decide_many(self, decisions: list[tuple[str, str]]) -> list[str]:
        """Several coordinators' decisions in one call (the client coalesces them)."""
        answers = [self.ledger.decide(txid, state) for txid, state in decisions]
        await self._writer.stored()
        return answers

    async def resolve(self, txid: str) -> str:
        answer = self.ledger.resolve(txid)
        await self._writer.stored()
        return answer

    async def begin_token(self, token: str, digest: str, txid: str, lease: float) -> tuple[bool, Any]:
        answer = self.ledger.begin_token(token, digest, txid, lease)
        await self._writer.stored()
        return answer

    async def finish_token(self, token: str, outcome: Any) -> None:
        self.ledger.finish_token(token, outcome)
        await self._writer.stored()

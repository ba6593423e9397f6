"""The transaction ledger: the durable record of each transaction's decision.

grid's coordinator is the client that runs a transaction; it may die at any point.
The ledger (a few detached actors per grid, chosen by transaction id) is where the
outcome is decided, exactly once: the first ``decide`` for a transaction stands. The
coordinator decides COMMITTED or ABORTED after the prepare phase; a partition whose
lock outlived its lease calls ``resolve``, which decides ABORTED unless a decision
already stands. Both run without awaiting, so exactly one of them wins. The ledger also keeps ``ClientRequestToken`` records for ten
minutes, for idempotent retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from grid._requests import ABORTED, COMMITTED, PENDING
from grid.errors import IdempotentParameterMismatchException, TransactionInProgressException

__all__ = ["LedgerActor", "TransactionLedger"]
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


class TransactionLedger:
    """Decisions of transactions by id, and client tokens; every method is atomic."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._decisions: dict[str, Decision] = {}
        self._tokens: dict[str, TokenRecord] = {}

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
            self._tokens[token] = TokenRecord(
                digest=digest, created_at=now, attempt=txid, attempt_lease_ends=now + lease
            )
            return False, None
        if record.digest != digest:
            raise IdempotentParameterMismatchException(
                "The request uses the same client token as a previous, but non-identical request."
            )
        if record.finished:
            return True, record.outcome
        if record.attempt is not None:
            state = self.state(record.attempt)
            if state == PENDING and record.attempt_lease_ends > now:
                raise TransactionInProgressException("Another transaction with this client token is in progress")
            if self.resolve(record.attempt) == COMMITTED:  # its coordinator died after the decision
                record.finished, record.outcome = True, None
                return True, None
        record.attempt, record.attempt_lease_ends = txid, now + lease
        return False, None

    def finish_token(self, token: str, outcome: Any) -> None:
        record = self._tokens.get(token)
        if record is not None:
            record.finished, record.outcome = True, outcome

    def _collect(self) -> None:
        horizon = self._clock() - TOKEN_WINDOW_SECONDS
        for txid in [t for t, d in self._decisions.items() if d.decided_at < horizon]:
            del self._decisions[txid]
        for token in [t for t, r in self._tokens.items() if r.created_at < horizon]:
            del self._tokens[token]


class LedgerActor:
    """The ledger as an async actor: every method runs without awaiting, so each is atomic."""

    def __init__(self) -> None:
        self.ledger = TransactionLedger()

    async def decide_many(self, decisions: list[tuple[str, str]]) -> list[str]:
        """Several coordinators' decisions in one call (the client coalesces them)."""
        return [self.ledger.decide(txid, state) for txid, state in decisions]

    async def resolve(self, txid: str) -> str:
        return self.ledger.resolve(txid)

    async def begin_token(self, token: str, digest: str, txid: str, lease: float) -> tuple[bool, Any]:
        return self.ledger.begin_token(token, digest, txid, lease)

    async def finish_token(self, token: str, outcome: Any) -> None:
        self.ledger.finish_token(token, outcome)

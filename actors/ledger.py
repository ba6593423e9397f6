"""The transaction ledger: the durable record of each transaction's decision.

grid's coordinator is the client that runs a transaction; it may die at any point.
The ledger (a few detached actors per grid, chosen by transaction id) is where the
outcome is decided, exactly once: ``decide`` turns a PENDING record into COMMITTED
or ABORTED, and ``resolve``, asked by a partition whose lock outlived its lease,
aborts a PENDING record whose lease ran out. Both run without awaiting, so they
cannot both win. The ledger also keeps ``ClientRequestToken`` records for ten
minutes, for idempotent retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from grid.errors import GridError, IdempotentParameterMismatchException, TransactionInProgressException

__all__ = ["COMMITTED", "PENDING", "ABORTED", "TransactionLedger"]

PENDING, COMMITTED, ABORTED = "PENDING", "COMMITTED", "ABORTED"
TOKEN_WINDOW_SECONDS = 600.0  # DynamoDB keeps a ClientRequestToken for 10 minutes


@dataclass(slots=True, kw_only=True)
class Decision:
    state: str
    lease_ends: float
    decided_at: float | None = None


@dataclass(slots=True, kw_only=True)
class TokenRecord:
    digest: str
    created_at: float
    attempts: list[str] = field(default_factory=list)
    outcome: Any = None
    finished: bool = False


class TransactionLedger:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._decisions: dict[str, Decision] = {}
        self._tokens: dict[str, TokenRecord] = {}

    # -- decisions ------------------------------------------------------------------

    def start(self, txid: str, lease: float, token: str | None = None) -> str:
        """Open a PENDING record for ``txid``; answers its state (ABORTED if already resolved)."""
        self._collect()
        decision = self._decisions.get(txid)
        if decision is None:
            self._decisions[txid] = Decision(state=PENDING, lease_ends=self._clock() + lease)
            if token is not None and token in self._tokens:
                self._tokens[token].attempts.append(txid)
            return PENDING
        return decision.state

    def decide(self, txid: str, state: str) -> str:
        """Set the outcome once; answers the outcome that stands (a recoverer may have aborted first)."""
        decision = self._decisions.get(txid)
        if decision is None:
            decision = self._decisions[txid] = Decision(state=ABORTED, lease_ends=0.0, decided_at=self._clock())
        if decision.state == PENDING:
            decision.state = state
            decision.decided_at = self._clock()
        return decision.state

    def resolve(self, txid: str) -> str:
        """The outcome for a partition holding an expired lock: abort a PENDING record past its lease.

        An unknown transaction is recorded ABORTED, so that a coordinator that has not
        yet started it can never commit it.
        """
        decision = self._decisions.get(txid)
        now = self._clock()
        if decision is None:
            self._decisions[txid] = Decision(state=ABORTED, lease_ends=0.0, decided_at=now)
            return ABORTED
        if decision.state == PENDING and decision.lease_ends <= now:
            decision.state = ABORTED
            decision.decided_at = now
        return decision.state

    # -- client request tokens -----------------------------------------------------------

    def begin_token(self, token: str, digest: str) -> tuple[bool, Any]:
        """Register a ``ClientRequestToken``; answers ``(True, outcome)`` to replay a finished request.

        Raises ``IdempotentParameterMismatchException`` for a token reused with other
        parameters and ``TransactionInProgressException`` while its first request runs.
        """
        self._collect()
        record = self._tokens.get(token)
        if record is None:
            self._tokens[token] = TokenRecord(digest=digest, created_at=self._clock())
            return False, None
        if record.digest != digest:
            raise IdempotentParameterMismatchException(
                "The request uses the same client token as a previous, but non-identical request."
            )
        if record.finished:
            return True, record.outcome
        if record.attempts:
            last = record.attempts[-1]
            state = self.resolve(last)
            if state == COMMITTED:  # its coordinator died after the decision: the request succeeded
                record.finished, record.outcome = True, None
                return True, None
            if state == PENDING:
                raise TransactionInProgressException("Another transaction with this client token is in progress")
        return False, None

    def finish_token(self, token: str, outcome: Any) -> None:
        record = self._tokens.get(token)
        if record is not None:
            record.finished, record.outcome = True, outcome

    def _collect(self) -> None:
        horizon = self._clock() - TOKEN_WINDOW_SECONDS
        for txid in [t for t, d in self._decisions.items() if d.decided_at is not None and d.decided_at < horizon]:
            del self._decisions[txid]
        for token in [t for t, r in self._tokens.items() if r.created_at < horizon]:
            del self._tokens[token]


class LedgerActor:
    """The ledger as an async actor: every method runs without awaiting, so each is atomic."""

    def __init__(self) -> None:
        self.ledger = TransactionLedger()

    async def start(self, txid: str, lease: float, token: str | None = None) -> str:
        return self.ledger.start(txid, lease, token)

    async def decide(self, txid: str, state: str) -> str:
        return self.ledger.decide(txid, state)

    async def resolve(self, txid: str) -> str:
        return self.ledger.resolve(txid)

    async def begin_token(self, token: str, digest: str) -> tuple[bool, Any] | GridError:
        try:
            return self.ledger.begin_token(token, digest)
        except GridError as error:
            return error

    async def finish_token(self, token: str, outcome: Any) -> None:
        self.ledger.finish_token(token, outcome)

"""TransactWriteItems and TransactGetItems: all-or-nothing across partitions and tables.

The client coordinates, and may die at any point without leaving the grid stuck:

1. With a ``ClientRequestToken``, the ledger that owns the token replays a finished
   request's outcome or refuses a reuse with other parameters.
2. Every partition involved prepares its actions (checks conditions, computes new
   images, locks the items for a lease), in parallel.
3. The ledger records the decision: COMMITTED if every action prepared, else
   ABORTED. This is the commit point. A partition whose lock outlives its lease asks
   the ledger, which aborts an undecided transaction, so a dead coordinator leaves no
   lock behind and a late one can no longer commit.
4. The partitions commit (apply through their write path, so streams see it) or abort.

Messages to partitions and ledgers ride the client's per-actor batchers, so
concurrent transactions share actor calls with each other and with single-item
traffic.

Actions that all fall in one partition skip the ledger: the partition prepares and
commits them in one atomic step. Reads use two rounds: read, then validate that no
item was locked or written in between, so a snapshot never shows half a transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from grid._capacity import Consumed, consumed_capacity_response, return_consumed_capacity
from grid._codec import decode_item
from grid._dispatch import Dispatcher, TableRoute
from grid._expression_args import PreparedExpressions
from grid._item_requests import (
    build_condition_check,
    build_delete,
    build_get,
    build_put,
    build_update,
    prepared,
    shape_item,
)
from grid._keys import KeySchema, StorageKey
from grid._naming import ledger_index
from grid._operations import check_request
from grid._partition_map import PartitionRange
from grid._requests import (
    ABORTED,
    COMMITTED,
    LOCKED,
    ConditionCheckOp,
    DeleteOp,
    GetOp,
    PutOp,
    TxAbort,
    TxCommit,
    TxExecute,
    TxMessage,
    TxPrepare,
    TxRead,
    TxValidate,
    UpdateOp,
)
from grid.errors import (
    PartitionMovedError,
    PartitionUnavailableError,
    TransactionCanceledException,
    ValidationException,
)

__all__ = ["transact_get_items", "transact_write_items"]

MAX_ACTIONS = 100
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
DEFAULT_LEASE_SECONDS = 5.0
MAX_ATTEMPTS = 5  # attempts when a partition moved mid-transaction: abort and start over on the new map
READ_ROUNDS = 40
OPTIMISTIC_READ_ROUNDS = 2
READ_BACKOFF_SECONDS = 0.005  # writes hold items for milliseconds: retry reads soon

TxOp = PutOp | UpdateOp | DeleteOp | ConditionCheckOp

_BUILDERS: dict[str, Callable[[KeySchema, Mapping[str, Any]], TxOp]] = {
    "Put": build_put,
    "Update": build_update,
    "Delete": build_delete,
    "ConditionCheck": build_condition_check,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class TxAction:
    index: int
    table: str
    op: TxOp


def _canceled(reasons: list[dict[str, Any] | None]) -> TransactionCanceledException:
    full = [reason or {"Code": "None"} for reason in reasons]
    codes = ", ".join(reason["Code"] for reason in full)
    return TransactionCanceledException(
        f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        cancellation_reasons=full,
    )


def _digest(params: Mapping[str, Any]) -> str:
    """Parameters' fingerprint for ``ClientRequestToken`` reuse; dict order does not matter."""
    canonical = json.dumps(
        params, sort_keys=True, default=lambda v: sorted(map(str, v)) if isinstance(v, (set, frozenset)) else str(v)
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _action_list(items: Any) -> list[Any]:
    """``TransactItems`` holds 1 to 100 actions (DynamoDB's two messages; it also dumps the value)."""
    if not isinstance(items, list):
        raise ValidationException("TransactItems must be a list of actions")
    if not items:
        raise ValidationException(
            "1 validation error detected: Value '[]' at 'transactItems' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )
    if len(items) > MAX_ACTIONS:
        raise ValidationException(
            "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: "
            "Member must have length less than or equal to 100"
        )
    return items


async def _actions(dispatcher: Dispatcher, items: Any) -> list[TxAction]:
    items = _action_list(items)
    actions = []
    mismatches: list[dict[str, Any] | None] = [None] * len(items)
    for index, entry in enumerate(items):
        if len(entry) != 1:
            raise ValidationException(
                "Each TransactItems element must have exactly one of Put, Update, Delete or ConditionCheck"
            )
        kind, body = next(iter(entry.items()))
        table = body.get("TableName")
        if table is None:
            raise ValidationException(f"TransactItems[{index}].{kind} needs a TableName")
        schema = (await dispatcher.route(table)).spec.key_schema
        try:
            op = await prepared(body, _BUILDERS[kind], schema, body)
            actions.append(TxAction(index=index, table=table, op=op))
        except ValidationException as error:
            if not error.details.get("key_mismatch"):
                raise
            # DynamoDB cancels the transaction for a key of the wrong type, with the reason at its place.
            mismatches[index] = {"Code": "ValidationError", "Message": error.message}
    if any(mismatches):
        raise _canceled(mismatches)
    if len({(a.table, a.op.key.key) for a in actions}) != len(actions):
        raise ValidationException("Transaction request cannot include multiple operations on one item")
    size = sum(len(a.op.item) if isinstance(a.op, PutOp) else 0 for a in actions)
    if size > MAX_TRANSACTION_BYTES:
        raise ValidationException("Transaction size has exceeded the maximum allowed size of 4 MB")
    return actions


Group = tuple[TableRoute, PartitionRange, list[TxAction]]


async def _groups(dispatcher: Dispatcher, actions: list[TxAction]) -> list[Group]:
    """Actions grouped by the partition that owns them, on each table's current map."""
    grouped: dict[str, Group] = {}
    for action in actions:
        route = await dispatcher.route(action.table)
        partition = route.map.partition_for(action.op.key.hash)
        grouped.setdefault(partition.partition_id, (route, partition, []))[2].append(action)
    return list(grouped.values())


class _Writer:
    """One TransactWriteItems: each attempt is a fresh transaction id on the current maps."""

    def __init__(self, dispatcher: Dispatcher, actions: list[TxAction], lease: float) -> None:
        self.dispatcher = dispatcher
        self.actions = actions
        self.lease = lease

    def send(self, group: Group, message: TxMessage) -> Awaitable[Any]:
        """One message to a group's partition, coalesced with other traffic to it."""
        route, partition, _ = group
        return self.dispatcher.send(route, partition, message)

    async def attempt(self, token_key: str | None, digest: str) -> Outcome:
        """One try; a partition that moved or was merged away meanwhile raises, after aborting."""
        txid = uuid.uuid4().hex
        if token_key is not None:
            ledger = self.dispatcher.ledger(ledger_index(token_key))
            replay, outcome = await ledger.begin_token(token_key, digest, txid, self.lease)
            if replay:
                return outcome, {}
        groups = await _groups(self.dispatcher, self.actions)
        if len(groups) == 1 and token_key is None:
            # A token needs the ledger's decision record, so it always takes two phases.
            reasons, units = await self._in_one_partition(groups[0])
        else:
            reasons, units = await self._two_phase(txid, groups)
        if token_key is not None:
            await self.dispatcher.ledger(ledger_index(token_key)).finish_token(token_key, reasons)
        return reasons, units

    async def _in_one_partition(self, group: Group) -> Outcome:
        answers = await self.send(group, TxExecute(ops=tuple(a.op for a in group[2])))
        reasons: list[dict[str, Any] | None] = [None] * len(self.actions)
        units: dict[str, float] = {}
        _take_answers(group[2], answers, reasons, units)
        return (reasons if any(reasons) else None), units

    async def _two_phase(self, txid: str, groups: list[Group]) -> Outcome:
        ledger_number = ledger_index(txid)
        answers = await asyncio.gather(
            *(
                self.send(
                    g, TxPrepare(txid=txid, ledger=ledger_number, lease=self.lease, ops=tuple(a.op for a in g[2]))
                )
                for g in groups
            ),
            return_exceptions=True,
        )
        reasons: list[dict[str, Any] | None] = [None] * len(self.actions)
        units: dict[str, float] = {}
        failure: BaseException | None = None
        for group, answer in zip(groups, answers, strict=True):
            if isinstance(answer, BaseException):
                failure = failure or answer
                continue
            _take_answers(group[2], answer, reasons, units)
        self.dispatcher.fault_point("prepared")
        wanted = COMMITTED if failure is None and not any(reasons) else ABORTED
        decision = await self.dispatcher.decide(ledger_number, txid, wanted)
        if decision == COMMITTED:
            self.dispatcher.fault_point("decided")
            # Committed from here on: a partition that misses this message finishes the
            # transaction from the ledger when its lock's lease runs out.
            await asyncio.gather(*(self.send(g, TxCommit(txid=txid)) for g in groups), return_exceptions=True)
            return None, units
        await asyncio.gather(*(self.send(g, TxAbort(txid=txid)) for g in groups), return_exceptions=True)
        if failure is not None:
            raise failure
        if not any(reasons):  # every action prepared, but a recoverer aborted the attempt first
            reasons = [{"Code": "TransactionConflict", "Message": "The transaction's lease expired"}] * len(
                self.actions
            )
        return reasons, units


async def transact_write_items(dispatcher: Dispatcher, params: Mapping[str, Any], lease: float) -> dict[str, Any]:
    check_request("TransactWriteItems", params)
    capacity = return_consumed_capacity(params)
    actions = await _actions(dispatcher, params.get("TransactItems"))
    token = params.get("ClientRequestToken")
    if token is not None and not 1 <= len(token) <= 36:
        raise ValidationException("ClientRequestToken must be a string of 1 to 36 characters")
    token_key = f"token:{token}" if token is not None else None
    digest = _digest(params["TransactItems"]) if token_key is not None else ""
    writer = _Writer(dispatcher, actions, lease)
    # A moved or merged-away partition aborts the attempt, and the next one runs on the
    # new maps; any other failure ends the transaction (a retry could apply it twice).
    policy = replace(dispatcher.policy, max_attempts=1, max_map_refreshes=MAX_ATTEMPTS - 1)
    tables = sorted({action.table for action in actions})
    try:
        reasons, units = await dispatcher.retrying(tables, lambda: writer.attempt(token_key, digest), policy)
    except PartitionMovedError:
        raise TransactionCanceledException(
            "Transaction cancelled: the partition map kept changing", cancellation_reasons=[]
        ) from None
    if reasons is not None:
        raise _canceled(reasons)
    consumed = [Consumed(table, write=total) for table, total in units.items()]
    return consumed_capacity_response(consumed, capacity, as_list=True)


Outcome = tuple[list[dict[str, Any] | None] | None, dict[str, float]]


def _take_answers(
    members: list[TxAction], answers: list[Any], reasons: list[dict[str, Any] | None], units: dict[str, float]
) -> None:
    """Spread a partition's answers: a reason where an action failed, its units where it went ahead."""
    for action, answer in zip(members, answers, strict=True):
        if isinstance(answer, dict):
            reasons[action.index] = answer
        else:
            units[action.table] = units.get(action.table, 0.0) + answer


async def transact_get_items(dispatcher: Dispatcher, params: Mapping[str, Any], lease: float) -> dict[str, Any]:
    """A consistent snapshot of up to 100 items: never half of a committed transaction."""
    check_request("TransactGetItems", params)
    items = _action_list(params.get("TransactItems"))
    reads: list[tuple[str, GetOp, PreparedExpressions, Mapping[str, Any]]] = []
    for index, entry in enumerate(items):
        if set(entry) != {"Get"}:
            raise ValidationException("Each TransactGetItems element must be a Get")
        body = entry["Get"]
        table = body.get("TableName")
        if table is None:
            raise ValidationException(f"TransactItems[{index}].Get needs a TableName")
        schema = (await dispatcher.route(table)).spec.key_schema
        op, expressions = await prepared(body, build_get, schema, body)
        reads.append((body["TableName"], op, expressions, body))
    if len({(table, op.key.key) for table, op, _, _ in reads}) != len(reads):
        raise ValidationException("Transaction request cannot include multiple operations on one item")
    pairs = [(table, op) for table, op, _, _ in reads]
    values, conflicts = None, [False] * len(reads)
    for round_number in range(1, OPTIMISTIC_READ_ROUNDS + 1):
        values, conflicts = await _read_round(dispatcher, pairs)
        if values is not None:
            break
        await asyncio.sleep(random.uniform(0, READ_BACKOFF_SECONDS * round_number))
    if values is None:
        # Under write contention: hold what can be held and gather the rest.
        values, conflicts = await _locked_read(dispatcher, pairs, lease)
    if values is None:
        raise _canceled(
            [
                {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"} if c else None
                for c in conflicts
            ]
        )
    return {
        "Responses": [
            {"Item": shape_item(decode_item(value), expressions, body)} if value is not None else {}
            for value, (_, _, expressions, body) in zip(values, reads, strict=True)
        ]
    }


Placement = tuple[TableRoute, PartitionRange, list[int]]


def _by_partition(
    routes: dict[str, TableRoute], reads: list[tuple[str, GetOp]], positions: list[int]
) -> list[Placement]:
    grouped: dict[str, Placement] = {}
    for position in positions:
        table, op = reads[position]
        route = routes[table]
        partition = route.map.partition_for(op.key.hash)
        grouped.setdefault(partition.partition_id, (route, partition, []))[2].append(position)
    return list(grouped.values())


async def _locked_read(
    dispatcher: Dispatcher, reads: list[tuple[str, GetOp]], lease: float
) -> tuple[list[Any] | None, list[bool]]:
    """Read-lock items as they come free until all are held at once: then they are a snapshot.

    A held item cannot change, and a write that holds an item when it is asked for
    must finish before the item is taken, so once every item is held they all show
    one moment. Gives up (None) after ``READ_ROUNDS``; releases its locks either way.
    """
    reader = uuid.uuid4().hex
    values: list[Any] = [None] * len(reads)
    held = [False] * len(reads)
    touched: dict[str, tuple[TableRoute, PartitionRange]] = {}
    try:
        for round_number in range(1, READ_ROUNDS + 1):
            routes = {table: await dispatcher.route(table) for table, _ in reads}
            groups = _by_partition(routes, reads, [i for i, done in enumerate(held) if not done])
            for route, partition, _ in groups:
                touched[partition.partition_id] = (route, partition)
            answers = await asyncio.gather(
                *(
                    dispatcher.send(
                        route,
                        partition,
                        TxRead(keys=tuple(reads[i][1].key for i in members), lock_for=reader, lease=lease),
                    )
                    for route, partition, members in groups
                )
            )
            for (_, _, members), (found, _) in zip(groups, answers, strict=True):
                for position, value in zip(members, found, strict=True):
                    if value != LOCKED:
                        values[position], held[position] = value, True
            if all(held):
                return values, [False] * len(reads)
            await asyncio.sleep(random.uniform(0, READ_BACKOFF_SECONDS * round_number))
        return None, [not done for done in held]
    except (PartitionMovedError, PartitionUnavailableError) as error:
        await dispatcher.refresh_after(error, [route for route, _ in touched.values()])
        return None, [False] * len(reads)
    finally:
        await asyncio.gather(
            *(dispatcher.send(route, partition, TxAbort(txid=reader)) for route, partition in touched.values()),
            return_exceptions=True,
        )


async def _read_round(dispatcher: Dispatcher, reads: list[tuple[str, GetOp]]) -> tuple[list[Any] | None, list[bool]]:
    """One optimistic try: read, then confirm nothing was written or locked since.

    The values if they form a snapshot, else None and which items conflicted.
    """
    routes = {table: await dispatcher.route(table) for table, _ in reads}
    groups = _by_partition(routes, reads, list(range(len(reads))))

    def keys(group: Placement) -> tuple[StorageKey, ...]:
        return tuple(reads[i][1].key for i in group[2])

    try:
        answers = await asyncio.gather(*(dispatcher.send(g[0], g[1], TxRead(keys=keys(g))) for g in groups))
        values: list[Any] = [None] * len(reads)
        conflicts = [False] * len(reads)
        for group, (found, _) in zip(groups, answers, strict=True):
            for position, value in zip(group[2], found, strict=True):
                values[position] = value
                conflicts[position] = value == LOCKED
        if any(conflicts):
            return None, conflicts
        if len(groups) > 1:  # one partition answers atomically; several must confirm nothing moved
            confirmed = await asyncio.gather(
                *(
                    dispatcher.send(g[0], g[1], TxValidate(keys=keys(g), since=since))
                    for g, (_, since) in zip(groups, answers, strict=True)
                )
            )
            if not all(confirmed):
                return None, [True] * len(reads)
    except (PartitionMovedError, PartitionUnavailableError) as error:
        await dispatcher.refresh_after(error, list(routes.values()))
        return None, [False] * len(reads)
    return values, conflicts

"""TransactWriteItems and TransactGetItems: all-or-nothing across partitions and tables.

The client coordinates, and may die at any point without leaving the grid stuck:

1. With a ``ClientRequestToken``, the ledger that owns the token replays a finished
   request's outcome or refuses a reuse with other parameters.
2. The ledger opens a PENDING record for this attempt, with a lease.
3. Every partition involved prepares its actions (checks conditions, computes new
   images, locks the items), one actor call per partition, in parallel.
4. The ledger decides: COMMITTED if every action prepared, else ABORTED. This is the
   commit point; a partition whose lock outlives the lease asks the ledger and
   finishes the transaction itself, so a dead coordinator leaves no lock behind.
5. The partitions commit (apply through their write path, so streams see it) or abort.

Actions that all fall in one partition skip the ledger: the partition prepares and
commits them in one atomic step. Reads use two rounds: read, then validate that no
item was locked or written in between, so a snapshot never shows half a transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from grid._codec import decode_item
from grid._item_requests import (
    build_condition_check,
    build_delete,
    build_get,
    build_put,
    build_update,
    check_params,
    shape_item,
)
from grid._keys import KeySchema
from grid._naming import ledger_index
from grid._partition_map import PartitionRange
from grid._requests import ConditionCheckOp, DeleteOp, GetOp, PutOp, UpdateOp
from grid._transport import call
from grid.errors import (
    PartitionMovedError,
    TransactionCanceledException,
    ValidationException,
)

if TYPE_CHECKING:
    from grid._client import Grid
    from grid._expression_args import PreparedExpressions

__all__ = ["transact_get_items", "transact_write_items"]

MAX_ACTIONS = 100
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
DEFAULT_LEASE_SECONDS = 5.0
MAX_ATTEMPTS = 5  # a partition that moved mid-transaction: abort and start over on the new map
READ_ROUNDS = 8

_ACTION_PARAMS = {
    "Put": frozenset(
        {
            "TableName",
            "Item",
            "ConditionExpression",
            "ExpressionAttributeNames",
            "ExpressionAttributeValues",
            "ReturnValuesOnConditionCheckFailure",
        }
    ),
    "Update": frozenset(
        {
            "TableName",
            "Key",
            "UpdateExpression",
            "ConditionExpression",
            "ExpressionAttributeNames",
            "ExpressionAttributeValues",
            "ReturnValuesOnConditionCheckFailure",
        }
    ),
    "Delete": frozenset(
        {
            "TableName",
            "Key",
            "ConditionExpression",
            "ExpressionAttributeNames",
            "ExpressionAttributeValues",
            "ReturnValuesOnConditionCheckFailure",
        }
    ),
    "ConditionCheck": frozenset(
        {
            "TableName",
            "Key",
            "ConditionExpression",
            "ExpressionAttributeNames",
            "ExpressionAttributeValues",
            "ReturnValuesOnConditionCheckFailure",
        }
    ),
}
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


async def _actions(grid: Grid, items: Any) -> list[TxAction]:
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ACTIONS:
        raise ValidationException(
            "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: "
            "Member must have length less than or equal to 100 and greater than or equal to 1"
        )
    actions = []
    for index, entry in enumerate(items):
        if not isinstance(entry, Mapping) or len(entry) != 1 or next(iter(entry)) not in _ACTION_PARAMS:
            raise ValidationException(
                "Each TransactItems element must have exactly one of Put, Update, Delete or ConditionCheck"
            )
        kind, body = next(iter(entry.items()))
        check_params(kind, body, _ACTION_PARAMS[kind])
        table = body.get("TableName")
        if table is None:
            raise ValidationException(f"TransactItems[{index}].{kind} needs a TableName")
        schema = (await grid._route(table)).spec.key_schema
        actions.append(TxAction(index=index, table=table, op=_BUILDERS[kind](schema, body)))
    if len({(a.table, a.op.key.key) for a in actions}) != len(actions):
        raise ValidationException("Transaction request cannot include multiple operations on one item")
    size = sum(len(a.op.item) if isinstance(a.op, PutOp) else 0 for a in actions)
    if size > MAX_TRANSACTION_BYTES:
        raise ValidationException("Transaction size has exceeded the maximum allowed size of 4 MB")
    return actions


async def _groups(grid: Grid, actions: list[TxAction]) -> list[tuple[PartitionRange, list[TxAction]]]:
    """Actions grouped by the partition that owns them, on each table's current map."""
    grouped: dict[str, tuple[PartitionRange, list[TxAction]]] = {}
    for action in actions:
        partition = (await grid._route(action.table)).map.partition_for(action.op.key.hash)
        grouped.setdefault(partition.partition_id, (partition, []))[1].append(action)
    return list(grouped.values())


async def transact_write_items(grid: Grid, params: Mapping[str, Any], lease: float) -> dict[str, Any]:
    check_params("TransactWriteItems", params, frozenset({"TransactItems", "ClientRequestToken"}))
    actions = await _actions(grid, params.get("TransactItems"))
    token = params.get("ClientRequestToken")
    ledger_key = None
    if token is not None:
        if not isinstance(token, str) or not 1 <= len(token) <= 36:
            raise ValidationException("ClientRequestToken must be a string of 1 to 36 characters")
        ledger_key = f"token:{token}"
        replay, outcome = await call(grid._ledger(ledger_key).begin_token, ledger_key, _digest(params["TransactItems"]))
        if replay:
            if outcome is not None:
                raise _canceled(outcome)
            return {}
    try:
        reasons = await _write_with_retries(grid, actions, lease, ledger_key)
    except BaseException:
        raise  # the token stays open; its ledger resolves the attempt if it was left pending
    if ledger_key is not None:
        await call(grid._ledger(ledger_key).finish_token, ledger_key, reasons)
    if reasons is not None:
        raise _canceled(reasons)
    return {}


async def _write_with_retries(
    grid: Grid, actions: list[TxAction], lease: float, token_key: str | None
) -> list[dict[str, Any] | None] | None:
    """Run attempts until one commits (None) or is canceled (its reasons)."""
    for _ in range(MAX_ATTEMPTS):
        groups = await _groups(grid, actions)
        try:
            if len(groups) == 1 and token_key is None:
                # A token needs the ledger's record of the attempt, so it takes two phases.
                return await _write_in_one_partition(actions, groups[0])
            return await _write_two_phase(grid, actions, groups, lease, token_key)
        except PartitionMovedError:
            for table in {a.table for a in actions}:
                await grid._refresh_route(table, stale_version=(await grid._route(table)).version)
            await asyncio.sleep(0.01)
    raise TransactionCanceledException(
        "Transaction cancelled: the partition map kept changing", cancellation_reasons=[]
    )


async def _write_in_one_partition(
    actions: list[TxAction], group: tuple[PartitionRange, list[TxAction]]
) -> list[dict[str, Any] | None] | None:
    partition, members = group
    reasons = await call(partition.handle.tx_execute, [a.op for a in members])
    ordered: list[dict[str, Any] | None] = [None] * len(actions)
    for action, reason in zip(members, reasons, strict=True):
        ordered[action.index] = reason
    return ordered if any(ordered) else None


async def _write_two_phase(
    grid: Grid,
    actions: list[TxAction],
    groups: list[tuple[PartitionRange, list[TxAction]]],
    lease: float,
    token_key: str | None,
) -> list[dict[str, Any] | None] | None:
    txid = uuid.uuid4().hex
    ledger_number = ledger_index(txid)
    ledger = grid._ledger_by_index(ledger_number)
    await call(ledger.start, txid, lease, token_key)
    answers = await asyncio.gather(
        *(call(p.handle.tx_prepare, txid, ledger_number, lease, [a.op for a in members]) for p, members in groups),
        return_exceptions=True,
    )
    reasons: list[dict[str, Any] | None] = [None] * len(actions)
    failure: BaseException | None = None
    for (_, members), answer in zip(groups, answers, strict=True):
        if isinstance(answer, BaseException):
            failure = failure or answer
            continue
        for action, reason in zip(members, answer, strict=True):
            reasons[action.index] = reason
    grid._fault_point("prepared")
    decision = "ABORTED"
    if failure is None and not any(reasons):
        decision = await call(ledger.decide, txid, "COMMITTED")
    if decision == "COMMITTED":
        grid._fault_point("decided")
        # The transaction is committed from here on; a partition that misses this call
        # finishes it from the ledger when its lock's lease runs out.
        await asyncio.gather(*(call(p.handle.tx_commit, txid) for p, _ in groups), return_exceptions=True)
        return None
    await call(ledger.decide, txid, "ABORTED")
    await asyncio.gather(*(call(p.handle.tx_abort, txid) for p, _ in groups), return_exceptions=True)
    if failure is not None:
        raise failure
    if not any(reasons):  # every action prepared, but a recoverer aborted the attempt first
        reasons = [{"Code": "TransactionConflict", "Message": "The transaction's lease expired"}] * len(actions)
    return reasons


async def transact_get_items(grid: Grid, params: Mapping[str, Any]) -> dict[str, Any]:
    """A consistent snapshot of up to 100 items: never half of a committed transaction."""
    check_params("TransactGetItems", params, frozenset({"TransactItems"}))
    items = params.get("TransactItems")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ACTIONS:
        raise ValidationException("TransactItems must hold from 1 to 100 Get actions")
    reads: list[tuple[str, GetOp, PreparedExpressions, Mapping[str, Any]]] = []
    for entry in items:
        if not isinstance(entry, Mapping) or set(entry) != {"Get"}:
            raise ValidationException("Each TransactGetItems element must be a Get")
        body = entry["Get"]
        check_params("Get", body, frozenset({"TableName", "Key", "ProjectionExpression", "ExpressionAttributeNames"}))
        schema = (await grid._route(body.get("TableName"))).spec.key_schema
        op, expressions = build_get(schema, body)
        reads.append((body["TableName"], op, expressions, body))
    if len({(table, op.key.key) for table, op, _, _ in reads}) != len(reads):
        raise ValidationException("Transaction request cannot include multiple operations on one item")
    for round_number in range(1, READ_ROUNDS + 1):
        values, conflicts = await _read_round(grid, [(table, op) for table, op, _, _ in reads])
        if values is not None:
            return {
                "Responses": [
                    {"Item": shape_item(decode_item(value), expressions, body)} if value is not None else {}
                    for value, (_, _, expressions, body) in zip(values, reads, strict=True)
                ]
            }
        await asyncio.sleep(grid.retry_policy.backoff(round_number))
    raise _canceled(
        [
            {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"} if c else None
            for c in conflicts
        ]
    )


async def _read_round(grid: Grid, reads: list[tuple[str, GetOp]]) -> tuple[list[Any] | None, list[bool]]:
    """One try: the values if they form a snapshot, else None and which items conflicted."""
    by_partition: dict[str, tuple[PartitionRange, list[int]]] = {}
    for position, (table, op) in enumerate(reads):
        partition = (await grid._route(table)).map.partition_for(op.key.hash)
        by_partition.setdefault(partition.partition_id, (partition, []))[1].append(position)
    groups = list(by_partition.values())
    try:
        answers = await asyncio.gather(
            *(call(p.handle.tx_read, [reads[i][1].key for i in members]) for p, members in groups)
        )
    except PartitionMovedError:
        for table in {table for table, _ in reads}:
            await grid._refresh_route(table, stale_version=(await grid._route(table)).version)
        return None, [False] * len(reads)
    values: list[Any] = [None] * len(reads)
    conflicts = [False] * len(reads)
    for (_, members), (found, _) in zip(groups, answers, strict=True):
        for position, value in zip(members, found, strict=True):
            values[position] = value
            conflicts[position] = value == "locked"
    if any(conflicts):
        return None, conflicts
    if len(groups) > 1:  # one partition answers atomically; several must confirm nothing moved
        confirmed = await asyncio.gather(
            *(
                call(p.handle.tx_validate, [reads[i][1].key for i in members], since)
                for (p, members), (_, since) in zip(groups, answers, strict=True)
            )
        )
        if not all(confirmed):
            return None, [True] * len(reads)
    return values, conflicts

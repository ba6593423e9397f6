"""Requests and results exchanged between the client and partition actors.

The client does all the work that needs no partition state before it sends:
validating and normalizing values, encoding items, computing storage keys, parsing
expressions (a syntax error never costs a Ray call). A partition receives these
frozen dataclasses, in batches for single-item operations, and answers each with a
result or a ``GridError`` instance in the same position.

Expressions travel as their text with the request's names and values; each side
caches the parse, so a hot loop repeating one expression parses it once per process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from grid._keys import StorageKey
from grid._wire import compact_pickle

__all__ = [
    "ABORTED",
    "COMMITTED",
    "LOCKED",
    "PENDING",
    "ConditionCheckOp",
    "DeleteOp",
    "ExpressionArgs",
    "PartitionMessage",
    "GetOp",
    "ItemOp",
    "Page",
    "PutOp",
    "QueryRequest",
    "ScanRequest",
    "TxAbort",
    "TxCommit",
    "TxExecute",
    "TxMessage",
    "TxOp",
    "TxPrepare",
    "TxRead",
    "TxValidate",
    "UpdateOp",
    "WriteResult",
    "eventual_reads_only",
    "read_only",
    "op_from_wire",
]

MAX_PAGE_BYTES = 1024 * 1024


@compact_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class ExpressionArgs:
    """A request's ``ExpressionAttributeNames`` and normalized ``ExpressionAttributeValues``."""

    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


NO_EXPRESSION_ARGS = ExpressionArgs()


@compact_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class GetOp:
    key: StorageKey
    consistent: bool = False  # ConsistentRead: eventually consistent reads cost half

    def to_wire(self) -> tuple[Any, ...]:
        return (_GET, self.key.key, self.key.hash, self.consistent)


@compact_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class PutOp:
    """Store ``item`` (encoded) under ``key`` if ``condition`` holds on the current item."""

    key: StorageKey
    item: bytes
    condition: str | None = None
    args: ExpressionArgs = NO_EXPRESSION_ARGS
    return_old: bool = False
    return_old_on_failure: bool = False

    def to_wire(self) -> tuple[Any, ...]:
        if self.condition is None and not self.return_old:
            return (_PUT, self.key.key, self.key.hash, self.item)
        return (
            _PUT,
            self.key.key,
            self.key.hash,
            self.item,
            self.condition,
            self.args,
            self.return_old,
            self.return_old_on_failure,
        )


@compact_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateOp:
    """Apply ``update`` to the item at ``key`` (created from ``key_attributes`` when absent)."""

    key: StorageKey
    key_attributes: dict[str, Any]
    update: str | None
    condition: str | None = None
    args: ExpressionArgs = NO_EXPRESSION_ARGS
    return_values: str = "NONE"
    return_old_on_failure: bool = False

    def to_wire(self) -> tuple[Any, ...]:
        return (
            _UPDATE,
            self.key.key,
            self.key.hash,
            self.key_attributes,
            self.update,
            self.condition,
            self.args,
            self.return_values,
            self.return_old_on_failure,
        )


@compact_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteOp:
    key: StorageKey
    condition: str | None = None
    args: ExpressionArgs = NO_EXPRESSION_ARGS
    return_old: bool = False
    return_old_on_failure: bool = False

    def to_wire(self) -> tuple[Any, ...]:
        return (
            _DELETE,
            self.key.key,
            self.key.hash,
            self.condition,
            self.args,
            self.return_old,
            self.return_old_on_failure,
        )


@compact_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class ConditionCheckOp:
    """A transaction's ConditionCheck: the condition must hold; nothing changes."""

    key: StorageKey
    condition: str
    args: ExpressionArgs = NO_EXPRESSION_ARGS
    return_old_on_failure: bool = False


ItemOp = GetOp | PutOp | UpdateOp | DeleteOp
TxOp = PutOp | UpdateOp | DeleteOp | ConditionCheckOp


# -- transaction messages: they share the partition's batched call with item ops ------------

# A transaction's states in its ledger; the coordinator decides COMMITTED or ABORTED once.
PENDING, COMMITTED, ABORTED = "PENDING", "COMMITTED", "ABORTED"
# What a partition answers to ``TxRead`` for an item a prepared transaction holds.
LOCKED = "locked"


class _TxMessage:
    __slots__ = ()

    def to_wire(self) -> tuple[Any, ...]:
        return (_TX, self)


@compact_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class TxPrepare(_TxMessage):
    """Check, plan and lock ``ops`` for transaction ``txid`` (decided by ledger ``ledger``)."""

    txid: str
    ledger: int
    lease: float
    ops: tuple[TxOp, ...]


@compact_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class TxCommit(_TxMessage):
    txid: str


@compact_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class TxAbort(_TxMessage):
    txid: str


@compact_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class TxExecute(_TxMessage):
    """Prepare and commit at once: every action of the transaction is in this partition."""

    ops: tuple[TxOp, ...]


@compact_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class TxRead(_TxMessage):
    """Read committed images; with ``lock_for``, also hold them for that reader (``lease`` seconds)."""

    keys: tuple[StorageKey, ...]
    lock_for: str | None = None
    lease: float = 0.0


@compact_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class TxValidate(_TxMessage):
    keys: tuple[StorageKey, ...]
    since: int


TxMessage = TxPrepare | TxCommit | TxAbort | TxExecute | TxRead | TxValidate
PartitionMessage = ItemOp | TxMessage

# Batches of single-item operations cross Ray as plain tuples: pickle handles those
# in C, where dataclass instances cost a Python call each. Measured with
# bench/throughput.py at 1000 callers: 28k operations/s with pickled dataclasses,
# 32k with tuples (the client's CPU is the bottleneck).
_GET, _PUT, _UPDATE, _DELETE, _TX = 1, 2, 3, 4, 5


def eventual_reads_only(wire_ops: Sequence[tuple[Any, ...]]) -> bool:
    """Whether a batch holds only eventually consistent GetItems (any replica may serve it)."""
    return all(wire[0] == _GET and not wire[3] for wire in wire_ops)


def read_only(wire_ops: Sequence[tuple[Any, ...]]) -> tuple[bool, bool]:
    """Whether a batch only reads (one replica serves it, not the log), and whether any read is strongly consistent.

    Told from the wire tuples: a batch that writes is decoded once, when applied.
    """
    consistent = False
    for wire in wire_ops:
        if wire[0] == _GET:
            consistent = consistent or bool(wire[3])
        elif wire[0] == _TX and (
            isinstance(wire[1], TxValidate) or (isinstance(wire[1], TxRead) and wire[1].lock_for is None)
        ):
            consistent = True  # a transaction reads the latest committed state
        else:
            return False, False
    return True, consistent


def op_from_wire(wire: tuple[Any, ...]) -> PartitionMessage:
    """The operation ``to_wire`` encoded (the partition's side of the batch call)."""
    if wire[0] == _TX:
        message: TxMessage = wire[1]
        return message
    code, key, hash_value = wire[0], wire[1], wire[2]
    storage_key = StorageKey(key=key, hash=hash_value)
    if code == _GET:
        return GetOp(key=storage_key, consistent=wire[3])
    if code == _PUT:
        if len(wire) == 4:
            return PutOp(key=storage_key, item=wire[3])
        return PutOp(
            key=storage_key,
            item=wire[3],
            condition=wire[4],
            args=wire[5],
            return_old=wire[6],
            return_old_on_failure=wire[7],
        )
    if code == _UPDATE:
        return UpdateOp(
            key=storage_key,
            key_attributes=wire[3],
            update=wire[4],
            condition=wire[5],
            args=wire[6],
            return_values=wire[7],
            return_old_on_failure=wire[8],
        )
    if code == _DELETE:
        return DeleteOp(
            key=storage_key, condition=wire[3], args=wire[4], return_old=wire[5], return_old_on_failure=wire[6]
        )
    raise ValueError(f"unknown operation code {code}")


@compact_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class WriteResult:
    """What a write returns: encoded images as far as the request asked for them."""

    old: bytes | None = None
    new: bytes | None = None
    updated_names: tuple[str, ...] = ()
    units: float = 0.0  # write capacity units consumed

    def to_wire(self) -> tuple[Any, ...]:
        return (self.old, self.new, self.updated_names, self.units)

    @classmethod
    def from_wire(cls, wire: tuple[Any, ...]) -> WriteResult:
        return cls(old=wire[0], new=wire[1], updated_names=wire[2], units=wire[3])


@compact_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class QueryRequest:
    """Walk one partition key's items between two storage keys, in either direction.

    ``low``/``high`` bound the storage keys (``high`` None: to the end of the
    partition key's items); ``exclusive_start`` is where a previous page stopped.
    """

    hash: int
    low: bytes
    low_inclusive: bool
    high: bytes
    high_inclusive: bool
    forward: bool = True
    exclusive_start: bytes | None = None
    limit: int | None = None
    filter: str | None = None
    args: ExpressionArgs = NO_EXPRESSION_ARGS
    count_only: bool = False
    max_bytes: int = MAX_PAGE_BYTES
    consistent: bool = False


@compact_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class ScanRequest:
    """Walk the items whose hash is in ``[low_hash, high_hash)``, after ``exclusive_start``."""

    low_hash: int
    high_hash: int
    exclusive_start: bytes | None = None
    limit: int | None = None
    filter: str | None = None
    args: ExpressionArgs = NO_EXPRESSION_ARGS
    count_only: bool = False
    max_bytes: int = MAX_PAGE_BYTES
    consistent: bool = False


@compact_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """One partition's answer to a Query or Scan.

    ``items`` are encoded (empty when counting only); ``last_key`` is the key of the
    last item evaluated (None if none was); ``more`` says the page stopped early (limit
    or size) with items left in the requested range.
    """

    items: list[bytes]
    count: int
    scanned_count: int
    last_key: dict[str, Any] | None
    more: bool
    units: float = 0.0  # read capacity units the page consumed

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

from dataclasses import dataclass, field
from typing import Any

from grid._keys import StorageKey
from grid._wire import compact_pickle

__all__ = [
    "DeleteOp",
    "ExpressionArgs",
    "GetOp",
    "ItemOp",
    "Page",
    "PutOp",
    "QueryRequest",
    "ScanRequest",
    "UpdateOp",
    "WriteResult",
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


@compact_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteOp:
    key: StorageKey
    condition: str | None = None
    args: ExpressionArgs = NO_EXPRESSION_ARGS
    return_old: bool = False
    return_old_on_failure: bool = False


ItemOp = GetOp | PutOp | UpdateOp | DeleteOp


@compact_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class WriteResult:
    """What a write returns: encoded images as far as the request asked for them."""

    old: bytes | None = None
    new: bytes | None = None
    updated_names: tuple[str, ...] = ()


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

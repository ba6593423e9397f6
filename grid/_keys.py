"""Key schemas, canonical key bytes and the stable key hash.

Every item has a storage key: canonical bytes built from its partition key and,
when the table has one, its sort key. The encoding does two jobs:

* the partition-key part is prefix-free, so all items of one partition key are
  contiguous in a partition's sorted key index;
* the sort-key part preserves DynamoDB's sort order (strings by UTF-8 bytes, binary
  as unsigned bytes, numbers numerically), so a Query is a range scan of that index.

The hash that places a partition key on the ring is xxh3-64 of the partition-key
part: stable across processes and machines (never Python's ``hash()``) and uniform.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import xxhash

from grid._types import normalize_value, significant_digits, type_name
from grid._wire import compact_pickle
from grid.errors import ValidationException

__all__ = [
    "HASH_SPACE",
    "KeySchema",
    "StorageKey",
    "encode_sort_value",
    "hash_from_prefix",
    "hash_of_partition_key",
    "hash_position",
    "increment_bytes",
]

HASH_SPACE = 1 << 64
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
KEY_TYPES = ("S", "N", "B")

_TYPE_TAG = {"S": b"s", "N": b"n", "B": b"b"}


@compact_pickle
@dataclass(frozen=True, slots=True, kw_only=True)
class StorageKey:
    """A key as partitions index it.

    ``key`` is the 8-byte big-endian ``hash``, then the partition-key part, then the
    sort-key part. Sorting by these bytes walks the ring in hash order, so a scan's
    position survives partition splits, and keeps each partition key's items together
    in sort-key order, so a Query is one range of a partition's sorted index.
    """

    key: bytes
    hash: int


@dataclass(frozen=True, slots=True, kw_only=True)
class KeySchema:
    """A table's primary key: a partition (HASH) key and an optional sort (RANGE) key."""

    hash_name: str
    hash_type: str
    range_name: str | None = None
    range_type: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.hash_name,) if self.range_name is None else (self.hash_name, self.range_name)

    def key_of_item(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """The key attributes of a normalized item, validated against the schema."""
        return {name: self._checked(name, item.get(name), context="item") for name in self.names}

    def normalize_key(self, key: Any) -> dict[str, Any]:
        """Validate a user-given ``Key`` (exactly the key attributes) and normalize it."""
        if not isinstance(key, Mapping):
            raise ValidationException("The provided key element does not match the schema")
        if set(key) != set(self.names):
            raise ValidationException("The provided key element does not match the schema")
        return {name: self._checked(name, normalize_value(key[name]), context="key") for name in self.names}

    def storage_key(self, key: Mapping[str, Any]) -> StorageKey:
        """Canonical bytes and hash for a validated key (from ``key_of_item`` or ``normalize_key``)."""
        prefix = self.partition_prefix(key[self.hash_name])
        if self.range_name is None:
            return StorageKey(key=prefix, hash=hash_from_prefix(prefix))
        return StorageKey(key=prefix + encode_sort_value(key[self.range_name]), hash=hash_from_prefix(prefix))

    def partition_prefix(self, partition_value: Any) -> bytes:
        """Storage-key bytes shared by every item of one partition-key value."""
        partition_part = encode_partition_value(partition_value)
        return hash_of_partition_key(partition_part).to_bytes(8, "big") + partition_part

    def check_key_value(self, name: str, value: Any) -> Any:
        """Validate one normalized key attribute value (type, emptiness, size)."""
        return self._checked(name, value, context="condition")

    def _checked(self, name: str, value: Any, *, context: Literal["item", "key", "condition"]) -> Any:
        """One key attribute checked where it came from: an item, a ``Key``, or a key condition."""
        expected = self.hash_type if name == self.hash_name else self.range_type
        if value is None:
            if context == "item":
                raise ValidationException(
                    f"One or more parameter values were invalid: Missing the key {name} in the item"
                )
            raise ValidationException("The provided key element does not match the schema")
        actual = type_name(value)
        if actual != expected and context == "key":
            # DynamoDB names no type for a ``Key`` (an item says "Type mismatch").
            raise ValidationException("The provided key element does not match the schema", key_mismatch=True)
        if actual != expected:
            raise ValidationException(
                "One or more parameter values were invalid: Type mismatch for key "
                f"{name} expected: {expected} actual: {actual}",
                key_mismatch=True,  # inside a transaction, a cancellation reason
            )
        if actual in ("S", "B") and len(value) == 0:
            raise ValidationException(
                "One or more parameter values are not valid. The AttributeValue for a key attribute "
                f"cannot contain an empty {'string' if actual == 'S' else 'binary'} value. Key: {name}"
            )
        size = len(value.encode("utf-8")) if actual == "S" else len(value) if actual == "B" else 0
        if name == self.hash_name and size > MAX_PARTITION_KEY_BYTES:
            raise ValidationException(
                "One or more parameter values were invalid: Size of hashkey has exceeded the "
                "maximum size limit of2048 bytes"
            )
        if name != self.hash_name and size > MAX_SORT_KEY_BYTES:
            raise ValidationException(
                "One or more parameter values were invalid: Aggregated size of all range keys has "
                "exceeded the size limit of 1024 bytes"
            )
        return value

    def key_from_storage(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """The key attributes of a stored item, as ``LastEvaluatedKey`` shows them."""
        return {name: item[name] for name in self.names}


def _raw_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    return encode_number(value)


def encode_partition_value(value: Any) -> bytes:
    """Prefix-free canonical bytes of a partition-key value: tag, length, bytes."""
    raw = _raw_bytes(value)
    return _TYPE_TAG[type_name(value)] + struct.pack(">H", len(raw)) + raw


def encode_sort_value(value: Any) -> bytes:
    """Order-preserving bytes of a sort-key value (it is the key's last part: no length)."""
    if isinstance(value, (str, bytes)):
        return _raw_bytes(value)
    return encode_number(value)


def hash_of_partition_key(partition_part: bytes) -> int:
    return xxhash.xxh3_64_intdigest(partition_part)


def hash_from_prefix(prefix: bytes) -> int:
    return int.from_bytes(prefix[:8], "big")


def hash_position(hash_value: int) -> bytes:
    """The smallest storage key on the ring at ``hash_value`` (for range and segment bounds)."""
    return hash_value.to_bytes(8, "big")


_NEGATIVE, _ZERO, _POSITIVE = b"\x01", b"\x02", b"\x03"
_EXPONENT_BIAS = 1 << 15
_DIGIT_FLIP = bytes.maketrans(b"0123456789", b"9876543210")


def encode_number(number: Decimal) -> bytes:
    """Order-preserving bytes of a number: sign class, biased exponent, mantissa digits.

    Canonical too (1, 1.0 and 1E0 give the same bytes), so equal numbers are equal keys.
    Negative numbers flip the exponent and digits and end with a terminator that sorts
    above every digit, so that -1.23 sorts below -1.2.
    """
    if number.is_zero():
        return _ZERO
    mantissa = significant_digits(number).encode("ascii")
    sign = number.is_signed()
    exponent = number.adjusted() + _EXPONENT_BIAS
    if not sign:
        return _POSITIVE + struct.pack(">H", exponent) + mantissa
    flipped_exponent = (1 << 16) - 1 - exponent
    return _NEGATIVE + struct.pack(">H", flipped_exponent) + mantissa.translate(_DIGIT_FLIP) + b"\xff"


def increment_bytes(data: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``data``."""
    trimmed = data.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])

"""DynamoDB's data model in native Python values.

Items travel inside grid as boto3's resource layer shows them: ``str``, ``Decimal``,
``bytes``, ``bool``, ``None``, ``list``, ``dict`` and sets of strings, numbers or
bytes. ``normalize_item`` is the one gate every user value passes: it converts
``int``/``float`` to ``Decimal``, checks DynamoDB's rules (number range and
precision, no empty sets, sets of one type, nesting depth) and returns a fresh
copy, so later changes to the caller's objects cannot reach stored data.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from grid.errors import ValidationException

__all__ = [
    "MAX_ITEM_BYTES",
    "MAX_NESTING_DEPTH",
    "attribute_size",
    "item_size",
    "normalize_item",
    "normalize_value",
    "type_name",
]

MAX_ITEM_BYTES = 400 * 1024
MAX_NESTING_DEPTH = 32
MAX_NUMBER_DIGITS = 38

# Wide enough that no number in DynamoDB's range (exponents -130..125, 38 digits) rounds.
_EXACT = decimal.Context(prec=200, Emin=-999, Emax=999, traps=[decimal.Inexact])


def type_name(value: Any) -> str:
    """DynamoDB's type descriptor of a normalized value: S, N, B, BOOL, NULL, L, M, SS, NS, BS."""
    if isinstance(value, str):
        return "S"
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, Decimal):
        return "N"
    if isinstance(value, bytes):
        return "B"
    if value is None:
        return "NULL"
    if isinstance(value, dict):
        return "M"
    if isinstance(value, list):
        return "L"
    if isinstance(value, (set, frozenset)):
        for element in value:
            if isinstance(element, str):
                return "SS"
            return "NS" if isinstance(element, Decimal) else "BS"
    raise ValidationException(f"Unsupported type {type(value).__name__!r}")


def significant_digits(number: Decimal) -> str:
    """The digits of ``number`` without leading or trailing zeros (exact, no context)."""
    return "".join(map(str, number.as_tuple().digits)).strip("0")


def to_number(value: int | float | Decimal, where: str = "") -> Decimal:
    """Convert to a Decimal within DynamoDB's range and 38 significant digits.

    The result is canonical: trailing zeros dropped (``Decimal("1.50")`` becomes 1.5)
    but integers kept integral (``100``, not ``1E+2``), as DynamoDB returns numbers.
    """
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValidationException(f"Infinity and NaN not supported{where}")
        number = Decimal(repr(value))
    else:
        number = Decimal(value)
    if not number.is_finite():
        raise ValidationException(f"Infinity and NaN not supported{where}")
    if number.is_zero():
        return Decimal(0)
    adjusted = number.adjusted()
    if adjusted > 125:
        raise ValidationException(
            f"Number overflow. Attempting to store a number with magnitude larger than supported range{where}"
        )
    if adjusted < -130:
        raise ValidationException(
            f"Number underflow. Attempting to store a number with magnitude smaller than supported range{where}"
        )
    if len(significant_digits(number)) > MAX_NUMBER_DIGITS:
        raise ValidationException(f"Attempting to store more than 38 significant digits in a Number{where}")
    canonical = number.normalize(_EXACT)
    if canonical.as_tuple().exponent > 0:  # type: ignore[operator]
        canonical = canonical.quantize(Decimal(1), context=_EXACT)
    return canonical


_INT_LIMIT = 10**MAX_NUMBER_DIGITS


def normalize_value(value: Any, depth: int = 0) -> Any:
    """Return a validated, normalized deep copy of one attribute value.

    Exact types are dispatched first (this runs for every attribute of every write);
    subclasses and the rarer types take the general path.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is dict:
        if depth >= MAX_NESTING_DEPTH:
            raise ValidationException("Nesting Levels have exceeded supported limits")
        normalized = {}
        for name, element in value.items():
            if type(name) is not str:
                raise ValidationException(f"Map attribute names must be strings, not {type(name).__name__}")
            normalized[name] = normalize_value(element, depth + 1)
        return normalized
    if kind is list:
        if depth >= MAX_NESTING_DEPTH:
            raise ValidationException("Nesting Levels have exceeded supported limits")
        return [normalize_value(element, depth + 1) for element in value]
    if kind is int and -_INT_LIMIT < value < _INT_LIMIT:
        return Decimal(value)  # integral and within 38 digits: already canonical
    if kind is Decimal and value.is_finite():
        exponent = value.as_tuple().exponent
        if exponent == 0 and -_INT_LIMIT < value < _INT_LIMIT:
            return value if value else Decimal(0)
    if kind is bytes:
        return value
    return _normalize_general(value, depth)


def _normalize_general(value: Any, depth: int) -> Any:
    if depth > MAX_NESTING_DEPTH:
        raise ValidationException("Nesting Levels have exceeded supported limits")
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        return to_number(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, Mapping):
        return normalize_value(dict(value), depth)
    if isinstance(value, (list, tuple)):
        return normalize_value(list(value), depth)
    if isinstance(value, (set, frozenset)):
        return _normalize_set(value)
    raise ValidationException(
        f"Unsupported type {type(value).__name__!r} for an attribute value; use str, "
        "int/float/Decimal, bytes, bool, None, list, dict or a set"
    )


def _normalize_set(value: set[Any] | frozenset[Any]) -> set[Any]:
    if not value:
        raise ValidationException("One or more parameter values were invalid: An empty set is not allowed")
    kinds = set()
    normalized: set[Any] = set()
    for element in value:
        if isinstance(element, str):
            kinds.add("SS")
            normalized.add(element)
        elif isinstance(element, (int, float, Decimal)) and not isinstance(element, bool):
            kinds.add("NS")
            normalized.add(to_number(element))
        elif isinstance(element, (bytes, bytearray)):
            kinds.add("BS")
            normalized.add(bytes(element))
        else:
            raise ValidationException(
                f"Sets may hold only strings, numbers or binary values, not {type(element).__name__}"
            )
    if len(kinds) > 1:
        raise ValidationException("Sets must hold values of a single type (strings, numbers or binary)")
    if len(normalized) != len(value) and "NS" in kinds:
        raise ValidationException("Input collection contains duplicates")
    return normalized


def normalize_item(item: Any, what: str = "Item", *, check_size: bool = True) -> dict[str, Any]:
    """Validate and copy a whole item (a mapping of attribute names to values).

    With ``check_size=False`` the caller takes over the 400 KB check, through
    ``check_item_size`` with the encoded size it knows.
    """
    if not isinstance(item, Mapping):
        raise ValidationException(f"{what} must be a map of attribute names to values")
    normalized = normalize_value(item)
    if "" in normalized:
        raise ValidationException("One or more parameter values are not valid. Attribute names must not be empty")
    if check_size:
        check_item_size(normalized)
    return normalized


# DynamoDB counts at most 4 bytes per byte of grid's encoding (an empty nested list:
# 3 bytes plus 1 as an element, against msgpack's one byte).
_MAX_SIZE_PER_ENCODED_BYTE = 4


def check_item_size(item: Mapping[str, Any], encoded_size: int | None = None) -> None:
    """Refuse an item over 400 KB, counted DynamoDB's way.

    A caller that knows the item's encoded size skips the exact count for every item
    that cannot reach the limit (the seed document: 300 encoded bytes).
    """
    if encoded_size is not None and encoded_size * _MAX_SIZE_PER_ENCODED_BYTE <= MAX_ITEM_BYTES:
        return
    if item_size(item) > MAX_ITEM_BYTES:
        raise ValidationException("Item size has exceeded the maximum allowed size")


def _number_size(number: Decimal) -> int:
    # DynamoDB: about one byte per two significant digits, plus one.
    digits = significant_digits(number) or "0"
    return (len(digits) + 1) // 2 + 1


def attribute_size(value: Any) -> int:
    """Bytes a value counts for, computed DynamoDB's way."""
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, Decimal):
        return _number_size(value)
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, dict):
        return 3 + sum(len(k.encode("utf-8")) + attribute_size(v) + 1 for k, v in value.items())
    if isinstance(value, list):
        return 3 + sum(attribute_size(v) + 1 for v in value)
    if isinstance(value, (set, frozenset)):
        return sum(attribute_size(v) for v in value)
    raise ValidationException(f"Unsupported type {type(value).__name__!r}")


def item_size(item: Mapping[str, Any]) -> int:
    """Item size as DynamoDB counts it: attribute names plus values."""
    return sum(len(name.encode("utf-8")) + attribute_size(value) for name, value in item.items())

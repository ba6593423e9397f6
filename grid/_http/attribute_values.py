"""DynamoDB JSON AttributeValues to and from grid's native values, at the HTTP edge only.

On the wire a value is a one-key object naming its type: ``{"S": "x"}``,
``{"N": "1.5"}``, ``{"B": "<base64>"}``, ``{"SS": [...]}``, ``{"NS": ["1"]}``,
``{"BS": [...]}``, ``{"L": [...]}``, ``{"M": {...}}``, ``{"BOOL": true}``,
``{"NULL": true}``. Natively it is what boto3's resource layer shows: ``str``,
``Decimal``, ``bytes``, ``bool``, ``None``, ``list``, ``dict`` and sets.

Decoding answers malformed input as DynamoDB does. A JSON value of the wrong type is a
``SerializationException`` (DynamoDB fails to deserialize the request before it
validates anything), so a ``WireDecoder`` raises those at once but holds back the first
``ValidationException`` until the whole request has been read (``finish``). Numbers are
kept exactly as written; range, precision, empty sets and the item size are grid's
normalization's business (``grid._types``), which runs afterwards with DynamoDB's wording.
Nesting is checked before descending, so no request can exhaust the stack.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from grid._types import MAX_NESTING_DEPTH
from grid.errors import SerializationException, ValidationException

__all__ = [
    "ATTRIBUTE_TYPES",
    "json_kind",
    "not_a_boolean",
    "not_a_list",
    "not_a_map",
    "not_a_string",
    "not_a_structure",
    "WireDecoder",
    "from_native",
    "item_from_native",
    "item_to_native",
    "plain_json",
    "to_native",
]

ATTRIBUTE_TYPES = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")
_MODEL = "com.amazonaws.dynamodb.v20120810"
_EMPTY = "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
_NESTING = "Nesting Levels have exceeded supported limits"
# java.math.BigDecimal's syntax, ASCII digits only (Python's Decimal also takes "NaN", "1_0", " 1").
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BASE64_ALPHABET = re.compile(r"[^A-Za-z0-9+/=]")


# -- what DynamoDB says when a JSON value has the wrong type ---------------------------------


def json_kind(value: Any) -> str:
    """A JSON scalar's kind as DynamoDB's (Jackson's) messages name it."""
    if isinstance(value, bool):
        return "TRUE_VALUE" if value else "FALSE_VALUE"
    if isinstance(value, int):
        return "NUMBER_VALUE"
    if isinstance(value, float):
        return "DECIMAL_VALUE"
    return "STRING_VALUE"


def not_a_string(value: Any) -> SerializationException:
    if isinstance(value, dict):
        return SerializationException("Start of structure or map found where not expected")
    if isinstance(value, list):
        return SerializationException("Unrecognized collection type class java.lang.String")
    return SerializationException(f"{json_kind(value)} cannot be converted to String")


def not_a_boolean(value: Any) -> SerializationException:
    if isinstance(value, dict):
        return SerializationException("Start of structure or map found where not expected")
    if isinstance(value, list):
        return SerializationException("Unrecognized collection type class java.lang.Boolean")
    if isinstance(value, str):
        return SerializationException("Unexpected token received from parser")
    return SerializationException(f"{json_kind(value)} cannot be converted to Boolean")


def not_a_list(value: Any) -> SerializationException:
    if isinstance(value, dict):
        return SerializationException("Start of structure or map found where not expected")
    return SerializationException("Unexpected field type")


def not_a_map(value: Any, element: str) -> SerializationException:
    """``element``: the Java type of the map's values, as DynamoDB names it."""
    if isinstance(value, list):
        return SerializationException(f"Unrecognized collection type java.util.Map<java.lang.String, {element}>")
    return SerializationException("Unexpected field type")


def not_a_structure(value: Any, shape: str, *, as_field: bool) -> SerializationException:
    """A structure expected: as a field of another structure, or as a list element or map value."""
    if isinstance(value, list):
        return SerializationException(f"Unrecognized collection type class {_MODEL}.{shape}")
    return SerializationException("Unexpected field type" if as_field else "Unexpected value type in payload")


_ATTRIBUTE_MAP = f"{_MODEL}.AttributeValue"


# -- decoding --------------------------------------------------------------------------------


class WireDecoder:
    """Decodes the AttributeValues of one request.

    Serialization errors raise at once; the first validation error is kept and raised
    by ``finish()``, after the rest of the request has been deserialized, so a type
    error anywhere in the body wins over a validation error anywhere, as in DynamoDB.
    """

    __slots__ = ("invalid",)

    def __init__(self) -> None:
        self.invalid: ValidationException | None = None

    def refuse(self, message: str) -> None:
        if self.invalid is None:
            self.invalid = ValidationException(message)

    def finish(self) -> None:
        """Raise the first validation error found, if any."""
        if self.invalid is not None:
            error, self.invalid = self.invalid, None
            raise error

    def value(self, av: Any, depth: int = 0) -> Any:
        """One AttributeValue to a native value; ``depth`` is its nesting level (0 at the top)."""
        if type(av) is not dict:
            if av is None:  # a JSON null where a value belongs: a value with no type
                self.refuse(_EMPTY)
                return None
            raise not_a_structure(av, "AttributeValue", as_field=False)
        if len(av) == 1:  # the usual shape: decode without looking at anything else
            ((kind, raw),) = av.items()
            decode = _DECODERS.get(kind)
            if decode is not None and raw is not None:
                return decode(self, raw, depth)
        present = [kind for kind in ATTRIBUTE_TYPES if av.get(kind) is not None]
        if not present:
            self.refuse(_EMPTY)
            return None
        decoded = [_DECODERS[kind](self, av[kind], depth) for kind in present]
        if len(present) > 1:
            self.refuse(
                "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
            )
        return decoded[0]

    def item(self, item: Any, depth: int = 0) -> dict[str, Any]:
        """A map of attribute names to AttributeValues (an Item, a Key) at nesting level ``depth``."""
        if type(item) is not dict:
            raise not_a_map(item, _ATTRIBUTE_MAP)
        decode = self.value
        below = depth + 1
        return {name: decode(av, below) for name, av in item.items()}

    def values_map(self, values: Any) -> dict[str, Any]:
        """ExpressionAttributeValues: each value at the top nesting level, as grid checks it."""
        if type(values) is not dict:
            raise not_a_map(values, _ATTRIBUTE_MAP)
        return {name: self.value(av) for name, av in values.items()}

    def value_list(self, values: Any) -> list[Any]:
        """An AttributeValueList of a legacy condition."""
        if type(values) is not list:
            raise not_a_list(values)
        return [self.value(av) for av in values]

    # -- one decoder per type --

    def _string(self, raw: Any, depth: int) -> str:
        if type(raw) is not str:
            raise not_a_string(raw)
        return raw

    def _number(self, raw: Any, depth: int) -> Decimal:
        if type(raw) is not str:
            raise not_a_string(raw)
        return self._parse_number(raw)

    def _parse_number(self, raw: str) -> Decimal:
        if not raw:
            self.refuse("The parameter cannot be converted to a numeric value")
            return Decimal(0)
        if _NUMBER.fullmatch(raw) is None:
            self.refuse(f"The parameter cannot be converted to a numeric value: {raw}")
            return Decimal(0)
        return Decimal(raw)

    def _binary(self, raw: Any, depth: int) -> bytes:
        if type(raw) is not str:
            if isinstance(raw, dict):
                raise SerializationException("Start of structure or map found where not expected")
            if isinstance(raw, list):
                raise SerializationException("Unrecognized collection type class java.nio.ByteBuffer")
            raise SerializationException("only base-64-encoded strings are convertible to bytes")
        return decode_base64(raw)

    def _boolean(self, raw: Any, depth: int) -> bool:
        if type(raw) is not bool:
            raise not_a_boolean(raw)
        return raw

    def _null(self, raw: Any, depth: int) -> None:
        if type(raw) is not bool:
            raise not_a_boolean(raw)
        if not raw:
            self.refuse(
                "One or more parameter values were invalid: Null attribute value types must have the value of true"
            )

    def _list(self, raw: Any, depth: int) -> list[Any]:
        if type(raw) is not list:
            raise not_a_list(raw)
        if depth >= MAX_NESTING_DEPTH:
            raise ValidationException(_NESTING)  # not deferred: nothing below may be read
        decode = self.value
        below = depth + 1
        return [decode(av, below) for av in raw]

    def _map(self, raw: Any, depth: int) -> dict[str, Any]:
        if type(raw) is not dict:
            raise not_a_map(raw, _ATTRIBUTE_MAP)
        if depth >= MAX_NESTING_DEPTH:
            raise ValidationException(_NESTING)
        return self.item(raw, depth)

    def _string_set(self, raw: Any, depth: int) -> set[str]:
        elements = self._set_elements(raw)
        if not elements:
            self.refuse("One or more parameter values were invalid: An string set  may not be empty")
            return set()
        for element in elements:
            if element is None:
                self.refuse(
                    "One or more parameter values were invalid: An string set may not have a empty string as a member"
                )
                return set()
            if type(element) is not str:
                raise not_a_string(element)
        found = set(elements)
        if len(found) != len(elements):
            self.refuse(
                f"One or more parameter values were invalid: Input collection [{', '.join(elements)}] contains duplicates."
            )
        return found

    def _number_set(self, raw: Any, depth: int) -> set[Decimal]:
        elements = self._set_elements(raw)
        if not elements:
            self.refuse("One or more parameter values were invalid: An number set  may not be empty")
            return set()
        numbers = []
        for element in elements:
            if element is None:
                self.refuse("The parameter cannot be converted to a numeric value")
                return set()
            if type(element) is not str:
                raise not_a_string(element)
            numbers.append(self._parse_number(element))
        found = set(numbers)
        if len(found) != len(numbers):  # "1" and "1.0" are one number
            self.refuse("Input collection contains duplicates")
        return found

    def _binary_set(self, raw: Any, depth: int) -> set[bytes]:
        elements = self._set_elements(raw)
        values = []
        for element in elements:
            if element is None:
                self.refuse(
                    "One or more parameter values were invalid: Binary sets may not contain null or empty values"
                )
                return set()
            values.append(self._binary(element, depth))
        found = set(values)
        if len(found) != len(values):
            self.refuse(
                f"One or more parameter values were invalid: Input collection [{', '.join(elements)}]of type BS contains duplicates."
            )
        return found

    @staticmethod
    def _set_elements(raw: Any) -> list[Any]:
        if type(raw) is not list:
            raise not_a_list(raw)
        return raw


_DECODERS = {
    "S": WireDecoder._string,
    "N": WireDecoder._number,
    "B": WireDecoder._binary,
    "BOOL": WireDecoder._boolean,
    "NULL": WireDecoder._null,
    "L": WireDecoder._list,
    "M": WireDecoder._map,
    "SS": WireDecoder._string_set,
    "NS": WireDecoder._number_set,
    "BS": WireDecoder._binary_set,
}


def decode_base64(text: str) -> bytes:
    """Standard base64 with padding, refused as DynamoDB refuses it."""
    if len(text) % 4:
        raise SerializationException(f"Base64 encoded length is expected a multiple of 4 bytes but found: {len(text)}")
    bad = _BASE64_ALPHABET.search(text)
    if bad is not None:
        raise SerializationException(f"Invalid Base64 character: '{bad.group()}'")
    try:
        decoded = base64.b64decode(text, validate=True)
    except binascii.Error:
        decoded = None
    # A padding sign inside the text, or unused bits set in the last character: not canonical.
    if decoded is None or base64.b64encode(decoded).decode("ascii") != text:
        raise SerializationException("Invalid last non-pad Base64 character dectected")
    return decoded


def to_native(av: Any) -> Any:
    """One DynamoDB JSON AttributeValue as a native value.

    >>> to_native({"M": {"n": {"N": "1.50"}, "tags": {"SS": ["a"]}}})
    {'n': Decimal('1.50'), 'tags': {'a'}}

    Raises SerializationException for JSON of the wrong type and ValidationException
    for a value DynamoDB refuses (no type, several types, a number that does not parse,
    too deep).
    """
    decoder = WireDecoder()
    value = decoder.value(av)
    decoder.finish()
    return value


def item_to_native(item: Any) -> dict[str, Any]:
    """A wire item (or key) ``{"name": AttributeValue, ...}`` as a native dict."""
    decoder = WireDecoder()
    native = decoder.item(item)
    decoder.finish()
    return native


# -- encoding --------------------------------------------------------------------------------


def _b64(value: bytes | bytearray | memoryview) -> str:
    return base64.b64encode(value).decode("ascii")


def from_native(value: Any, depth: int = 0) -> dict[str, Any]:
    """One native value as a DynamoDB JSON AttributeValue.

    Sets come out sorted, so equal values encode to equal JSON. Raises TypeError for a
    value no AttributeValue can hold (a float, an empty or mixed set): grid's results
    never hold one, so meeting one is a bug, not a bad request.

    >>> from_native({"n": Decimal("1.5"), "b": b"hi"})
    {'M': {'n': {'N': '1.5'}, 'b': {'B': 'aGk='}}}
    """
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is Decimal:
        if not value.is_finite():
            raise TypeError(f"{value} cannot be stored in DynamoDB")
        return {"N": str(value)}
    if kind is bool:
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    if kind is dict or isinstance(value, Mapping):
        if depth >= MAX_NESTING_DEPTH:
            raise ValidationException(_NESTING)
        return {"M": item_from_native(value, depth)}
    if kind is list or kind is tuple:
        if depth >= MAX_NESTING_DEPTH:
            raise ValidationException(_NESTING)
        below = depth + 1
        return {"L": [from_native(element, below) for element in value]}
    if kind is int:
        return {"N": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"B": _b64(value)}
    if isinstance(value, (set, frozenset)):
        return _set_from_native(value)
    raise TypeError(
        f"{kind.__name__} cannot be stored in DynamoDB; use str, Decimal, bytes, bool, None, list, dict or a set"
    )


def _set_from_native(value: set[Any] | frozenset[Any]) -> dict[str, Any]:
    if not value:
        raise TypeError("an empty set cannot be stored in DynamoDB")
    if all(type(element) is str for element in value):
        return {"SS": sorted(value)}
    if all(type(element) in (Decimal, int) for element in value):
        return {"NS": [str(element) for element in sorted(value)]}
    if all(isinstance(element, (bytes, bytearray)) for element in value):
        return {"BS": [_b64(element) for element in sorted(bytes(element) for element in value)]}
    raise TypeError("a set must hold only strings, only numbers or only binary values")


def item_from_native(item: Mapping[str, Any], depth: int = 0) -> dict[str, dict[str, Any]]:
    """A native item (or key) as ``{"name": AttributeValue, ...}``."""
    below = depth + 1
    return {name: from_native(value, below) for name, value in item.items()}


def items_from_native(items: Iterable[Mapping[str, Any]]) -> list[dict[str, dict[str, Any]]]:
    return [item_from_native(item) for item in items]


# -- everything around the items -------------------------------------------------------------


def plain_json(value: Any) -> Any:
    """A response's metadata as JSON DynamoDB would send: datetimes as epoch seconds,
    numbers as JSON numbers, sets and tuples as lists. Not for items (use ``from_native``)."""
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {name: plain_json(element) for name, element in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(element) for element in value]
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(plain_json(element) for element in value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _b64(value)
    return value

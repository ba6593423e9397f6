"""AttributeValues at the HTTP edge (``grid/_http/attribute_values.py``): wire JSON to native and back."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from grid._http.attribute_values import (
    from_native,
    item_from_native,
    item_to_native,
    plain_json,
    to_native,
)
from grid._types import MAX_NESTING_DEPTH, normalize_item
from grid.errors import SerializationException, ValidationException

# -- strategies: every native type, as grid holds it -------------------------------------------

numbers = st.builds(
    lambda digits, exponent: Decimal(digits).scaleb(exponent),
    st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1),
    st.integers(min_value=-120, max_value=80),
)
scalars = st.one_of(
    st.text(),
    numbers,
    st.binary(),
    st.booleans(),
    st.none(),
    st.frozensets(st.text(), min_size=1).map(set),
    st.frozensets(numbers, min_size=1).map(set),
    st.frozensets(st.binary(), min_size=1).map(set),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(), children, max_size=4)),
    max_leaves=25,
)
items = st.dictionaries(st.text(min_size=1), values, max_size=6)


# -- boto3's serializer speaks botocore's form: binaries as bytes, base64 only on the wire ---------


def botocore_to_wire(av: dict[str, Any]) -> dict[str, Any]:
    """boto3's TypeSerializer output as DynamoDB JSON, sets sorted as grid sorts them."""
    ((kind, raw),) = av.items()
    if kind == "B":
        return {"B": base64.b64encode(raw).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in sorted(raw)]}
    if kind == "SS":
        return {"SS": sorted(raw)}
    if kind == "NS":
        return {"NS": [str(n) for n in sorted(Decimal(n) for n in raw)]}
    if kind == "L":
        return {"L": [botocore_to_wire(element) for element in raw]}
    if kind == "M":
        return {"M": {name: botocore_to_wire(element) for name, element in raw.items()}}
    return av


def wire_to_botocore(av: dict[str, Any]) -> dict[str, Any]:
    ((kind, raw),) = av.items()
    if kind == "B":
        return {"B": base64.b64decode(raw)}
    if kind == "BS":
        return {"BS": [base64.b64decode(b) for b in raw]}
    if kind == "L":
        return {"L": [wire_to_botocore(element) for element in raw]}
    if kind == "M":
        return {"M": {name: wire_to_botocore(element) for name, element in raw.items()}}
    return av


def unwrap_binary(value: Any) -> Any:
    """boto3's deserializer wraps binaries in ``Binary``; grid uses plain bytes."""
    if isinstance(value, Binary):
        return value.value
    if isinstance(value, list):
        return [unwrap_binary(v) for v in value]
    if isinstance(value, dict):
        return {k: unwrap_binary(v) for k, v in value.items()}
    if isinstance(value, set):
        return {unwrap_binary(v) for v in value}
    return value


def same_exactly(left: Any, right: Any) -> bool:
    """Equal and of the same types all the way down, numbers with the same digits and exponent."""
    if type(left) is not type(right):
        return False
    if isinstance(left, Decimal):
        return left.as_tuple() == right.as_tuple()
    if isinstance(left, list):
        return len(left) == len(right) and all(same_exactly(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same_exactly(left[k], right[k]) for k in left)
    if isinstance(left, set):
        return sorted(map(repr, left)) == sorted(map(repr, right))
    return bool(left == right)


# -- round trips ----------------------------------------------------------------------------------


@given(values)
@settings(max_examples=300)
def test_native_to_wire_to_native_round_trips(value: Any) -> None:
    wire = from_native(value)
    json.dumps(wire)  # plain JSON: nothing but str, bool, list and dict
    back = to_native(json.loads(json.dumps(wire)))
    assert same_exactly(back, value)
    assert from_native(back) == wire


@given(items)
@settings(max_examples=100)
def test_items_round_trip(item: dict[str, Any]) -> None:
    assert same_exactly(item_to_native(item_from_native(item)), item)


@given(values)
@settings(max_examples=300)
def test_wire_encoding_agrees_with_boto3(value: Any) -> None:
    assert from_native(value) == botocore_to_wire(TypeSerializer().serialize(value))


@given(values)
@settings(max_examples=300)
def test_wire_decoding_agrees_with_boto3(value: Any) -> None:
    wire = from_native(value)
    theirs = unwrap_binary(TypeDeserializer().deserialize(wire_to_botocore(wire)))
    assert same_exactly(to_native(wire), theirs)


@pytest.mark.parametrize(
    ("wire", "native"),
    [
        ({"S": ""}, ""),
        ({"S": "héllo"}, "héllo"),
        ({"N": "1.50"}, Decimal("1.50")),  # exactly as given: grid normalizes later
        ({"N": "-1e-130"}, Decimal("-1e-130")),
        ({"N": "+.5"}, Decimal("0.5")),
        ({"N": "7."}, Decimal("7")),
        ({"B": ""}, b""),
        ({"B": "AAEC/w=="}, b"\x00\x01\x02\xff"),
        ({"BOOL": False}, False),
        ({"NULL": True}, None),
        ({"SS": ["a", "b"]}, {"a", "b"}),
        ({"NS": ["1", "2.5"]}, {Decimal(1), Decimal("2.5")}),
        ({"BS": ["AA==", "AQ=="]}, {b"\x00", b"\x01"}),
        ({"L": []}, []),
        ({"M": {}}, {}),
        ({"L": [{"N": "1"}, {"M": {"x": {"NULL": True}}}]}, [Decimal(1), {"x": None}]),
        ({"S": "x", "Unknown": 1}, "x"),  # members outside the model are ignored
        ({"S": "x", "N": None}, "x"),  # a JSON null is an absent member
    ],
)
def test_to_native(wire: dict[str, Any], native: Any) -> None:
    assert same_exactly(to_native(wire), native)


@pytest.mark.parametrize(("wire", "kind"), [({"SS": []}, "string"), ({"NS": []}, "number")])
def test_empty_sets_are_refused_as_dynamodb_words_it(wire: dict[str, Any], kind: str) -> None:
    with pytest.raises(ValidationException) as refused:
        item_to_native({"s": wire})
    assert refused.value.message == f"One or more parameter values were invalid: An {kind} set  may not be empty"


# -- malformed input -----------------------------------------------------------------------------

SERIALIZATION = SerializationException
VALIDATION = ValidationException


@pytest.mark.parametrize(
    ("wire", "error", "message"),
    [
        ({}, VALIDATION, "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"),
        ({"S": None}, VALIDATION, "Supplied AttributeValue is empty"),
        ({"Q": "x"}, VALIDATION, "Supplied AttributeValue is empty"),
        (
            {"S": "a", "N": "1"},
            VALIDATION,
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
        ),
        ({"N": 5}, SERIALIZATION, "NUMBER_VALUE cannot be converted to String"),
        ({"N": 5.5}, SERIALIZATION, "DECIMAL_VALUE cannot be converted to String"),
        ({"S": 3}, SERIALIZATION, "NUMBER_VALUE cannot be converted to String"),
        ({"S": True}, SERIALIZATION, "TRUE_VALUE cannot be converted to String"),
        ({"S": False}, SERIALIZATION, "FALSE_VALUE cannot be converted to String"),
        ({"S": {"S": "x"}}, SERIALIZATION, "Start of structure or map found where not expected"),
        ({"S": ["x"]}, SERIALIZATION, "Unrecognized collection type class java.lang.String"),
        ({"SS": ["a", 1]}, SERIALIZATION, "NUMBER_VALUE cannot be converted to String"),
        ({"NS": [1]}, SERIALIZATION, "NUMBER_VALUE cannot be converted to String"),
        ({"BOOL": "x"}, SERIALIZATION, "Unexpected token received from parser"),
        ({"BOOL": 1}, SERIALIZATION, "NUMBER_VALUE cannot be converted to Boolean"),
        ({"BOOL": 1.5}, SERIALIZATION, "DECIMAL_VALUE cannot be converted to Boolean"),
        ({"BOOL": []}, SERIALIZATION, "Unrecognized collection type class java.lang.Boolean"),
        ({"NULL": {}}, SERIALIZATION, "Start of structure or map found where not expected"),
        ({"NULL": False}, VALIDATION, "Null attribute value types must have the value of true"),
        ({"B": 5}, SERIALIZATION, "only base-64-encoded strings are convertible to bytes"),
        ({"B": True}, SERIALIZATION, "only base-64-encoded strings are convertible to bytes"),
        ({"B": []}, SERIALIZATION, "Unrecognized collection type class java.nio.ByteBuffer"),
        ({"B": "23456"}, SERIALIZATION, "Base64 encoded length is expected a multiple of 4 bytes but found: 5"),
        ({"B": "+/+="}, SERIALIZATION, "Invalid last non-pad Base64 character dectected"),
        ({"B": "=+/="}, SERIALIZATION, "Invalid last non-pad Base64 character dectected"),
        ({"B": "ab!d"}, SERIALIZATION, "Invalid Base64 character: '!'"),
        ({"BS": ["AA=="], "S": "x"}, VALIDATION, "more than one datatypes"),
        ({"BS": ["!!!!"]}, SERIALIZATION, "Invalid Base64 character"),
        ({"L": "x"}, SERIALIZATION, "Unexpected field type"),
        ({"L": {}}, SERIALIZATION, "Start of structure or map found where not expected"),
        ({"SS": "a"}, SERIALIZATION, "Unexpected field type"),
        ({"M": []}, SERIALIZATION, "Unrecognized collection type java.util.Map<java.lang.String, "),
        ({"M": 1}, SERIALIZATION, "Unexpected field type"),
        ({"L": [1]}, SERIALIZATION, "Unexpected value type in payload"),
        (
            {"L": [[]]},
            SERIALIZATION,
            "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.AttributeValue",
        ),
        ({"M": {"a": "x"}}, SERIALIZATION, "Unexpected value type in payload"),
        ({"L": [None]}, VALIDATION, "Supplied AttributeValue is empty"),
        ("x", SERIALIZATION, "Unexpected value type in payload"),
        ({"N": "abc"}, VALIDATION, "The parameter cannot be converted to a numeric value: abc"),
        ({"N": "NaN"}, VALIDATION, "The parameter cannot be converted to a numeric value: NaN"),
        ({"N": "Infinity"}, VALIDATION, "The parameter cannot be converted to a numeric value: Infinity"),
        ({"N": "1_000"}, VALIDATION, "The parameter cannot be converted to a numeric value: 1_000"),
        ({"N": " 1"}, VALIDATION, "The parameter cannot be converted to a numeric value:  1"),
        ({"N": "١"}, VALIDATION, "The parameter cannot be converted to a numeric value: ١"),
        ({"N": ""}, VALIDATION, "The parameter cannot be converted to a numeric value"),
        ({"NS": ["1", "x"]}, VALIDATION, "The parameter cannot be converted to a numeric value: x"),
        ({"SS": ["a", "a"]}, VALIDATION, "Input collection [a, a] contains duplicates."),
        ({"NS": ["1", "1.0"]}, VALIDATION, "Input collection contains duplicates"),
        ({"BS": ["AA==", "AA=="]}, VALIDATION, "Input collection [AA==, AA==]of type BS contains duplicates."),
        ({"SS": [None]}, VALIDATION, "An string set may not have a empty string as a member"),
        ({"BS": [None]}, VALIDATION, "Binary sets may not contain null or empty values"),
    ],
)
def test_malformed_values_are_refused(wire: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as raised:
        to_native(wire)
    assert type(raised.value) is error
    assert message in str(raised.value)


def test_a_serialization_error_anywhere_wins_over_a_validation_error() -> None:
    # DynamoDB deserializes the whole request before validating any of it.
    with pytest.raises(SerializationException):
        item_to_native({"a": {"S": "x", "N": "1"}, "b": {"S": 5}})
    with pytest.raises(ValidationException, match="more than one"):
        item_to_native({"a": {"S": "x", "N": "1"}, "b": {"N": "nope"}})  # the first one found


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            [],
            "Unrecognized collection type java.util.Map<java.lang.String, com.amazonaws.dynamodb.v20120810.AttributeValue>",
        ),
        ("x", "Unexpected field type"),
    ],
)
def test_item_must_be_a_map(item: Any, message: str) -> None:
    with pytest.raises(SerializationException, match=message.replace(".", r"\.")):
        item_to_native(item)


# -- nesting ----------------------------------------------------------------------------------


def wire_nested(kind: str, levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(levels):
        value = {"L": [value]} if kind == "L" else {"M": {"m": value}}
    return value


def native_nested(kind: str, levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value] if kind == "L" else {"m": value}
    return value


@pytest.mark.parametrize("kind", ["L", "M"])
def test_very_deep_requests_are_refused_without_recursing(kind: str) -> None:
    with pytest.raises(ValidationException, match="Nesting Levels have exceeded supported limits"):
        item_to_native({"a": wire_nested(kind, 10_000)})
    with pytest.raises(ValidationException, match="Nesting Levels have exceeded supported limits"):
        to_native(wire_nested(kind, 10_000))


@pytest.mark.parametrize("kind", ["L", "M"])
@pytest.mark.parametrize("levels", range(MAX_NESTING_DEPTH - 3, MAX_NESTING_DEPTH + 3))
def test_nesting_limit_agrees_with_grids_normalization(kind: str, levels: int) -> None:
    """Whatever depth grid's own API accepts, the wire accepts; whatever it refuses, the wire refuses."""
    try:
        normalize_item({"a": native_nested(kind, levels)})
        grid_accepts = True
    except ValidationException:
        grid_accepts = False
    try:
        normalize_item(item_to_native({"a": wire_nested(kind, levels)}))
        wire_accepts = True
    except ValidationException as error:
        assert "Nesting Levels" in error.message
        wire_accepts = False
    assert wire_accepts == grid_accepts


def test_encoding_refuses_runaway_nesting() -> None:
    with pytest.raises(ValidationException, match="Nesting Levels"):
        from_native(native_nested("L", 5_000))


# -- encoding -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("native", "wire"),
    [
        (Decimal("100"), {"N": "100"}),
        (Decimal("1.5"), {"N": "1.5"}),
        (7, {"N": "7"}),
        (bytearray(b"\x01"), {"B": "AQ=="}),
        ({"b", "a"}, {"SS": ["a", "b"]}),
        (frozenset({Decimal(10), Decimal(9)}), {"NS": ["9", "10"]}),
        ({b"\x02", b"\x01"}, {"BS": ["AQ==", "Ag=="]}),
        ((Decimal(1), "x"), {"L": [{"N": "1"}, {"S": "x"}]}),
        (True, {"BOOL": True}),
        (None, {"NULL": True}),
    ],
)
def test_from_native(native: Any, wire: dict[str, Any]) -> None:
    assert from_native(native) == wire


@pytest.mark.parametrize("native", [1.5, set(), {"a", Decimal(1)}, Decimal("NaN"), object()])
def test_from_native_refuses_what_no_attribute_value_holds(native: Any) -> None:
    with pytest.raises(TypeError):
        from_native(native)


def test_plain_json_converts_metadata_for_json() -> None:
    created = datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=timezone.utc)
    value = plain_json(
        {
            "CreationDateTime": created,
            "Naive": datetime(1970, 1, 1, 0, 0, 10),
            "Other": datetime(1970, 1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=1))),
            "Count": Decimal(3),
            "Ratio": Decimal("0.5"),
            "Tuple": (1, 2),
            "Labels": {"b", "a"},
        }
    )
    assert value == {
        "CreationDateTime": created.timestamp(),
        "Naive": 10.0,
        "Other": 0.0,
        "Count": 3,
        "Ratio": 0.5,
        "Tuple": [1, 2],
        "Labels": ["a", "b"],
    }
    json.dumps(value)

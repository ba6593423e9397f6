"""Storage encoding of items (``grid/_codec.py``): exact round trips, compact bytes."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grid._codec import decode_item, encode_item
from grid._types import normalize_item

SEED_PATH = Path("/work/shared/catalog-item.json")


def assert_identical(actual: Any, expected: Any) -> None:
    """Equal and of the same types all the way down (``True == Decimal(1)`` is not enough)."""
    assert type(actual) is type(expected), (actual, expected)
    if isinstance(expected, Decimal):
        assert str(actual) == str(expected)
    elif isinstance(expected, dict):
        assert list(actual) == list(expected)
        for name in expected:
            assert_identical(actual[name], expected[name])
    elif isinstance(expected, list):
        assert len(actual) == len(expected)
        for left, right in zip(actual, expected, strict=True):
            assert_identical(left, right)
    elif isinstance(expected, set):
        assert {(type(v), str(v) if isinstance(v, Decimal) else v) for v in actual} == {
            (type(v), str(v) if isinstance(v, Decimal) else v) for v in expected
        }
    else:
        assert actual == expected


def round_trip(item: dict[str, Any]) -> dict[str, Any]:
    data = encode_item(item)
    assert isinstance(data, bytes)
    return decode_item(data)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plain",
        "ünïcødé \U0001f600",
        "x" * 70_000,
        Decimal("0"),
        Decimal("1"),
        Decimal("-1"),
        Decimal("1.50"),
        Decimal("-273.15"),
        Decimal("12345678901234567890123456789012345678"),
        Decimal("-0.12345678901234567890123456789012345678"),
        Decimal("9.9999999999999999999999999999999999999E+125"),
        Decimal("-9.9999999999999999999999999999999999999E+125"),
        Decimal("1E-130"),
        Decimal("-1E-130"),
        Decimal("1E+38"),
        b"",
        b"\x00\xff\x80binary",
        True,
        False,
        None,
        [],
        [Decimal(1), "a", b"b", None, True, [Decimal(2)], {"k": "v"}],
        {},
        {"nested": {"deeper": {"list": [{"x": Decimal("1.0")}]}}},
        {"a"},
        {"", "a", "b"},
        {Decimal("1"), Decimal("-2.5"), Decimal("1E+100")},
        {b"a", b"\x00", b"\xff"},
    ],
    ids=repr,
)
def test_every_type_round_trips(value: Any) -> None:
    item = {"pk": "k", "value": value}
    assert_identical(round_trip(item), item)


def test_a_large_number_set_keeps_each_members_text() -> None:
    numbers = {Decimal(f"{i}.{i % 7}") for i in range(500)}
    decoded = round_trip({"ns": numbers})["ns"]
    assert_identical(decoded, numbers)


def test_decode_returns_fresh_objects() -> None:
    data = encode_item({"m": {"l": [Decimal(1)]}, "s": {"a"}})
    first = decode_item(data)
    first["m"]["l"].append(Decimal(2))
    first["s"].add("b")
    assert decode_item(data) == {"m": {"l": [Decimal(1)]}, "s": {"a"}}


def test_bool_is_not_confused_with_numbers() -> None:
    decoded = round_trip({"t": True, "one": Decimal(1), "f": False, "zero": Decimal(0)})
    assert decoded["t"] is True and decoded["f"] is False
    assert type(decoded["one"]) is Decimal and type(decoded["zero"]) is Decimal


def test_unsupported_values_are_refused() -> None:
    with pytest.raises(TypeError):
        encode_item({"a": object()})


def test_seed_document_round_trips_and_is_compact() -> None:
    seed = normalize_item(json.loads(SEED_PATH.read_text()))
    data = encode_item(seed)
    assert_identical(decode_item(data), seed)
    assert len(data) < 350, len(data)
    assert len(data) < len(json.dumps(json.loads(SEED_PATH.read_text()), separators=(",", ":")).encode())


# -- property-based round trip --------------------------------------------------------------

numbers = st.builds(
    lambda mantissa, exponent: normalize_item({"n": Decimal(f"{mantissa}E{exponent}")})["n"],
    st.integers(min_value=-(10**38 - 1), max_value=10**38 - 1),
    st.integers(min_value=-130, max_value=87),
)
scalars = st.one_of(
    st.text(max_size=30),
    numbers,
    st.binary(max_size=30),
    st.booleans(),
    st.none(),
    st.sets(st.text(max_size=10), min_size=1, max_size=5),
    st.sets(numbers, min_size=1, max_size=5),
    st.sets(st.binary(max_size=10), min_size=1, max_size=5),
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=10), values, max_size=6))
def test_any_normalized_item_round_trips(item: dict[str, Any]) -> None:
    assert_identical(round_trip(item), item)

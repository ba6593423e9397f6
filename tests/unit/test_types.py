"""The one gate every user value passes (``grid/_types.py``): conversion, DynamoDB's rules, sizes."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grid._types import MAX_ITEM_BYTES, attribute_size, item_size, normalize_item, normalize_value, type_name
from grid.errors import ValidationException


def nested_lists(wrappers: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(wrappers):
        value = [value]
    return value


def nested_maps(wrappers: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(wrappers):
        value = {"m": value}
    return value


# -- numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (1, Decimal("1")),
        (-7, Decimal("-7")),
        (0, Decimal("0")),
        (1.5, Decimal("1.5")),
        (0.1, Decimal("0.1")),  # the float's shortest repr, not its binary expansion
        (-2.25e-10, Decimal("-2.25E-10")),
        (Decimal("3.14"), Decimal("3.14")),
        (2**64, Decimal(2**64)),
        (Decimal("1E-130"), Decimal("1E-130")),
        (
            Decimal("9.9999999999999999999999999999999999999E+125"),
            Decimal("9.9999999999999999999999999999999999999E+125"),
        ),
        (Decimal("-12345678901234567890123456789012345678"), Decimal("-12345678901234567890123456789012345678")),
    ],
)
def test_numbers_become_decimals(given: Any, expected: Decimal) -> None:
    normalized = normalize_item({"n": given, "l": [given], "m": {"n": given}})
    for value in (normalized["n"], normalized["l"][0], normalized["m"]["n"]):
        assert type(value) is Decimal
        assert value == expected


def test_bools_stay_bools() -> None:
    normalized = normalize_item({"t": True, "f": False})
    assert normalized["t"] is True and normalized["f"] is False


@pytest.mark.parametrize(
    "bad", [float("nan"), float("inf"), float("-inf"), Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity")]
)
def test_nan_and_infinity_are_refused(bad: Any) -> None:
    items: list[dict[str, Any]] = [{"n": bad}, {"l": [bad]}, {"m": {"n": bad}}]
    if not (isinstance(bad, Decimal) and bad.is_snan()):  # a signaling NaN cannot go in a set
        items.append({"ns": {bad}})
    for item in items:
        with pytest.raises(ValidationException, match="Infinity and NaN not supported"):
            normalize_item(item)


@pytest.mark.parametrize(
    "bad",
    [
        Decimal("123456789012345678901234567890123456789"),
        Decimal("1.23456789012345678901234567890123456789"),
        10**38 + 1,
    ],
)
def test_more_than_38_significant_digits_are_refused(bad: Any) -> None:
    with pytest.raises(ValidationException, match="more than 38 significant digits"):
        normalize_item({"n": bad})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (10**38, Decimal("1E+38")),
        (Decimal("1." + "0" * 40), Decimal("1")),
        (Decimal("12345678901234567890123456789012345678" + "00"), Decimal("1234567890123456789012345678901234567800")),
    ],
)
def test_trailing_zeros_are_not_significant_digits(given: Any, expected: Decimal) -> None:
    """DynamoDB trims leading and trailing zeros before counting a number's 38 digits."""
    assert normalize_value(given) == expected


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (Decimal("1E+126"), "Number overflow"),
        (Decimal("-1E+126"), "Number overflow"),
        (Decimal("1E+127"), "Number overflow"),
        (Decimal("1E+1000"), "Number overflow"),
        (Decimal("1E-131"), "Number underflow"),
        (Decimal("-1E-131"), "Number underflow"),
        (Decimal("1E-170"), "Number underflow"),
        (Decimal("1E-1000"), "Number underflow"),
    ],
)
def test_numbers_outside_dynamodbs_range_are_refused(bad: Decimal, message: str) -> None:
    with pytest.raises(ValidationException, match=message):
        normalize_item({"n": bad})


# -- sets, types, structure ------------------------------------------------------------------


@pytest.mark.parametrize("empty", [set(), frozenset()])
def test_empty_sets_are_refused(empty: Any) -> None:
    with pytest.raises(ValidationException, match="An empty set is not allowed"):
        normalize_item({"s": empty})
    with pytest.raises(ValidationException, match="An empty set is not allowed"):
        normalize_item({"m": {"l": [empty]}})


@pytest.mark.parametrize("mixed", [{1, "a"}, {"a", b"a"}, {Decimal(1), b"x"}, {2.5, "b", b"c"}])
def test_mixed_sets_are_refused(mixed: set) -> None:
    with pytest.raises(ValidationException, match="single type"):
        normalize_item({"s": mixed})


@pytest.mark.parametrize("bad", [{True}, {None}, {(1, 2)}, {frozenset({"a"})}])
def test_sets_of_unsupported_members_are_refused(bad: set) -> None:
    with pytest.raises(ValidationException, match="Sets may hold only strings, numbers or binary"):
        normalize_item({"s": bad})


def test_sets_are_normalized() -> None:
    normalized = normalize_item({"ns": frozenset({1, 2.5}), "bs": {b"a"}, "ss": frozenset({"x"})})
    assert normalized == {"ns": {Decimal(1), Decimal("2.5")}, "bs": {b"a"}, "ss": {"x"}}
    assert all(type(v) is set for v in normalized.values())
    assert all(type(n) is Decimal for n in normalized["ns"])
    assert [type_name(normalized[k]) for k in ("ns", "bs", "ss")] == ["NS", "BS", "SS"]


@pytest.mark.parametrize("bad", [object(), 1j, datetime.date(2024, 7, 16), ..., type])
def test_unsupported_types_are_refused(bad: Any) -> None:
    with pytest.raises(ValidationException, match="Unsupported type"):
        normalize_item({"a": bad})
    with pytest.raises(ValidationException, match="Unsupported type"):
        normalize_item({"a": {"b": [bad]}})


def test_items_must_be_mappings() -> None:
    with pytest.raises(ValidationException, match="must be a map"):
        normalize_item([("a", 1)])


@pytest.mark.parametrize("item", [{1: "a"}, {"m": {2: "b"}}, {"l": [{None: "c"}]}])
def test_map_keys_must_be_strings(item: dict) -> None:
    with pytest.raises(ValidationException, match="Map attribute names must be strings"):
        normalize_item(item)


def test_empty_top_level_attribute_name_is_refused() -> None:
    with pytest.raises(ValidationException, match="Attribute names must not be empty"):
        normalize_item({"": "x"})


@pytest.mark.parametrize("nest", [nested_lists, nested_maps])
def test_nesting_up_to_32_levels_is_allowed_and_deeper_refused(nest: Any) -> None:
    # DynamoDB counts the scalar as a level: 31 containers above it pass, 32 do not.
    assert normalize_item({"a": nest(31, "leaf")})
    with pytest.raises(ValidationException, match="Nesting Levels have exceeded supported limits"):
        normalize_item({"a": nest(32, "leaf")})
    with pytest.raises(ValidationException, match="Nesting Levels have exceeded supported limits"):
        normalize_item({"a": nest(40, Decimal(1))})


def test_empty_strings_and_binary_are_allowed_outside_keys() -> None:
    item = {"pk": "k", "s": "", "b": b"", "m": {"s": ""}, "l": ["", b""]}
    assert normalize_item(item) == item


def test_tuples_and_bytearrays_become_lists_and_bytes() -> None:
    normalized = normalize_item({"t": (1, "a"), "ba": bytearray(b"xy"), "mv": memoryview(b"z")})
    assert normalized == {"t": [Decimal(1), "a"], "ba": b"xy", "mv": b"z"}
    assert type(normalized["t"]) is list and type(normalized["ba"]) is bytes and type(normalized["mv"]) is bytes


def test_normalize_returns_a_deep_copy() -> None:
    source: dict[str, Any] = {
        "m": {"inner": [1, {"x": "y"}]},
        "l": [[1], {"k": 2}],
        "ss": {"a"},
        "ba": bytearray(b"q"),
    }
    normalized = normalize_item(source)
    snapshot = normalize_item(source)
    source["m"]["inner"].append(3)
    source["m"]["inner"][1]["x"] = "changed"
    source["m"]["new"] = 1
    source["l"][0].append(2)
    source["l"][1]["k"] = 99
    source["ss"].add("b")
    source["ba"][0] = ord("z")
    source["added"] = True
    assert normalized == snapshot
    assert normalized["ba"] == b"q" and normalized["ss"] == {"a"}


def test_type_names() -> None:
    normalized = normalize_item(
        {"s": "a", "n": 1, "b": b"x", "t": True, "z": None, "l": [], "m": {}, "ss": {"a"}, "ns": {1}, "bs": {b"a"}}
    )
    assert {k: type_name(v) for k, v in normalized.items()} == {
        "s": "S",
        "n": "N",
        "b": "B",
        "t": "BOOL",
        "z": "NULL",
        "l": "L",
        "m": "M",
        "ss": "SS",
        "ns": "NS",
        "bs": "BS",
    }


# -- sizes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("", 0),
        ("abc", 3),
        ("héllo", 6),  # UTF-8 bytes
        ("\U0001f600", 4),
        (b"\x00\x01\x02", 3),
        (True, 1),
        (None, 1),
        (Decimal("1"), 2),  # 1 digit: ceil(1/2) + 1
        (Decimal("12"), 2),
        (Decimal("123"), 3),
        (Decimal("100"), 2),  # trailing zeros are not significant
        (Decimal("0.001"), 2),  # nor are leading ones
        (Decimal("1.5"), 2),
        (Decimal("12345678901234567890123456789012345678"), 20),  # 38 digits: 19 + 1
        (Decimal("1234567890123456789012345678901234567"), 20),  # 37 digits: 19 + 1
        (Decimal("1234567890123456789012345678901"), 17),  # 31 digits: 16 + 1
        ([], 3),
        ({}, 3),
        (["ab", Decimal(1)], 3 + (2 + 1) + (2 + 1)),  # 3 bytes overhead + 1 per element
        ({"ab": "cd"}, 3 + 2 + 2 + 1),
        ({"a", "bb"}, 3),  # sets: the sum of their members
        ({b"\x00", b"\x00\x00"}, 3),
    ],
    ids=repr,
)
def test_attribute_size_follows_dynamodbs_rules(value: Any, size: int) -> None:
    assert attribute_size(value) == size


def test_item_size_counts_names_and_values() -> None:
    item = normalize_item({"pk": "abc", "número": 12, "flag": True})
    assert item_size(item) == (2 + 3) + (len("número".encode()) + 2) + (4 + 1)


def test_item_size_limit_is_400_kb() -> None:
    at_limit = {"a": "x" * (MAX_ITEM_BYTES - 1)}
    assert item_size(at_limit) == MAX_ITEM_BYTES == 409_600
    assert normalize_item(at_limit) == at_limit
    with pytest.raises(ValidationException, match="Item size has exceeded the maximum allowed size"):
        normalize_item({"a": "x" * MAX_ITEM_BYTES})
    with pytest.raises(ValidationException, match="Item size has exceeded the maximum allowed size"):
        normalize_item({"ab": "x" * (MAX_ITEM_BYTES - 1)})  # the name counts too
    with pytest.raises(ValidationException, match="Item size has exceeded"):
        normalize_item({"a": ["x" * 200_000, "y" * 200_000, "z" * 10_000]})


@given(
    st.recursive(
        st.none() | st.booleans() | st.text(max_size=5) | st.binary(max_size=5) | st.integers(-(10**20), 10**20),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=4),
        max_leaves=20,
    )
)
def test_dynamodb_size_is_at_most_four_bytes_per_encoded_byte(value: Any) -> None:
    """``check_item_size`` skips the exact count by this bound; it must hold for every item."""
    from grid._codec import encode_item
    from grid._types import item_size

    item = normalize_item({"a": value}, check_size=False)
    assert item_size(item) <= 4 * len(encode_item(item))

"""Applying UpdateExpressions to items (grid._expressions.apply_update)."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grid._expressions import (
    apply_update,
    check_placeholders,
    check_update,
    evaluate_condition,
    parse_condition,
    parse_update,
)
from grid._types import normalize_item
from grid.errors import ValidationException

D = Decimal
CATALOG_ITEM_PATH = "/work/shared/catalog-item.json"

ITEM: dict[str, Any] = {
    "pk": "p1",
    "n": D(5),
    "s": "cat",
    "l": ["a", "b", "c", "d"],
    "m": {"k": "v", "child": {"x": D(1)}, "nums": [D(1), D(2)]},
    "ss": {"a", "b"},
    "ns": {D(1), D(2)},
    "bs": {b"a"},
    "t": True,
}


def run(
    text: str, values: dict[str, Any] | None = None, names: dict[str, str] | None = None, item: Any = ITEM
) -> dict[str, Any]:
    before = copy.deepcopy(item)
    outcome = apply_update(parse_update(text), item, names, values)
    assert item == before, "apply_update must not mutate its input"
    return outcome.item


def changed(
    text: str, values: dict[str, Any] | None = None, names: dict[str, str] | None = None, item: Any = ITEM
) -> dict[str, Any]:
    """Only the top-level attributes whose values differ from ITEM, plus removals as MISSING markers."""
    new = run(text, values, names, item)
    diff: dict[str, Any] = {k: v for k, v in new.items() if k not in item or item[k] != v}
    diff.update({k: "<removed>" for k in item if k not in new})
    return diff


@pytest.fixture
def catalog_item() -> dict[str, Any]:
    with open(CATALOG_ITEM_PATH, encoding="utf-8") as handle:
        return normalize_item(json.load(handle))


# ---- SET ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("SET s = :v", {":v": "dog"}, {"s": "dog"}),
        ("SET fresh = :v", {":v": [D(1)]}, {"fresh": [D(1)]}),
        ("SET n = n + :one", {":one": D(1)}, {"n": D(6)}),
        ("SET n = :one + n", {":one": D(1)}, {"n": D(6)}),
        ("SET n = n - :one", {":one": D("0.5")}, {"n": D("4.5")}),
        ("SET n = :a - :b", {":a": D(1), ":b": D(3)}, {"n": D(-2)}),
        ("SET dup = s", None, {"dup": "cat"}),
        ("SET dup = m.child", None, {"dup": {"x": D(1)}}),
        ("SET dup = l[1]", None, {"dup": "b"}),
        ("SET tally = if_not_exists(tally, :zero) + :one", {":zero": D(0), ":one": D(1)}, {"tally": D(1)}),
        ("SET n = if_not_exists(n, :zero) + :one", {":zero": D(0), ":one": D(1)}, {"n": D(6)}),
        ("SET s = if_not_exists(s, :v)", {":v": "dog"}, {}),
        ("SET l = list_append(l, :more)", {":more": ["e"]}, {"l": ["a", "b", "c", "d", "e"]}),
        ("SET l = list_append(:more, l)", {":more": ["z"]}, {"l": ["z", "a", "b", "c", "d"]}),
        (
            "SET fresh = list_append(if_not_exists(fresh, :empty), :more)",
            {":empty": [], ":more": ["e"]},
            {"fresh": ["e"]},
        ),
        ("SET m.k = :v", {":v": "w"}, {"m": {"k": "w", "child": {"x": D(1)}, "nums": [D(1), D(2)]}}),
        ("SET m.child.y = :v", {":v": D(2)}, {"m": {"k": "v", "child": {"x": D(1), "y": D(2)}, "nums": [D(1), D(2)]}}),
        ("SET l[1] = :v", {":v": "B"}, {"l": ["a", "B", "c", "d"]}),
        ("SET l[4] = :v", {":v": "e"}, {"l": ["a", "b", "c", "d", "e"]}),
        ("SET l[99] = :v", {":v": "e"}, {"l": ["a", "b", "c", "d", "e"]}),  # past the end appends
        ("SET m.nums[0] = m.nums[1]", None, {"m": {"k": "v", "child": {"x": D(1)}, "nums": [D(2), D(2)]}}),
        ("SET #k = :v", {":v": D(1)}, {"dotted.name": D(1)}),
        # Every operand reads the old item, whatever the order of actions.
        ("SET s = n, n = s", None, {"s": D(5), "n": "cat"}),
    ],
)
def test_set(text: str, values: dict[str, Any] | None, expected: dict[str, Any]) -> None:
    assert changed(text, values, {"#k": "dotted.name"} if "#k" in text else None) == expected


@pytest.mark.parametrize(
    ("text", "values", "message"),
    [
        ("SET a.b = :v", {":v": D(1)}, "The document path provided in the update expression is invalid for update"),
        ("SET s.b = :v", {":v": D(1)}, "The document path provided in the update expression is invalid for update"),
        ("SET m[0] = :v", {":v": D(1)}, "The document path provided in the update expression is invalid for update"),
        ("SET l.k = :v", {":v": D(1)}, "The document path provided in the update expression is invalid for update"),
        ("SET l[9].k = :v", {":v": D(1)}, "The document path provided in the update expression is invalid for update"),
        ("SET x = absent_attr", None, "The provided expression refers to an attribute that does not exist in the item"),
        ("SET x = m.nope", None, "The provided expression refers to an attribute that does not exist in the item"),
        (
            "SET n = s + :one",
            {":one": D(1)},
            "Invalid UpdateExpression: Incorrect operand type for operator or function; "
            "operator or function: +, operand type: S",
        ),
        (
            "SET n = n - :v",
            {":v": {"a"}},
            "Invalid UpdateExpression: Incorrect operand type for operator or function; "
            "operator or function: -, operand type: SS",
        ),
        (
            "SET l = list_append(l, :v)",
            {":v": "e"},
            "Invalid UpdateExpression: Incorrect operand type for operator or function; "
            "operator or function: list_append, operand type: S",
        ),
        (
            "SET l = list_append(m, l)",
            None,
            "Invalid UpdateExpression: Incorrect operand type for operator or function; "
            "operator or function: list_append, operand type: M",
        ),
        (
            "SET n = n + :big",
            {":big": D("1E-38")},
            "Attempting to store more than 38 significant digits in a Number",
        ),
        (
            "SET n = :a + :b",
            {
                ":a": D("9.999999999999999999999999999999999999E+125"),
                ":b": D("9.999999999999999999999999999999999999E+125"),
            },
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ),
        (
            "SET n = :undefined",
            {},
            "Invalid UpdateExpression: An expression attribute value used in expression is not defined; "
            "attribute value: :undefined",
        ),
        (
            "SET #undefined = :v",
            {":v": D(1)},
            "Invalid UpdateExpression: An expression attribute name used in the document path is not defined; "
            "attribute name: #undefined",
        ),
    ],
)
def test_update_errors_change_nothing(text: str, values: dict[str, Any] | None, message: str) -> None:
    before = copy.deepcopy(ITEM)
    with pytest.raises(ValidationException) as caught:
        # A valid action first: it must not leak into ITEM when a later one fails.
        apply_update(
            parse_update(text + (", " if text.startswith("SET") else " SET ") + "pk = :pk"),
            ITEM,
            None,
            {**(values or {}), ":pk": "changed"},
        )
    assert caught.value.message == message
    assert ITEM == before


def test_arithmetic_stays_exact_within_38_digits() -> None:
    big = D("9" * 37)
    assert changed("SET n = :a + :b", {":a": big, ":b": D(1)}) == {"n": D("1" + "0" * 37)}
    assert changed("SET n = :a - :b", {":a": D("0.1"), ":b": D("0.3")}) == {"n": D("-0.2")}


# ---- REMOVE ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("REMOVE s", {"s": "<removed>"}),
        ("REMOVE s, n, absent_attr", {"s": "<removed>", "n": "<removed>"}),
        ("REMOVE m.k", {"m": {"child": {"x": D(1)}, "nums": [D(1), D(2)]}}),
        ("REMOVE m.nope", {}),
        ("REMOVE l[0]", {"l": ["b", "c", "d"]}),
        # Indexes mean what they meant before the update: removed highest first.
        ("REMOVE l[0], l[2]", {"l": ["b", "d"]}),
        ("REMOVE l[2], l[0], l[1]", {"l": ["d"]}),
        ("REMOVE l[9]", {}),
        ("REMOVE m.nums[0], m.child.x", {"m": {"k": "v", "child": {}, "nums": [D(2)]}}),
    ],
)
def test_remove(text: str, expected: dict[str, Any]) -> None:
    assert changed(text) == expected


@pytest.mark.parametrize("text", ["REMOVE absent_attr.k", "REMOVE s.k", "REMOVE l.k", "REMOVE m[0]"])
def test_remove_through_an_invalid_path(text: str) -> None:
    with pytest.raises(ValidationException, match="document path provided in the update expression is invalid"):
        run(text)


def test_remove_and_set_in_one_list() -> None:
    # SET applies before REMOVE; both address the list as it was.
    assert changed("SET l[3] = :v REMOVE l[0]", {":v": "D"}) == {"l": ["b", "c", "D"]}


# ---- ADD and DELETE --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("ADD n :v", {":v": D(2)}, {"n": D(7)}),
        ("ADD n :v", {":v": D("-5")}, {"n": D(0)}),
        ("ADD hits :v", {":v": D(1)}, {"hits": D(1)}),  # missing counts as zero
        ("ADD m.child.x :v", {":v": D(1)}, {"m": {"k": "v", "child": {"x": D(2)}, "nums": [D(1), D(2)]}}),
        ("ADD ss :v", {":v": {"b", "c"}}, {"ss": {"a", "b", "c"}}),
        ("ADD ns :v", {":v": {D(3)}}, {"ns": {D(1), D(2), D(3)}}),
        ("ADD bs :v", {":v": {b"b"}}, {"bs": {b"a", b"b"}}),
        ("ADD tags :v", {":v": {"x"}}, {"tags": {"x"}}),  # missing becomes the set
        ("DELETE ss :v", {":v": {"a", "z"}}, {"ss": {"b"}}),
        ("DELETE ns :v", {":v": {D("1.0")}}, {"ns": {D(2)}}),
        ("DELETE ss :v", {":v": {"a", "b"}}, {"ss": "<removed>"}),  # no empty sets
        ("DELETE bs :v", {":v": {b"a"}}, {"bs": "<removed>"}),
        ("DELETE absent_attr :v", {":v": {"a"}}, {}),
        ("ADD n :one DELETE ss :a", {":one": D(1), ":a": {"a"}}, {"n": D(6), "ss": {"b"}}),
    ],
)
def test_add_and_delete(text: str, values: dict[str, Any], expected: dict[str, Any]) -> None:
    assert changed(text, values) == expected


@pytest.mark.parametrize(
    ("text", "value", "message"),
    [
        ("ADD s :v", D(1), "An operand in the update expression has an incorrect data type"),
        ("ADD n :v", {D(1)}, "An operand in the update expression has an incorrect data type"),
        ("ADD ss :v", {D(1)}, "An operand in the update expression has an incorrect data type"),
        ("ADD l :v", {"a"}, "An operand in the update expression has an incorrect data type"),
        ("DELETE ss :v", {D(1)}, "An operand in the update expression has an incorrect data type"),
        ("DELETE n :v", {D(1)}, "An operand in the update expression has an incorrect data type"),
        (
            "ADD n :v",
            "x",
            "Invalid UpdateExpression: Incorrect operand type for operator or function; "
            "operator: ADD, operand type: STRING",
        ),
        (
            "DELETE ss :v",
            "a",
            "Invalid UpdateExpression: Incorrect operand type for operator or function; "
            "operator: DELETE, operand type: STRING",
        ),
        ("ADD absent_attr.x :v", D(1), "The document path provided in the update expression is invalid for update"),
        ("ADD n :v", D("9" * 38), "Attempting to store more than 38 significant digits in a Number"),
    ],
)
def test_add_and_delete_errors(text: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationException) as caught:
        run(text, {":v": value})
    assert caught.value.message == message


def test_new_item_from_nothing() -> None:
    outcome = apply_update(parse_update("SET a = :v ADD n :one"), None, None, {":v": "x", ":one": D(1)})
    assert outcome.item == {"a": "x", "n": D(1)}


def test_result_shares_nothing_with_inputs() -> None:
    values = {":l": [{"k": "v"}], ":s": {"x"}}
    outcome = apply_update(parse_update("SET a = :l, b = m ADD c :s"), ITEM, None, values)
    outcome.item["a"][0]["k"] = "changed"
    outcome.item["b"]["child"]["x"] = D(99)
    outcome.item["c"].add("y")
    assert values == {":l": [{"k": "v"}], ":s": {"x"}}
    assert ITEM["m"]["child"]["x"] == D(1)


def test_updated_names() -> None:
    outcome = apply_update(
        parse_update("SET m.k = :v, a = :v REMOVE l[0], absent_attr ADD n :one DELETE ss :s"),
        ITEM,
        None,
        {":v": "x", ":one": D(1), ":s": {"a"}},
    )
    assert outcome.updated == {"m", "a", "l", "absent_attr", "n", "ss"}


# ---- the catalog item -----------------------------------------------------------


def test_catalog_item_updates(catalog_item: dict[str, Any]) -> None:
    names = {"#v": "value"}
    values = {":x": "Breathable mesh upper", ":v": D(2), ":next": D(3), ":one": D(1)}
    update = parse_update("SET product.bullet_point[0].#v = :x, version = :next ADD hits :one")
    condition = parse_condition("version = :v")
    check_placeholders({"UpdateExpression": update, "ConditionExpression": condition}, names, values)
    check_update(update, names, values)
    # Optimistic locking: the write happens only at the expected version.
    assert evaluate_condition(condition, catalog_item, names, values)
    outcome = apply_update(update, catalog_item, names, values)
    assert outcome.item["product"]["bullet_point"][0] == {"value": "Breathable mesh upper", "lang": "en_US"}
    assert outcome.item["version"] == D(3)
    assert outcome.item["hits"] == D(1)
    assert outcome.updated == {"product", "version", "hits"}
    # The stored item is untouched, and the next writer at version 2 now fails.
    assert catalog_item["product"]["bullet_point"][0]["value"] == "Outdoor-ready runner with mesh"
    assert not evaluate_condition(condition, outcome.item, names, values)
    again = apply_update(parse_update("ADD hits :one"), outcome.item, None, {":one": D(1)})
    assert again.item["hits"] == D(2)


def test_catalog_item_list_updates(catalog_item: dict[str, Any]) -> None:
    new = apply_update(
        parse_update("SET product.bullet_point = list_append(product.bullet_point, :more) REMOVE product.upc"),
        catalog_item,
        None,
        {":more": [{"value": "Machine washable", "lang": "en_US"}]},
    ).item
    assert len(new["product"]["bullet_point"]) == 4
    assert "upc" not in new["product"]
    new = apply_update(
        parse_update("REMOVE product.bullet_point[0], product.bullet_point[1]"), catalog_item, None, None
    ).item
    assert new["product"]["bullet_point"] == [{"value": "Removable sockliner accommodates orthotics", "lang": "en_US"}]


# ---- properties ------------------------------------------------------------------

_UPDATE_TOKENS = [
    "SET", "REMOVE", "ADD", "DELETE", "n", "s", "l", "m", "m.child", "m.nums", "ss", "new",
    "[0]", "[1]", "[9]", ".x", "=", "+", "-", ",", ":num", ":str", ":set", ":list",
    "if_not_exists(n, :num)", "list_append(l, :list)", "(", ")",
]  # fmt: skip
_VALUES = {":num": D(1), ":str": "x", ":set": {"a"}, ":list": ["z"]}


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_UPDATE_TOKENS), max_size=12))
def test_fuzzed_updates_never_mutate_and_fail_only_with_validation(tokens: list[str]) -> None:
    before = copy.deepcopy(ITEM)
    try:
        update = parse_update(" ".join(tokens))
        check_update(update, None, _VALUES)
        apply_update(update, ITEM, None, _VALUES)
    except ValidationException:
        pass
    assert ITEM == before

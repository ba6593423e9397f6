"""Evaluation of conditions, projections and key conditions (grid._expressions)."""

from __future__ import annotations

import copy
import json
import pickle
from decimal import Decimal
from typing import Any

import pytest

from grid._expressions import (
    MISSING,
    KeyCondition,
    RangeCondition,
    evaluate_condition,
    get_path,
    key_condition_parts,
    parse_condition,
    parse_projection,
    project,
    resolve_path,
)
from grid._types import normalize_item
from grid.errors import ValidationException

D = Decimal
CATALOG_ITEM_PATH = "/work/shared/catalog-item.json"

# One item holding every type, used by the tables below.
ITEM: dict[str, Any] = {
    "s": "cat",
    "n": D(5),
    "b": b"\x01\xff",
    "t": True,
    "f": False,
    "nul": None,
    "l": ["x", D(1), {"k": "v"}],
    "m": {"k": "v", "nested": {"deep": D(1)}},
    "ss": {"a", "b"},
    "ns": {D(1), D(2)},
    "bs": {b"a"},
    "empty_s": "",
    "uni": "héllo",
}


def check(
    text: str, values: dict[str, Any] | None = None, names: dict[str, str] | None = None, item: Any = None
) -> bool:
    return evaluate_condition(parse_condition(text), ITEM if item is None else item, names, values)


@pytest.fixture
def catalog_item() -> dict[str, Any]:
    with open(CATALOG_ITEM_PATH, encoding="utf-8") as handle:
        return normalize_item(json.load(handle))


# ---- comparisons -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("s = :v", "cat", True),
        ("s = :v", "dog", False),
        ("n = :v", D("5.00"), True),
        ("n = :v", "5", False),  # different types are unequal
        ("b = :v", b"\x01\xff", True),
        ("t = :v", True, True),
        ("t = :v", D(1), False),  # BOOL true is not the number 1
        ("n = :v", True, False),
        ("nul = :v", None, True),
        ("l = :v", ["x", D(1), {"k": "v"}], True),
        ("l = :v", ["x", True, {"k": "v"}], False),
        ("m = :v", {"k": "v", "nested": {"deep": D("1.0")}}, True),
        ("m = :v", {"k": "v"}, False),
        ("ss = :v", {"b", "a"}, True),
        ("ns = :v", {D(1)}, False),
        ("s <> :v", "dog", True),
        ("s <> :v", "cat", False),
        ("n <> :v", "5", True),  # different types are unequal
        ("s < :v", "dog", True),
        ("s < :v", "cat", False),
        ("s <= :v", "cat", True),
        ("s > :v", "car", True),
        ("s >= :v", "cat", True),
        ("n < :v", D(10), True),  # numeric, not lexicographic
        ("n > :v", D("-1E+3"), True),
        ("n >= :v", D("5.0"), True),
        ("b < :v", b"\x02", True),
        ("b > :v", b"\x01\x7f", True),  # bytes compare unsigned
        ("uni > :v", "hello", True),  # code point order, the same as UTF-8 byte order
        ("s < :v", D(10), False),  # ordering across types is false
        ("n < :v", "z", False),
        ("t < :v", "z", False),  # an item attribute of an unordered type: false, not an error
    ],
)
def test_comparisons(text: str, value: Any, expected: bool) -> None:
    assert check(text, {":v": value}) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A absent attribute is never equal to, nor ordered against, anything...
        ("absent = :v", False),
        (":v = absent", False),
        ("absent < :v", False),
        ("absent <= :v", False),
        ("absent > :v", False),
        ("absent >= :v", False),
        ("absent = other_absent", False),
        ("absent < other_absent", False),
        ("absent BETWEEN :v AND :v", False),
        ("s BETWEEN absent AND :v", False),
        ("absent IN (:v)", False),
        ("m.nope = :v", False),
        ("l[9] = :v", False),
        ("s.k = :v", False),  # a path through a string leads nowhere
        ("m[0] = :v", False),  # an index into a map leads nowhere
        ("l.k = :v", False),
        # ... but it is unequal to everything, even another absent attribute.
        ("absent <> :v", True),
        ("absent <> other_absent", True),
        ("NOT absent = :v", True),
        ("size(absent) = :v", False),
        ("size(absent) <> :v", True),
        ("begins_with(absent, :v)", False),
        ("contains(absent, :v)", False),
    ],
)
def test_missing_attributes(text: str, expected: bool) -> None:
    assert check(text, {":v": "cat"}) is expected


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("n BETWEEN :lo AND :hi", {":lo": D(1), ":hi": D(5)}, True),
        ("n BETWEEN :lo AND :hi", {":lo": D(5), ":hi": D(5)}, True),
        ("n BETWEEN :lo AND :hi", {":lo": D(6), ":hi": D(9)}, False),
        ("s BETWEEN :lo AND :hi", {":lo": "a", ":hi": "d"}, True),
        ("b BETWEEN :lo AND :hi", {":lo": b"\x01", ":hi": b"\x02"}, True),
        ("n BETWEEN :lo AND :hi", {":lo": "a", ":hi": "z"}, False),  # type mismatch: false
        ("s BETWEEN :lo AND :hi", {":lo": D(1), ":hi": "z"}, False),
        ("n IN (:a, :b)", {":a": D(1), ":b": D(5)}, True),
        ("n IN (:a, :b)", {":a": D(1), ":b": "5"}, False),
        ("s IN (:a)", {":a": "cat"}, True),
        ("m IN (:a)", {":a": {"k": "v", "nested": {"deep": D(1)}}}, True),
        ("s IN (n, s)", {}, True),
        ("s IN (absent)", {}, False),
    ],
)
def test_between_and_in(text: str, values: dict[str, Any], expected: bool) -> None:
    assert check(text, values) is expected


# ---- functions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("attribute_exists(s)", {}, True),
        ("attribute_exists(nul)", {}, True),  # NULL is a value, not an absence
        ("attribute_exists(m.nested.deep)", {}, True),
        ("attribute_exists(l[2].k)", {}, True),
        ("attribute_exists(l[3])", {}, False),
        ("attribute_exists(absent)", {}, False),
        ("attribute_not_exists(absent)", {}, True),
        ("attribute_not_exists(m.k)", {}, False),
        ("attribute_not_exists(m.k.x)", {}, True),
        ("begins_with(s, :p)", {":p": "ca"}, True),
        ("begins_with(s, :p)", {":p": "cat"}, True),
        ("begins_with(s, :p)", {":p": "at"}, False),
        ("begins_with(s, :p)", {":p": ""}, True),
        ("begins_with(b, :p)", {":p": b"\x01"}, True),
        ("begins_with(b, :p)", {":p": "\x01"}, False),  # S prefix of B: false
        ("begins_with(n, :p)", {":p": "5"}, False),
        ("begins_with(l, :p)", {":p": "x"}, False),
        ("contains(s, :x)", {":x": "at"}, True),
        ("contains(s, :x)", {":x": "dog"}, False),
        ("contains(ss, :x)", {":x": "a"}, True),
        ("contains(ss, :x)", {":x": "c"}, False),
        ("contains(ns, :x)", {":x": D("2.0")}, True),
        ("contains(ns, :x)", {":x": "2"}, False),
        ("contains(bs, :x)", {":x": b"a"}, True),
        ("contains(l, :x)", {":x": "x"}, True),
        ("contains(l, :x)", {":x": {"k": "v"}}, True),
        ("contains(l, :x)", {":x": True}, False),
        ("contains(l, :x)", {":x": "y"}, False),
        ("contains(m, :x)", {":x": "k"}, False),  # maps do not "contain" their keys
        ("contains(n, :x)", {":x": D(5)}, False),
        ("contains(s, :x)", {":x": D(5)}, False),
        ("attribute_type(s, :t)", {":t": "S"}, True),
        ("attribute_type(s, :t)", {":t": "N"}, False),
        ("attribute_type(n, :t)", {":t": "N"}, True),
        ("attribute_type(b, :t)", {":t": "B"}, True),
        ("attribute_type(t, :t)", {":t": "BOOL"}, True),
        ("attribute_type(nul, :t)", {":t": "NULL"}, True),
        ("attribute_type(l, :t)", {":t": "L"}, True),
        ("attribute_type(m, :t)", {":t": "M"}, True),
        ("attribute_type(ss, :t)", {":t": "SS"}, True),
        ("attribute_type(ns, :t)", {":t": "NS"}, True),
        ("attribute_type(bs, :t)", {":t": "BS"}, True),
        ("attribute_type(ss, :t)", {":t": "L"}, False),
        ("attribute_type(absent, :t)", {":t": "S"}, False),
        ("size(s) = :n", {":n": D(3)}, True),
        ("size(uni) = :n", {":n": D(5)}, True),  # characters, not bytes
        ("size(empty_s) = :n", {":n": D(0)}, True),
        ("size(b) = :n", {":n": D(2)}, True),
        ("size(l) = :n", {":n": D(3)}, True),
        ("size(m) = :n", {":n": D(2)}, True),
        ("size(ss) = :n", {":n": D(2)}, True),
        ("size(ns) > :n", {":n": D(1)}, True),
        ("size(m.nested) < :n", {":n": D(2)}, True),
        ("size(n) = :n", {":n": D(1)}, False),  # numbers have no size
        ("size(t) <> :n", {":n": D(1)}, True),
        ("size(s) BETWEEN :lo AND :hi", {":lo": D(1), ":hi": D(3)}, True),
        ("size(s) = size(empty_s)", {}, False),
        ("size(s) > size(empty_s)", {}, True),
        ("size(s) IN (:a, :b)", {":a": D(1), ":b": D(3)}, True),
    ],
)
def test_functions(text: str, values: dict[str, Any], expected: bool) -> None:
    assert check(text, values) is expected


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("s = :a AND n = :b", {":a": "cat", ":b": D(5)}, True),
        ("s = :a AND n = :b", {":a": "cat", ":b": D(6)}, False),
        ("s = :a OR n = :b", {":a": "dog", ":b": D(5)}, True),
        ("s = :a OR n = :b", {":a": "dog", ":b": D(6)}, False),
        ("NOT s = :a", {":a": "dog"}, True),
        ("NOT (s = :a OR n = :b)", {":a": "dog", ":b": D(5)}, False),
        ("s = :a OR n = :b AND attribute_exists(absent)", {":a": "cat", ":b": D(5)}, True),
        ("(s = :a OR n = :b) AND attribute_exists(absent)", {":a": "cat", ":b": D(5)}, False),
    ],
)
def test_logic(text: str, values: dict[str, Any], expected: bool) -> None:
    assert check(text, values) is expected


def test_placeholders_resolve_through_names() -> None:
    names = {"#k": "m", "#d": "nested.deep"}
    assert check("#k.nested.deep = :v", {":v": D(1)}, names)
    # A name is one path element even when it holds a dot.
    assert not check("attribute_exists(#d)", {}, names)
    assert check("attribute_exists(#d)", {}, names, item={"nested.deep": D(1)})


def test_absent_item_is_empty() -> None:
    assert evaluate_condition(parse_condition("attribute_not_exists(pk)"), None, None, None)
    assert not evaluate_condition(parse_condition("attribute_exists(pk)"), None, None, None)


@pytest.mark.parametrize(
    ("text", "values", "message"),
    [
        (
            "attribute_type(s, :t)",
            {":t": "STRING"},
            "Invalid ConditionExpression: Invalid attribute type name found; "
            "type: STRING, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M};",
        ),
        (
            "attribute_type(s, :t)",
            {":t": "s"},
            "Invalid ConditionExpression: Invalid attribute type name found; "
            "type: s, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M};",
        ),
        (
            "attribute_type(s, :t)",
            {":t": D(1)},
            "Invalid ConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: attribute_type, operand type: N",
        ),
        (
            "n < :v",
            {":v": [D(1)]},
            "Invalid ConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: <, operand type: L",
        ),
        (
            ":v >= n",
            {":v": True},
            "Invalid ConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: >=, operand type: BOOL",
        ),
        (
            "n BETWEEN :lo AND :hi",
            {":lo": D(5), ":hi": D(1)},
            "Invalid ConditionExpression: "
            "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; "
            "lower operand: AttributeValue: {N:5}, upper operand: AttributeValue: {N:1}",
        ),
        (
            "n BETWEEN :lo AND :hi",
            {":lo": {"a"}, ":hi": D(1)},
            "Invalid ConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: BETWEEN, operand type: SS",
        ),
        (
            "begins_with(s, :p)",
            {":p": D(1)},
            "Invalid ConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: begins_with, operand type: N",
        ),
        (
            "s = :undefined",
            {},
            "Invalid ConditionExpression: An expression attribute value used in expression is not defined; "
            "attribute value: :undefined",
        ),
        (
            "#undefined = :v",
            {":v": "x"},
            "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; "
            "attribute name: #undefined",
        ),
    ],
)
def test_request_errors_found_at_evaluation(text: str, values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationException) as caught:
        check(text, values)
    assert caught.value.message == message


def test_evaluation_errors_name_the_parameter() -> None:
    with pytest.raises(ValidationException, match=r"\): Invalid FilterExpression: An expression attribute value"):
        evaluate_condition(parse_condition("a = :v", "FilterExpression"), {}, None, {}, "FilterExpression")


def test_evaluation_does_not_mutate() -> None:
    before = copy.deepcopy(ITEM)
    check("contains(l, :x) AND size(m) > :n", {":x": "x", ":n": D(0)})
    assert before == ITEM


def test_catalog_item_conditions(catalog_item: dict[str, Any]) -> None:
    names = {"#v": "value"}
    # Optimistic locking on the version attribute.
    assert evaluate_condition(parse_condition("version = :v"), catalog_item, None, {":v": D(2)})
    assert not evaluate_condition(parse_condition("version = :v"), catalog_item, None, {":v": D(1)})
    assert evaluate_condition(
        parse_condition("begins_with(product.bullet_point[1].#v, :p) AND product.can_be_giftwrapped = :t"),
        catalog_item,
        names,
        {":p": "Rearfoot", ":t": True},
    )
    assert evaluate_condition(
        parse_condition("size(product.bullet_point) = :three AND contains(product.brand, :d)"),
        catalog_item,
        None,
        {":three": D(3), ":d": "DISC"},
    )
    assert not evaluate_condition(
        parse_condition("attribute_exists(product.bullet_point[3])"), catalog_item, None, None
    )


# ---- paths and projections --------------------------------------------------


def test_resolve_and_get_path() -> None:
    path = parse_projection("#m.nested[0]")[0]
    assert resolve_path(path, {"#m": "m"}) == ("m", "nested", 0)
    with pytest.raises(ValidationException, match="attribute name: #m"):
        resolve_path(path, {})
    assert get_path(ITEM, ("m", "nested", "deep")) == D(1)
    assert get_path(ITEM, ("l", 2, "k")) == "v"
    assert get_path(ITEM, ("l", 3)) is MISSING
    assert get_path(ITEM, ("m", 0)) is MISSING
    assert get_path(ITEM, ("nul", "x")) is MISSING
    assert get_path(ITEM, ()) is ITEM
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s", {"s": "cat"}),
        ("s, n, absent", {"s": "cat", "n": D(5)}),
        ("m.nested.deep", {"m": {"nested": {"deep": D(1)}}}),
        ("m.k, m.nested", {"m": {"k": "v", "nested": {"deep": D(1)}}}),
        ("l[2]", {"l": [{"k": "v"}]}),
        ("l[2], l[0]", {"l": ["x", {"k": "v"}]}),  # elements keep list order
        ("l[2].k, l[7]", {"l": [{"k": "v"}]}),
        ("l[0].k", {}),  # a string has no k
        ("m.absent", {}),
        ("#x", {"s": "cat"}),
        ("ss", {"ss": {"a", "b"}}),
    ],
)
def test_project(text: str, expected: dict[str, Any]) -> None:
    assert project(ITEM, parse_projection(text), {"#x": "s"}) == expected


def test_project_copies_values(catalog_item: dict[str, Any]) -> None:
    projected = project(
        catalog_item, parse_projection("product.bullet_point[0], product.bullet_point[2].#v, sku"), {"#v": "value"}
    )
    assert projected == {
        "product": {
            "bullet_point": [
                {"value": "Outdoor-ready runner with mesh", "lang": "en_US"},
                {"value": "Removable sockliner accommodates orthotics"},
            ]
        },
        "sku": "207808519/C00K2DG90",
    }
    projected["product"]["bullet_point"][0]["lang"] = "changed"
    assert catalog_item["product"]["bullet_point"][0]["lang"] == "en_US"


# ---- key conditions -----------------------------------------------------------


def key(
    text: str, values: dict[str, Any], names: dict[str, str] | None = None, range_key: str | None = "sku"
) -> KeyCondition:
    return key_condition_parts(parse_condition(text, "KeyConditionExpression"), names, values, "customer_id", range_key)


@pytest.mark.parametrize(
    ("text", "values", "expected_range"),
    [
        ("customer_id = :c", {":c": D(7)}, None),
        ("(customer_id = :c)", {":c": D(7)}, None),
        ("customer_id = :c AND sku = :s", {":c": D(7), ":s": "x"}, RangeCondition(op="=", values=("x",))),
        ("sku < :s AND customer_id = :c", {":c": D(7), ":s": "x"}, RangeCondition(op="<", values=("x",))),
        ("customer_id = :c AND sku <= :s", {":c": D(7), ":s": "x"}, RangeCondition(op="<=", values=("x",))),
        ("customer_id = :c AND sku > :s", {":c": D(7), ":s": "x"}, RangeCondition(op=">", values=("x",))),
        ("customer_id = :c AND sku >= :s", {":c": D(7), ":s": "x"}, RangeCondition(op=">=", values=("x",))),
        ("customer_id = :c AND :s > sku", {":c": D(7), ":s": "x"}, RangeCondition(op="<", values=("x",))),
        (
            "customer_id = :c AND sku BETWEEN :a AND :b",
            {":c": D(7), ":a": "a", ":b": "b"},
            RangeCondition(op="between", values=("a", "b")),
        ),
        (
            "customer_id = :c AND begins_with(sku, :p)",
            {":c": D(7), ":p": "2078"},
            RangeCondition(op="begins_with", values=("2078",)),
        ),
        (
            "(customer_id = :c) AND (begins_with(sku, :p))",
            {":c": D(7), ":p": b"\x00"},
            RangeCondition(op="begins_with", values=(b"\x00",)),
        ),
    ],
)
def test_key_conditions(text: str, values: dict[str, Any], expected_range: RangeCondition | None) -> None:
    assert key(text, values) == KeyCondition(hash_value=D(7), range=expected_range)


def test_key_condition_names() -> None:
    parts = key("#c = :c AND #s = :s", {":c": D(7), ":s": "x"}, {"#c": "customer_id", "#s": "sku"})
    assert parts == KeyCondition(hash_value=D(7), range=RangeCondition(op="=", values=("x",)))


@pytest.mark.parametrize(
    ("text", "values", "range_key", "message"),
    [
        ("sku = :s", {":s": "x"}, "sku", "Query condition missed key schema element: customer_id"),
        ("customer_id < :c", {":c": D(1)}, "sku", "Query key condition not supported"),
        ("begins_with(customer_id, :c)", {":c": "1"}, "sku", "Query key condition not supported"),
        ("customer_id = :c AND colour = :o", {":c": D(1), ":o": "x"}, "sku", "Query key condition not supported"),
        ("customer_id = :c AND sku = :s", {":c": D(1), ":s": "x"}, None, "Query key condition not supported"),
        ("customer_id = :c AND product.sku = :s", {":c": D(1), ":s": "x"}, "sku", "Query key condition not supported"),
        ("customer_id = sku", {}, "sku", "Query key condition not supported"),
        (
            "customer_id = :c AND customer_id = :c",
            {":c": D(1)},
            "sku",
            "KeyConditionExpressions must only contain one condition per key",
        ),
        (
            "customer_id = :c AND sku > :a AND sku < :b",
            {":c": D(1), ":a": "a", ":b": "b"},
            "sku",
            "KeyConditionExpressions must only contain one condition per key",
        ),
        (
            "customer_id = :c OR sku = :s",
            {":c": D(1), ":s": "x"},
            "sku",
            "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: OR",
        ),
        (
            "NOT customer_id = :c",
            {":c": D(1)},
            "sku",
            "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: NOT",
        ),
        (
            "customer_id IN (:c)",
            {":c": D(1)},
            "sku",
            "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: IN",
        ),
        (
            "customer_id <> :c",
            {":c": D(1)},
            "sku",
            "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: <>",
        ),
        (
            "customer_id = :c AND attribute_exists(sku)",
            {":c": D(1)},
            "sku",
            "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: attribute_exists",
        ),
        (
            "customer_id = :c AND begins_with(sku, :p)",
            {":c": D(1), ":p": D(2)},
            "sku",
            "Invalid KeyConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: begins_with, operand type: N",
        ),
        (
            "customer_id = :c AND begins_with(sku, :p)",
            {":c": D(1), ":p": None},
            "sku",
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        ),
        (
            "customer_id = :c AND sku BETWEEN :a AND :b",
            {":c": D(1), ":a": "b", ":b": "a"},
            "sku",
            "Invalid KeyConditionExpression: "
            "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; "
            "lower operand: AttributeValue: {S:b}, upper operand: AttributeValue: {S:a}",
        ),
        (
            "customer_id = :c",
            {},
            "sku",
            "Invalid KeyConditionExpression: An expression attribute value used in expression is not defined; "
            "attribute value: :c",
        ),
    ],
)
def test_key_condition_errors(text: str, values: dict[str, Any], range_key: str | None, message: str) -> None:
    with pytest.raises(ValidationException) as caught:
        key(text, values, range_key=range_key)
    assert caught.value.message == message

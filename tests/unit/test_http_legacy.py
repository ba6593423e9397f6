"""Legacy parameters rewritten as expressions (``grid/_http/legacy.py``).

Conversions are checked by behaviour: the produced expressions go through grid's own
preparation and evaluator on sample items, and must decide as DynamoDB documents each
legacy operator (a small reference model below), not match a string.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from grid._expression_args import PreparedExpressions, prepare_expressions
from grid._expressions import apply_update, evaluate_condition, key_condition_parts, project
from grid._expressions.evaluate import values_equal
from grid._http.legacy import convert_legacy
from grid._types import type_name
from grid.errors import ValidationException

D = Decimal
KINDS = (
    "KeyConditionExpression",
    "FilterExpression",
    "ConditionExpression",
    "UpdateExpression",
    "ProjectionExpression",
)


def prepare(params: dict[str, Any]) -> PreparedExpressions:
    return prepare_expressions(
        {kind: params.get(kind) for kind in KINDS},
        params.get("ExpressionAttributeNames"),
        params.get("ExpressionAttributeValues"),
    )


def holds(params: dict[str, Any], kind: str, item: dict[str, Any]) -> bool:
    prepared = prepare(params)
    return evaluate_condition(prepared.parsed[kind], item, prepared.args.names, prepared.args.values, kind)


# -- the reference: legacy operators as DynamoDB's API reference describes them --------------------

MISSING = object()


def _same_scalar(left: Any, right: Any) -> bool:
    return left is not MISSING and type_name(left) in ("S", "N", "B") and type_name(left) == type_name(right)


def legacy_holds(value: Any, operator: str, operands: list[Any]) -> bool:
    if operator == "NULL":
        return value is MISSING
    if operator == "NOT_NULL":
        return value is not MISSING
    if operator == "NE":
        return value is MISSING or not values_equal(value, operands[0])
    if value is MISSING:
        return operator == "NOT_CONTAINS"
    first = operands[0]
    if operator == "EQ":
        return values_equal(value, first)
    if operator == "IN":
        return any(values_equal(value, operand) for operand in operands)
    if operator in ("LT", "LE", "GT", "GE"):
        if not _same_scalar(value, first):
            return False
        return {"LT": value < first, "LE": value <= first, "GT": value > first, "GE": value >= first}[operator]
    if operator == "BETWEEN":
        return _same_scalar(value, first) and first <= value <= operands[1]
    if operator == "BEGINS_WITH":
        return _same_scalar(value, first) and type_name(value) in ("S", "B") and value.startswith(first)
    contains = _contains(value, first)
    return contains if operator == "CONTAINS" else not contains


def _contains(value: Any, operand: Any) -> bool:
    kind = type_name(value)
    if kind == "S":
        return type_name(operand) == "S" and operand in value
    if kind in ("SS", "NS", "BS"):
        return type_name(operand) == kind[0] and operand in value
    if kind == "L":
        return any(values_equal(element, operand) for element in value)
    return False


SAMPLES = [
    {},
    {"a": "apple"},
    {"a": "banana"},
    {"a": ""},
    {"a": D(5)},
    {"a": D(-3)},
    {"a": b"\x01\x02"},
    {"a": {"x", "y"}},
    {"a": {D(1), D(2)}},
    {"a": {b"\x01"}},
    {"a": [D(1), "x"]},
    {"a": {"m": D(1)}},
    {"a": None},
    {"a": True},
]
CONDITIONS = [
    ("EQ", ["apple"]),
    ("EQ", [D(5)]),
    ("EQ", [b"\x01\x02"]),
    ("EQ", [{"y", "x"}]),
    ("EQ", [{D(2), D(1)}]),
    ("NE", ["apple"]),
    ("NE", [D(5)]),
    ("LT", [D(6)]),
    ("LT", ["b"]),
    ("LE", [D(5)]),
    ("GT", ["apple"]),
    ("GT", [D(-3)]),
    ("GE", [b"\x01"]),
    ("NOT_NULL", []),
    ("NULL", []),
    ("CONTAINS", ["pp"]),
    ("CONTAINS", ["x"]),
    ("CONTAINS", [D(1)]),
    ("CONTAINS", [b"\x01"]),
    ("NOT_CONTAINS", ["x"]),
    ("NOT_CONTAINS", [D(2)]),
    ("BEGINS_WITH", ["ap"]),
    ("BEGINS_WITH", [b"\x01"]),
    ("IN", ["apple", "banana"]),
    ("IN", [D(5), D(-3)]),
    ("BETWEEN", [D(-3), D(4)]),
    ("BETWEEN", ["a", "b"]),
    ("BETWEEN", [b"\x00", b"\x02"]),
]


@pytest.mark.parametrize(("operator", "operands"), CONDITIONS, ids=[f"{op}-{vals!r}" for op, vals in CONDITIONS])
@pytest.mark.parametrize("source", ["ScanFilter", "QueryFilter", "Expected"])
def test_each_operator_decides_as_documented(source: str, operator: str, operands: list[Any]) -> None:
    condition = {"ComparisonOperator": operator, "AttributeValueList": operands}
    if source == "ScanFilter":
        params, kind = convert_legacy("Scan", {"TableName": "t", "ScanFilter": {"a": condition}}), "FilterExpression"
    elif source == "QueryFilter":
        params = convert_legacy("Query", {"TableName": "t", "QueryFilter": {"a": condition}})
        kind = "FilterExpression"
    else:
        params, kind = (
            convert_legacy("PutItem", {"TableName": "t", "Item": {}, "Expected": {"a": condition}}),
            "ConditionExpression",
        )
    for item in SAMPLES:
        expected = legacy_holds(item.get("a", MISSING), operator, operands)
        assert holds(params, kind, item) == expected, (item, params[kind])


@pytest.mark.parametrize(
    ("expected", "verdicts"),
    [
        # One verdict per item of ITEMS_FOR_EXPECTED: {}, {a: 1}, {a: 2}, {a: "1"}
        ({"a": {"Exists": False}}, [True, False, False, False]),
        ({"a": {"Value": D(1)}}, [False, True, False, False]),
        ({"a": {"Value": D(1), "Exists": True}}, [False, True, False, False]),
        ({"a": {"ComparisonOperator": "GT", "Value": D(1)}}, [False, False, True, False]),
        ({"a": {"ComparisonOperator": "NULL"}}, [True, False, False, False]),
    ],
)
def test_expected_exists_and_value(expected: dict[str, Any], verdicts: list[bool]) -> None:
    params = convert_legacy("DeleteItem", {"TableName": "t", "Key": {"pk": "p"}, "Expected": expected})
    items = [{}, {"a": D(1)}, {"a": D(2)}, {"a": "1"}]
    assert [holds(params, "ConditionExpression", item) for item in items] == verdicts


@pytest.mark.parametrize(
    ("joiner", "verdicts"),
    [(None, [False, False, False, True]), ("AND", [False, False, False, True]), ("OR", [False, True, True, True])],
)
def test_conditional_operator_joins_conditions(joiner: str | None, verdicts: list[bool]) -> None:
    request: dict[str, Any] = {
        "TableName": "t",
        "ScanFilter": {
            "a": {"ComparisonOperator": "EQ", "AttributeValueList": [D(1)]},
            "b": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [D(1), D(3)]},
        },
    }
    if joiner is not None:
        request["ConditionalOperator"] = joiner
    params = convert_legacy("Scan", request)
    items = [{}, {"a": D(1)}, {"b": D(2)}, {"a": D(1), "b": D(2)}]
    assert [holds(params, "FilterExpression", item) for item in items] == verdicts
    assert "ConditionalOperator" not in params


def test_reserved_words_and_dotted_names_stay_attribute_names() -> None:
    params = convert_legacy(
        "Scan",
        {
            "TableName": "t",
            "ScanFilter": {
                "size": {"ComparisonOperator": "EQ", "AttributeValueList": [D(1)]},
                "a.b": {"ComparisonOperator": "NOT_NULL"},
                "#x": {"ComparisonOperator": "EQ", "AttributeValueList": ["y"]},
            },
            "AttributesToGet": ["size", "a.b"],
        },
    )
    item = {"size": D(1), "a.b": "top-level", "#x": "y", "a": {"b": "nested"}}
    assert holds(params, "FilterExpression", item)
    assert not holds(params, "FilterExpression", {"size": D(1), "a": {"b": "nested"}, "#x": "y"})
    prepared = prepare(params)
    assert project(item, prepared.parsed["ProjectionExpression"], prepared.args.names) == {
        "size": D(1),
        "a.b": "top-level",
    }


# -- KeyConditions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "op", "values"),
    [
        (None, None, ()),
        ({"ComparisonOperator": "EQ", "AttributeValueList": [D(3)]}, "=", (D(3),)),
        ({"ComparisonOperator": "LT", "AttributeValueList": [D(3)]}, "<", (D(3),)),
        ({"ComparisonOperator": "GE", "AttributeValueList": [D(3)]}, ">=", (D(3),)),
        ({"ComparisonOperator": "BETWEEN", "AttributeValueList": [D(1), D(3)]}, "between", (D(1), D(3))),
    ],
)
def test_key_conditions_become_a_key_condition_expression(
    condition: dict[str, Any] | None, op: str | None, values: tuple[Any, ...]
) -> None:
    conditions: dict[str, Any] = {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": ["p"]}}
    if condition is not None:
        conditions["sk"] = condition
    params = convert_legacy("Query", {"TableName": "t", "KeyConditions": conditions})
    prepared = prepare(params)
    parts = key_condition_parts(
        prepared.parsed["KeyConditionExpression"], prepared.args.names, prepared.args.values, "pk", "sk"
    )
    assert parts.hash_value == "p"
    if condition is None:
        assert parts.range is None
    else:
        assert parts.range is not None and (parts.range.op, parts.range.values) == (op, values)


def test_begins_with_key_condition() -> None:
    params = convert_legacy(
        "Query",
        {
            "TableName": "t",
            "KeyConditions": {
                "pk": {"ComparisonOperator": "EQ", "AttributeValueList": ["p"]},
                "sk": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": ["ab"]},
            },
        },
    )
    assert holds(params, "KeyConditionExpression", {"pk": "p", "sk": "abc"})
    assert not holds(params, "KeyConditionExpression", {"pk": "p", "sk": "b"})


def test_key_conditions_may_go_with_a_filter_expression_without_placeholder_clashes() -> None:
    params = convert_legacy(
        "Query",
        {
            "TableName": "t",
            "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": ["p"]}},
            "FilterExpression": "#lg0 = :lg0",
            "ExpressionAttributeNames": {"#lg0": "colour"},
            "ExpressionAttributeValues": {":lg0": "red"},
        },
    )
    assert params["ExpressionAttributeNames"]["#lg0"] == "colour"
    assert params["ExpressionAttributeValues"][":lg0"] == "red"
    assert holds(params, "KeyConditionExpression", {"pk": "p"})
    assert holds(params, "FilterExpression", {"pk": "p", "colour": "red"})
    assert not holds(params, "KeyConditionExpression", {"pk": "q"})


# -- AttributeUpdates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("updates", "before", "after"),
    [
        ({"a": {"Value": D(1)}}, {}, {"a": D(1)}),
        ({"a": {"Action": "PUT", "Value": "x"}}, {"a": D(1)}, {"a": "x"}),
        ({"a": {"Action": "DELETE"}}, {"a": D(1), "b": D(2)}, {"b": D(2)}),
        ({"a": {"Action": "ADD", "Value": D(2)}}, {"a": D(1)}, {"a": D(3)}),
        ({"a": {"Action": "ADD", "Value": D(2)}}, {}, {"a": D(2)}),
        ({"a": {"Action": "ADD", "Value": {"y"}}}, {"a": {"x"}}, {"a": {"x", "y"}}),
        ({"a": {"Action": "DELETE", "Value": {"x"}}}, {"a": {"x", "y"}}, {"a": {"y"}}),
        ({"a": {"Action": "PUT", "Value": None}}, {}, {"a": None}),
        (
            {
                "size": {"Value": D(1)},
                "a.b": {"Value": "dotted"},
                "gone": {"Action": "DELETE"},
                "n": {"Action": "ADD", "Value": D(-1)},
            },
            {"gone": True, "n": D(1), "a": {"b": "nested"}},
            {"size": D(1), "a.b": "dotted", "n": D(0), "a": {"b": "nested"}},
        ),
    ],
)
def test_attribute_updates_apply_as_documented(
    updates: dict[str, Any], before: dict[str, Any], after: dict[str, Any]
) -> None:
    params = convert_legacy("UpdateItem", {"TableName": "t", "Key": {"pk": "p"}, "AttributeUpdates": updates})
    prepared = prepare(params)
    outcome = apply_update(prepared.parsed["UpdateExpression"], before, prepared.args.names, prepared.args.values)
    assert outcome.item == after


def test_attribute_updates_and_expected_together() -> None:
    params = convert_legacy(
        "UpdateItem",
        {
            "TableName": "t",
            "Key": {"pk": "p"},
            "AttributeUpdates": {"v": {"Action": "ADD", "Value": D(1)}},
            "Expected": {"v": {"Value": D(1)}},
        },
    )
    prepared = prepare(params)  # one set of placeholders serves both expressions
    assert holds(params, "ConditionExpression", {"v": D(1)})
    assert apply_update(
        prepared.parsed["UpdateExpression"], {"v": D(1)}, prepared.args.names, prepared.args.values
    ).item == {"v": D(2)}


def test_empty_legacy_maps_make_no_expression() -> None:
    params = convert_legacy(
        "UpdateItem", {"TableName": "t", "Key": {"pk": "p"}, "AttributeUpdates": {}, "Expected": {}}
    )
    assert params == {"TableName": "t", "Key": {"pk": "p"}}


# -- AttributesToGet ----------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["GetItem", "Query", "Scan"])
def test_attributes_to_get_projects_top_level_attributes(operation: str) -> None:
    params = convert_legacy(operation, {"TableName": "t", "AttributesToGet": ["a", "name"]})
    assert "AttributesToGet" not in params
    prepared = prepare(params)
    item = {"a": D(1), "name": "n", "other": True}
    assert project(item, prepared.parsed["ProjectionExpression"], prepared.args.names) == {"a": D(1), "name": "n"}


def test_batch_get_item_converts_each_table() -> None:
    params = convert_legacy(
        "BatchGetItem",
        {
            "RequestItems": {
                "t": {"Keys": [{"pk": "a"}], "AttributesToGet": ["x"]},
                "u": {"Keys": [{"pk": "b"}], "ProjectionExpression": "y"},
            }
        },
    )
    assert params["RequestItems"]["t"] == {
        "Keys": [{"pk": "a"}],
        "ProjectionExpression": "#lg0",
        "ExpressionAttributeNames": {"#lg0": "x"},
    }
    assert params["RequestItems"]["u"] == {"Keys": [{"pk": "b"}], "ProjectionExpression": "y"}


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("GetItem", {"TableName": "t", "Key": {"pk": "a"}, "ProjectionExpression": "a"}),
        ("PutItem", {"TableName": "t", "Item": {"pk": "a"}, "ConditionExpression": "attribute_not_exists(pk)"}),
        ("TransactWriteItems", {"TransactItems": []}),
        ("DescribeTable", {"TableName": "t"}),
        ("NoSuchOperation", {"Expected": {"a": {"Exists": False}}}),
    ],
)
def test_requests_without_legacy_parameters_are_unchanged(operation: str, params: dict[str, Any]) -> None:
    assert convert_legacy(operation, params) == params


# -- refusals -----------------------------------------------------------------------------------

MIXED = "Can not use both expression and non-expression parameters in the same request: "


@pytest.mark.parametrize(
    ("operation", "params", "message"),
    [
        (
            "GetItem",
            {"AttributesToGet": ["a"], "ProjectionExpression": "a"},
            MIXED + "Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}",
        ),
        (
            "PutItem",
            {"Expected": {"a": {"Exists": False}}, "ConditionExpression": "attribute_exists(a)"},
            MIXED + "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}",
        ),
        (
            "UpdateItem",
            {"AttributeUpdates": {"a": {"Value": D(1)}}, "UpdateExpression": "SET a = :v"},
            MIXED + "Non-expression parameters: {AttributeUpdates} Expression parameters: {UpdateExpression}",
        ),
        (
            "Query",
            {"QueryFilter": {}, "KeyConditionExpression": "pk = :p"},
            MIXED + "Non-expression parameters: {QueryFilter} Expression parameters: {KeyConditionExpression}",
        ),
        (
            "Query",
            {"KeyConditions": {}, "KeyConditionExpression": "pk = :p"},
            MIXED + "Non-expression parameters: {KeyConditions} Expression parameters: {KeyConditionExpression}",
        ),
        (
            "Scan",
            {"ScanFilter": {}, "ConditionalOperator": "OR", "FilterExpression": "a = :a"},
            MIXED
            + "Non-expression parameters: {ScanFilter, ConditionalOperator} Expression parameters: {FilterExpression}",
        ),
        (
            "DeleteItem",
            {"ConditionalOperator": "OR", "ConditionExpression": "a = :a"},
            MIXED + "Non-expression parameters: {ConditionalOperator} Expression parameters: {ConditionExpression}",
        ),
        (
            "Scan",
            {"ScanFilter": {}, "ExpressionAttributeNames": {"#a": "a"}},
            "ExpressionAttributeNames can only be specified when using expressions",
        ),
        (
            "Scan",
            {"ScanFilter": {}, "ExpressionAttributeValues": {":a": D(1)}},
            "ExpressionAttributeValues can only be specified when using expressions: FilterExpression is null",
        ),
        (
            "UpdateItem",
            {"AttributeUpdates": {}, "ExpressionAttributeValues": {":a": D(1)}},
            "ExpressionAttributeValues can only be specified when using expressions: UpdateExpression and ConditionExpression are null",
        ),
        (
            "Scan",
            {"ScanFilter": {"a": {"ComparisonOperator": "EQ", "AttributeValueList": []}}},
            "One or more parameter values were invalid: Invalid number of argument(s) for the EQ ComparisonOperator",
        ),
        (
            "Scan",
            {"ScanFilter": {"a": {"ComparisonOperator": "NULL", "AttributeValueList": [D(1)]}}},
            "Invalid number of argument(s) for the NULL ComparisonOperator",
        ),
        (
            "Scan",
            {"ScanFilter": {"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [D(1)]}}},
            "Invalid number of argument(s) for the BETWEEN ComparisonOperator",
        ),
        (
            "Scan",
            {"ScanFilter": {"a": {"ComparisonOperator": "IN", "AttributeValueList": []}}},
            "Invalid number of argument(s) for the IN ComparisonOperator",
        ),
        (
            "Scan",
            {"ScanFilter": {"a": {"ComparisonOperator": "IN", "AttributeValueList": [D(1), "x"]}}},
            "AttributeValues inside AttributeValueList must be of same type",
        ),
        (
            "Scan",
            {"ScanFilter": {"a": {"ComparisonOperator": "LT", "AttributeValueList": [{"x"}]}}},
            "ComparisonOperator LT is not valid for SS AttributeValue type",
        ),
        (
            "Scan",
            {"ScanFilter": {"a": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [D(1)]}}},
            "ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type",
        ),
        (
            "Scan",
            {"ScanFilter": {"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [D(3), D(1)]}}},
            "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound",
        ),
        (
            "Scan",
            {"ScanFilter": {"a": {"ComparisonOperator": "LIKE", "AttributeValueList": [D(1)]}}},
            "Value 'LIKE' at 'scanFilter.a.member.comparisonOperator' failed to satisfy constraint",
        ),
        (
            "Query",
            {"QueryFilter": {"a": {"AttributeValueList": [D(1)]}}},
            "Value null at 'queryFilter.a.member.comparisonOperator' failed to satisfy constraint: Member must not be null",
        ),
        (
            "Scan",
            {"ScanFilter": {}, "ConditionalOperator": "XOR"},
            "Value 'XOR' at 'conditionalOperator' failed to satisfy constraint",
        ),
        (
            "Query",
            {"KeyConditions": {"pk": {"ComparisonOperator": "NE", "AttributeValueList": ["p"]}}},
            "Attempted conditional constraint is not an indexable operation",
        ),
        (
            "PutItem",
            {"Expected": {"a": {"ComparisonOperator": "EQ", "AttributeValueList": [D(1), D(2)]}}},
            "Invalid number of argument(s) for the EQ ComparisonOperator",
        ),
        (
            "PutItem",
            {"Expected": {"a": {"Value": D(1), "AttributeValueList": [D(1)], "ComparisonOperator": "EQ"}}},
            "Value and AttributeValueList cannot be used together for Attribute: a",
        ),
        (
            "PutItem",
            {"Expected": {"a": {"Exists": True, "ComparisonOperator": "NULL"}}},
            "Exists and ComparisonOperator cannot be used together for Attribute: a",
        ),
        (
            "PutItem",
            {"Expected": {"a": {"ComparisonOperator": "EQ"}}},
            "Value or AttributeValueList must be used with ComparisonOperator: EQ for Attribute: a",
        ),
        (
            "PutItem",
            {"Expected": {"a": {"AttributeValueList": [D(1)]}}},
            "AttributeValueList can only be used with a ComparisonOperator for Attribute: a",
        ),
        (
            "PutItem",
            {"Expected": {"a": {"Exists": True}}},
            "Value must be provided when Exists is true for Attribute: a",
        ),
        ("PutItem", {"Expected": {"a": {}}}, "Value must be provided when Exists is null for Attribute: a"),
        (
            "PutItem",
            {"Expected": {"a": {"Exists": False, "Value": D(1)}}},
            "Value cannot be used when Exists is false for Attribute: a",
        ),
        (
            "UpdateItem",
            {"AttributeUpdates": {"a": {"Action": "PUT"}}},
            "Only DELETE action is allowed when no attribute value is specified",
        ),
        (
            "UpdateItem",
            {"AttributeUpdates": {"a": {"Action": "ADD"}}},
            "Only DELETE action is allowed when no attribute value is specified",
        ),
        (
            "UpdateItem",
            {"AttributeUpdates": {"a": {"Action": "DELETE", "Value": D(1)}}},
            "DELETE action with value is not supported for the type N",
        ),
        (
            "UpdateItem",
            {"AttributeUpdates": {"a": {"Action": "ADD", "Value": "x"}}},
            "ADD action is not supported for the type S",
        ),
        (
            "UpdateItem",
            {"AttributeUpdates": {"a": {"Action": "REPLACE", "Value": "x"}}},
            "Value 'REPLACE' at 'attributeUpdates.a.member.action' failed to satisfy constraint",
        ),
        (
            "Scan",
            {"AttributesToGet": []},
            "Value '[]' at 'attributesToGet' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ),
        (
            "Scan",
            {"AttributesToGet": ["a", "a"]},
            "One or more parameter values were invalid: Duplicate value in attribute name: a",
        ),
        (
            "Scan",
            {"AttributesToGet": ["a"], "Select": "ALL_ATTRIBUTES"},
            "Cannot specify the AttributesToGet when choosing to get ALL_ATTRIBUTES",
        ),
        (
            "BatchGetItem",
            {"RequestItems": {"t": {"Keys": [], "AttributesToGet": ["a"], "ProjectionExpression": "a"}}},
            MIXED + "Non-expression parameters: {AttributesToGet}",
        ),
    ],
)
def test_refusals(operation: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationException) as raised:
        convert_legacy(operation, {"TableName": "t", **params})
    assert message in raised.value.message

"""The one table of operations: parameters of the wrong type are refused before anything uses them."""

from __future__ import annotations

from typing import Any

import pytest

from grid._operations import OPERATIONS, check_request, page_limit, positive_limit
from grid.conditions import Attr
from grid.errors import ValidationException


def deep(value: Any, depth: int = 5000) -> Any:
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("operation", "params", "message"),
    [
        ("ListTables", {"ExclusiveStartTableName": {"a": 1}}, "Invalid type for parameter ExclusiveStartTableName"),
        ("DescribeTable", {"TableName": deep("t")}, "Invalid type for parameter TableName, value: <list of 1"),
        ("Query", {"TableName": "t", "Limit": deep(1)}, "Invalid type for parameter Limit"),
        ("Scan", {"TableName": "t", "Limit": True}, "Invalid type for parameter Limit"),
        (
            "CreateTable",
            {"KeySchema": [{"AttributeName": ["a"], "KeyType": "HASH"}]},
            r"Invalid type for parameter KeySchema\[0\].AttributeName",
        ),
        (
            "TransactGetItems",
            {"TransactItems": [{"Get": {"TableName": ["t"], "Key": {}}}]},
            r"Invalid type for parameter TransactItems\[0\].Get.TableName",
        ),
        ("TransactWriteItems", {"TransactItems": [{"Get": {}}]}, r'Unknown parameter in TransactItems\[0\]: "Get"'),
        ("PutItem", {"Item": {"a": 1}, "Bogus": 1}, "Unknown parameter in PutItem input: Bogus"),
        ("PutItem", {"Item": {"a": 1}, "Expected": {}}, "Unknown parameter in PutItem input: Expected"),
        ("BatchWriteItem", {"RequestItems": {"t": [{"PutRequest": {"Item": "x"}}]}}, "PutRequest.Item"),
        ("GetItem", {"Key": {"a": 1}, "ConsistentRead": "yes"}, "Invalid type for parameter ConsistentRead"),
        ("UpdateItem", {"Key": {}, "ExpressionAttributeNames": {"#a": 1}}, "ExpressionAttributeNames.#a"),
    ],
)
def test_wrong_types_and_unknown_parameters_are_refused(operation: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationException, match=message):
        check_request(operation, params)


def test_messages_quote_values_cut_short() -> None:
    with pytest.raises(ValidationException) as raised:
        check_request("DescribeTable", {"TableName": 7 * 10**5000})
    assert len(raised.value.message) < 400


def test_sound_requests_pass_and_builders_count_as_expressions() -> None:
    check_request("PutItem", {"Item": {"a": 1}, "ConditionExpression": Attr("a").not_exists()})
    check_request("Query", {"KeyConditionExpression": "a = :a", "ExpressionAttributeValues": {":a": 1}, "Limit": 5})
    check_request("GetItem", {"Key": {"a": 1}, "ConsistentRead": None})  # None reads as absent


def test_legacy_parameters_are_the_endpoints_only() -> None:
    assert "KeyConditions" in OPERATIONS["Query"].params
    assert "KeyConditions" not in OPERATIONS["Query"].python_params
    assert "AttributesToGet" in OPERATIONS["GetItem"].python_params


@pytest.mark.parametrize("limit", [0, -1, True, "5", 1.5])
def test_limits_are_checked_once(limit: Any) -> None:
    with pytest.raises(ValidationException):
        positive_limit({"Limit": limit})
    with pytest.raises(ValidationException):
        page_limit({"Limit": limit}, 100)
    assert positive_limit({}) is None and page_limit({}, 100) == 100

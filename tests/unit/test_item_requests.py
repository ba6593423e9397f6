"""Request checks shared by the item calls (``grid/_item_requests.py``), worded as DynamoDB words them."""

from __future__ import annotations

import pytest

from grid._item_requests import prepare_request_expressions, return_values
from grid.conditions import Attr
from grid.errors import ValidationException


def test_return_values_outside_the_enum_and_outside_the_call() -> None:
    assert return_values({"ReturnValues": "ALL_OLD"}, ("NONE", "ALL_OLD")) == "ALL_OLD"
    assert return_values({}, ("NONE", "ALL_OLD")) == "NONE"
    with pytest.raises(ValidationException) as refused:
        return_values({"ReturnValues": "FOO"}, ("NONE", "ALL_OLD"))
    assert refused.value.message == (
        "1 validation error detected: Value 'FOO' at 'returnValues' failed to satisfy constraint: "
        "Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]"
    )
    with pytest.raises(ValidationException) as refused:
        return_values({"ReturnValues": "ALL_NEW"}, ("NONE", "ALL_OLD"))  # PutItem cannot return ALL_NEW
    assert refused.value.message == "Return values set to invalid value"


@pytest.mark.parametrize("name", ["ExpressionAttributeNames", "ExpressionAttributeValues"])
def test_empty_expression_attribute_maps_are_refused(name: str) -> None:
    params = {"ConditionExpression": "attribute_exists(sku)", name: {}}
    with pytest.raises(ValidationException) as refused:
        prepare_request_expressions(params, "ConditionExpression")
    assert refused.value.message == f"{name} must not be empty"


def test_an_empty_map_beside_a_built_condition_is_filled_by_its_placeholders() -> None:
    params = {"ConditionExpression": Attr("stock").gt(0), "ExpressionAttributeValues": {}}
    prepared = prepare_request_expressions(params, "ConditionExpression")
    assert prepared.args.values  # the condition's own :placeholders

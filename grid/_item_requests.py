"""Single-item requests, built from boto3-style parameters: shared by ``Table`` and transactions.

Each builder validates and normalizes on the client (values, keys, expressions) and
returns the frozen operation a partition executes, so a malformed request fails
before any Ray call and every caller builds operations the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from grid._codec import encode_item
from grid._expression_args import PreparedExpressions, prepare_expressions
from grid._expressions import project
from grid._keys import KeySchema
from grid._requests import ConditionCheckOp, DeleteOp, GetOp, PutOp, UpdateOp
from grid._types import check_item_size, normalize_item
from grid.conditions import ConditionBase
from grid.errors import ValidationException

__all__ = [
    "build_condition_check",
    "build_delete",
    "build_get",
    "build_put",
    "build_update",
    "consistent_read",
    "has_long_expressions",
    "prepared",
    "prepare_request_expressions",
    "return_on_failure",
    "return_values",
    "shape_item",
]

RETURN_VALUES = ("ALL_NEW", "UPDATED_OLD", "ALL_OLD", "NONE", "UPDATED_NEW")  # in DynamoDB's message order
EXPRESSION_PARAMS = frozenset(
    {
        "ConditionExpression",
        "UpdateExpression",
        "ProjectionExpression",
        "FilterExpression",
        "KeyConditionExpression",
    }
)
# Expressions longer than this together are prepared off the event loop: a 4 KB one
# takes lark 10 to 25 ms to parse the first time, and other requests must not wait
# that long (the thread gives the loop the GIL back every few milliseconds).
OFF_LOOP_EXPRESSION_CHARS = 1024
T = TypeVar("T")


def has_long_expressions(params: Mapping[str, Any]) -> bool:
    """Whether ``params``' expressions are long enough to be prepared off the event loop."""
    if EXPRESSION_PARAMS.isdisjoint(params.keys()):  # most calls have none: one set operation
        return False
    return sum(len(text) for name in EXPRESSION_PARAMS if isinstance(text := params.get(name), str)) > (
        OFF_LOOP_EXPRESSION_CHARS
    )


async def prepared(params: Mapping[str, Any], build: Callable[..., T], *args: Any) -> T:
    """``build(*args)``: here, or in a worker thread when ``params`` hold long expressions."""
    if has_long_expressions(params):
        return await asyncio.to_thread(build, *args)
    return build(*args)


def return_values(params: Mapping[str, Any], allowed: tuple[str, ...]) -> str:
    value = params.get("ReturnValues", "NONE")
    if value not in RETURN_VALUES:
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at 'returnValues' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(RETURN_VALUES)}]"
        )
    if value not in allowed:
        raise ValidationException("Return values set to invalid value")  # a value this call cannot return
    return str(value)


def return_on_failure(params: Mapping[str, Any]) -> bool:
    value = params.get("ReturnValuesOnConditionCheckFailure", "NONE")
    if value not in ("NONE", "ALL_OLD"):
        raise ValidationException(f"ReturnValuesOnConditionCheckFailure set to invalid value: {value}")
    return value == "ALL_OLD"


def prepare_request_expressions(
    params: Mapping[str, Any], *kinds: str, values_allowed: bool = True
) -> PreparedExpressions:
    if "AttributesToGet" in params and "ProjectionExpression" in params:
        raise ValidationException(
            "Can not use both expression and non-expression parameters in the same request: "
            "Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}"
        )
    values = params.get("ExpressionAttributeValues")
    if values is not None and not values_allowed:
        raise ValidationException("Unknown parameter: ExpressionAttributeValues")
    built = any(isinstance(params.get(kind), ConditionBase) for kind in kinds)  # they bring placeholders
    for name in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
        given = params.get(name)
        if isinstance(given, Mapping) and not given and not built:
            raise ValidationException(f"{name} must not be empty")
    return prepare_expressions(
        {kind: params.get(kind) for kind in kinds}, params.get("ExpressionAttributeNames"), values
    )


def shape_item(item: dict[str, Any], expressions: PreparedExpressions, params: Mapping[str, Any]) -> dict[str, Any]:
    paths = expressions.parsed.get("ProjectionExpression")
    if paths is not None:
        return project(item, paths, expressions.args.names)
    attributes = params.get("AttributesToGet")
    if attributes is not None:
        return {name: item[name] for name in attributes if name in item}
    return item


def build_put(schema: KeySchema, params: Mapping[str, Any]) -> PutOp:
    if "Item" not in params:
        raise ValidationException(
            "1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null"
        )
    wanted = return_values(params, ("NONE", "ALL_OLD"))
    item = normalize_item(params["Item"], check_size=False)
    key = schema.storage_key(schema.key_of_item(item))
    data = encode_item(item)
    check_item_size(item, len(data))
    expressions = prepare_request_expressions(params, "ConditionExpression")
    return PutOp(
        key=key,
        item=data,
        condition=expressions.text("ConditionExpression"),
        args=expressions.args,
        return_old=wanted == "ALL_OLD",
        return_old_on_failure=return_on_failure(params),
    )


def build_get(schema: KeySchema, params: Mapping[str, Any]) -> tuple[GetOp, PreparedExpressions]:
    key = schema.storage_key(schema.normalize_key(params.get("Key")))
    expressions = prepare_request_expressions(params, "ProjectionExpression", values_allowed=False)
    return GetOp(key=key, consistent=consistent_read(params)), expressions


def consistent_read(params: Mapping[str, Any]) -> bool:
    value = params.get("ConsistentRead", False)
    if not isinstance(value, bool):
        raise ValidationException("ConsistentRead must be a boolean")
    return value


def build_update(schema: KeySchema, params: Mapping[str, Any]) -> UpdateOp:
    wanted = return_values(params, RETURN_VALUES)
    key_attributes = schema.normalize_key(params.get("Key"))
    expressions = prepare_request_expressions(params, "UpdateExpression", "ConditionExpression")
    return UpdateOp(
        key=schema.storage_key(key_attributes),
        key_attributes=key_attributes,
        update=expressions.text("UpdateExpression"),
        condition=expressions.text("ConditionExpression"),
        args=expressions.args,
        return_values=wanted,
        return_old_on_failure=return_on_failure(params),
    )


def build_delete(schema: KeySchema, params: Mapping[str, Any]) -> DeleteOp:
    wanted = return_values(params, ("NONE", "ALL_OLD"))
    key = schema.storage_key(schema.normalize_key(params.get("Key")))
    expressions = prepare_request_expressions(params, "ConditionExpression")
    return DeleteOp(
        key=key,
        condition=expressions.text("ConditionExpression"),
        args=expressions.args,
        return_old=wanted == "ALL_OLD",
        return_old_on_failure=return_on_failure(params),
    )


def build_condition_check(schema: KeySchema, params: Mapping[str, Any]) -> ConditionCheckOp:
    if params.get("ConditionExpression") is None:
        raise ValidationException("ConditionCheck requires a ConditionExpression")
    key = schema.storage_key(schema.normalize_key(params.get("Key")))
    expressions = prepare_request_expressions(params, "ConditionExpression")
    condition = expressions.text("ConditionExpression")
    assert condition is not None
    return ConditionCheckOp(
        key=key, condition=condition, args=expressions.args, return_old_on_failure=return_on_failure(params)
    )

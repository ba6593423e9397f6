"""DynamoDB's operations as grid serves them: each one's parameters and their shapes, in one table.

The Python API and the HTTP endpoint check every request against this table before
anything else, so a parameter of the wrong type never reaches the code that uses it
(no ``TypeError: unhashable``, no comparison of a string with a map):

- ``check_request`` (Python): unknown parameters and wrong types are DynamoDB's
  ``ValidationException``, worded as botocore words its parameter validation;
- ``grid._http.shapes.check_wire_types`` (endpoint): a JSON value of the wrong type
  is DynamoDB's ``SerializationException``, as DynamoDB answers it.

The walk follows the shapes, which nest a few levels at most, never the input's own
depth; AttributeValues (items, keys, values) are the data model's business
(``grid._types``), which bounds their nesting. Shared validators for the parameters
many operations have (``Limit``, names, strings) live here too.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from grid._messages import describe_value, type_label
from grid.conditions import ConditionBase
from grid.errors import ValidationException

__all__ = [
    "OPERATIONS",
    "Kind",
    "ListOf",
    "MapOf",
    "Operation",
    "Struct",
    "check_request",
    "optional_string",
    "page_limit",
    "positive_limit",
    "required_string",
]


class Kind(enum.Enum):
    STRING = "string"
    INTEGER = "integer"
    LONG = "long"
    DOUBLE = "double"
    BOOLEAN = "boolean"
    EXPRESSION = "expression"  # a string; in Python also a condition built with grid.conditions
    ITEM = "item"  # a map of attribute names to AttributeValues (an Item, a Key)
    VALUE = "value"  # one AttributeValue
    VALUES = "values"  # ExpressionAttributeValues: placeholders to AttributeValues
    VALUE_LIST = "value list"  # a legacy condition's AttributeValueList
    ANY = "any"  # grid's own settings maps: checked by their own parser


@dataclass(frozen=True, slots=True)
class Struct:
    """A structure of named members; ``name`` is its shape's name in DynamoDB's API model."""

    name: str
    members: Mapping[str, Shape]


@dataclass(frozen=True, slots=True)
class ListOf:
    element: Shape


@dataclass(frozen=True, slots=True)
class MapOf:
    """A map of string keys to ``element``s; ``java_element`` names the element as DynamoDB's messages do."""

    element: Shape
    java_element: str


Shape = Kind | Struct | ListOf | MapOf


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    params: Mapping[str, Shape]
    # Parameters only the HTTP endpoint takes: it rewrites DynamoDB's legacy parameters
    # into expressions before calling the Python API.
    wire_only: frozenset[str] = field(default_factory=frozenset)
    python_params: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "python_params", frozenset(self.params) - self.wire_only)


STR, INT, LONG, DOUBLE, BOOL = Kind.STRING, Kind.INTEGER, Kind.LONG, Kind.DOUBLE, Kind.BOOLEAN
EXPR, ITEM, VALUES = Kind.EXPRESSION, Kind.ITEM, Kind.VALUES
NAMES = MapOf(STR, "java.lang.String")

_CAPACITY = {"ReturnConsumedCapacity": STR}
_METRICS = {"ReturnItemCollectionMetrics": STR}
_CONDITION = Struct("Condition", {"AttributeValueList": Kind.VALUE_LIST, "ComparisonOperator": STR})
_CONDITIONS = MapOf(_CONDITION, "com.amazonaws.dynamodb.v20120810.Condition")
_EXPECTED = MapOf(
    Struct(
        "ExpectedAttributeValue",
        {"Value": Kind.VALUE, "Exists": BOOL, "ComparisonOperator": STR, "AttributeValueList": Kind.VALUE_LIST},
    ),
    "com.amazonaws.dynamodb.v20120810.ExpectedAttributeValue",
)
_ATTRIBUTE_UPDATES = MapOf(
    Struct("AttributeValueUpdate", {"Value": Kind.VALUE, "Action": STR}),
    "com.amazonaws.dynamodb.v20120810.AttributeValueUpdate",
)
_WRITE_CONDITIONS: dict[str, Shape] = {
    "ConditionExpression": EXPR,
    "ExpressionAttributeNames": NAMES,
    "ExpressionAttributeValues": VALUES,
    "ReturnValues": STR,
    "ReturnValuesOnConditionCheckFailure": STR,
    "Expected": _EXPECTED,
    "ConditionalOperator": STR,
}
_LEGACY_WRITE = frozenset({"Expected", "ConditionalOperator"})
_THROUGHPUT = Struct("ProvisionedThroughput", {"ReadCapacityUnits": LONG, "WriteCapacityUnits": LONG})
_KEY_SCHEMA = ListOf(Struct("KeySchemaElement", {"AttributeName": STR, "KeyType": STR}))
_STREAM_SPECIFICATION = Struct("StreamSpecification", {"StreamEnabled": BOOL, "StreamViewType": STR})
_SCALING_UPDATE = Struct(
    "AutoScalingSettingsUpdate",
    {
        "MinimumUnits": LONG,
        "MaximumUnits": LONG,
        "AutoScalingDisabled": BOOL,
        "AutoScalingRoleArn": STR,
        "ScalingPolicyUpdate": Struct(
            "AutoScalingPolicyUpdate",
            {
                "PolicyName": STR,
                "TargetTrackingScalingPolicyConfiguration": Struct(
                    "AutoScalingTargetTrackingScalingPolicyConfigurationUpdate",
                    {"DisableScaleIn": BOOL, "ScaleInCooldown": INT, "ScaleOutCooldown": INT, "TargetValue": DOUBLE},
                ),
            },
        ),
    },
)
_KEYS_AND_ATTRIBUTES = Struct(
    "KeysAndAttributes",
    {
        "Keys": ListOf(ITEM),
        "ProjectionExpression": STR,
        "ExpressionAttributeNames": NAMES,
        "ConsistentRead": BOOL,
        "AttributesToGet": ListOf(STR),
    },
)
_WRITE_REQUEST = Struct(
    "WriteRequest",
    {
        "PutRequest": Struct("PutRequest", {"Item": ITEM}),
        "DeleteRequest": Struct("DeleteRequest", {"Key": ITEM}),
    },
)
_TX_CONDITION_MEMBERS: dict[str, Shape] = {
    "TableName": STR,
    "Key": ITEM,
    "ConditionExpression": EXPR,
    "ExpressionAttributeNames": NAMES,
    "ExpressionAttributeValues": VALUES,
    "ReturnValuesOnConditionCheckFailure": STR,
}
_TRANSACT_WRITE_ITEM = Struct(
    "TransactWriteItem",
    {
        "Put": Struct("Put", {**_TX_CONDITION_MEMBERS, "Item": ITEM}),
        "Update": Struct("Update", {**_TX_CONDITION_MEMBERS, "UpdateExpression": EXPR}),
        "Delete": Struct("Delete", _TX_CONDITION_MEMBERS),
        "ConditionCheck": Struct("ConditionCheck", _TX_CONDITION_MEMBERS),
    },
)
_TRANSACT_GET_ITEM = Struct(
    "TransactGetItem",
    {
        "Get": Struct(
            "Get", {"TableName": STR, "Key": ITEM, "ProjectionExpression": STR, "ExpressionAttributeNames": NAMES}
        )
    },
)
_INDEX_UPDATES = ListOf(Struct("GlobalSecondaryIndexUpdate", {"IndexName": STR}))


def _operations(*operations: Operation) -> dict[str, Operation]:
    return {operation.name: operation for operation in operations}


OPERATIONS: dict[str, Operation] = _operations(
    Operation(
        "CreateTable",
        {
            "TableName": STR,
            "KeySchema": _KEY_SCHEMA,
            "AttributeDefinitions": ListOf(Struct("AttributeDefinition", {"AttributeName": STR, "AttributeType": STR})),
            "BillingMode": STR,
            "ProvisionedThroughput": _THROUGHPUT,
            "StreamSpecification": _STREAM_SPECIFICATION,
            "Tags": ListOf(Struct("Tag", {"Key": STR, "Value": STR})),
            "TableClass": STR,
            "DeletionProtectionEnabled": BOOL,
            "GridSettings": Kind.ANY,
        },
    ),
    Operation("DeleteTable", {"TableName": STR}),
    Operation("DescribeTable", {"TableName": STR}),
    Operation(
        "UpdateTable",
        {
            "TableName": STR,
            "BillingMode": STR,
            "ProvisionedThroughput": _THROUGHPUT,
            "StreamSpecification": _STREAM_SPECIFICATION,
            "GridSettings": Kind.ANY,
        },
    ),
    Operation("ListTables", {"ExclusiveStartTableName": STR, "Limit": INT}),
    Operation(
        "UpdateTableReplicaAutoScaling",
        {
            "TableName": STR,
            "ProvisionedReadCapacityAutoScalingUpdate": _SCALING_UPDATE,
            "ProvisionedWriteCapacityAutoScalingUpdate": _SCALING_UPDATE,
            "GlobalSecondaryIndexUpdates": _INDEX_UPDATES,
            "ReplicaUpdates": ListOf(Struct("ReplicaAutoScalingUpdate", {"RegionName": STR})),
        },
    ),
    Operation("DescribeTableReplicaAutoScaling", {"TableName": STR}),
    Operation("PutItem", {"TableName": STR, "Item": ITEM, **_WRITE_CONDITIONS, **_CAPACITY, **_METRICS}, _LEGACY_WRITE),
    Operation(
        "GetItem",
        {
            "TableName": STR,
            "Key": ITEM,
            "ProjectionExpression": STR,
            "ExpressionAttributeNames": NAMES,
            "ConsistentRead": BOOL,
            "AttributesToGet": ListOf(STR),
            **_CAPACITY,
        },
    ),
    Operation(
        "UpdateItem",
        {
            "TableName": STR,
            "Key": ITEM,
            "UpdateExpression": EXPR,
            "AttributeUpdates": _ATTRIBUTE_UPDATES,
            **_WRITE_CONDITIONS,
            **_CAPACITY,
            **_METRICS,
        },
        _LEGACY_WRITE | {"AttributeUpdates"},
    ),
    Operation(
        "DeleteItem", {"TableName": STR, "Key": ITEM, **_WRITE_CONDITIONS, **_CAPACITY, **_METRICS}, _LEGACY_WRITE
    ),
    Operation(
        "Query",
        {
            "TableName": STR,
            "IndexName": STR,
            "KeyConditionExpression": EXPR,
            "FilterExpression": EXPR,
            "ProjectionExpression": STR,
            "ExpressionAttributeNames": NAMES,
            "ExpressionAttributeValues": VALUES,
            "Limit": INT,
            "ExclusiveStartKey": ITEM,
            "ScanIndexForward": BOOL,
            "ConsistentRead": BOOL,
            "Select": STR,
            "AttributesToGet": ListOf(STR),
            "KeyConditions": _CONDITIONS,
            "QueryFilter": _CONDITIONS,
            "ConditionalOperator": STR,
            **_CAPACITY,
        },
        frozenset({"KeyConditions", "QueryFilter", "ConditionalOperator", "AttributesToGet"}),
    ),
    Operation(
        "Scan",
        {
            "TableName": STR,
            "IndexName": STR,
            "FilterExpression": EXPR,
            "ProjectionExpression": STR,
            "ExpressionAttributeNames": NAMES,
            "ExpressionAttributeValues": VALUES,
            "Limit": INT,
            "ExclusiveStartKey": ITEM,
            "ConsistentRead": BOOL,
            "Select": STR,
            "Segment": INT,
            "TotalSegments": INT,
            "AttributesToGet": ListOf(STR),
            "ScanFilter": _CONDITIONS,
            "ConditionalOperator": STR,
            **_CAPACITY,
        },
        frozenset({"ScanFilter", "ConditionalOperator", "AttributesToGet"}),
    ),
    Operation(
        "BatchGetItem",
        {
            "RequestItems": MapOf(_KEYS_AND_ATTRIBUTES, "com.amazonaws.dynamodb.v20120810.KeysAndAttributes"),
            **_CAPACITY,
        },
    ),
    Operation(
        "BatchWriteItem",
        {
            "RequestItems": MapOf(
                ListOf(_WRITE_REQUEST), "java.util.List<com.amazonaws.dynamodb.v20120810.WriteRequest>"
            ),
            **_CAPACITY,
            **_METRICS,
        },
    ),
    Operation(
        "TransactWriteItems",
        {"TransactItems": ListOf(_TRANSACT_WRITE_ITEM), "ClientRequestToken": STR, **_CAPACITY, **_METRICS},
    ),
    Operation("TransactGetItems", {"TransactItems": ListOf(_TRANSACT_GET_ITEM), **_CAPACITY}),
    Operation("ListStreams", {"TableName": STR, "Limit": INT, "ExclusiveStartStreamArn": STR}),
    Operation("DescribeStream", {"StreamArn": STR, "Limit": INT, "ExclusiveStartShardId": STR}),
    Operation("GetShardIterator", {"StreamArn": STR, "ShardId": STR, "ShardIteratorType": STR, "SequenceNumber": STR}),
    Operation("GetRecords", {"ShardIterator": STR, "Limit": INT}),
)

# The operations of DynamoDB Streams' own API (its target prefix routes only these).
STREAMS_OPERATIONS = frozenset({"ListStreams", "DescribeStream", "GetShardIterator", "GetRecords"})


# -- the Python API's check ------------------------------------------------------------------


def check_request(operation: str, params: Mapping[str, Any]) -> None:
    """Refuse unknown parameters and parameters of the wrong type, as botocore's validation would.

    Raises ``ValidationException`` naming the parameter's path
    (``TransactItems[0].Get.TableName``), the value (cut short) and the types allowed.
    """
    spec = OPERATIONS[operation]
    allowed = spec.python_params
    if not params.keys() <= allowed:
        unknown = [name for name in params if name not in allowed]
        raise ValidationException(
            f"Unknown parameter in {operation} input: {', '.join(sorted(map(describe_value, unknown)))}; "
            f"must be one of: {', '.join(sorted(allowed))}"
        )
    shapes = spec.params
    for name, value in params.items():
        shape = shapes[name]
        # This runs for every item call: the common case (a plain value of its type) first.
        if not (type(shape) is Kind and type(value) in _SURELY_RIGHT.get(shape, ())):
            _check_python(shape, value, name)


_PYTHON_TYPES: dict[Kind, tuple[type, ...]] = {
    Kind.STRING: (str,),
    Kind.INTEGER: (int,),
    Kind.LONG: (int,),
    Kind.DOUBLE: (int, float),
    Kind.BOOLEAN: (bool,),
    Kind.EXPRESSION: (str, ConditionBase),
    Kind.ITEM: (Mapping,),
    Kind.VALUES: (Mapping,),
    Kind.VALUE_LIST: (list, tuple),
}


# Exact types that are surely of a shape (subclasses and the rest take the full check).
_SURELY_RIGHT: dict[Kind, tuple[type, ...]] = {
    Kind.STRING: (str,),
    Kind.EXPRESSION: (str,),
    Kind.BOOLEAN: (bool,),
    Kind.INTEGER: (int,),
    Kind.LONG: (int,),
    Kind.ITEM: (dict,),
    Kind.VALUES: (dict,),
}


def _check_python(shape: Shape, value: Any, path: str) -> None:
    if value is None and isinstance(shape, Kind):
        return  # an absent value, as boto3 callers pass it; each parameter's reader decides
    if isinstance(shape, Kind):
        allowed = _PYTHON_TYPES.get(shape)
        numeric = shape in (Kind.INTEGER, Kind.LONG, Kind.DOUBLE)
        if allowed is not None and (not isinstance(value, allowed) or (numeric and isinstance(value, bool))):
            raise _invalid_type(path, value, allowed)
        return
    if isinstance(shape, Struct):
        if not isinstance(value, Mapping):
            raise _invalid_type(path, value, (dict,))
        for name, member in value.items():
            member_shape = shape.members.get(name) if isinstance(name, str) else None
            if member_shape is None:
                raise ValidationException(
                    f'Unknown parameter in {path}: "{describe_value(name)}", must be one of: {", ".join(shape.members)}'
                )
            _check_python(member_shape, member, f"{path}.{name}")
        return
    if isinstance(shape, ListOf):
        if not isinstance(value, (list, tuple)):
            raise _invalid_type(path, value, (list, tuple))
        for index, element in enumerate(value):
            _check_python(shape.element, element, f"{path}[{index}]")
        return
    if not isinstance(value, Mapping):
        raise _invalid_type(path, value, (dict,))
    for key, element in value.items():
        if not isinstance(key, str):
            raise _invalid_type(f"{path} (a key)", key, (str,))
        _check_python(shape.element, element, f"{path}.{key}")


def _invalid_type(path: str, value: Any, allowed: tuple[type, ...]) -> ValidationException:
    valid = ", ".join(f"<class '{kind.__name__}'>" for kind in allowed)
    return ValidationException(
        f"Invalid type for parameter {path}, value: {describe_value(value)}, "
        f"type: <class '{type_label(value)}'>, valid types: {valid}"
    )


# -- shared validators -------------------------------------------------------------------------


def positive_limit(params: Mapping[str, Any]) -> int | None:
    """A Query's or Scan's ``Limit``: absent, or at least 1."""
    limit = params.get("Limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValidationException(
            f"1 validation error detected: Value '{describe_value(limit)}' at 'limit' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1"
        )
    return limit


def page_limit(params: Mapping[str, Any], highest: int) -> int:
    """A listing's ``Limit``: 1 to ``highest``, ``highest`` when absent."""
    limit = params.get("Limit", highest)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= highest:
        raise ValidationException(f"Limit must be an integer from 1 to {highest}")
    return limit


def required_string(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise ValidationException(f"{name} must be a non-empty string")
    return value


def optional_string(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is not None and not isinstance(value, str):
        raise ValidationException(f"{name} must be a string")
    return value

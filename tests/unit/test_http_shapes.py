"""Request and response bodies at the HTTP edge (``grid/_http/shapes.py``).

Requests are serialized by botocore itself from low-level parameters and responses are
parsed by botocore's own parser, so the wire format is checked against the SDK every
DynamoDB client uses, not against our reading of the documentation.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import botocore.parsers
import botocore.serialize
import botocore.session
import orjson
import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer

from grid._http.shapes import check_wire_types, decode_request, encode_error_item, encode_response
from grid.errors import SerializationException, ValidationException

_SESSION = botocore.session.get_session()
DYNAMODB = _SESSION.get_service_model("dynamodb")
STREAMS = _SESSION.get_service_model("dynamodbstreams")
STREAM_OPERATIONS = {"ListStreams", "DescribeStream", "GetShardIterator", "GetRecords"}


def model(operation: str) -> Any:
    return (STREAMS if operation in STREAM_OPERATIONS else DYNAMODB).operation_model(operation)


def wire_request(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """The JSON body botocore sends for ``params`` (low-level form: AttributeValues as dicts)."""
    request = botocore.serialize.create_serializer("json").serialize_to_request(params, model(operation))
    body: dict[str, Any] = json.loads(request["body"])
    return body


def parse_response(operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """What botocore makes of our response body."""
    parser = botocore.parsers.create_parser("json")
    http = {"body": orjson.dumps(body), "headers": {}, "status_code": 200}
    parsed: dict[str, Any] = parser.parse(http, model(operation).output_shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


def native(av_item: dict[str, Any]) -> dict[str, Any]:
    """A low-level item as boto3's resource layer shows it (bytes, not Binary)."""
    deserializer = TypeDeserializer()

    def unwrap(value: Any) -> Any:
        if isinstance(value, Binary):
            return value.value
        if isinstance(value, list):
            return [unwrap(v) for v in value]
        if isinstance(value, dict):
            return {k: unwrap(v) for k, v in value.items()}
        if isinstance(value, set):
            return {unwrap(v) for v in value}
        return value

    return {name: unwrap(deserializer.deserialize(av)) for name, av in av_item.items()}


D = Decimal
KEY = {"pk": {"S": "a"}, "sk": {"N": "1"}}
NATIVE_KEY = {"pk": "a", "sk": D(1)}
ITEM = {
    **KEY,
    "bin": {"B": b"\x00\xff"},
    "tags": {"SS": ["x", "y"]},
    "nums": {"NS": ["1.5", "2"]},
    "blobs": {"BS": [b"\x01"]},
    "doc": {"M": {"list": {"L": [{"BOOL": True}, {"NULL": True}, {"N": "-0.5"}]}}},
}
NATIVE_ITEM = {
    **NATIVE_KEY,
    "bin": b"\x00\xff",
    "tags": {"x", "y"},
    "nums": {D("1.5"), D(2)},
    "blobs": {b"\x01"},
    "doc": {"list": [True, None, D("-0.5")]},
}
VALUES = {":v": {"N": "5"}, ":s": {"SS": ["q"]}}
NATIVE_VALUES = {":v": D(5), ":s": {"q"}}
STREAM_ARN = "arn:grid:dynamodb:local:000000000000:table/t/stream/2024"


# -- requests -----------------------------------------------------------------------------------

REQUESTS = [
    (
        "PutItem",
        {"TableName": "t", "Item": ITEM, "ReturnValues": "ALL_OLD"},
        {"TableName": "t", "Item": NATIVE_ITEM, "ReturnValues": "ALL_OLD"},
    ),
    (
        "PutItem",
        {"TableName": "t", "Item": KEY, "ConditionExpression": "a < :v", "ExpressionAttributeValues": VALUES},
        {
            "TableName": "t",
            "Item": NATIVE_KEY,
            "ConditionExpression": "a < :v",
            "ExpressionAttributeValues": NATIVE_VALUES,
        },
    ),
    (
        "PutItem",
        {
            "TableName": "t",
            "Item": KEY,
            "Expected": {
                "a": {"Value": {"S": "x"}, "Exists": True},
                "b": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "2"}]},
                "c": {"Value": {"NULL": True}},
            },
            "ConditionalOperator": "OR",
        },
        {
            "TableName": "t",
            "Item": NATIVE_KEY,
            "Expected": {
                "a": {"Value": "x", "Exists": True},
                "b": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [D(1), D(2)]},
                "c": {"Value": None},
            },
            "ConditionalOperator": "OR",
        },
    ),
    (
        "GetItem",
        {"TableName": "t", "Key": KEY, "ConsistentRead": True},
        {"TableName": "t", "Key": NATIVE_KEY, "ConsistentRead": True},
    ),
    (
        "UpdateItem",
        {
            "TableName": "t",
            "Key": KEY,
            "AttributeUpdates": {"a": {"Value": {"N": "1"}, "Action": "ADD"}, "b": {"Action": "DELETE"}},
            "Expected": {"a": {"Exists": False}},
        },
        {
            "TableName": "t",
            "Key": NATIVE_KEY,
            "AttributeUpdates": {"a": {"Value": D(1), "Action": "ADD"}, "b": {"Action": "DELETE"}},
            "Expected": {"a": {"Exists": False}},
        },
    ),
    (
        "UpdateItem",
        {"TableName": "t", "Key": KEY, "UpdateExpression": "SET a = :v", "ExpressionAttributeValues": VALUES},
        {
            "TableName": "t",
            "Key": NATIVE_KEY,
            "UpdateExpression": "SET a = :v",
            "ExpressionAttributeValues": NATIVE_VALUES,
        },
    ),
    (
        "DeleteItem",
        {"TableName": "t", "Key": KEY, "Expected": {"a": {"ComparisonOperator": "NOT_NULL"}}},
        {"TableName": "t", "Key": NATIVE_KEY, "Expected": {"a": {"ComparisonOperator": "NOT_NULL"}}},
    ),
    (
        "Query",
        {
            "TableName": "t",
            "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]}},
            "QueryFilter": {"x": {"ComparisonOperator": "IN", "AttributeValueList": [{"B": b"1"}, {"B": b"2"}]}},
            "ExclusiveStartKey": KEY,
            "Limit": 10,
        },
        {
            "TableName": "t",
            "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": ["a"]}},
            "QueryFilter": {"x": {"ComparisonOperator": "IN", "AttributeValueList": [b"1", b"2"]}},
            "ExclusiveStartKey": NATIVE_KEY,
            "Limit": 10,
        },
    ),
    (
        "Scan",
        {
            "TableName": "t",
            "ScanFilter": {"x": {"ComparisonOperator": "NULL"}},
            "ExclusiveStartKey": KEY,
            "Segment": 0,
            "TotalSegments": 2,
        },
        {
            "TableName": "t",
            "ScanFilter": {"x": {"ComparisonOperator": "NULL"}},
            "ExclusiveStartKey": NATIVE_KEY,
            "Segment": 0,
            "TotalSegments": 2,
        },
    ),
    (
        "Scan",
        {"TableName": "t", "FilterExpression": "a = :v", "ExpressionAttributeValues": VALUES},
        {"TableName": "t", "FilterExpression": "a = :v", "ExpressionAttributeValues": NATIVE_VALUES},
    ),
    (
        "BatchGetItem",
        {"RequestItems": {"t": {"Keys": [KEY, {"pk": {"S": "b"}, "sk": {"N": "2"}}], "ProjectionExpression": "a"}}},
        {"RequestItems": {"t": {"Keys": [NATIVE_KEY, {"pk": "b", "sk": D(2)}], "ProjectionExpression": "a"}}},
    ),
    (
        "BatchWriteItem",
        {"RequestItems": {"t": [{"PutRequest": {"Item": ITEM}}, {"DeleteRequest": {"Key": KEY}}]}},
        {"RequestItems": {"t": [{"PutRequest": {"Item": NATIVE_ITEM}}, {"DeleteRequest": {"Key": NATIVE_KEY}}]}},
    ),
    (
        "TransactWriteItems",
        {
            "TransactItems": [
                {
                    "Put": {
                        "TableName": "t",
                        "Item": ITEM,
                        "ConditionExpression": "a <> :v",
                        "ExpressionAttributeValues": VALUES,
                    }
                },
                {
                    "Update": {
                        "TableName": "t",
                        "Key": KEY,
                        "UpdateExpression": "ADD s :s",
                        "ExpressionAttributeValues": VALUES,
                    }
                },
                {"Delete": {"TableName": "t", "Key": KEY}},
                {
                    "ConditionCheck": {
                        "TableName": "t",
                        "Key": KEY,
                        "ConditionExpression": "a = :v",
                        "ExpressionAttributeValues": VALUES,
                    }
                },
            ],
            "ClientRequestToken": "token",
        },
        {
            "TransactItems": [
                {
                    "Put": {
                        "TableName": "t",
                        "Item": NATIVE_ITEM,
                        "ConditionExpression": "a <> :v",
                        "ExpressionAttributeValues": NATIVE_VALUES,
                    }
                },
                {
                    "Update": {
                        "TableName": "t",
                        "Key": NATIVE_KEY,
                        "UpdateExpression": "ADD s :s",
                        "ExpressionAttributeValues": NATIVE_VALUES,
                    }
                },
                {"Delete": {"TableName": "t", "Key": NATIVE_KEY}},
                {
                    "ConditionCheck": {
                        "TableName": "t",
                        "Key": NATIVE_KEY,
                        "ConditionExpression": "a = :v",
                        "ExpressionAttributeValues": NATIVE_VALUES,
                    }
                },
            ],
            "ClientRequestToken": "token",
        },
    ),
    (
        "TransactGetItems",
        {"TransactItems": [{"Get": {"TableName": "t", "Key": KEY, "ProjectionExpression": "a"}}]},
        {"TransactItems": [{"Get": {"TableName": "t", "Key": NATIVE_KEY, "ProjectionExpression": "a"}}]},
    ),
    (
        "CreateTable",
        {
            "TableName": "t",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
        None,  # unchanged
    ),
    ("DescribeTable", {"TableName": "t"}, None),
    ("DeleteTable", {"TableName": "t"}, None),
    ("ListTables", {"Limit": 5, "ExclusiveStartTableName": "abc"}, None),
    (
        "UpdateTable",
        {"TableName": "t", "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}},
        None,
    ),
    ("ListStreams", {"TableName": "things", "Limit": 2}, None),
    ("DescribeStream", {"StreamArn": STREAM_ARN, "Limit": 2}, None),
    (
        "GetShardIterator",
        {
            "StreamArn": STREAM_ARN,
            "ShardId": "shardId-00000001-0000000000000000",
            "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
            "SequenceNumber": "000000000000000000012",
        },
        None,
    ),
    ("GetRecords", {"ShardIterator": "it", "Limit": 5}, None),
]


@pytest.mark.parametrize(
    ("operation", "low_level", "expected"), REQUESTS, ids=[f"{i}-{case[0]}" for i, case in enumerate(REQUESTS)]
)
def test_decode_request_of_botocores_body(
    operation: str, low_level: dict[str, Any], expected: dict[str, Any] | None
) -> None:
    body = wire_request(operation, low_level)
    decoded = decode_request(operation, body)
    assert decoded == (expected if expected is not None else low_level)


def test_decode_request_keeps_numbers_exactly_and_leaves_the_body_alone() -> None:
    body = {"TableName": "t", "Item": {"pk": {"S": "a"}, "n": {"N": "1.500"}}}
    snapshot = json.dumps(body)
    decoded = decode_request("PutItem", body)
    assert decoded["Item"]["n"].as_tuple() == D("1.500").as_tuple()
    assert json.dumps(body) == snapshot


def test_unknown_fields_pass_through_and_nulls_are_absent() -> None:
    body = {"TableName": "t", "Key": {"pk": {"S": "a"}}, "Bogus": {"S": "x"}, "ProjectionExpression": None}
    assert decode_request("GetItem", body) == {"TableName": "t", "Key": {"pk": "a"}, "Bogus": {"S": "x"}}
    assert decode_request("NoSuchOperation", {"Item": {"a": {"S": "x"}}, "X": None}) == {"Item": {"a": {"S": "x"}}}
    nested = {"RequestItems": {"t": {"Keys": [{"pk": {"S": "a"}}], "ConsistentRead": None, "Extra": 1}}}
    assert decode_request("BatchGetItem", nested) == {"RequestItems": {"t": {"Keys": [{"pk": "a"}], "Extra": 1}}}


@pytest.mark.parametrize(
    ("operation", "body", "error", "message"),
    [
        ("PutItem", {"Item": "x"}, SerializationException, "Unexpected field type"),
        (
            "PutItem",
            {"Item": []},
            SerializationException,
            "Unrecognized collection type java.util.Map<java.lang.String, com.amazonaws.dynamodb.v20120810.AttributeValue>",
        ),
        ("PutItem", {"Item": {"a": {"N": 5}}}, SerializationException, "NUMBER_VALUE cannot be converted to String"),
        (
            "PutItem",
            {"Item": {"a": {"S": "x"}}, "ExpressionAttributeValues": {":v": {"S": 1}}},
            SerializationException,
            "NUMBER_VALUE cannot be converted to String",
        ),
        ("PutItem", {"Item": {"a": {}}}, ValidationException, "Supplied AttributeValue is empty"),
        (
            "PutItem",
            {"Item": {"a": {"N": "x1"}}},
            ValidationException,
            "The parameter cannot be converted to a numeric value: x1",
        ),
        (
            "PutItem",
            {"Expected": {"a": {"Value": {"N": True}}}},
            SerializationException,
            "TRUE_VALUE cannot be converted to String",
        ),
        ("PutItem", {"Expected": {"a": "x"}}, SerializationException, "Unexpected value type in payload"),
        (
            "PutItem",
            {"Expected": []},
            SerializationException,
            "java.util.Map<java.lang.String, com.amazonaws.dynamodb.v20120810.ExpectedAttributeValue>",
        ),
        (
            "PutItem",
            {"Expected": {"a": {"AttributeValueList": {"S": "x"}}}},
            SerializationException,
            "Start of structure or map found where not expected",
        ),
        (
            "GetItem",
            {"Key": {"a": {"B": "abc"}}},
            SerializationException,
            "Base64 encoded length is expected a multiple of 4 bytes but found: 3",
        ),
        (
            "UpdateItem",
            {"AttributeUpdates": {"a": {"Value": {"BOOL": "yes"}}}},
            SerializationException,
            "Unexpected token received from parser",
        ),
        (
            "Query",
            {"KeyConditions": {"pk": {"AttributeValueList": [{"S": "a", "N": "1"}]}}},
            ValidationException,
            "more than one datatypes",
        ),
        ("Query", {"ExclusiveStartKey": 5}, SerializationException, "Unexpected field type"),
        (
            "Scan",
            {"ScanFilter": {"a": []}},
            SerializationException,
            "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.Condition",
        ),
        (
            "BatchGetItem",
            {"RequestItems": []},
            SerializationException,
            "com.amazonaws.dynamodb.v20120810.KeysAndAttributes>",
        ),
        (
            "BatchGetItem",
            {"RequestItems": {"t": {"Keys": {"pk": {"S": "a"}}}}},
            SerializationException,
            "Start of structure or map found where not expected",
        ),
        ("BatchGetItem", {"RequestItems": {"t": {"Keys": ["x"]}}}, SerializationException, "Unexpected field type"),
        (
            "BatchWriteItem",
            {"RequestItems": {"t": {"PutRequest": {}}}},
            SerializationException,
            "Start of structure or map found where not expected",
        ),
        (
            "BatchWriteItem",
            {"RequestItems": []},
            SerializationException,
            "java.util.List<com.amazonaws.dynamodb.v20120810.WriteRequest>>",
        ),
        (
            "BatchWriteItem",
            {"RequestItems": {"t": [{"PutRequest": "x"}]}},
            SerializationException,
            "Unexpected field type",
        ),
        (
            "BatchWriteItem",
            {"RequestItems": {"t": [{"DeleteRequest": {"Key": {"a": {"SS": "x"}}}}]}},
            SerializationException,
            "Unexpected field type",
        ),
        (
            "TransactWriteItems",
            {"TransactItems": {}},
            SerializationException,
            "Start of structure or map found where not expected",
        ),
        ("TransactWriteItems", {"TransactItems": [1]}, SerializationException, "Unexpected value type in payload"),
        (
            "TransactWriteItems",
            {"TransactItems": [{"Put": []}]},
            SerializationException,
            "com.amazonaws.dynamodb.v20120810.Put",
        ),
        (
            "TransactWriteItems",
            {"TransactItems": [{"Update": {"Key": {"a": {"M": []}}}}]},
            SerializationException,
            "java.util.Map",
        ),
        (
            "TransactGetItems",
            {"TransactItems": [{"Get": {"Key": {"a": {"L": [{"N": 1}]}}}}]},
            SerializationException,
            "NUMBER_VALUE cannot be converted to String",
        ),
    ],
)
def test_malformed_requests(operation: str, body: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as raised:
        decode_request(operation, body)
    assert type(raised.value) is error
    assert message in str(raised.value)


def test_a_type_error_late_in_the_body_wins_over_an_invalid_value_early() -> None:
    body = {"Item": {"a": {}}, "ExpressionAttributeValues": {":v": {"N": 1}}}
    with pytest.raises(SerializationException):
        decode_request("PutItem", body)


def test_deep_requests_do_not_crash() -> None:
    value: dict[str, Any] = {"S": "x"}
    for _ in range(10_000):
        value = {"M": {"m": value}}
    with pytest.raises(ValidationException, match="Nesting Levels have exceeded supported limits"):
        decode_request("PutItem", {"TableName": "t", "Item": {"pk": {"S": "a"}, "deep": value}})


# -- responses ---------------------------------------------------------------------------------

CREATED = datetime(2024, 5, 6, 7, 8, 9, 250000, tzinfo=timezone.utc)
DESCRIPTION = {
    "TableName": "t",
    "TableStatus": "ACTIVE",
    "CreationDateTime": CREATED,
    "ItemCount": 3,
    "ProvisionedThroughput": {
        "ReadCapacityUnits": 1,
        "WriteCapacityUnits": 1,
        "NumberOfDecreasesToday": 0,
        "LastIncreaseDateTime": CREATED,
    },
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "GridSettings": {"Partitions": 4},
}


def assert_items(parsed: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [native(item) for item in parsed] == expected


def test_get_item_response() -> None:
    parsed = parse_response("GetItem", encode_response("GetItem", {"Item": NATIVE_ITEM}))
    assert native(parsed["Item"]) == NATIVE_ITEM
    assert parse_response("GetItem", encode_response("GetItem", {})) == {}


@pytest.mark.parametrize("operation", ["PutItem", "UpdateItem", "DeleteItem"])
def test_write_responses(operation: str) -> None:
    parsed = parse_response(operation, encode_response(operation, {"Attributes": NATIVE_ITEM}))
    assert native(parsed["Attributes"]) == NATIVE_ITEM


@pytest.mark.parametrize("operation", ["Query", "Scan"])
def test_page_responses(operation: str) -> None:
    result = {"Items": [NATIVE_ITEM, NATIVE_KEY], "Count": 2, "ScannedCount": 5, "LastEvaluatedKey": NATIVE_KEY}
    parsed = parse_response(operation, encode_response(operation, result))
    assert_items(parsed["Items"], [NATIVE_ITEM, NATIVE_KEY])
    assert native(parsed["LastEvaluatedKey"]) == NATIVE_KEY
    assert (parsed["Count"], parsed["ScannedCount"]) == (2, 5)


def test_batch_get_item_response() -> None:
    result = {
        "Responses": {"t": [NATIVE_ITEM], "u": []},
        "UnprocessedKeys": {
            "t": {"Keys": [NATIVE_KEY], "ProjectionExpression": "#a", "ExpressionAttributeNames": {"#a": "a"}}
        },
    }
    parsed = parse_response("BatchGetItem", encode_response("BatchGetItem", result))
    assert_items(parsed["Responses"]["t"], [NATIVE_ITEM])
    assert parsed["Responses"]["u"] == []
    unprocessed = parsed["UnprocessedKeys"]["t"]
    assert_items(unprocessed["Keys"], [NATIVE_KEY])
    assert unprocessed["ProjectionExpression"] == "#a"


def test_batch_write_item_response() -> None:
    result = {
        "UnprocessedItems": {"t": [{"PutRequest": {"Item": NATIVE_ITEM}}, {"DeleteRequest": {"Key": NATIVE_KEY}}]}
    }
    parsed = parse_response("BatchWriteItem", encode_response("BatchWriteItem", result))
    put, delete = parsed["UnprocessedItems"]["t"]
    assert native(put["PutRequest"]["Item"]) == NATIVE_ITEM
    assert native(delete["DeleteRequest"]["Key"]) == NATIVE_KEY


def test_transact_get_items_response() -> None:
    result = {"Responses": [{"Item": NATIVE_ITEM}, {}]}
    parsed = parse_response("TransactGetItems", encode_response("TransactGetItems", result))
    assert native(parsed["Responses"][0]["Item"]) == NATIVE_ITEM
    assert parsed["Responses"][1] == {}


@pytest.mark.parametrize(
    ("operation", "result", "path"),
    [
        ("DescribeTable", {"Table": DESCRIPTION}, ("Table",)),
        ("CreateTable", {"TableDescription": DESCRIPTION}, ("TableDescription",)),
        ("DeleteTable", {"TableDescription": DESCRIPTION}, ("TableDescription",)),
        ("UpdateTable", {"TableDescription": DESCRIPTION}, ("TableDescription",)),
    ],
)
def test_table_descriptions_carry_epoch_seconds(operation: str, result: dict[str, Any], path: tuple[str, ...]) -> None:
    body = encode_response(operation, result)
    assert body[path[0]]["CreationDateTime"] == CREATED.timestamp()
    parsed = parse_response(operation, body)[path[0]]
    assert parsed["CreationDateTime"] == CREATED
    assert parsed["ProvisionedThroughput"]["LastIncreaseDateTime"] == CREATED
    assert parsed["ItemCount"] == 3


def test_list_tables_and_transact_write_pass_through() -> None:
    assert encode_response("ListTables", {"TableNames": ["a", "b"], "LastEvaluatedTableName": "b"}) == {
        "TableNames": ["a", "b"],
        "LastEvaluatedTableName": "b",
    }
    assert encode_response("TransactWriteItems", {}) == {}


def test_stream_responses() -> None:
    record = {
        "eventID": "shard-1:7",
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "local",
        "dynamodb": {
            "ApproximateCreationDateTime": CREATED,
            "Keys": NATIVE_KEY,
            "NewImage": NATIVE_ITEM,
            "OldImage": NATIVE_KEY,
            "SequenceNumber": "000000000000000000007",
            "SizeBytes": 40,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": "arn:grid:stream",
    }
    body = encode_response("GetRecords", {"Records": [record], "NextShardIterator": None})
    orjson.dumps(body)
    parsed = parse_response("GetRecords", body)
    change = parsed["Records"][0]["dynamodb"]
    assert change["ApproximateCreationDateTime"] == CREATED
    assert native(change["Keys"]) == NATIVE_KEY
    assert native(change["NewImage"]) == NATIVE_ITEM
    assert native(change["OldImage"]) == NATIVE_KEY
    assert change["SizeBytes"] == 40
    assert parsed["Records"][0]["eventName"] == "MODIFY"
    assert "NextShardIterator" not in parsed  # null: the shard is closed and read

    description = {
        "StreamDescription": {
            "StreamArn": "arn:grid:stream",
            "StreamLabel": "label",
            "StreamStatus": "ENABLED",
            "StreamViewType": "NEW_IMAGE",
            "CreationRequestDateTime": CREATED,
            "TableName": "t",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "Shards": [{"ShardId": "s", "SequenceNumberRange": {"StartingSequenceNumber": "1"}}],
        }
    }
    parsed = parse_response("DescribeStream", encode_response("DescribeStream", description))
    assert parsed["StreamDescription"]["CreationRequestDateTime"] == CREATED
    assert parsed["StreamDescription"]["Shards"][0]["ShardId"] == "s"
    streams = {"Streams": [{"StreamArn": "arn", "TableName": "t", "StreamLabel": "l"}]}
    assert encode_response("ListStreams", streams) == streams
    assert encode_response("GetShardIterator", {"ShardIterator": "it"}) == {"ShardIterator": "it"}


def test_every_response_serializes_with_orjson() -> None:
    results = {
        "GetItem": {"Item": NATIVE_ITEM},
        "Query": {"Items": [NATIVE_ITEM], "Count": 1, "ScannedCount": 1},
        "DescribeTable": {"Table": {**DESCRIPTION, "Size": D("1.5")}},
        "BatchGetItem": {"Responses": {"t": [NATIVE_ITEM]}, "UnprocessedKeys": {}},
    }
    for operation, result in results.items():
        orjson.dumps(encode_response(operation, result))


def test_encode_error_item() -> None:
    reasons = [
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed", "Item": NATIVE_ITEM},
        {"Code": "None"},
    ]
    encoded = [encode_error_item(reason) for reason in reasons]
    orjson.dumps(encoded)
    assert native(json.loads(json.dumps(encoded[0]["Item"]), object_hook=_bytes_hook)) == NATIVE_ITEM
    assert encoded[0]["Code"] == "ConditionalCheckFailed"
    assert encoded[1] == {"Code": "None"}
    assert encode_error_item({"Item": {"pk": "a"}})["Item"] == {"pk": {"S": "a"}}


def _bytes_hook(obj: dict[str, Any]) -> dict[str, Any]:
    """Back to botocore's form (base64 decoded), for boto3's deserializer."""
    import base64

    if set(obj) == {"B"}:
        return {"B": base64.b64decode(obj["B"])}
    if set(obj) == {"BS"}:
        return {"BS": [base64.b64decode(b) for b in obj["BS"]]}
    return obj


def deep(value: Any, depth: int = 1000) -> Any:
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("operation", "body", "message"),
    [
        # Each of these reached grid's code with the wrong type once, and answered HTTP 500.
        ("ListTables", {"ExclusiveStartTableName": {"a": 1}}, "Start of structure or map found where not expected"),
        ("DescribeTable", {"TableName": deep("t")}, "Unrecognized collection type class java.lang.String"),
        ("GetShardIterator", {"StreamArn": deep("x")}, None),
        ("GetRecords", {"ShardIterator": deep("x")}, "Unrecognized collection type class java.lang.String"),
        ("Scan", {"TableName": "t", "Limit": deep(1)}, "Unrecognized collection type class java.lang.Integer"),
        ("Query", {"TableName": "t", "Limit": "10"}, "STRING_VALUE cannot be converted to Integer"),
        (
            "CreateTable",
            {"TableName": "t", "AttributeDefinitions": [{"AttributeName": "a", "AttributeType": deep("S")}]},
            "Unrecognized collection type class java.lang.String",
        ),
        ("CreateTable", {"TableName": "t", "BillingMode": deep("PROVISIONED")}, "Unrecognized collection type"),
        (
            "CreateTable",
            {"TableName": "t", "KeySchema": [{"AttributeName": ["a"], "KeyType": "HASH"}]},
            "Unrecognized collection type class java.lang.String",
        ),
        ("CreateTable", {"TableName": "t", "ProvisionedThroughput": {"ReadCapacityUnits": 1.5}}, "DECIMAL_VALUE"),
        (
            "TransactGetItems",
            {"TransactItems": [{"Get": {"TableName": {"x": 1}, "Key": {"a": {"S": "x"}}}}]},
            "Start of structure or map found where not expected",
        ),
        ("BatchGetItem", {"RequestItems": {"t": {"Keys": [], "ConsistentRead": "yes"}}}, "Unexpected token"),
        ("UpdateItem", {"TableName": "t", "UpdateExpression": 7}, "NUMBER_VALUE cannot be converted to String"),
    ],
)
def test_wrong_json_types_are_serialization_errors(operation: str, body: dict[str, Any], message: str | None) -> None:
    with pytest.raises(SerializationException) as raised:
        check_wire_types(operation, body)
    if message is not None:
        assert message in raised.value.message

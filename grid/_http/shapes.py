"""Request and response bodies of DynamoDB's JSON protocol to and from grid's native API.

``decode_request`` turns a parsed request body into the keyword parameters grid's
``Grid``/``Table`` calls take, converting AttributeValues exactly where DynamoDB's
API model has them; ``encode_response`` turns a result back. Fields the model does
not give AttributeValues pass through unchanged (grid refuses unknown parameters
itself), and a JSON ``null`` is an absent field, as DynamoDB reads it.

>>> decode_request("GetItem", {"TableName": "t", "Key": {"id": {"N": "7"}}})
{'TableName': 't', 'Key': {'id': Decimal('7')}}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from grid._http.attribute_values import (
    WireDecoder,
    item_from_native,
    items_from_native,
    json_kind,
    not_a_boolean,
    not_a_list,
    not_a_map,
    not_a_string,
    not_a_structure,
    plain_json,
)
from grid._operations import OPERATIONS, Kind, ListOf, Shape, Struct
from grid.errors import SerializationException

__all__ = ["check_wire_types", "decode_request", "encode_error_item", "encode_response"]

_MODEL = "com.amazonaws.dynamodb.v20120810"

Decode = Callable[[WireDecoder, Any], Any]
Encode = Callable[[Any], Any]


# -- decoding helpers: one per shape of DynamoDB's model that holds AttributeValues --------------


def _structure(raw: Any, shape: str, fields: Mapping[str, Decode], decoder: WireDecoder, *, as_field: bool) -> Any:
    if type(raw) is not dict:
        raise not_a_structure(raw, shape, as_field=as_field)
    decoded = {}
    for name, value in raw.items():
        if value is None:
            continue
        convert = fields.get(name)
        decoded[name] = convert(decoder, value) if convert is not None else value
    return decoded


def _map_of(raw: Any, element: str, convert: Decode, decoder: WireDecoder) -> dict[str, Any]:
    if type(raw) is not dict:
        raise not_a_map(raw, element)
    return {name: convert(decoder, value) for name, value in raw.items() if value is not None}


def _list_of(raw: Any, convert: Decode, decoder: WireDecoder) -> list[Any]:
    if type(raw) is not list:
        raise not_a_list(raw)
    return [convert(decoder, value) for value in raw]


def _item(decoder: WireDecoder, raw: Any) -> Any:
    return decoder.item(raw)


def _values(decoder: WireDecoder, raw: Any) -> Any:
    return decoder.values_map(raw)


def _attribute_value(decoder: WireDecoder, raw: Any) -> Any:
    return decoder.value(raw)


def _value_list(decoder: WireDecoder, raw: Any) -> Any:
    return decoder.value_list(raw)


def _shape(shape: str, fields: Mapping[str, Decode], *, as_field: bool = False) -> Decode:
    return lambda decoder, raw: _structure(raw, shape, fields, decoder, as_field=as_field)


def _map_shape(shape: str, fields: Mapping[str, Decode]) -> Decode:
    element = _shape(shape, fields)
    return lambda decoder, raw: _map_of(raw, f"{_MODEL}.{shape}", element, decoder)


def _list_shape(shape: str, fields: Mapping[str, Decode]) -> Decode:
    element = _shape(shape, fields)
    return lambda decoder, raw: _list_of(raw, element, decoder)


_CONDITIONS = _map_shape("Condition", {"AttributeValueList": _value_list})
_EXPECTED = _map_shape("ExpectedAttributeValue", {"Value": _attribute_value, "AttributeValueList": _value_list})
_ATTRIBUTE_UPDATES = _map_shape("AttributeValueUpdate", {"Value": _attribute_value})
_ACTION = {"Key": _item, "Item": _item, "ExpressionAttributeValues": _values}


def _keys_list(decoder: WireDecoder, raw: Any) -> Any:
    if type(raw) is not list:
        raise not_a_list(raw)
    return [decoder.item(key) for key in raw]


def _batch_get_items(decoder: WireDecoder, raw: Any) -> Any:
    element = _shape("KeysAndAttributes", {"Keys": _keys_list})
    return _map_of(raw, f"{_MODEL}.KeysAndAttributes", element, decoder)


_WRITE_REQUESTS = _list_shape(
    "WriteRequest",
    {
        "PutRequest": _shape("PutRequest", {"Item": _item}, as_field=True),
        "DeleteRequest": _shape("DeleteRequest", {"Key": _item}, as_field=True),
    },
)


def _batch_write_items(decoder: WireDecoder, raw: Any) -> Any:
    return _map_of(raw, f"java.util.List<{_MODEL}.WriteRequest>", _WRITE_REQUESTS, decoder)


_TRANSACT_WRITE_ITEMS = _list_shape(
    "TransactWriteItem",
    {action: _shape(action, _ACTION, as_field=True) for action in ("Put", "Update", "Delete", "ConditionCheck")},
)
_TRANSACT_GET_ITEMS = _list_shape("TransactGetItem", {"Get": _shape("Get", {"Key": _item}, as_field=True)})

_WRITE_CONDITIONS: dict[str, Decode] = {"Expected": _EXPECTED, "ExpressionAttributeValues": _values}

_REQUEST_FIELDS: dict[str, dict[str, Decode]] = {
    "PutItem": {"Item": _item, **_WRITE_CONDITIONS},
    "GetItem": {"Key": _item},
    "UpdateItem": {"Key": _item, "AttributeUpdates": _ATTRIBUTE_UPDATES, **_WRITE_CONDITIONS},
    "DeleteItem": {"Key": _item, **_WRITE_CONDITIONS},
    "Query": {
        "KeyConditions": _CONDITIONS,
        "QueryFilter": _CONDITIONS,
        "ExclusiveStartKey": _item,
        "ExpressionAttributeValues": _values,
    },
    "Scan": {"ScanFilter": _CONDITIONS, "ExclusiveStartKey": _item, "ExpressionAttributeValues": _values},
    "BatchGetItem": {"RequestItems": _batch_get_items},
    "BatchWriteItem": {"RequestItems": _batch_write_items},
    "TransactWriteItems": {"TransactItems": _TRANSACT_WRITE_ITEMS},
    "TransactGetItems": {"TransactItems": _TRANSACT_GET_ITEMS},
}


def check_wire_types(operation: str, body: Mapping[str, Any]) -> None:
    """Refuse JSON of the wrong type in ``operation``'s parameters, as DynamoDB does (``SerializationException``).

    The shapes come from grid's one table of operations (``grid._operations``); the
    walk follows them, never the body's own depth. AttributeValues are left to the
    decoder, and members the table does not know to grid's parameter check.
    """
    spec = OPERATIONS.get(operation)
    if spec is None:
        return
    for name, value in body.items():
        shape = spec.params.get(name)
        if shape is not None and value is not None:
            _check_wire(shape, value)


_NUMBER_TYPES = {Kind.INTEGER: "Integer", Kind.LONG: "Long", Kind.DOUBLE: "Double"}


def _check_wire(shape: Shape, value: Any, *, as_field: bool = True) -> None:
    """``as_field``: the value is a structure's member (else a list element or a map value)."""
    if isinstance(shape, Kind):
        if shape in (Kind.STRING, Kind.EXPRESSION) and type(value) is not str:
            raise not_a_string(value)
        if shape is Kind.BOOLEAN and type(value) is not bool:
            raise not_a_boolean(value)
        if shape in _NUMBER_TYPES:
            allowed = (int, float) if shape is Kind.DOUBLE else (int,)
            if type(value) not in allowed:
                raise _not_a_number(value, _NUMBER_TYPES[shape])
        return
    if isinstance(shape, Struct):
        if type(value) is not dict:
            raise not_a_structure(value, shape.name, as_field=as_field)
        for name, member in value.items():
            member_shape = shape.members.get(name)
            if member_shape is not None and member is not None:
                _check_wire(member_shape, member)
        return
    if isinstance(shape, ListOf):
        if type(value) is not list:
            raise not_a_list(value)
        for element in value:
            if element is not None:
                _check_wire(shape.element, element, as_field=False)
        return
    if type(value) is not dict:
        raise not_a_map(value, shape.java_element)
    for element in value.values():
        if element is not None:
            _check_wire(shape.element, element, as_field=False)


def _not_a_number(value: Any, java_type: str) -> SerializationException:
    if isinstance(value, dict):
        return SerializationException("Start of structure or map found where not expected")
    if isinstance(value, list):
        return SerializationException(f"Unrecognized collection type class java.lang.{java_type}")
    return SerializationException(f"{json_kind(value)} cannot be converted to {java_type}")


def decode_request(operation: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The native keyword parameters of one request of ``operation``.

    Raises SerializationException for JSON of the wrong type anywhere (first), else
    ValidationException for the first AttributeValue DynamoDB refuses. An operation
    without AttributeValues (CreateTable, ListStreams, ...) comes back as given,
    minus its null fields.
    """
    check_wire_types(operation, body)
    fields = _REQUEST_FIELDS.get(operation, {})
    decoder = WireDecoder()
    params = {}
    for name, value in body.items():
        if value is None:
            continue
        convert = fields.get(name)
        params[name] = convert(decoder, value) if convert is not None else value
    decoder.finish()
    return params


# -- encoding --------------------------------------------------------------------------------


def _encode_fields(result: Mapping[str, Any], fields: Mapping[str, Encode]) -> dict[str, Any]:
    encoded: dict[str, Any] = {}
    for name, value in result.items():
        convert = fields.get(name)
        if value is None:
            encoded[name] = None
        else:
            encoded[name] = convert(value) if convert is not None else plain_json(value)
    return encoded


def _with(fields: Mapping[str, Encode]) -> Encode:
    return lambda value: _encode_fields(value, fields)


def _map_values(convert: Encode) -> Encode:
    return lambda value: {name: convert(element) for name, element in value.items()}


def _each(convert: Encode) -> Encode:
    return lambda value: [convert(element) for element in value]


_ITEM_COLLECTION_METRICS = _with({"ItemCollectionKey": item_from_native})
_WRITE_REQUEST = _with(
    {"PutRequest": _with({"Item": item_from_native}), "DeleteRequest": _with({"Key": item_from_native})}
)
_WRITE_RESULT: dict[str, Encode] = {"Attributes": item_from_native, "ItemCollectionMetrics": _ITEM_COLLECTION_METRICS}
_PAGE_RESULT: dict[str, Encode] = {"Items": items_from_native, "LastEvaluatedKey": item_from_native}
_STREAM_RECORD = _with(
    {"dynamodb": _with({"Keys": item_from_native, "NewImage": item_from_native, "OldImage": item_from_native})}
)

_RESPONSE_FIELDS: dict[str, dict[str, Encode]] = {
    "GetItem": {"Item": item_from_native},
    "PutItem": _WRITE_RESULT,
    "UpdateItem": _WRITE_RESULT,
    "DeleteItem": _WRITE_RESULT,
    "Query": _PAGE_RESULT,
    "Scan": _PAGE_RESULT,
    "BatchGetItem": {
        "Responses": _map_values(items_from_native),
        "UnprocessedKeys": _map_values(_with({"Keys": items_from_native})),
    },
    "BatchWriteItem": {
        "UnprocessedItems": _map_values(_each(_WRITE_REQUEST)),
        "ItemCollectionMetrics": _map_values(_each(_ITEM_COLLECTION_METRICS)),
    },
    "TransactGetItems": {"Responses": _each(_with({"Item": item_from_native}))},
    "TransactWriteItems": {"ItemCollectionMetrics": _map_values(_each(_ITEM_COLLECTION_METRICS))},
    "GetRecords": {"Records": _each(_STREAM_RECORD)},
}


def encode_response(operation: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """``result`` of a native call as the JSON body DynamoDB answers ``operation`` with.

    Items become AttributeValue maps; datetimes (CreationDateTime,
    ApproximateCreationDateTime, ...) become epoch seconds; numbers outside items
    become JSON numbers. The answer holds only what ``orjson``/``json`` serialize.
    """
    return _encode_fields(result, _RESPONSE_FIELDS.get(operation, {}))


def encode_error_item(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An error's part holding an item, for the wire: a ``CancellationReasons`` entry
    (``{"Code": ..., "Message": ..., "Item": {...}}``) or ``{"Item": item}``.

    Only ``Item`` is converted; the rest is copied as JSON.
    """
    return _encode_fields(entry, {"Item": item_from_native})

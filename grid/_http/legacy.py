"""DynamoDB's legacy parameters, rewritten as expressions so that one engine serves both.

``AttributesToGet`` becomes a ProjectionExpression, ``KeyConditions`` a
KeyConditionExpression, ``QueryFilter``/``ScanFilter`` a FilterExpression,
``Expected`` a ConditionExpression and ``AttributeUpdates`` an UpdateExpression.
Every attribute name and value goes through a generated placeholder (``#lgN``,
``:lgN``), so reserved words and names with dots mean what the legacy API meant.
The input is already native (``decode_request``'s output, or a Python caller's).

The legacy rules are checked here, with DynamoDB's messages: a request that mixes
legacy and expression parameters, operand counts and types of each
ComparisonOperator, Exists/Value combinations, AttributeUpdates actions.

>>> convert_legacy("GetItem", {"TableName": "t", "Key": {"id": "a"}, "AttributesToGet": ["size"]})
{'TableName': 't', 'Key': {'id': 'a'}, 'ProjectionExpression': '#lg0', 'ExpressionAttributeNames': {'#lg0': 'size'}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grid._types import normalize_value, type_name
from grid.errors import ValidationException

__all__ = ["convert_legacy"]

_INVALID = "One or more parameter values were invalid: "
_OPERATORS = (
    "IN",
    "NULL",
    "BETWEEN",
    "LT",
    "NOT_CONTAINS",
    "EQ",
    "GT",
    "NOT_NULL",
    "NE",
    "LE",
    "BEGINS_WITH",
    "GE",
    "CONTAINS",
)
_KEY_OPERATORS = frozenset({"EQ", "LE", "LT", "GE", "GT", "BEGINS_WITH", "BETWEEN"})
_SCALARS = frozenset({"S", "N", "B"})
# The AttributeValue types each operator takes in KeyConditions, QueryFilter and ScanFilter.
_OPERAND_TYPES = {
    "EQ": _SCALARS | {"SS", "NS", "BS"},
    "NE": _SCALARS | {"SS", "NS", "BS"},
    "LE": _SCALARS,
    "LT": _SCALARS,
    "GE": _SCALARS,
    "GT": _SCALARS,
    "CONTAINS": _SCALARS,
    "NOT_CONTAINS": _SCALARS,
    "BEGINS_WITH": frozenset({"S", "B"}),
    "IN": _SCALARS,
    "BETWEEN": _SCALARS,
}
_COMPARISONS = {"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}


@dataclass(frozen=True, slots=True)
class _Parameters:
    """An operation's legacy parameters and expression parameters, in DynamoDB's order."""

    legacy: tuple[str, ...]
    expressions: tuple[str, ...]


_PARAMETERS = {
    "GetItem": _Parameters(("AttributesToGet",), ("ProjectionExpression",)),
    "PutItem": _Parameters(("Expected", "ConditionalOperator"), ("ConditionExpression",)),
    "DeleteItem": _Parameters(("Expected", "ConditionalOperator"), ("ConditionExpression",)),
    "UpdateItem": _Parameters(
        ("AttributeUpdates", "Expected", "ConditionalOperator"), ("UpdateExpression", "ConditionExpression")
    ),
    "Query": _Parameters(
        ("AttributesToGet", "QueryFilter", "ConditionalOperator", "KeyConditions"),
        ("ProjectionExpression", "FilterExpression", "KeyConditionExpression"),
    ),
    "Scan": _Parameters(
        ("AttributesToGet", "ScanFilter", "ConditionalOperator"), ("ProjectionExpression", "FilterExpression")
    ),
}


def convert_legacy(operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with their legacy parameters rewritten as expressions.

    A request without legacy parameters comes back unchanged (as a new dict); so do
    operations that have none. Raises ValidationException with DynamoDB's message for
    a request DynamoDB refuses (see the module's docstring).
    """
    if operation == "BatchGetItem":
        return _batch_get(params)
    spec = _PARAMETERS.get(operation)
    if spec is None:
        return dict(params)
    return _convert(spec, params)


def _batch_get(params: Mapping[str, Any]) -> dict[str, Any]:
    requests = params.get("RequestItems")
    if not isinstance(requests, Mapping):
        return dict(params)  # grid refuses it with its own message
    converted = {
        table: _convert(_PARAMETERS["GetItem"], request) if isinstance(request, Mapping) else request
        for table, request in requests.items()
    }
    return {**params, "RequestItems": converted}


def _present(params: Mapping[str, Any], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if params.get(name) is not None]


def _convert(spec: _Parameters, params: Mapping[str, Any]) -> dict[str, Any]:
    legacy = _present(params, spec.legacy)
    if not legacy:
        return dict(params)
    expressions = _present(params, spec.expressions)
    if expressions:
        # KeyConditions may go with a FilterExpression or ProjectionExpression, as in DynamoDB.
        mixed = [n for n in legacy if n != "KeyConditions" or "KeyConditionExpression" in expressions]
        if mixed:
            raise ValidationException(
                "Can not use both expression and non-expression parameters in the same request: "
                f"Non-expression parameters: {{{', '.join(mixed)}}} Expression parameters: {{{', '.join(expressions)}}}"
            )
    else:
        _refuse_unused_placeholders(spec, params)
    out = {name: value for name, value in params.items() if name not in spec.legacy}
    placeholders = _Placeholders(params.get("ExpressionAttributeNames"), params.get("ExpressionAttributeValues"))
    joiner = _conditional_operator(params)
    if params.get("AttributesToGet") is not None:
        if params.get("Select") not in (None, "SPECIFIC_ATTRIBUTES"):
            raise ValidationException(f"Cannot specify the AttributesToGet when choosing to get {params['Select']}")
        out["ProjectionExpression"] = _projection(params["AttributesToGet"], placeholders)
    if params.get("KeyConditions") is not None:
        out["KeyConditionExpression"] = _conditions(
            params["KeyConditions"], "AND", "keyConditions", placeholders, key=True
        )
    for name in ("QueryFilter", "ScanFilter"):
        if params.get(name) is not None:
            where = name[0].lower() + name[1:]
            out["FilterExpression"] = _conditions(params[name], joiner, where, placeholders)
    if params.get("Expected") is not None:
        out["ConditionExpression"] = _expected(params["Expected"], joiner, placeholders)
    if params.get("AttributeUpdates") is not None:
        out["UpdateExpression"] = _updates(params["AttributeUpdates"], placeholders)
    out = {name: value for name, value in out.items() if value is not None}
    if placeholders.names:
        out["ExpressionAttributeNames"] = placeholders.names
    if placeholders.values:
        out["ExpressionAttributeValues"] = placeholders.values
    return out


def _refuse_unused_placeholders(spec: _Parameters, params: Mapping[str, Any]) -> None:
    """Placeholders given with legacy parameters only: DynamoDB refuses them as unusable."""
    if params.get("ExpressionAttributeNames") is not None:
        raise ValidationException("ExpressionAttributeNames can only be specified when using expressions")
    using_values = [name for name in spec.expressions if name != "ProjectionExpression"]
    if using_values and params.get("ExpressionAttributeValues") is not None:
        verb = "are" if len(using_values) > 1 else "is"
        raise ValidationException(
            f"ExpressionAttributeValues can only be specified when using expressions: {' and '.join(using_values)} {verb} null"
        )


def _conditional_operator(params: Mapping[str, Any]) -> str:
    operator = params.get("ConditionalOperator", "AND")
    if operator is None:
        return "AND"
    if operator not in ("AND", "OR"):
        raise ValidationException(
            f"1 validation error detected: Value '{operator}' at 'conditionalOperator' failed to satisfy "
            "constraint: Member must satisfy enum value set: [OR, AND]"
        )
    return str(operator)


class _Placeholders:
    """Generated ``#lgN``/``:lgN`` placeholders, merged with the request's own."""

    def __init__(self, names: Any, values: Any) -> None:
        self.names: dict[str, str] = dict(names) if isinstance(names, Mapping) else {}
        self.values: dict[str, Any] = dict(values) if isinstance(values, Mapping) else {}
        self._by_name: dict[str, str] = {}
        self._next_name = 0
        self._next_value = 0

    def name(self, attribute: Any) -> str:
        if not isinstance(attribute, str) or not attribute:
            raise ValidationException(f"{_INVALID}Attribute names must be non-empty strings")
        placeholder = self._by_name.get(attribute)
        if placeholder is None:
            placeholder = f"#lg{self._next_name}"
            while placeholder in self.names:  # never take a placeholder the request defines
                self._next_name += 1
                placeholder = f"#lg{self._next_name}"
            self._next_name += 1
            self.names[placeholder] = attribute
            self._by_name[attribute] = placeholder
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":lg{self._next_value}"
        while placeholder in self.values:
            self._next_value += 1
            placeholder = f":lg{self._next_value}"
        self._next_value += 1
        self.values[placeholder] = value
        return placeholder


# -- AttributesToGet -------------------------------------------------------------------------


def _projection(attributes: Any, placeholders: _Placeholders) -> str:
    if not isinstance(attributes, (list, tuple)):
        raise ValidationException("AttributesToGet must be a list of attribute names")
    if not attributes:
        raise ValidationException(
            "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )
    seen: set[str] = set()
    for name in attributes:
        if not isinstance(name, str) or not name:
            raise ValidationException(f"{_INVALID}Attribute names must be non-empty strings")
        if name in seen:
            raise ValidationException(f"{_INVALID}Duplicate value in attribute name: {name}")
        seen.add(name)
    return ", ".join(placeholders.name(name) for name in attributes)


# -- conditions --------------------------------------------------------------------------------


def _operator(condition: Mapping[str, Any], where: str, attribute: str) -> str:
    operator = condition.get("ComparisonOperator")
    if operator is None:
        raise ValidationException(
            f"1 validation error detected: Value null at '{where}.{attribute}.member.comparisonOperator' "
            "failed to satisfy constraint: Member must not be null"
        )
    if operator not in _OPERATORS:
        raise ValidationException(
            f"1 validation error detected: Value '{operator}' at '{where}.{attribute}.member.comparisonOperator' "
            f"failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(_OPERATORS)}]"
        )
    return str(operator)


def _check_operands(operator: str, operands: list[Any], *, check_types: bool) -> None:
    count = len(operands)
    if operator in ("NULL", "NOT_NULL"):
        valid = count == 0
    elif operator == "IN":
        valid = count > 0
    elif operator == "BETWEEN":
        valid = count == 2
    else:
        valid = count == 1
    if not valid:
        raise ValidationException(f"{_INVALID}Invalid number of argument(s) for the {operator} ComparisonOperator")
    if not operands:
        return
    kinds = [type_name(operand) for operand in operands]
    if len(set(kinds)) > 1:
        raise ValidationException(f"{_INVALID}AttributeValues inside AttributeValueList must be of same type")
    if check_types and kinds[0] not in _OPERAND_TYPES[operator]:
        raise ValidationException(
            f"{_INVALID}ComparisonOperator {operator} is not valid for {kinds[0]} AttributeValue type"
        )
    if operator == "BETWEEN" and kinds[0] in _SCALARS and operands[0] > operands[1]:
        raise ValidationException(
            "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"
        )


def _operands(values: Any) -> list[Any]:
    """An AttributeValueList, normalized (ints become Decimals) so types and order can be checked."""
    if values is None:
        return []
    if not isinstance(values, (list, tuple)):
        raise ValidationException("AttributeValueList must be a list of values")
    return [normalize_value(value) for value in values]


def _clause(attribute: str, operator: str, operands: list[Any], placeholders: _Placeholders) -> str:
    """One legacy condition as expression text, as DynamoDB documents each operator."""
    path = placeholders.name(attribute)
    if operator == "NULL":
        return f"attribute_not_exists({path})"
    if operator == "NOT_NULL":
        return f"attribute_exists({path})"
    values = [placeholders.value(operand) for operand in operands]
    if operator in _COMPARISONS:
        return f"{path} {_COMPARISONS[operator]} {values[0]}"
    if operator == "CONTAINS":
        return f"contains({path}, {values[0]})"
    if operator == "NOT_CONTAINS":
        return f"NOT contains({path}, {values[0]})"
    if operator == "BEGINS_WITH":
        return f"begins_with({path}, {values[0]})"
    if operator == "IN":
        return f"{path} IN ({', '.join(values)})"
    return f"{path} BETWEEN {values[0]} AND {values[1]}"


def _join(clauses: list[str], joiner: str) -> str | None:
    if not clauses:
        return None
    if len(clauses) == 1:
        return clauses[0]
    return f" {joiner} ".join(f"({clause})" for clause in clauses)


def _conditions(
    conditions: Any, joiner: str, where: str, placeholders: _Placeholders, *, key: bool = False
) -> str | None:
    """KeyConditions, QueryFilter or ScanFilter: ``{attribute: {ComparisonOperator, AttributeValueList}}``."""
    if not isinstance(conditions, Mapping):
        raise ValidationException(f"{where[0].upper()}{where[1:]} must be a map of attribute names to conditions")
    clauses = []
    for attribute, condition in conditions.items():
        if not isinstance(condition, Mapping):
            raise ValidationException(f"Each condition of {where[0].upper()}{where[1:]} must be a map")
        operator = _operator(condition, where, attribute)
        operands = _operands(condition.get("AttributeValueList"))
        _check_operands(operator, operands, check_types=True)
        if key and operator not in _KEY_OPERATORS:
            raise ValidationException("Attempted conditional constraint is not an indexable operation")
        clauses.append(_clause(attribute, operator, operands, placeholders))
    return _join(clauses, joiner)


def _expected(expected: Any, joiner: str, placeholders: _Placeholders) -> str | None:
    """Expected: ``{attribute: {Exists, Value}}`` or ``{attribute: {ComparisonOperator, ...}}``."""
    if not isinstance(expected, Mapping):
        raise ValidationException("Expected must be a map of attribute names to conditions")
    clauses = []
    for attribute, condition in expected.items():
        if not isinstance(condition, Mapping):
            raise ValidationException("Each condition of Expected must be a map")
        clauses.append(_expected_clause(attribute, condition, placeholders))
    return _join(clauses, joiner)


def _expected_clause(attribute: str, condition: Mapping[str, Any], placeholders: _Placeholders) -> str:
    # "Value" is tested by presence: a NULL AttributeValue is the native None.
    has_value = "Value" in condition
    has_list = condition.get("AttributeValueList") is not None
    if has_value and has_list:
        raise ValidationException(
            f"{_INVALID}Value and AttributeValueList cannot be used together for Attribute: {attribute}"
        )
    exists = condition.get("Exists")
    if condition.get("ComparisonOperator") is not None:
        if exists is not None:
            raise ValidationException(
                f"{_INVALID}Exists and ComparisonOperator cannot be used together for Attribute: {attribute}"
            )
        operator = _operator(condition, "expected", attribute)
        if operator not in ("NULL", "NOT_NULL") and not has_value and not has_list:
            raise ValidationException(
                f"{_INVALID}Value or AttributeValueList must be used with ComparisonOperator: {operator} "
                f"for Attribute: {attribute}"
            )
        operands = _operands([condition["Value"]] if has_value else condition.get("AttributeValueList"))
        _check_operands(operator, operands, check_types=False)
        return _clause(attribute, operator, operands, placeholders)
    if has_list:
        raise ValidationException(
            f"{_INVALID}AttributeValueList can only be used with a ComparisonOperator for Attribute: {attribute}"
        )
    if exists is not None and not isinstance(exists, bool):
        raise ValidationException(f"{_INVALID}Exists must be a boolean for Attribute: {attribute}")
    if exists is False:
        if has_value:
            raise ValidationException(f"{_INVALID}Value cannot be used when Exists is false for Attribute: {attribute}")
        return f"attribute_not_exists({placeholders.name(attribute)})"
    if not has_value:
        shown = "null" if exists is None else "true"
        raise ValidationException(f"{_INVALID}Value must be provided when Exists is {shown} for Attribute: {attribute}")
    return _clause(attribute, "EQ", _operands([condition["Value"]]), placeholders)


# -- AttributeUpdates ------------------------------------------------------------------------


def _updates(updates: Any, placeholders: _Placeholders) -> str | None:
    """AttributeUpdates: ``{attribute: {Action: PUT|ADD|DELETE, Value}}`` as SET/REMOVE/ADD/DELETE."""
    if not isinstance(updates, Mapping):
        raise ValidationException("AttributeUpdates must be a map of attribute names to updates")
    groups: dict[str, list[str]] = {"SET": [], "REMOVE": [], "ADD": [], "DELETE": []}
    for attribute, update in updates.items():
        if not isinstance(update, Mapping):
            raise ValidationException("Each update of AttributeUpdates must be a map")
        action = update.get("Action") or "PUT"
        if action not in ("PUT", "ADD", "DELETE"):
            raise ValidationException(
                f"1 validation error detected: Value '{action}' at 'attributeUpdates.{attribute}.member.action' "
                "failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"
            )
        path = placeholders.name(attribute)
        if "Value" not in update:
            if action != "DELETE":
                raise ValidationException(
                    f"{_INVALID}Only DELETE action is allowed when no attribute value is specified"
                )
            groups["REMOVE"].append(path)
            continue
        value = normalize_value(update["Value"])
        kind = type_name(value)
        if action == "PUT":
            groups["SET"].append(f"{path} = {placeholders.value(value)}")
        elif action == "ADD":
            if kind not in ("N", "SS", "NS", "BS", "L"):
                raise ValidationException(f"{_INVALID}ADD action is not supported for the type {kind}")
            groups["ADD"].append(f"{path} {placeholders.value(value)}")
        else:
            if kind not in ("SS", "NS", "BS"):
                raise ValidationException(f"{_INVALID}DELETE action with value is not supported for the type {kind}")
            groups["DELETE"].append(f"{path} {placeholders.value(value)}")
    text = " ".join(f"{clause} {', '.join(actions)}" for clause, actions in groups.items() if actions)
    return text or None

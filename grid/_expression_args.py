"""A request's expressions, made ready on the client before anything is sent.

Builder conditions (``grid.conditions``) are rendered to text, values normalized,
every expression parsed (cached) and the placeholders checked, so a malformed
request fails here with DynamoDB's ``ValidationException`` and costs no Ray call.
DynamoDB's limits (``grid._expressions.limits``) come before the costly steps:
each text's size before any value is normalized, the placeholders' lengths as
their maps are read, the maps' 2 MB before any text is parsed, and the operators
and path depth of a text before lark parses it (the parse cache keeps that scan
off the path of a text seen before).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from grid._expressions import (
    check_expression_size,
    check_placeholder_key,
    check_placeholders,
    check_projection,
    check_substitution_size,
    check_update,
    parse_condition,
    parse_projection,
    parse_update,
)
from grid._requests import NO_EXPRESSION_ARGS, ExpressionArgs
from grid._types import normalize_value
from grid.conditions import ConditionBase, render_condition
from grid.errors import ValidationException

__all__ = ["PreparedExpressions", "prepare_expressions"]

_PARSERS: dict[str, Callable[[str], Any]] = {
    "ConditionExpression": lambda text: parse_condition(text, "ConditionExpression"),
    "FilterExpression": lambda text: parse_condition(text, "FilterExpression"),
    "KeyConditionExpression": lambda text: parse_condition(text, "KeyConditionExpression"),
    "UpdateExpression": parse_update,
    "ProjectionExpression": parse_projection,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedExpressions:
    texts: dict[str, str]
    parsed: dict[str, Any]
    args: ExpressionArgs

    def text(self, kind: str) -> str | None:
        return self.texts.get(kind)


NO_EXPRESSIONS = PreparedExpressions(texts={}, parsed={}, args=NO_EXPRESSION_ARGS)


def prepare_expressions(expressions: Mapping[str, Any], names: Any, values: Any) -> PreparedExpressions:
    """Render, normalize, parse and cross-check the expressions of one request.

    ``expressions`` maps a parameter name (``ConditionExpression``, ...) to its text,
    a built condition, or None.
    """
    if names is None and values is None and all(e is None for e in expressions.values()):
        return NO_EXPRESSIONS  # the common plain put/get: nothing to render, parse or check
    names_given = names is not None
    values_given = values is not None
    names = _names(names)
    if values is not None and not isinstance(values, Mapping):
        raise ValidationException("ExpressionAttributeValues must be a map")
    raw_values = dict(values) if values is not None else {}
    texts: dict[str, str] = {}
    for kind, expression in expressions.items():
        if expression is None:
            continue
        if isinstance(expression, ConditionBase):
            if kind not in ("ConditionExpression", "FilterExpression", "KeyConditionExpression"):
                raise ValidationException(f"{kind} must be a string")
            expression = render_condition(expression, names, raw_values)
            names_given = names_given or bool(names)
            values_given = values_given or bool(raw_values)
        if not isinstance(expression, str):
            raise ValidationException(f"{kind} must be a string or a condition built with grid.conditions")
        check_expression_size(expression, kind)  # the rest of DynamoDB's limits: as each text is parsed
        if not expression.strip():
            raise ValidationException(f"Invalid {kind}: The expression can not be empty;")
        texts[kind] = expression
    normalized = {}
    for placeholder, value in raw_values.items():
        if isinstance(placeholder, str):
            check_placeholder_key("ExpressionAttributeValues", placeholder)  # before its syntax, as DynamoDB
        if not isinstance(placeholder, str) or not placeholder.startswith(":"):
            raise ValidationException(
                f'ExpressionAttributeValues contains invalid key: Syntax error; key: "{placeholder}"'
            )
        try:
            normalized[placeholder] = normalize_value(value)
        except ValidationException as error:
            raise ValidationException(
                f"ExpressionAttributeValues contains invalid value: {error.message} for key {placeholder}"
            ) from None
    check_substitution_size(names, normalized)
    parsed = {kind: _PARSERS[kind](text) for kind, text in texts.items()}
    check_placeholders(parsed, names if names_given else None, normalized if values_given else None)
    if "UpdateExpression" in parsed:
        check_update(parsed["UpdateExpression"], names, normalized)
    if "ProjectionExpression" in parsed:
        check_projection(parsed["ProjectionExpression"], names)
    args = ExpressionArgs(names=names, values=normalized) if (names or normalized) else NO_EXPRESSION_ARGS
    return PreparedExpressions(texts=texts, parsed=parsed, args=args)


def _names(names: Any) -> dict[str, str]:
    if names is None:
        return {}
    if not isinstance(names, Mapping):
        raise ValidationException("ExpressionAttributeNames must be a map")
    for placeholder, name in names.items():
        if isinstance(placeholder, str):
            check_placeholder_key("ExpressionAttributeNames", placeholder)  # before its syntax, as DynamoDB
        if not isinstance(placeholder, str) or not placeholder.startswith("#"):
            raise ValidationException(
                f'ExpressionAttributeNames contains invalid key: Syntax error; key: "{placeholder}"'
            )
        if not isinstance(name, str) or not name:
            raise ValidationException(
                f"ExpressionAttributeNames contains invalid value: Empty attribute name for key {placeholder}"
            )
    return dict(names)

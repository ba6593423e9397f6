"""DynamoDB's expression language: parse, validate, evaluate, apply.

Phases live in separate modules: ``limits`` (DynamoDB's limits on the text and
its placeholders, checked before anything parses), ``parse`` (text to frozen
trees, cached), ``validate`` (placeholders, overlapping paths, static operand types),
``evaluate`` (conditions and projections, pure), ``update`` (builds a new item)
and ``keys`` (a KeyConditionExpression as a Query's key lookup).
"""

from grid._expressions.evaluate import MISSING, evaluate_condition, get_path, project, resolve_path
from grid._expressions.keys import KeyCondition, RangeCondition, key_condition_parts
from grid._expressions.limits import (
    MAX_EXPRESSION_BYTES,
    MAX_IN_OPERANDS,
    MAX_OPERATORS,
    MAX_PATH_LEVELS,
    MAX_PLACEHOLDER_BYTES,
    MAX_SUBSTITUTION_BYTES,
    check_expression_size,
    check_expression_text,
    check_placeholder_key,
    check_substitution_size,
)
from grid._expressions.parse import parse_condition, parse_projection, parse_update
from grid._expressions.update import UpdateOutcome, apply_update
from grid._expressions.validate import check_placeholders, check_projection, check_update

__all__ = [
    "MAX_EXPRESSION_BYTES",
    "MAX_IN_OPERANDS",
    "MAX_OPERATORS",
    "MAX_PATH_LEVELS",
    "MAX_PLACEHOLDER_BYTES",
    "MAX_SUBSTITUTION_BYTES",
    "MISSING",
    "KeyCondition",
    "RangeCondition",
    "UpdateOutcome",
    "apply_update",
    "check_expression_size",
    "check_expression_text",
    "check_placeholder_key",
    "check_placeholders",
    "check_projection",
    "check_substitution_size",
    "check_update",
    "evaluate_condition",
    "get_path",
    "key_condition_parts",
    "parse_condition",
    "parse_projection",
    "parse_update",
    "project",
    "resolve_path",
]

"""DynamoDB's limits on expressions, checked before anything parses them.

The limits (the "Expression parameters" section of DynamoDB's Constraints page):
an expression of at most 4 KB (UTF-8 bytes); at most 300 operators or functions
in one expression; document paths at most 32 levels deep; at most 100 operands
for ``IN``; ExpressionAttributeNames and ExpressionAttributeValues keys of at
most 255 bytes, and all names and values together at most 2 MB.

The checks on an expression run on its raw text, before lark sees it:
``check_expression_size`` first (constant time for ASCII text, so a 340 KB
expression is refused in microseconds), then ``check_expression_text``'s few
C-speed regular expression passes over at most 4 KB. Only the IN limit waits for
the parse (``parse``), as it needs to know which list belongs to IN. The operator
limit also bounds how deep a parsed tree can be (each AND, OR and NOT is one
operator, and so is each function that nests update operands), which is what
lets the modules after parsing recurse over trees without exhausting Python's
stack.

Every refusal is a ``ValidationException`` worded as DynamoDB words it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from grid._types import MAX_NESTING_DEPTH, attribute_size
from grid.errors import ValidationException

__all__ = [
    "MAX_EXPRESSION_BYTES",
    "MAX_IN_OPERANDS",
    "MAX_OPERATORS",
    "MAX_PATH_LEVELS",
    "MAX_PLACEHOLDER_BYTES",
    "MAX_SUBSTITUTION_BYTES",
    "check_expression_size",
    "check_expression_text",
    "check_placeholder_key",
    "check_substitution_size",
]

MAX_EXPRESSION_BYTES: Final = 4 * 1024
MAX_OPERATORS: Final = 300
MAX_IN_OPERANDS: Final = 100
# The same documented limit as an item's nesting depth: a path reaches at most as deep as an item can.
MAX_PATH_LEVELS: Final = MAX_NESTING_DEPTH
MAX_PLACEHOLDER_BYTES: Final = 255
MAX_SUBSTITUTION_BYTES: Final = 2 * 1024 * 1024

# What DynamoDB counts as an operator: comparators, AND, OR, NOT, IN, the functions,
# and + and - in updates. BETWEEN is not matched: its AND is, so ``a BETWEEN b AND c``
# counts once. Keywords are whole words outside #name and :value placeholders;
# function names are case-sensitive, and an unknown one (``f(``) is left to the
# parser, which names it ("Invalid function name") as DynamoDB does.
_OPERATOR = re.compile(
    r"<>|<=|>=|[=<>+-]"
    r"|(?<![#:\w])(?i:AND|OR|NOT|IN)\b"
    r"|(?<![#:\w])(?:attribute_exists|attribute_not_exists|attribute_type|begins_with|contains|size"
    r"|if_not_exists|list_append)(?=\s*\()"
)
# A document path of more than MAX_PATH_LEVELS elements (names joined by dots, [n]
# indexes). The lookbehind starts a match only where a path can start, which keeps
# the search linear.
_DEEP_PATH = re.compile(rf"(?<![#:\w])[#\w]+(?:\s*(?:\.\s*[#\w]+|\[\s*\w+\s*\])){{{MAX_PATH_LEVELS},}}")


def _utf8_size(text: str) -> int:
    if text.isascii():  # O(1) in CPython: no need to encode
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def check_expression_size(text: str, kind: str) -> None:
    """Refuse an expression over 4 KB (UTF-8 bytes); constant time for an ASCII text.

    ``kind`` names the request parameter (``ConditionExpression``, ...) in the
    message; ``"x" * 4097`` as a ProjectionExpression is refused with ``Invalid
    ProjectionExpression: Expression size has exceeded the maximum allowed size;
    expression size: 4097``.
    """
    # At most 4 bytes a character, so a short text needs no exact count.
    if len(text) * 4 > MAX_EXPRESSION_BYTES:
        size = _utf8_size(text)
        if size > MAX_EXPRESSION_BYTES:
            raise ValidationException(
                f"Invalid {kind}: Expression size has exceeded the maximum allowed size; expression size: {size}"
            )


def check_expression_text(text: str, kind: str) -> None:
    """Refuse an expression over DynamoDB's size, operator or path-depth limit.

    Linear in ``len(text)`` and cheap (a few passes of C-speed regular
    expressions): the size is checked first, so anything scanned further is at
    most 4 KB.
    """
    check_expression_size(text, kind)
    operators = _OPERATOR.findall(text)
    count = len(operators)
    if kind == "UpdateExpression":
        count -= operators.count("=")  # SET's = assigns; it is not an operator
    if count > MAX_OPERATORS:
        # DynamoDB stops counting at the first operator over the limit, so it always reports that one.
        raise ValidationException(
            f"Invalid {kind}: The expression contains too many operators; operator count: {MAX_OPERATORS + 1}"
        )
    if text.count(".") + text.count("[") >= MAX_PATH_LEVELS:  # cheap: most texts cannot hold a deep path
        deep = _DEEP_PATH.search(text)
        if deep is not None:
            levels = deep.group().count(".") + deep.group().count("[") + 1
            raise ValidationException(
                f"Invalid {kind}: The document path has too many nesting levels; nesting levels: {levels}"
            )


def check_placeholder_key(label: str, key: str) -> None:
    """Refuse an ExpressionAttributeNames or ExpressionAttributeValues key over 255 bytes.

    ``label`` is the map's name. DynamoDB gives the key's size for names only.
    """
    size = _utf8_size(key)
    if size <= MAX_PLACEHOLDER_BYTES:
        return
    suffix = f" size of key: {size}" if label == "ExpressionAttributeNames" else ""
    raise ValidationException(
        f"{label} contains invalid key: The expression attribute map contains a key that is too long;{suffix}"
    )


def check_substitution_size(names: Mapping[str, str], values: Mapping[str, Any]) -> None:
    """Refuse names and values (normalized) of more than 2 MB together.

    Keys and names count their UTF-8 bytes, values their size as an attribute
    (``grid._types.attribute_size``).
    """
    total = 0
    for placeholder, name in names.items():
        total += _utf8_size(placeholder) + _utf8_size(name)
    for placeholder, value in values.items():
        total += _utf8_size(placeholder) + attribute_size(value)
        if total > MAX_SUBSTITUTION_BYTES:
            break
    if total > MAX_SUBSTITUTION_BYTES:
        raise ValidationException(
            "Combined size of ExpressionAttributeNames and ExpressionAttributeValues exceeds max size"
        )

"""Request-level checks of parsed expressions, before anything is evaluated.

These need a request's ExpressionAttributeNames and ExpressionAttributeValues,
which parsing (cached by text alone) never sees. Each check raises
``grid.errors.ValidationException`` worded as DynamoDB words it, and returns
nothing when the request is sound.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from grid._expressions.ast import (
    AddAction,
    DeleteAction,
    Expression,
    Path,
    Update,
    iter_name_refs,
    iter_value_refs,
)
from grid._expressions.evaluate import resolve_path
from grid._types import type_name
from grid.errors import ValidationException

__all__ = ["check_action_operand", "check_placeholders", "check_projection", "check_update"]

# DynamoDB names operand types in words in these messages.
_TYPE_WORDS = {
    "S": "STRING",
    "N": "NUMBER",
    "B": "BINARY",
    "BOOL": "BOOLEAN",
    "NULL": "NULL",
    "L": "LIST",
    "M": "MAP",
    "SS": "STRING SET",
    "NS": "NUMBER SET",
    "BS": "BINARY SET",
}
_SETS = frozenset({"SS", "NS", "BS"})


def _kind_of(tree: Expression) -> str:
    if isinstance(tree, Update):
        return "UpdateExpression"
    if isinstance(tree, tuple):
        return "ProjectionExpression"
    return "ConditionExpression"


def check_placeholders(
    expressions: Mapping[str, Expression | None] | Iterable[Expression | None],
    names: Mapping[str, str] | None,
    values: Mapping[str, Any] | None,
) -> None:
    """Check one request's placeholders against its names and values.

    ``expressions`` holds every parsed expression of the request, best as a
    mapping from the request parameter to its tree (``{"ConditionExpression":
    cond, "UpdateExpression": upd}``), whose keys then prefix the messages; a
    plain iterable of trees is accepted too. ``None`` entries are ignored, and
    an empty ``names`` or ``values`` counts as not given. Every ``#name`` and
    ``:value`` used must be defined, and every one defined must be used by
    some expression of the request.
    """
    if isinstance(expressions, Mapping):
        pairs = list(expressions.items())
    else:
        pairs = [(_kind_of(tree), tree) for tree in expressions if tree is not None]
    given = [(kind, tree) for kind, tree in pairs if tree is not None]
    for label, mapping in (("ExpressionAttributeNames", names), ("ExpressionAttributeValues", values)):
        if mapping and not given:
            raise ValidationException(f"{label} can only be specified when using expressions")
    used_names: set[str] = set()
    used_values: set[str] = set()
    for kind, tree in given:
        for name in iter_name_refs(tree):
            if names is None or name not in names:
                raise ValidationException(
                    f"Invalid {kind}: An expression attribute name used in the document path "
                    f"is not defined; attribute name: {name}"
                )
            used_names.add(name)
        for value in iter_value_refs(tree):
            if values is None or value not in values:
                raise ValidationException(
                    f"Invalid {kind}: An expression attribute value used in expression "
                    f"is not defined; attribute value: {value}"
                )
            used_values.add(value)
    for label, mapping, used in (
        ("ExpressionAttributeNames", names, used_names),
        ("ExpressionAttributeValues", values, used_values),
    ):
        unused = sorted(set(mapping or ()) - used)
        if unused:
            raise ValidationException(f"Value provided in {label} unused in expressions: keys: {{{', '.join(unused)}}}")


def _render(resolved: tuple[str | int, ...]) -> str:
    return "[" + ", ".join(f"[{e}]" if isinstance(e, int) else e for e in resolved) + "]"


def _check_disjoint(kind: str, paths: Iterable[Path], names: Mapping[str, str] | None) -> None:
    """Refuse two paths where one is, or leads into, the other.

    Also refuses paths that treat one attribute as a map and as a list
    (``a.b`` with ``a[0]``): at most one of them can be valid for any item.
    """
    resolved = [resolve_path(path, names, kind) for path in paths]
    for i, first in enumerate(resolved):
        for second in resolved[i + 1 :]:
            for a, b in zip(first, second, strict=False):  # lengths may differ
                if a != b or type(a) is not type(b):
                    if isinstance(a, int) != isinstance(b, int):
                        raise ValidationException(
                            f"Invalid {kind}: Two document paths conflict with each other; must "
                            "remove or rewrite one of these paths; "
                            f"path one: {_render(first)}, path two: {_render(second)}"
                        )
                    break
            else:
                raise ValidationException(
                    f"Invalid {kind}: Two document paths overlap with each other; must remove "
                    "or rewrite one of these paths; "
                    f"path one: {_render(first)}, path two: {_render(second)}"
                )


def check_update(
    update: Update,
    names: Mapping[str, str] | None,
    values: Mapping[str, Any] | None = None,
) -> None:
    """Refuse overlapping action paths and ADD/DELETE operands of impossible types.

    ADD takes a number or a set, DELETE a set; with ``values`` given, their
    operands' types are known before any item is read.
    """
    _check_disjoint("UpdateExpression", (action.path for action in update.actions), names)
    if values is None:
        return
    for action in update.actions:
        if isinstance(action, (AddAction, DeleteAction)) and action.value.name in values:
            check_action_operand(action, values[action.value.name])


def check_action_operand(action: AddAction | DeleteAction, value: Any) -> None:
    """ADD takes a number or a set, DELETE a set; refuse any other operand."""
    operator = "ADD" if isinstance(action, AddAction) else "DELETE"
    allowed = _SETS | {"N"} if operator == "ADD" else _SETS
    kind = type_name(value)
    if kind not in allowed:
        raise ValidationException(
            "Invalid UpdateExpression: Incorrect operand type for operator or function; "
            f"operator: {operator}, operand type: {_TYPE_WORDS[kind]}"
        )


def check_projection(paths: Iterable[Path], names: Mapping[str, str] | None) -> None:
    """Refuse a ProjectionExpression whose paths overlap (``a`` with ``a.b``)."""
    _check_disjoint("ProjectionExpression", paths, names)

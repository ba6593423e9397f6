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


class _Node:
    """A trie node: the paths checked so far that share the prefix leading here.

    Each field holds the index of the earliest such path (indexes only grow, so
    the first one set is the smallest).
    """

    __slots__ = ("below_index", "below_key", "children", "ends", "first")

    def __init__(self, first: int | None = None) -> None:
        self.children: dict[str | int, _Node] = {}  # a map key "1" and a list index 1 are different steps
        self.first = first  # a path that ends here or goes on below
        self.ends: int | None = None  # a path that ends exactly here
        self.below_key: int | None = None  # a path that goes on with a map key
        self.below_index: int | None = None  # a path that goes on with a list index


def _earliest_clash(root: _Node, path: tuple[str | int, ...]) -> tuple[int, bool] | None:
    """The earliest path in the trie that clashes with ``path``, and whether they overlap.

    Overlap: one path is, or leads into, the other. Conflict: at the first step
    where they differ, one takes a map key and the other a list index. Paths
    that differ first in two map keys or two indexes are disjoint. Each earlier
    path falls in exactly one of these cases, at one node of the walk.
    """
    earliest: int | None = None
    overlap = False
    node = root
    for element in path:
        other_kind = node.below_key if isinstance(element, int) else node.below_index
        if other_kind is not None and (earliest is None or other_kind < earliest):
            earliest, overlap = other_kind, False
        child = node.children.get(element)
        if child is None:
            return None if earliest is None else (earliest, overlap)
        node = child
        # An earlier path that ends here is a prefix of this one.
        if node.ends is not None and (earliest is None or node.ends < earliest):
            earliest, overlap = node.ends, True
    # This path ends here: it is a prefix of (or equal to) every earlier path through this node.
    if node.first is not None and (earliest is None or node.first < earliest):
        earliest, overlap = node.first, True
    return None if earliest is None else (earliest, overlap)


def _insert(root: _Node, path: tuple[str | int, ...], index: int) -> None:
    node = root
    for element in path:
        if isinstance(element, int):
            node.below_index = index if node.below_index is None else node.below_index
        else:
            node.below_key = index if node.below_key is None else node.below_key
        child = node.children.get(element)
        if child is None:
            child = node.children[element] = _Node(index)
        node = child
    if node.ends is None:
        node.ends = index


def _check_disjoint(kind: str, paths: Iterable[Path], names: Mapping[str, str] | None) -> None:
    """Refuse two paths where one is, or leads into, the other.

    Also refuses paths that treat one attribute as a map and as a list
    (``a.b`` with ``a[0]``): at most one of them can be valid for any item.
    The message names the pair a comparison of every pair in written order
    would find first (the earliest first path, then its earliest partner),
    found in one pass over a trie of the paths: linear in their total length.
    """
    resolved = [resolve_path(path, names, kind) for path in paths]
    root = _Node()
    found: tuple[int, int, bool] | None = None  # (first path, second path, overlap)
    for second, path in enumerate(resolved):
        clash = _earliest_clash(root, path)
        if clash is not None and (found is None or clash[0] < found[0]):
            found = (clash[0], second, clash[1])
            if clash[0] == 0:
                break  # no pair can come before this one
        _insert(root, path, second)
    if found is None:
        return
    first, second, overlap = found
    problem = "overlap" if overlap else "conflict"
    raise ValidationException(
        f"Invalid {kind}: Two document paths {problem} with each other; must remove "
        "or rewrite one of these paths; "
        f"path one: {_render(resolved[first])}, path two: {_render(resolved[second])}"
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

"""Evaluate parsed conditions and projections against items. Pure functions.

Items are dicts of normalized native values (see ``grid._types``); ``names``
maps ``#n`` placeholders to attribute names and ``values`` maps ``:v``
placeholders to normalized values. Nothing here mutates its inputs.

DynamoDB's rules, which this module follows:

* A comparison whose operands are missing or of different types is false, not
  an error. The exception is ``<>``: it is true when either operand is missing
  (DynamoDB treats a missing attribute as unequal to everything, even to
  another missing attribute).
* ``< <= > >=`` and BETWEEN order only two strings, two numbers or two
  binaries (strings by code point, which is UTF-8 byte order; binaries as
  unsigned bytes).
* A constant from ExpressionAttributeValues whose type an operator can never
  accept (a list compared with ``<``) is the request's fault: ValidationException.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

from grid._expressions.ast import (
    And,
    Between,
    Compare,
    Condition,
    Function,
    In,
    Not,
    Operand,
    Or,
    Path,
    Size,
    ValueRef,
)
from grid._types import type_name
from grid.errors import ValidationException

__all__ = [
    "MISSING",
    "evaluate_condition",
    "get_path",
    "project",
    "resolve_path",
    "values_equal",
]


class _Missing:
    """The type of MISSING: what a path that leads nowhere evaluates to."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        # Unpickles as this module's MISSING, so ``is MISSING`` survives a trip through Ray.
        return "MISSING"


MISSING: Final = _Missing()

_ORDERED_TYPES = frozenset({"S", "N", "B"})
_SIZED_TYPES = frozenset({"S", "B", "SS", "NS", "BS", "L", "M"})
# DynamoDB lists the valid names in this order in its error message.
_TYPE_NAMES = ("B", "NULL", "SS", "BOOL", "L", "BS", "N", "NS", "S", "M")
_SET_ELEMENT_TYPE = {"SS": "S", "NS": "N", "BS": "B"}


def resolve_path(
    path: Path, names: Mapping[str, str] | None, kind: str = "ConditionExpression"
) -> tuple[str | int, ...]:
    """The path with ``#name`` placeholders replaced by attribute names.

    Raises ValidationException naming the first placeholder ``names`` lacks.
    """
    resolved: list[str | int] = []
    for element in path.elements:
        if isinstance(element, str) and element.startswith("#"):
            if names is None or element not in names:
                raise ValidationException(
                    f"Invalid {kind}: An expression attribute name used in the document path "
                    f"is not defined; attribute name: {element}"
                )
            resolved.append(names[element])
        else:
            resolved.append(element)
    return tuple(resolved)


def get_path(item: Mapping[str, Any], resolved: Iterable[str | int]) -> Any:
    """The value at a resolved path, or MISSING when any step is absent or of the wrong type."""
    current: Any = item
    for element in resolved:
        if isinstance(element, int):
            if not isinstance(current, list) or element >= len(current):
                return MISSING
        elif not isinstance(current, dict) or element not in current:
            return MISSING
        current = current[element]
    return current


def values_equal(left: Any, right: Any) -> bool:
    """DynamoDB equality: same type and same value, recursively.

    Python alone would call ``True == Decimal(1)`` equal; DynamoDB does not.
    """
    kind = type_name(left)
    if kind != type_name(right):
        return False
    if kind == "L":
        return len(left) == len(right) and all(values_equal(a, b) for a, b in zip(left, right, strict=True))
    if kind == "M":
        return left.keys() == right.keys() and all(values_equal(v, right[k]) for k, v in left.items())
    return bool(left == right)


def _render(value: Any) -> str:
    return f"{{{type_name(value)}:{value}}}"


class _Evaluator:
    """One condition's evaluation against one item."""

    def __init__(
        self,
        item: Mapping[str, Any],
        names: Mapping[str, str] | None,
        values: Mapping[str, Any] | None,
        kind: str,
    ) -> None:
        self.item = item
        self.names = names
        self.values = values or {}
        self.kind = kind

    def refuse(self, message: str) -> ValidationException:
        return ValidationException(f"Invalid {self.kind}: {message}")

    def operand(self, node: Operand) -> Any:
        if isinstance(node, ValueRef):
            if node.name not in self.values:
                raise self.refuse(
                    f"An expression attribute value used in expression is not defined; attribute value: {node.name}"
                )
            return self.values[node.name]
        if isinstance(node, Size):
            value = self.operand(node.path)
            if value is MISSING or type_name(value) not in _SIZED_TYPES:
                return MISSING
            return Decimal(len(value))
        return get_path(self.item, resolve_path(node, self.names, self.kind))

    def require_constant_type(self, node: Operand, value: Any, allowed: frozenset[str], op: str) -> None:
        """A constant of a type ``op`` never accepts is an error, not a false condition."""
        if isinstance(node, ValueRef) and type_name(value) not in allowed:
            raise self.refuse(
                "Incorrect operand type for operator or function; "
                f"operator or function: {op}, operand type: {type_name(value)}"
            )

    def condition(self, root: Condition) -> bool:
        """AND, OR and NOT walked with a stack of their own, not Python's, short-circuiting."""
        pending: list[And | Or | Not] = []  # the connectives above the node being evaluated
        node = root
        while True:
            while isinstance(node, (And, Or, Not)):
                pending.append(node)
                node = node.operand if isinstance(node, Not) else node.left
            result = self.primary(node)
            while pending:
                parent = pending.pop()
                if isinstance(parent, Not):
                    result = not result
                elif result == isinstance(parent, And):
                    # A true left side of AND, or a false one of OR: the right side decides.
                    node = parent.right
                    break
            else:
                return result

    def primary(self, node: Condition) -> bool:
        """A condition that is not AND, OR or NOT."""
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, Between):
            return self.between(node)
        if isinstance(node, In):
            return self.in_list(node)
        assert isinstance(node, Function)
        return self.function(node)

    def compare(self, node: Compare) -> bool:
        left, right = self.operand(node.left), self.operand(node.right)
        if node.op in ("=", "<>"):
            if left is MISSING or right is MISSING:
                return node.op == "<>"
            return values_equal(left, right) == (node.op == "=")
        for operand_node, value in ((node.left, left), (node.right, right)):
            if value is not MISSING:
                self.require_constant_type(operand_node, value, _ORDERED_TYPES, node.op)
        if not _ordered_pair(left, right):
            return False
        if node.op == "<":
            return bool(left < right)
        if node.op == "<=":
            return bool(left <= right)
        if node.op == ">":
            return bool(left > right)
        return bool(left >= right)

    def between(self, node: Between) -> bool:
        value, low, high = (self.operand(n) for n in (node.operand, node.low, node.high))
        for operand_node, operand in ((node.operand, value), (node.low, low), (node.high, high)):
            if operand is not MISSING:
                self.require_constant_type(operand_node, operand, _ORDERED_TYPES, "BETWEEN")
        if (
            isinstance(node.low, ValueRef)
            and isinstance(node.high, ValueRef)
            and _ordered_pair(low, high)
            and low > high
        ):
            raise self.refuse(
                "The BETWEEN operator requires upper bound to be greater than or equal to lower "
                f"bound; lower operand: AttributeValue: {_render(low)}, "
                f"upper operand: AttributeValue: {_render(high)}"
            )
        return _ordered_pair(value, low) and _ordered_pair(value, high) and bool(low <= value <= high)

    def in_list(self, node: In) -> bool:
        value = self.operand(node.operand)
        if value is MISSING:
            return False
        choices = (self.operand(choice) for choice in node.choices)
        return any(c is not MISSING and values_equal(value, c) for c in choices)

    def function(self, node: Function) -> bool:
        args = [self.operand(arg) for arg in node.args]
        if node.name == "attribute_exists":
            return args[0] is not MISSING
        if node.name == "attribute_not_exists":
            return args[0] is MISSING
        if node.name == "attribute_type":
            return self.attribute_type(node, args[0], args[1])
        if node.name == "begins_with":
            for arg_node, arg in zip(node.args, args, strict=True):
                if arg is not MISSING:
                    self.require_constant_type(arg_node, arg, frozenset({"S", "B"}), "begins_with")
            subject, prefix = args
            if subject is MISSING or prefix is MISSING or type_name(subject) != type_name(prefix):
                return False
            return type_name(subject) in ("S", "B") and bool(subject.startswith(prefix))
        return _contains(args[0], args[1])

    def attribute_type(self, node: Function, value: Any, wanted: Any) -> bool:
        if wanted is MISSING:
            return False
        self.require_constant_type(node.args[1], wanted, frozenset({"S"}), "attribute_type")
        if type_name(wanted) != "S" or wanted not in _TYPE_NAMES:
            if isinstance(node.args[1], ValueRef):
                raise self.refuse(
                    f"Invalid attribute type name found; type: {wanted}, valid types: {{{','.join(_TYPE_NAMES)}}};"
                )
            return False
        return value is not MISSING and type_name(value) == wanted


def _ordered_pair(left: Any, right: Any) -> bool:
    """Whether two operands can be ordered: both present, same type, S, N or B."""
    if left is MISSING or right is MISSING:
        return False
    kind = type_name(left)
    return kind in _ORDERED_TYPES and kind == type_name(right)


def _contains(subject: Any, operand: Any) -> bool:
    if subject is MISSING or operand is MISSING:
        return False
    kind = type_name(subject)
    if kind == "S":
        return type_name(operand) == "S" and operand in subject
    if kind in _SET_ELEMENT_TYPE:
        return _SET_ELEMENT_TYPE[kind] == type_name(operand) and operand in subject
    if kind == "L":
        return any(values_equal(element, operand) for element in subject)
    return False


def evaluate_condition(
    condition: Condition,
    item: Mapping[str, Any] | None,
    names: Mapping[str, str] | None,
    values: Mapping[str, Any] | None,
    kind: str = "ConditionExpression",
) -> bool:
    """Whether ``item`` satisfies ``condition``; an absent item is evaluated as ``{}``.

    Raises ValidationException for request errors found only now (an undefined
    placeholder, an invalid attribute_type name, a constant of an impossible
    type); ``kind`` names the request parameter in those messages.

    >>> from grid._expressions.parse import parse_condition
    >>> evaluate_condition(parse_condition("version = :v"), {"version": Decimal(2)}, None, {":v": Decimal(2)})
    True
    """
    return _Evaluator(item or {}, names, values, kind).condition(condition)


class _Whole:
    """A projected value taken whole, as opposed to a container still being assembled."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _ListPicks(dict[int, Any]):
    """Elements picked from a list by index; becomes a list in index order."""


def project(item: Mapping[str, Any], paths: Iterable[Path], names: Mapping[str, str] | None) -> dict[str, Any]:
    """ProjectionExpression semantics: a new item holding only the given paths.

    Nested paths keep their structure (``a.b`` gives ``{"a": {"b": ...}}``),
    list indexes pick elements (``l[2], l[0]`` gives ``{"l": [l0, l2]}``, in
    index order), missing paths are omitted. The result shares no mutable
    object with ``item``.
    """
    tree: dict[str, Any] = {}
    for path in paths:
        resolved = resolve_path(path, names, "ProjectionExpression")
        value = get_path(item, resolved)
        if value is not MISSING:
            _insert(tree, resolved, value)
    return {name: _assemble(node) for name, node in tree.items()}


def _insert(tree: dict[Any, Any], resolved: tuple[str | int, ...], value: Any) -> None:
    node: dict[Any, Any] = tree
    for element, following in itertools.pairwise(resolved):
        child = node.get(element)
        if isinstance(child, _Whole):
            return  # an enclosing path was projected whole already
        if child is None:
            child = _ListPicks() if isinstance(following, int) else {}
            node[element] = child
        node = child
    node[resolved[-1]] = _Whole(value)


def _assemble(node: Any) -> Any:
    # Recurses once per path level: at most 32, the limit parsing enforced.
    if isinstance(node, _Whole):
        return copy.deepcopy(node.value)
    if isinstance(node, _ListPicks):
        return [_assemble(node[index]) for index in sorted(node)]
    return {name: _assemble(child) for name, child in node.items()}

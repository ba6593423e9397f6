"""The expression trees: frozen, slotted, keyword-only dataclasses.

Parsing produces these and nothing else reads expression text, so a condition
built in Python (a future ``Key``/``Attr`` builder) and one parsed from a
string go through the same validator and evaluator.

A ``Path`` is a tuple of elements: a ``str`` is a map key, an ``int`` a list
index. A ``str`` starting with ``#`` is an ExpressionAttributeNames placeholder;
DynamoDB's syntax never lets ``#`` start a literal name, so the two cannot be
confused. Placeholders are resolved late (``evaluate.resolve_path``) because
the same parsed tree is shared, through the parse cache, by requests with
different ``names``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "Action",
    "AddAction",
    "And",
    "Between",
    "Compare",
    "Condition",
    "DeleteAction",
    "Expression",
    "Function",
    "IfNotExists",
    "In",
    "ListAppend",
    "Minus",
    "Not",
    "Operand",
    "Or",
    "Path",
    "Plus",
    "RemoveAction",
    "SetAction",
    "SetValue",
    "Size",
    "Update",
    "UpdateOperand",
    "ValueRef",
    "iter_name_refs",
    "iter_paths",
    "iter_value_refs",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Path:
    """A document path such as ``a.#b[2].c``: ``("a", "#b", 2, "c")``."""

    elements: tuple[str | int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ValueRef:
    """An ExpressionAttributeValues placeholder, ``:name`` (the colon included)."""

    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Size:
    """``size(path)``: an operand, the length of a string, binary, set, list or map."""

    path: Path


Operand = Path | ValueRef | Size


@dataclass(frozen=True, slots=True, kw_only=True)
class Compare:
    """``left op right`` with ``op`` one of ``= <> < <= > >=``."""

    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True, slots=True, kw_only=True)
class Between:
    """``operand BETWEEN low AND high`` (inclusive)."""

    operand: Operand
    low: Operand
    high: Operand


@dataclass(frozen=True, slots=True, kw_only=True)
class In:
    """``operand IN (choice, ...)``."""

    operand: Operand
    choices: tuple[Operand, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Function:
    """A boolean function: attribute_exists, attribute_not_exists, attribute_type,
    begins_with or contains. The first argument of the first three is a Path."""

    name: str
    args: tuple[Operand, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class And:
    left: Condition
    right: Condition


@dataclass(frozen=True, slots=True, kw_only=True)
class Or:
    left: Condition
    right: Condition


@dataclass(frozen=True, slots=True, kw_only=True)
class Not:
    operand: Condition


Condition = Compare | Between | In | Function | And | Or | Not


@dataclass(frozen=True, slots=True, kw_only=True)
class IfNotExists:
    """``if_not_exists(path, default)``: the path's old value, else ``default``."""

    path: Path
    default: UpdateOperand


@dataclass(frozen=True, slots=True, kw_only=True)
class ListAppend:
    """``list_append(first, second)``: the two lists concatenated."""

    first: UpdateOperand
    second: UpdateOperand


UpdateOperand = Path | ValueRef | IfNotExists | ListAppend


@dataclass(frozen=True, slots=True, kw_only=True)
class Plus:
    left: UpdateOperand
    right: UpdateOperand


@dataclass(frozen=True, slots=True, kw_only=True)
class Minus:
    left: UpdateOperand
    right: UpdateOperand


SetValue = UpdateOperand | Plus | Minus


@dataclass(frozen=True, slots=True, kw_only=True)
class SetAction:
    path: Path
    value: SetValue


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveAction:
    path: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class AddAction:
    path: Path
    value: ValueRef


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteAction:
    path: Path
    value: ValueRef


Action = SetAction | RemoveAction | AddAction | DeleteAction


@dataclass(frozen=True, slots=True, kw_only=True)
class Update:
    """An UpdateExpression's actions in written order (clauses may come in any order)."""

    actions: tuple[Action, ...]


# A parsed ProjectionExpression is a plain tuple of paths.
Expression = Condition | Update | tuple[Path, ...]


def _walk(node: object) -> Iterator[object]:
    """Every node of a tree in written order, its paths and :value placeholders as leaves.

    A stack, not recursion: a parsed tree is as deep as its 300 operators allow,
    one built by hand deeper. Runs for every request (placeholder checks), so it
    reads the fields straight from ``__dataclass_fields__``.
    """
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, tuple):
            stack.extend(reversed(current))
        elif not isinstance(current, (Path, ValueRef)):  # a path's elements are names and indexes
            names = getattr(current, "__dataclass_fields__", ())
            stack.extend(reversed([getattr(current, name) for name in names]))


def iter_paths(node: object) -> Iterator[Path]:
    """Every Path in a tree, in written order."""
    return (n for n in _walk(node) if isinstance(n, Path))


def iter_name_refs(node: object) -> Iterator[str]:
    """Every ``#name`` placeholder used in a tree."""
    for path in iter_paths(node):
        for element in path.elements:
            if isinstance(element, str) and element.startswith("#"):
                yield element


def iter_value_refs(node: object) -> Iterator[str]:
    """Every ``:value`` placeholder used in a tree."""
    return (n.name for n in _walk(node) if isinstance(n, ValueRef))

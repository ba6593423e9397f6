"""Apply a parsed UpdateExpression to an item, building a new item.

``apply_update`` never mutates its inputs: it works on a deep copy and returns
it, so an update that fails half-way has changed nothing, by construction.
Every operand is read from the item as it was before the update (DynamoDB's
rule), so the order of actions within the expression does not change what
values are written.
"""

from __future__ import annotations

import copy
import decimal
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from grid._expressions.ast import (
    AddAction,
    DeleteAction,
    IfNotExists,
    ListAppend,
    Minus,
    Plus,
    RemoveAction,
    SetAction,
    SetValue,
    Update,
    ValueRef,
)
from grid._expressions.evaluate import MISSING, get_path, resolve_path
from grid._expressions.validate import check_action_operand
from grid._types import MAX_NESTING_DEPTH, to_number, type_name
from grid.errors import ValidationException

__all__ = ["UpdateOutcome", "apply_update"]

_KIND = "UpdateExpression"
_SETS = frozenset({"SS", "NS", "BS"})
# Exact arithmetic over DynamoDB's whole range (exponents -130..125, 38 digits)
# before to_number decides whether the result is storable.
_EXACT = decimal.Context(prec=400, Emin=-999, Emax=999, traps=[decimal.InvalidOperation])


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateOutcome:
    """The item after an update and the top-level attributes the update touched.

    ``updated`` serves ReturnValues UPDATED_OLD/UPDATED_NEW: take those names
    from the old or the new item (an attribute may be absent from either).
    """

    item: dict[str, Any]
    updated: frozenset[str]


def _invalid_path() -> ValidationException:
    return ValidationException("The document path provided in the update expression is invalid for update")


def _wrong_type() -> ValidationException:
    return ValidationException("An operand in the update expression has an incorrect data type")


def _operand_type_error(operator: str, value: Any) -> ValidationException:
    return ValidationException(
        f"Invalid {_KIND}: Incorrect operand type for operator or function; "
        f"operator or function: {operator}, operand type: {type_name(value)}"
    )


class _Applier:
    def __init__(
        self,
        old: Mapping[str, Any],
        names: Mapping[str, str] | None,
        values: Mapping[str, Any] | None,
    ) -> None:
        self.old = old
        self.names = names
        self.values = values or {}

    def resolve(self, path: Any) -> tuple[str | int, ...]:
        return resolve_path(path, self.names, _KIND)

    def value(self, ref: ValueRef) -> Any:
        if ref.name not in self.values:
            raise ValidationException(
                f"Invalid {_KIND}: An expression attribute value used in expression is not "
                f"defined; attribute value: {ref.name}"
            )
        return self.values[ref.name]

    def operand(self, node: SetValue) -> Any:
        """The value a SET right-hand side stands for, read from the old item.

        Recurses once per nested if_not_exists or list_append; each counts
        against the 300-operator limit, which parsing enforced.
        """
        if isinstance(node, ValueRef):
            return self.value(node)
        if isinstance(node, IfNotExists):
            existing = get_path(self.old, self.resolve(node.path))
            return self.operand(node.default) if existing is MISSING else existing
        if isinstance(node, ListAppend):
            first, second = self.operand(node.first), self.operand(node.second)
            for part in (first, second):
                if type_name(part) != "L":
                    raise _operand_type_error("list_append", part)
            return [*first, *second]
        if isinstance(node, (Plus, Minus)):
            return self.arithmetic(node)
        found = get_path(self.old, self.resolve(node))
        if found is MISSING:
            raise ValidationException("The provided expression refers to an attribute that does not exist in the item")
        return found

    def arithmetic(self, node: Plus | Minus) -> Decimal:
        operator = "+" if isinstance(node, Plus) else "-"
        left, right = self.operand(node.left), self.operand(node.right)
        for part in (left, right):
            if type_name(part) != "N":
                raise _operand_type_error(operator, part)
        result = _EXACT.add(left, right) if operator == "+" else _EXACT.subtract(left, right)
        return to_number(result)


def _container(item: dict[str, Any], resolved: tuple[str | int, ...]) -> Any:
    """The map or list that holds the path's last element; it must exist and fit."""
    parent = get_path(item, resolved[:-1])
    last = resolved[-1]
    if isinstance(last, int) and isinstance(parent, list):
        return parent
    if isinstance(last, str) and isinstance(parent, dict):
        return parent
    raise _invalid_path()


def _too_deep(resolved: tuple[str | int, ...], value: Any) -> bool:
    """Whether ``value`` at ``resolved`` would nest maps and lists beyond DynamoDB's 32 levels.

    A top-level attribute's value is at level 1 and a map or list may sit at most
    at level 31, as ``grid._types.normalize_value`` counts for a put. Keeping every
    stored item within that bound is what keeps the walks over items (copies,
    comparisons, sizes) shallow: without it, updates that copy an attribute into
    itself could deepen an item without end. Walked with a stack, stopping early.
    """
    stack = [(value, len(resolved))]
    while stack:
        current, level = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if level >= MAX_NESTING_DEPTH:
            return True
        stack.extend((child, level + 1) for child in children)
    return False


def _set(item: dict[str, Any], resolved: tuple[str | int, ...], value: Any) -> None:
    parent = _container(item, resolved)
    if _too_deep(resolved, value):
        raise ValidationException("Nesting Levels have exceeded supported limits")
    value = copy.deepcopy(value)
    last = resolved[-1]
    if isinstance(parent, list) and isinstance(last, int) and last >= len(parent):
        parent.append(value)  # DynamoDB appends past the end rather than padding
    else:
        parent[last] = value


def _add(current: Any, operand: Any) -> Any:
    if current is MISSING:
        return operand
    kind = type_name(current)
    if kind == "N" and type_name(operand) == "N":
        return to_number(_EXACT.add(current, operand))
    if kind in _SETS and kind == type_name(operand):
        return current | operand
    raise _wrong_type()


def _delete(current: Any, operand: Any) -> Any:
    if current is MISSING:
        return MISSING
    if type_name(current) not in _SETS or type_name(current) != type_name(operand):
        raise _wrong_type()
    remaining = current - operand
    return remaining or MISSING  # DynamoDB has no empty sets: the attribute goes away


def _remove_all(item: dict[str, Any], targets: list[tuple[str | int, ...]]) -> None:
    """Remove every target, locating all of them before removing any.

    List elements are removed from the highest index down, so each index
    means what it meant in the item before the update.
    """
    located = [(_container(item, resolved), resolved[-1]) for resolved in targets]
    lists: dict[int, list[Any]] = {}
    indexes: dict[int, set[int]] = defaultdict(set)
    for parent, last in located:
        if isinstance(parent, list) and isinstance(last, int):
            lists[id(parent)] = parent
            indexes[id(parent)].add(last)
        else:
            parent.pop(last, None)
    for key, target in lists.items():
        for index in sorted(indexes[key], reverse=True):
            if index < len(target):
                del target[index]


def _past_old_end(old: Mapping[str, Any], resolved: tuple[str | int, ...]) -> bool:
    """A list index beyond the end the list had before the update."""
    last = resolved[-1]
    if not isinstance(last, int):
        return False
    parent = get_path(old, resolved[:-1])
    return isinstance(parent, list) and last >= len(parent)


def apply_update(
    update: Update,
    item: Mapping[str, Any] | None,
    names: Mapping[str, str] | None,
    values: Mapping[str, Any] | None,
) -> UpdateOutcome:
    """Return the item ``update`` makes of ``item`` (``None`` or ``{}`` for a new item).

    Actions apply as SET, then REMOVE, then ADD, then DELETE, each group in
    written order; every operand reads the old item. Raises
    ValidationException for type errors, undefined placeholders, paths that
    cannot be written, and numbers beyond 38 digits; ``item`` is then untouched.

    >>> from grid._expressions.parse import parse_update
    >>> apply_update(parse_update("ADD hits :one"), {"hits": Decimal(1)}, None, {":one": Decimal(1)}).item
    {'hits': Decimal('2')}
    """
    old: Mapping[str, Any] = item or {}
    applier = _Applier(old, names, values)
    new: dict[str, Any] = copy.deepcopy(dict(old))
    updated: set[str] = set()
    # Compute every SET value first: they all read the old item.
    sets = [(applier.resolve(a.path), applier.operand(a.value)) for a in update.actions if isinstance(a, SetAction)]
    for resolved, value in sets:
        _set(new, resolved, value)
        updated.add(str(resolved[0]))
    removals = [applier.resolve(a.path) for a in update.actions if isinstance(a, RemoveAction)]
    # REMOVE names what the old item holds: an index past the old end of a list must not
    # take an element that a SET of this update just appended.
    _remove_all(new, [resolved for resolved in removals if not _past_old_end(old, resolved)])
    updated.update(str(resolved[0]) for resolved in removals)
    for action in update.actions:
        if not isinstance(action, (AddAction, DeleteAction)):
            continue
        resolved = applier.resolve(action.path)
        operand = applier.value(action.value)
        check_action_operand(action, operand)
        parent = _container(new, resolved)
        last = resolved[-1]
        current = get_path(new, resolved)
        result = _add(current, operand) if isinstance(action, AddAction) else _delete(current, operand)
        if result is MISSING:
            if current is not MISSING:
                del parent[last]
        elif isinstance(parent, list) and isinstance(last, int) and last >= len(parent):
            parent.append(copy.deepcopy(result))
        else:
            parent[last] = copy.deepcopy(result)
        updated.add(str(resolved[0]))
    return UpdateOutcome(item=new, updated=frozenset(updated))

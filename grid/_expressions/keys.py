"""Read a KeyConditionExpression as the key lookup a Query performs.

A KeyConditionExpression is parsed with the condition grammar and then held
to Query's shape: equality on the partition (hash) key, optionally AND one
condition on the sort (range) key. ``key_condition_parts`` returns that shape
with the placeholders' values filled in, so partitions can route and scan
without evaluating a general condition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grid._expressions.ast import And, Between, Compare, Condition, Function, In, Not, Or, Path, ValueRef
from grid._expressions.evaluate import _ordered_pair, resolve_path
from grid._types import type_name
from grid.errors import ValidationException

__all__ = ["KeyCondition", "RangeCondition", "key_condition_parts"]

_KIND = "KeyConditionExpression"
_RANGE_OPS = frozenset({"=", "<", "<=", ">", ">="})
# ``:v < sk`` reads as ``sk > :v``.
_MIRRORED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass(frozen=True, slots=True, kw_only=True)
class RangeCondition:
    """The sort-key condition: ``op`` is one of ``= < <= > >= between begins_with``;
    ``values`` holds one value, or two (low, high) for ``between``."""

    op: str
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyCondition:
    hash_value: Any
    range: RangeCondition | None


def _not_supported() -> ValidationException:
    return ValidationException("Query key condition not supported")


def _conjuncts(condition: Condition) -> list[Condition]:
    """The conditions ANDed together, in written order (a stack, not recursion)."""
    found: list[Condition] = []
    stack = [condition]
    while stack:
        node = stack.pop()
        if isinstance(node, And):
            stack.extend((node.right, node.left))
        else:
            found.append(node)
    return found


class _Reader:
    def __init__(self, names: Mapping[str, str] | None, values: Mapping[str, Any] | None) -> None:
        self.names = names
        self.values = values or {}

    def key_name(self, node: Any) -> str:
        """The attribute a key condition constrains: a top-level path, nothing nested."""
        if not isinstance(node, Path):
            raise _not_supported()
        resolved = resolve_path(node, self.names, _KIND)
        if len(resolved) != 1:
            raise _not_supported()
        return str(resolved[0])

    def value(self, node: Any) -> Any:
        if not isinstance(node, ValueRef):
            raise _not_supported()
        if node.name not in self.values:
            raise ValidationException(
                f"Invalid {_KIND}: An expression attribute value used in expression is not "
                f"defined; attribute value: {node.name}"
            )
        value = self.values[node.name]
        if type_name(value) not in ("S", "N", "B"):
            raise ValidationException(
                "One or more parameter values were invalid: Condition parameter type does not match schema type"
            )
        return value

    def part(self, node: Condition) -> tuple[str, RangeCondition]:
        """One conjunct as (key attribute name, its condition)."""
        if isinstance(node, (Or, Not, In)) or (isinstance(node, Compare) and node.op == "<>"):
            operator = {Or: "OR", Not: "NOT", In: "IN"}.get(type(node), "<>")
            raise ValidationException(f"Invalid {_KIND}: Invalid operator used in KeyConditionExpression: {operator}")
        if isinstance(node, Compare):
            if isinstance(node.left, Path):
                return self.key_name(node.left), RangeCondition(op=node.op, values=(self.value(node.right),))
            name = self.key_name(node.right)
            return name, RangeCondition(op=_MIRRORED[node.op], values=(self.value(node.left),))
        if isinstance(node, Between):
            low, high = self.value(node.low), self.value(node.high)
            if _ordered_pair(low, high) and low > high:
                raise ValidationException(
                    f"Invalid {_KIND}: The BETWEEN operator requires upper bound to be greater "
                    f"than or equal to lower bound; lower operand: AttributeValue: "
                    f"{{{type_name(low)}:{low}}}, upper operand: AttributeValue: "
                    f"{{{type_name(high)}:{high}}}"
                )
            return self.key_name(node.operand), RangeCondition(op="between", values=(low, high))
        assert isinstance(node, Function)
        if node.name != "begins_with":
            raise ValidationException(f"Invalid {_KIND}: Invalid operator used in KeyConditionExpression: {node.name}")
        prefix = self.value(node.args[1])
        if type_name(prefix) not in ("S", "B"):
            raise ValidationException(
                f"Invalid {_KIND}: Incorrect operand type for operator or function; "
                f"operator or function: begins_with, operand type: {type_name(prefix)}"
            )
        return self.key_name(node.args[0]), RangeCondition(op="begins_with", values=(prefix,))


def key_condition_parts(
    condition: Condition,
    names: Mapping[str, str] | None,
    values: Mapping[str, Any] | None,
    hash_key: str,
    range_key: str | None,
) -> KeyCondition:
    """Split a parsed KeyConditionExpression into the hash value and the range condition.

    Raises ValidationException unless the condition is ``hash = :v``, optionally
    ANDed (in either order) with one condition on ``range_key``.

    >>> from grid._expressions.parse import parse_condition
    >>> key_condition_parts(parse_condition("pk = :p"), None, {":p": "a"}, "pk", None)
    KeyCondition(hash_value='a', range=None)
    """
    reader = _Reader(names, values)
    found: dict[str, RangeCondition] = {}
    for conjunct in _conjuncts(condition):
        name, part = reader.part(conjunct)
        if name in found:
            raise ValidationException("KeyConditionExpressions must only contain one condition per key")
        found[name] = part
    if hash_key not in found:
        raise ValidationException(f"Query condition missed key schema element: {hash_key}")
    hash_part = found.pop(hash_key)
    if hash_part.op != "=":
        raise _not_supported()
    if set(found) - {range_key}:
        raise _not_supported()
    range_part = found.get(range_key) if range_key is not None else None
    if range_part is not None and range_part.op not in _RANGE_OPS | {"between", "begins_with"}:
        raise _not_supported()
    return KeyCondition(hash_value=hash_part.values[0], range=range_part)

"""boto3's condition builder: ``Key("customer_id").eq(7) & Attr("version").lt(3)``.

Accepted wherever an expression string is (``KeyConditionExpression``,
``ConditionExpression``, ``FilterExpression``). A built condition renders to
expression text with generated ``#n``/``:v`` placeholders, exactly as boto3 does,
and that text goes through the one parser and evaluator: there is no second
evaluation path. Names with dots and ``[n]`` are document paths, as in boto3.
Rendering walks the condition with a stack of its own, so a condition combined
thousands deep renders (and is then refused for its size, as DynamoDB refuses
any expression over 4 KB) rather than exhausting Python's stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Attr", "ConditionBase", "Key", "render_condition"]

_INDEX = re.compile(r"\[(\d+)\]")


class ConditionBase:
    """A built condition; combine with ``&``, ``|`` and ``~``."""

    def __and__(self, other: ConditionBase) -> ConditionBase:
        return _Junction("AND", self, _checked(other))

    def __or__(self, other: ConditionBase) -> ConditionBase:
        return _Junction("OR", self, _checked(other))

    def __invert__(self) -> ConditionBase:
        return _Negation(self)

    def render(self, placeholders: _Placeholders) -> str:
        """This condition's text, its placeholders allocated in written order."""
        out: list[str] = []
        stack: list[str | ConditionBase] = [self]
        while stack:
            piece = stack.pop()
            if isinstance(piece, str):
                out.append(piece)
                continue
            parts = piece._parts()
            if parts is None:
                out.append(piece._text(placeholders))
            else:
                stack.extend(reversed(parts))
        return "".join(out)

    def _parts(self) -> tuple[str | ConditionBase, ...] | None:
        """The text and conditions a combined condition (``&``, ``|``, ``~``) is made of; None for others."""
        return None

    def _text(self, placeholders: _Placeholders) -> str:
        """The text of a condition that holds no other condition."""
        raise NotImplementedError


def _checked(other: Any) -> ConditionBase:
    if not isinstance(other, ConditionBase):
        raise TypeError(f"cannot combine a condition with {type(other).__name__}")
    return other


@dataclass(frozen=True)
class _Junction(ConditionBase):
    operator: str
    left: ConditionBase
    right: ConditionBase

    def _parts(self) -> tuple[str | ConditionBase, ...]:
        return "(", self.left, f" {self.operator} ", self.right, ")"


@dataclass(frozen=True)
class _Negation(ConditionBase):
    operand: ConditionBase

    def _parts(self) -> tuple[str | ConditionBase, ...]:
        return "(NOT ", self.operand, ")"


@dataclass(frozen=True)
class _Comparison(ConditionBase):
    operator: str
    left: Any
    right: Any

    def _text(self, placeholders: _Placeholders) -> str:
        return f"{placeholders.operand(self.left)} {self.operator} {placeholders.operand(self.right)}"


@dataclass(frozen=True)
class _Between(ConditionBase):
    subject: Any
    low: Any
    high: Any

    def _text(self, placeholders: _Placeholders) -> str:
        return (
            f"{placeholders.operand(self.subject)} BETWEEN "
            f"{placeholders.operand(self.low)} AND {placeholders.operand(self.high)}"
        )


@dataclass(frozen=True)
class _In(ConditionBase):
    subject: Any
    choices: tuple[Any, ...]

    def _text(self, placeholders: _Placeholders) -> str:
        choices = ", ".join(placeholders.operand(c) for c in self.choices)
        return f"{placeholders.operand(self.subject)} IN ({choices})"


@dataclass(frozen=True)
class _Function(ConditionBase):
    name: str
    arguments: tuple[Any, ...]

    def _text(self, placeholders: _Placeholders) -> str:
        return f"{self.name}({', '.join(placeholders.operand(a) for a in self.arguments)})"


class _Operand:
    """Something that compares: an attribute path or ``size(path)``."""

    def eq(self, value: Any) -> ConditionBase:
        return _Comparison("=", self, value)

    def lt(self, value: Any) -> ConditionBase:
        return _Comparison("<", self, value)

    def lte(self, value: Any) -> ConditionBase:
        return _Comparison("<=", self, value)

    def gt(self, value: Any) -> ConditionBase:
        return _Comparison(">", self, value)

    def gte(self, value: Any) -> ConditionBase:
        return _Comparison(">=", self, value)

    def between(self, low: Any, high: Any) -> ConditionBase:
        return _Between(self, low, high)


class Key(_Operand):
    """A key attribute, for ``KeyConditionExpression``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def begins_with(self, prefix: Any) -> ConditionBase:
        return _Function("begins_with", (self, prefix))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.name == self.name  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.name))


class Attr(Key):
    """Any attribute (a document path), for ``ConditionExpression`` and ``FilterExpression``."""

    def ne(self, value: Any) -> ConditionBase:
        return _Comparison("<>", self, value)

    def is_in(self, values: list[Any]) -> ConditionBase:
        return _In(self, tuple(values))

    def exists(self) -> ConditionBase:
        return _Function("attribute_exists", (self,))

    def not_exists(self) -> ConditionBase:
        return _Function("attribute_not_exists", (self,))

    def contains(self, value: Any) -> ConditionBase:
        return _Function("contains", (self, value))

    def size(self) -> _Size:
        return _Size(self)

    def attribute_type(self, value: str) -> ConditionBase:
        return _Function("attribute_type", (self, value))


class _Size(_Operand):
    def __init__(self, path: Attr) -> None:
        self.path = path


class _Placeholders:
    """Allocates ``#n``/``:v`` placeholders that do not collide with the caller's own."""

    def __init__(self, names: dict[str, str], values: dict[str, Any]) -> None:
        self.names = names
        self.values = values
        self._name_for: dict[str, str] = {v: k for k, v in names.items() if k.startswith("#gn")}

    def operand(self, operand: Any) -> str:
        if isinstance(operand, _Size):
            return f"size({self.path(operand.path.name)})"
        if isinstance(operand, Key):
            return self.path(operand.name)
        placeholder = self._fresh(self.values, ":gv")
        self.values[placeholder] = operand
        return placeholder

    def path(self, dotted: str) -> str:
        parts = []
        for segment in dotted.split("."):
            name, indexes = _split_indexes(segment)
            parts.append(self._name(name) + "".join(f"[{i}]" for i in indexes))
        return ".".join(parts)

    def _name(self, name: str) -> str:
        if name not in self._name_for:
            placeholder = self._fresh(self.names, "#gn")
            self.names[placeholder] = name
            self._name_for[name] = placeholder
        return self._name_for[name]

    @staticmethod
    def _fresh(taken: dict[str, Any], prefix: str) -> str:
        number = len(taken)
        while f"{prefix}{number}" in taken:
            number += 1
        return f"{prefix}{number}"


def _split_indexes(segment: str) -> tuple[str, list[int]]:
    first = segment.find("[")
    if first < 0:
        return segment, []
    return segment[:first], [int(i) for i in _INDEX.findall(segment[first:])]


def render_condition(condition: ConditionBase, names: dict[str, str], values: dict[str, Any]) -> str:
    """Expression text for ``condition``; adds its placeholders to ``names`` and ``values``."""
    return condition.render(_Placeholders(names, values))

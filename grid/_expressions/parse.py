"""Parse expression text into the trees of ``grid._expressions.ast``.

``parse_condition``, ``parse_update`` and ``parse_projection`` are pure and
cached by their arguments: a hot loop that repeats one expression string
parses it once (each cache is bounded by count and by its texts' length). The
trees are frozen, so sharing them between requests is safe.

Everything that can be checked from the text alone is checked here (DynamoDB's
limits on size, operators and path depth, before lark sees the text; then syntax,
reserved words, function names, arities and positions, repeated update sections,
the IN operand limit); checks that need ExpressionAttributeNames or
ExpressionAttributeValues live in ``validate``. Every failure raises
``grid.errors.ValidationException`` worded as DynamoDB words it, prefixed by
the expression's kind, e.g. ``Invalid UpdateExpression: Syntax error; token:
"3", near: "= 3"``.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any, Generic, TypeVar

import lark
from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from grid._expressions.ast import (
    Action,
    AddAction,
    And,
    Between,
    Compare,
    Condition,
    DeleteAction,
    Function,
    IfNotExists,
    In,
    ListAppend,
    Minus,
    Not,
    Operand,
    Or,
    Path,
    Plus,
    RemoveAction,
    SetAction,
    SetValue,
    Size,
    Update,
    UpdateOperand,
    ValueRef,
)
from grid._expressions.limits import MAX_IN_OPERANDS, check_expression_text
from grid.errors import ValidationException

__all__ = ["is_reserved_word", "parse_condition", "parse_projection", "parse_update"]

_CACHE_SIZE = 4096
_CACHE_TEXT_LENGTH = 512 * 1024  # characters: at most about 32 MB of trees for each kind of expression

_HERE = FilePath(__file__).parent

# Functions that are conditions by themselves, with their operand counts.
_CONDITION_FUNCTIONS = {
    "attribute_exists": 1,
    "attribute_not_exists": 1,
    "attribute_type": 2,
    "begins_with": 2,
    "contains": 2,
}
# Functions whose first operand must be a document path.
_PATH_FIRST = {"attribute_exists", "attribute_not_exists", "attribute_type", "size", "if_not_exists"}
_UPDATE_FUNCTIONS = {"if_not_exists": 2, "list_append": 2}
_ARITY = {**_CONDITION_FUNCTIONS, **_UPDATE_FUNCTIONS, "size": 1}

# Splits text into rough tokens, only to quote the "near" context of a syntax error.
_ROUGH_TOKEN = re.compile(r"[#:]?\w+|<>|<=|>=|\S")


@functools.cache
def _parser() -> lark.Lark:
    grammar = (_HERE / "grammar.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", start=["condition", "update", "projection"])


@functools.cache
def _reserved_words() -> frozenset[str]:
    text = (_HERE / "reserved_words.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().upper() for line in text.splitlines() if line.strip())


def is_reserved_word(name: str) -> bool:
    """Whether DynamoDB refuses ``name`` as a bare attribute name (case-insensitive)."""
    return name.upper() in _reserved_words()


class _RefusedError(Exception):
    """A semantic error found while building the tree; the kind prefix is added later."""


@dataclass(frozen=True, slots=True)
class _Call:
    """A function call before its context (condition, operand, update) is known."""

    name: str
    args: tuple[Any, ...]


def _not_allowed(name: str) -> _RefusedError:
    return _RefusedError(f"The function is not allowed to be used this way in an expression; function: {name}")


def _check_call(call: _Call) -> None:
    if call.name not in _ARITY:
        raise _RefusedError(f"Invalid function name; function: {call.name}")
    if len(call.args) != _ARITY[call.name]:
        raise _RefusedError(
            "Incorrect number of operands for operator or function; "
            f"operator or function: {call.name}, number of operands: {len(call.args)}"
        )
    if call.name in _PATH_FIRST and not isinstance(call.args[0], Path):
        raise _RefusedError(f"Operator or function requires a document path; operator or function: {call.name}")


def _operand(node: Any) -> Operand:
    """An operand of a comparison or function inside a condition."""
    if isinstance(node, _Call):
        _check_call(node)
        if node.name != "size":
            raise _not_allowed(node.name)
        return Size(path=node.args[0])
    assert isinstance(node, (Path, ValueRef))
    return node


def _update_operand(node: Any) -> UpdateOperand:
    """An operand on the right of ``SET path =``.

    Recurses once per nested if_not_exists or list_append: each is an operator,
    so ``check_expression_text`` has bounded the depth to 300.
    """
    if not isinstance(node, _Call):
        assert isinstance(node, (Path, ValueRef))
        return node
    _check_call(node)
    if node.name == "if_not_exists":
        return IfNotExists(path=node.args[0], default=_update_operand(node.args[1]))
    if node.name == "list_append":
        return ListAppend(first=_update_operand(node.args[0]), second=_update_operand(node.args[1]))
    raise _RefusedError(f"The function is not allowed in an update expression; function: {node.name}")


_T = TypeVar("_T")


class _TreeBuilder:
    """Turns lark's parse tree into ast nodes, refusing what the grammar lets through.

    One method per grammar rule, called by ``_build`` with the rule's children
    already built.
    """

    # ---- shared
    def path(self, children: Sequence[Any]) -> Path:
        elements: list[str | int] = []
        for child in children:
            if isinstance(child, int):
                elements.append(child)
            elif child.type == "NAME" and is_reserved_word(child.value):
                raise _RefusedError(f"Attribute name is a reserved keyword; reserved keyword: {child.value}")
            else:
                elements.append(str(child.value))
        return Path(elements=tuple(elements))

    def index(self, children: Sequence[Token]) -> int:
        return int(children[0].value)

    def value(self, children: Sequence[Token]) -> ValueRef:
        return ValueRef(name=str(children[0].value))

    def call(self, children: Sequence[Any]) -> _Call:
        name, *args = children
        # An empty argument list arrives as a single None placeholder.
        return _Call(name=str(name.value), args=tuple(a for a in args if a is not None))

    # ---- conditions
    def condition(self, children: Sequence[Condition]) -> Condition:
        return children[0]

    def comparator(self, children: Sequence[Token]) -> str:
        return str(children[0].value)

    def compare(self, children: Sequence[Any]) -> Compare:
        left, op, right = children
        return Compare(op=op, left=_operand(left), right=_operand(right))

    def between(self, children: Sequence[Any]) -> Between:
        operand, _between, low, _and, high = children
        return Between(operand=_operand(operand), low=_operand(low), high=_operand(high))

    def in_list(self, children: Sequence[Any]) -> In:
        operand, _in, *choices = children
        if len(choices) > MAX_IN_OPERANDS:
            raise _RefusedError(
                f"The IN operator is provided with too many operands; number of operands: {len(choices)}"
            )
        return In(operand=_operand(operand), choices=tuple(_operand(c) for c in choices))

    def call_condition(self, children: Sequence[_Call]) -> Function:
        call = children[0]
        _check_call(call)
        if call.name not in _CONDITION_FUNCTIONS:
            raise _not_allowed(call.name)
        return Function(name=call.name, args=tuple(_operand(a) for a in call.args))

    def and_cond(self, children: Sequence[Any]) -> And:
        return And(left=children[0], right=children[2])

    def or_cond(self, children: Sequence[Any]) -> Or:
        return Or(left=children[0], right=children[2])

    def not_cond(self, children: Sequence[Any]) -> Not:
        return Not(operand=children[1])

    # ---- updates
    def update(self, clauses: Sequence[tuple[str, list[Action]]]) -> Update:
        seen: set[str] = set()
        actions: list[Action] = []
        for section, section_actions in clauses:
            if section in seen:
                raise _RefusedError(f'The "{section}" section can only be used once in an update expression;')
            seen.add(section)
            actions.extend(section_actions)
        return Update(actions=tuple(actions))

    def set_clause(self, children: Sequence[Any]) -> tuple[str, list[Action]]:
        return "SET", list(children[1:])

    def remove_clause(self, children: Sequence[Any]) -> tuple[str, list[Action]]:
        return "REMOVE", [RemoveAction(path=p) for p in children[1:]]

    def add_clause(self, children: Sequence[Any]) -> tuple[str, list[Action]]:
        return "ADD", list(children[1:])

    def delete_clause(self, children: Sequence[Any]) -> tuple[str, list[Action]]:
        return "DELETE", list(children[1:])

    def set_action(self, children: Sequence[Any]) -> SetAction:
        path, value = children
        set_value: SetValue = value if isinstance(value, (Plus, Minus)) else _update_operand(value)
        return SetAction(path=path, value=set_value)

    def plus(self, children: Sequence[Any]) -> Plus:
        return Plus(left=_update_operand(children[0]), right=_update_operand(children[1]))

    def minus(self, children: Sequence[Any]) -> Minus:
        return Minus(left=_update_operand(children[0]), right=_update_operand(children[1]))

    def add_action(self, children: Sequence[Any]) -> AddAction:
        return AddAction(path=children[0], value=children[1])

    def delete_action(self, children: Sequence[Any]) -> DeleteAction:
        return DeleteAction(path=children[0], value=children[1])

    # ---- projections
    def projection(self, children: Sequence[Path]) -> tuple[Path, ...]:
        return tuple(children)


def _build(tree: Tree[Token]) -> Any:
    """Build ``tree`` bottom-up with ``_TreeBuilder``, without recursion.

    lark's own Transformer recurses once per tree level, and calls such as
    ``f(f(f(...)))`` nest as deep as 4 KB allows (unknown functions are no
    operators, so the operator limit does not bound them).
    """
    builder = _TreeBuilder()
    # Each frame: a tree, the iterator over its children, and its children built so far.
    stack: list[tuple[Tree[Token], Iterator[Any], list[Any]]] = [(tree, iter(tree.children), [])]
    while True:
        current, pending, built = stack[-1]
        for child in pending:
            if isinstance(child, Tree):
                stack.append((child, iter(child.children), []))
                break
            built.append(child)
        else:
            stack.pop()
            result = getattr(builder, str(current.data))(built)
            if not stack:
                return result
            stack[-1][2].append(result)


def _syntax_error(kind: str, text: str, error: UnexpectedInput) -> ValidationException:
    """DynamoDB's syntax error: the offending token and the text from the token before it."""
    if isinstance(error, UnexpectedToken) and error.token.type != "$END":
        token = str(error.token.value)
        start = error.token.start_pos or 0
        end = start + len(token)
    elif isinstance(error, UnexpectedCharacters):
        start = error.pos_in_stream or 0
        token = text[start]
        end = start + 1
    else:  # the input ended too early
        token, start, end = "<EOF>", len(text), len(text)
    previous = None
    for match in _ROUGH_TOKEN.finditer(text, 0, start):
        previous = match
    near = text[previous.start() if previous else start : end]
    return ValidationException(f'Invalid {kind}: Syntax error; token: "{token}", near: "{near}"')


def _parse(text: str, start: str, kind: str, build: Callable[[Any], _T]) -> _T:
    if not isinstance(text, str):
        raise ValidationException(f"Invalid {kind}: The expression must be a string")
    check_expression_text(text, kind)  # first: what lark then parses is small
    if not text.strip():
        raise ValidationException(f"Invalid {kind}: The expression can not be empty;")
    try:
        tree = _parser().parse(text, start=start)
    except UnexpectedInput as error:
        raise _syntax_error(kind, text, error) from None
    try:
        return build(_build(tree))
    except _RefusedError as error:
        raise ValidationException(f"Invalid {kind}: {error}") from None


class _ParseCache(Generic[_T]):
    """Parsed trees by text and kind, the least recently used dropped first.

    Bounded by count and by the texts' total length: a tree takes about 60 bytes
    of memory a character of its text (a 4 KB projection's about 250 KB), so a
    count alone would let distinct 4 KB expressions pin gigabytes. Safe to call
    from several threads; a failed parse caches nothing.
    """

    def __init__(self, parse: Callable[[str, str], _T], kind: str) -> None:
        functools.update_wrapper(self, parse)
        self._parse = parse
        self._kind = kind
        self._trees: OrderedDict[tuple[str, str], _T] = OrderedDict()
        self._length = 0
        self._lock = threading.Lock()

    def __call__(self, text: str, kind: str | None = None) -> _T:
        key = (text, kind or self._kind)
        with self._lock:
            tree = self._trees.get(key)
            if tree is not None:
                self._trees.move_to_end(key)
                return tree
        tree = self._parse(*key)
        with self._lock:
            if key not in self._trees:
                self._trees[key] = tree
                self._length += len(text)
                while len(self._trees) > _CACHE_SIZE or self._length > _CACHE_TEXT_LENGTH:
                    (dropped, _), _ = self._trees.popitem(last=False)
                    self._length -= len(dropped)
        return tree

    def cache_clear(self) -> None:
        with self._lock:
            self._trees.clear()
            self._length = 0


def _parse_condition(text: str, kind: str) -> Condition:
    """Parse a ConditionExpression, FilterExpression or KeyConditionExpression (cached).

    ``kind`` names the request parameter in error messages. Raises
    ValidationException on any syntax or static error.

    >>> parse_condition("attribute_not_exists(sku)")
    Function(name='attribute_not_exists', args=(Path(elements=('sku',)),))
    """
    return _parse(text, "condition", kind, lambda tree: tree)


def _parse_update(text: str, kind: str) -> Update:
    """Parse an UpdateExpression (SET, REMOVE, ADD, DELETE clauses, each at most once; cached).

    Overlapping paths need ExpressionAttributeNames to detect, so
    ``validate.check_update`` refuses them, not this function.
    """
    return _parse(text, "update", kind, lambda tree: tree)


def _parse_projection(text: str, kind: str) -> tuple[Path, ...]:
    """Parse a ProjectionExpression into its paths, in written order (cached)."""
    return _parse(text, "projection", kind, lambda tree: tree)


parse_condition = _ParseCache(_parse_condition, "ConditionExpression")
parse_update = _ParseCache(_parse_update, "UpdateExpression")
parse_projection = _ParseCache(_parse_projection, "ProjectionExpression")

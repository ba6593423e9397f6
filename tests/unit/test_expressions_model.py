"""UpdateExpressions and ConditionExpressions against a reference model of DynamoDB.

Hypothesis draws items of every DynamoDB type and expressions over them; each
request takes the real path (the client's ``prepare_expressions``, then
``PartitionStore.execute``) and its outcome is compared with a small model of
DynamoDB's semantics written here over plain dicts, independent of
``grid._expressions``:

* an update the model refuses (type mismatch, a path through a missing or
  mistyped parent, overlapping paths, a key attribute) must fail with
  ValidationException and leave the stored item and the change log as they were;
  any other update must store exactly the model's item;
* a conditional write succeeds iff the model's evaluator says true, and otherwise
  fails with ConditionalCheckFailedException and changes nothing.

The model follows DynamoDB where its documentation is clear and grid's documented
choices where it is not: ``<>`` with a missing operand is true, ``size`` of a
string counts code points, ``SET l[i]`` past the end appends (several in written
order), and every path of an update (REMOVE's list indexes included) means what it
meant in the item before the update.

The last test fuzzes ``prepare_expressions`` with random texts, token sequences,
built conditions and names/values dicts: it may only succeed or raise
ValidationException, and what it accepts a partition may not answer with an
internal error.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from actors.partition_store import PartitionStore
from grid._codec import decode_item, encode_item
from grid._expression_args import prepare_expressions
from grid._keys import HASH_SPACE, KeySchema
from grid._requests import DeleteOp, GetOp, PutOp, UpdateOp, WriteResult
from grid._types import normalize_item, normalize_value
from grid.conditions import Attr, ConditionBase
from grid.errors import ConditionalCheckFailedException, ValidationException

D = Decimal
SCHEMA = KeySchema(hash_name="pk", hash_type="S")
PK = "pk"
PK_VALUE = "item-1"
KEY = SCHEMA.storage_key({PK: PK_VALUE})

# Top-level names and map keys. "size", "name" and "dotted.name" are reserved or
# not identifiers, so they always go through a #name placeholder.
TOP_NAMES = ["a", "b", "c", "d", "e", "size", "dotted.name"]
MAP_KEYS = ["x", "y", "name"]
NEEDS_PLACEHOLDER = {"size", "name", "dotted.name"}
TYPE_NAMES = ["S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS"]
SETS = {"SS", "NS", "BS"}
ORDERED = {"S", "N", "B"}

Path = tuple[str | int, ...]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Invalid(Exception):
    """The model's verdict that DynamoDB refuses the request (ValidationException)."""


# ---- values and items ------------------------------------------------------------

strings = st.text(alphabet="abé€", max_size=3)
numbers = st.one_of(
    st.integers(-9, 9),
    st.sampled_from([D("0.5"), D("-2.25"), D("1E+3"), D("1E-3"), D("12.5")]),
).map(normalize_value)
binaries = st.one_of(st.binary(max_size=2), st.sampled_from([b"\x00", b"\xff", b"ab"]))
scalars = st.one_of(strings, numbers, binaries, st.booleans(), st.none())
sets = st.one_of(
    st.frozensets(strings, min_size=1, max_size=3),
    st.frozensets(numbers, min_size=1, max_size=3),
    st.frozensets(binaries, min_size=1, max_size=3),
).map(set)
ordered_scalars = st.one_of(strings, numbers, binaries)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(MAP_KEYS), children, max_size=3)


values = st.recursive(scalars | sets, _containers, max_leaves=6)
items = st.dictionaries(st.sampled_from(TOP_NAMES), values, min_size=2, max_size=6).map(
    lambda item: {PK: PK_VALUE, **item}
)
maybe_items = st.one_of(items, items, items, items, items, st.none())


def kind(value: Any) -> str:
    """DynamoDB's type descriptor, computed without grid."""
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, str):
        return "S"
    if isinstance(value, Decimal):
        return "N"
    if isinstance(value, bytes):
        return "B"
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return "L"
    if isinstance(value, dict):
        return "M"
    element = next(iter(value))
    return {str: "SS", Decimal: "NS", bytes: "BS"}[type(element)]


def frozen(value: Any) -> Any:
    """A hashable, type-tagged form: equal iff DynamoDB calls the values equal."""
    tag = kind(value)
    if tag == "L":
        return tag, tuple(frozen(v) for v in value)
    if tag == "M":
        return tag, frozenset((k, frozen(v)) for k, v in value.items())
    if tag in SETS:
        return tag, frozenset(value)
    return tag, value


def same(left: Any, right: Any) -> bool:
    return frozen(left) == frozen(right)


def lookup(item: Any, path: Path) -> Any:
    current = item
    for element in path:
        if isinstance(element, int):
            if not isinstance(current, list) or element >= len(current):
                return MISSING
        elif not isinstance(current, dict) or element not in current:
            return MISSING
        current = current[element]
    return current


def existing_paths(item: dict[str, Any], depth: int = 3) -> list[tuple[Path, Any]]:
    found: list[tuple[Path, Any]] = []

    def walk(prefix: Path, value: Any) -> None:
        found.append((prefix, value))
        if len(prefix) > depth:
            return
        if isinstance(value, dict):
            for key, child in value.items():
                walk((*prefix, key), child)
        elif isinstance(value, list):
            for index, child in enumerate(value):
                walk((*prefix, index), child)

    for name, value in item.items():
        if name != PK:
            walk((name,), value)
    return found


# ---- drawing paths and rendering them ------------------------------------------------


def draw_path(draw: Any, item: dict[str, Any], *, want: Callable[[Any], bool] | None = None) -> Path:
    """A path into ``item``: mostly one that exists (of a wanted type), sometimes not."""
    if want is not None:
        candidates = [path for path, value in existing_paths(item) if want(value)]
        if candidates and draw(st.integers(0, 4)) < 4:
            return draw(st.sampled_from(candidates))
    existing = [path for path, _ in existing_paths(item)]
    if existing and draw(st.integers(0, 2)) < 2:
        return draw(st.sampled_from(existing))
    path: Path = (draw(st.sampled_from(TOP_NAMES)),)
    current = lookup(item, path)
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        if isinstance(current, dict):
            as_index = draw(st.integers(0, 4)) == 4
        elif isinstance(current, list):
            as_index = draw(st.integers(0, 4)) < 4
        else:
            as_index = draw(st.booleans())
        if as_index:
            limit = len(current) + 1 if isinstance(current, list) else 2
            element: str | int = draw(st.integers(0, limit))
        else:
            element = draw(st.sampled_from(MAP_KEYS))
        path = (*path, element)
        current = lookup(current, (element,))
    return path


class Placeholders:
    """Renders paths and values, collecting ExpressionAttributeNames and Values."""

    def __init__(self, draw: Any) -> None:
        self.draw = draw
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, name: str) -> str:
        if name not in NEEDS_PLACEHOLDER and self.draw(st.integers(0, 3)) > 0:
            return name
        reusable = [placeholder for placeholder, known in self.names.items() if known == name]
        if reusable and self.draw(st.booleans()):
            return reusable[0]
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = name
        return placeholder

    def path(self, path: Path) -> str:
        text = self.name(str(path[0]))
        for element in path[1:]:
            text += f"[{element}]" if isinstance(element, int) else f".{self.name(element)}"
        return text

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = value
        return placeholder

    def keyword(self, word: str) -> str:
        return self.draw(st.sampled_from([word, word.lower(), word.capitalize()]))


# ---- the update model ---------------------------------------------------------------
#
# A SET value is a tuple tree: ("val", v) | ("path", p) | ("ine", p, default) |
# ("append", a, b) | ("plus", a, b) | ("minus", a, b).


@dataclass(frozen=True)
class Action:
    clause: str  # SET, REMOVE, ADD, DELETE
    path: Path
    operand: Any = None  # the SET value tree, or the ADD/DELETE value


def overlapping(first: Path, second: Path) -> bool:
    """One path is, or leads into, the other; or they treat one step as map and as list."""
    for a, b in zip(first, second, strict=False):
        if isinstance(a, int) != isinstance(b, int):
            return True
        if a != b:
            return False
    return True


def set_operand(old: dict[str, Any], node: Any) -> Any:
    tag = node[0]
    if tag == "val":
        return node[1]
    if tag == "path":
        found = lookup(old, node[1])
        if found is MISSING:
            raise Invalid("operand path does not exist")
        return found
    if tag == "ine":
        found = lookup(old, node[1])
        return set_operand(old, node[2]) if found is MISSING else found
    left, right = set_operand(old, node[1]), set_operand(old, node[2])
    if tag == "append":
        if kind(left) != "L" or kind(right) != "L":
            raise Invalid("list_append of a non-list")
        return [*left, *right]
    if kind(left) != "N" or kind(right) != "N":
        raise Invalid("arithmetic on a non-number")
    return left + right if tag == "plus" else left - right


def model_update(item: dict[str, Any] | None, actions: list[Action]) -> dict[str, Any]:
    """The item DynamoDB makes of ``item`` (None: absent), or Invalid."""
    for first, second in itertools.combinations(actions, 2):
        if overlapping(first.path, second.path):
            raise Invalid("overlapping paths")
    for action in actions:
        if action.clause == "ADD" and kind(action.operand) not in SETS | {"N"}:
            raise Invalid("ADD takes a number or a set")
        if action.clause == "DELETE" and kind(action.operand) not in SETS:
            raise Invalid("DELETE takes a set")
        if action.path[0] == PK:
            raise Invalid("key attributes cannot be updated")
    old = item if item is not None else {PK: PK_VALUE}
    new = copy.deepcopy(old)
    assignments = [(a.path, set_operand(old, a.operand)) for a in actions if a.clause == "SET"]
    for path, value in assignments:
        parent, last = lookup(old, path[:-1]), path[-1]
        target = lookup(new, path[:-1])
        if isinstance(last, int) and isinstance(parent, list):
            if last < len(target):
                target[last] = copy.deepcopy(value)
            else:
                target.append(copy.deepcopy(value))
        elif isinstance(last, str) and isinstance(parent, dict):
            target[last] = copy.deepcopy(value)
        else:
            raise Invalid("SET through a missing or mistyped parent")
    doomed: list[tuple[Path, str | int]] = []
    for action in actions:
        if action.clause != "REMOVE":
            continue
        parent, last = lookup(old, action.path[:-1]), action.path[-1]
        if isinstance(last, int) and isinstance(parent, list):
            if last < len(parent):  # an index past the old end removes nothing
                doomed.append((action.path[:-1], last))
        elif isinstance(last, str) and isinstance(parent, dict):
            doomed.append((action.path[:-1], last))
        else:
            raise Invalid("REMOVE through a missing or mistyped parent")
    # Every path names what it named in the old item: find each container before any
    # removal (a removal shifts the indices of its list only), then remove the highest
    # index first, so that each index still names the element it named before.
    targets = [(lookup(new, parent_path), last) for parent_path, last in doomed]
    for parent, last in sorted(targets, key=lambda t: t[1] if isinstance(t[1], int) else -1, reverse=True):
        if isinstance(last, int):
            del parent[last]
        else:
            parent.pop(last, None)
    for action in actions:
        name = str(action.path[0])
        current = new.get(name, MISSING)
        if action.clause == "ADD":
            if current is MISSING:
                new[name] = copy.deepcopy(action.operand)
            elif kind(current) == "N" == kind(action.operand):
                new[name] = current + action.operand
            elif kind(current) in SETS and kind(current) == kind(action.operand):
                new[name] = current | action.operand
            else:
                raise Invalid("ADD to an attribute of another type")
        elif action.clause == "DELETE" and current is not MISSING:
            if kind(current) not in SETS or kind(current) != kind(action.operand):
                raise Invalid("DELETE from an attribute of another type")
            remaining = current - action.operand
            if remaining:
                new[name] = remaining
            else:
                del new[name]
    return new


# ---- drawing updates ------------------------------------------------------------------


def draw_operand(draw: Any, item: dict[str, Any], target: Path, depth: int = 0) -> Any:
    """A SET right-hand side operand (no arithmetic: the grammar puts that only on top)."""
    choice = draw(st.sampled_from(["val", "val", "path", "ine", "append"] if depth < 2 else ["val", "path"]))
    if choice == "val":
        return ("val", draw(values))
    if choice == "path":
        return ("path", draw_path(draw, item))
    if choice == "ine":
        path = target if draw(st.booleans()) else draw_path(draw, item)
        return ("ine", path, draw_operand(draw, item, target, depth + 1))
    first: Any = ("path", target) if draw(st.booleans()) else draw_operand(draw, item, target, depth + 1)
    second: Any = ("val", draw(st.lists(values, max_size=2)))
    if draw(st.integers(0, 3)) == 3:
        second = draw_operand(draw, item, target, depth + 1)
    return ("append", first, second) if draw(st.booleans()) else ("append", second, first)


def draw_set_value(draw: Any, item: dict[str, Any], target: Path) -> Any:
    shape = draw(st.sampled_from(["value", "value", "counter", "ine", "append", "any", "arith"]))
    if shape == "value":
        return ("val", draw(values))
    if shape == "counter":  # a = a + :n, a = a - :n
        operand = ("val", draw(numbers)) if draw(st.integers(0, 5)) < 5 else ("val", draw(values))
        return (draw(st.sampled_from(["plus", "minus"])), ("path", target), operand)
    if shape == "ine":  # a = if_not_exists(a, :v)
        return ("ine", target, ("val", draw(values)))
    if shape == "append":  # l = list_append(l, :l), list_append(:l, l)
        new_part = ("val", draw(st.lists(values, max_size=2)))
        return ("append", ("path", target), new_part) if draw(st.booleans()) else ("append", new_part, ("path", target))
    if shape == "any":
        return draw_operand(draw, item, target)
    left, right = draw_operand(draw, item, target, 1), draw_operand(draw, item, target, 1)
    return (draw(st.sampled_from(["plus", "minus"])), left, right)


def draw_add_operand(draw: Any, current: Any) -> Any:
    if draw(st.integers(0, 9)) == 9:
        return draw(values)  # anything, often a type ADD refuses
    if current is not MISSING and kind(current) == "N":
        return draw(numbers)
    if current is not MISSING and kind(current) in SETS and draw(st.integers(0, 3)) < 3:
        extra = draw(st.sets(st.sampled_from(sorted(current, key=repr)), min_size=1))
        return extra | draw(sets.filter(lambda s: kind(s) == kind(current))) if draw(st.booleans()) else extra
    return draw(st.one_of(numbers, sets))


def draw_delete_operand(draw: Any, current: Any) -> Any:
    if draw(st.integers(0, 9)) == 9:
        return draw(values)
    if current is not MISSING and kind(current) in SETS and draw(st.integers(0, 4)) < 4:
        if draw(st.booleans()):
            return set(current)  # deleting every element removes the attribute
        return draw(st.sets(st.sampled_from(sorted(current, key=repr)), min_size=1))
    return draw(sets)


def render_set_value(node: Any, ph: Placeholders) -> str:
    tag = node[0]
    if tag == "val":
        return ph.value(node[1])
    if tag == "path":
        return ph.path(node[1])
    if tag == "ine":
        return f"if_not_exists({ph.path(node[1])}, {render_set_value(node[2], ph)})"
    if tag == "append":
        return f"list_append({render_set_value(node[1], ph)}, {render_set_value(node[2], ph)})"
    operator = "+" if tag == "plus" else "-"
    return f"{render_set_value(node[1], ph)} {operator} {render_set_value(node[2], ph)}"


@dataclass(frozen=True)
class Case:
    item: dict[str, Any] | None
    text: str
    names: dict[str, str]
    values: dict[str, Any]
    model: Any  # the model's actions or condition tree
    replacement: dict[str, Any] | None = None
    delete: bool = False


@st.composite
def update_cases(draw: Any) -> Case:
    item = draw(maybe_items)
    base = item if item is not None else {PK: PK_VALUE}
    actions: list[Action] = []
    for _ in range(draw(st.sampled_from([1, 2, 2, 3, 3, 4, 5]))):
        clause = draw(st.sampled_from(["SET", "SET", "SET", "REMOVE", "ADD", "DELETE"]))
        if clause in ("ADD", "DELETE"):
            wanted = (lambda v: kind(v) in SETS | {"N"}) if clause == "ADD" else (lambda v: kind(v) in SETS)
            top = [name for name, value in base.items() if name != PK and wanted(value)]
            free = [name for name in top if all(other.path[0] != name for other in actions)]
            name = (
                draw(st.sampled_from(free))
                if free and draw(st.integers(0, 3)) < 3
                else draw(st.sampled_from(TOP_NAMES))
            )
            current = base.get(name, MISSING)
            operand = draw_add_operand(draw, current) if clause == "ADD" else draw_delete_operand(draw, current)
            actions.append(Action(clause, (name,), operand))
            continue
        path = draw_path(draw, base)
        for _ in range(3):  # overlapping paths are refused: draw them only now and then
            if not any(overlapping(path, other.path) for other in actions) or draw(st.integers(0, 9)) == 9:
                break
            path = draw_path(draw, base)
        if draw(st.integers(0, 29)) == 29:
            path = (PK,)
        if clause == "REMOVE":
            actions.append(Action(clause, path))
        else:
            actions.append(Action(clause, path, draw_set_value(draw, base, path)))
    ph = Placeholders(draw)
    clauses = []
    for clause in draw(st.permutations(["SET", "REMOVE", "ADD", "DELETE"])):
        rendered = []
        for action in (a for a in actions if a.clause == clause):
            target = ph.path(action.path)
            if clause == "SET":
                rendered.append(f"{target} = {render_set_value(action.operand, ph)}")
            elif clause == "REMOVE":
                rendered.append(target)
            else:
                rendered.append(f"{target} {ph.value(action.operand)}")
        if rendered:
            clauses.append(f"{ph.keyword(clause)} {', '.join(rendered)}")
    return Case(item=item, text=" ".join(clauses), names=ph.names, values=ph.values, model=actions)


# ---- the condition model -------------------------------------------------------------
#
# Operands: ("path", p) | ("val", v) | ("size", p). Conditions: ("cmp", op, l, r) |
# ("between", o, low, high) | ("in", o, choices) | ("fn", name, args) |
# ("and", l, r) | ("or", l, r) | ("not", c).


def condition_operand(item: dict[str, Any], node: Any) -> Any:
    if node[0] == "val":
        return node[1]
    found = lookup(item, node[1])
    if node[0] == "path":
        return found
    if found is MISSING or kind(found) not in {"S", "B", "L", "M"} | SETS:
        return MISSING
    return D(len(found))


def comparable(left: Any, right: Any) -> bool:
    return left is not MISSING and right is not MISSING and kind(left) in ORDERED and kind(left) == kind(right)


def model_condition(item: dict[str, Any], node: Any) -> bool:
    tag = node[0]
    if tag == "and":
        return model_condition(item, node[1]) and model_condition(item, node[2])
    if tag == "or":
        return model_condition(item, node[1]) or model_condition(item, node[2])
    if tag == "not":
        return not model_condition(item, node[1])
    if tag == "cmp":
        op, left, right = node[1], condition_operand(item, node[2]), condition_operand(item, node[3])
        if op in ("=", "<>"):
            if left is MISSING or right is MISSING:
                return op == "<>"
            return same(left, right) == (op == "=")
        if not comparable(left, right):
            return False
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
    if tag == "between":
        value, low, high = (condition_operand(item, n) for n in node[1:])
        return comparable(value, low) and comparable(value, high) and low <= value <= high
    if tag == "in":
        value = condition_operand(item, node[1])
        choices = [condition_operand(item, choice) for choice in node[2]]
        return value is not MISSING and any(c is not MISSING and same(value, c) for c in choices)
    name, args = node[1], [condition_operand(item, arg) for arg in node[2]]
    if name == "attribute_exists":
        return args[0] is not MISSING
    if name == "attribute_not_exists":
        return args[0] is MISSING
    subject, operand = args
    if subject is MISSING or operand is MISSING:
        return False
    if name == "attribute_type":
        return kind(subject) == operand
    if name == "begins_with":
        return kind(subject) in ("S", "B") and kind(subject) == kind(operand) and subject.startswith(operand)
    if kind(subject) == "S":
        return kind(operand) == "S" and operand in subject
    if kind(subject) in SETS:
        return kind(operand) == kind(subject)[0] and operand in subject
    if kind(subject) == "L":
        return any(same(element, operand) for element in subject)
    return False


def near(draw: Any, value: Any) -> Any:
    """An ordered constant likely to compare interestingly with ``value``."""
    if value is MISSING or kind(value) not in ORDERED or draw(st.integers(0, 3)) == 3:
        return draw(ordered_scalars)
    if kind(value) == "N":
        return normalize_value(value + draw(st.sampled_from([-1, 0, 0, 1])))
    return (
        value[: draw(st.integers(0, len(value)))]
        if draw(st.booleans())
        else draw(strings if kind(value) == "S" else binaries)
    )


# The types that make each kind of leaf interesting, to aim its path at.
_WANTED_TYPES = {"order": ORDERED, "between": ORDERED, "begins": {"S", "B"}, "contains": {"S", "L"} | SETS}


def draw_comparison_operand(draw: Any, item: dict[str, Any], wanted: set[str] | None) -> tuple[Any, Any]:
    """A left-hand operand and its value in ``item``."""
    if draw(st.integers(0, 4)) == 4:
        path = draw_path(draw, item, want=lambda v: kind(v) in {"S", "B", "L", "M"} | SETS)
        return ("size", path), condition_operand(item, ("size", path))
    path = draw_path(draw, item, want=None if wanted is None else (lambda v: kind(v) in wanted))
    return ("path", path), lookup(item, path)


def draw_leaf(draw: Any, item: dict[str, Any]) -> Any:
    shape = draw(st.sampled_from(["eq", "order", "between", "in", "exists", "type", "begins", "contains"]))
    left, current = draw_comparison_operand(draw, item, _WANTED_TYPES.get(shape))
    if shape == "eq":
        op = draw(st.sampled_from(["=", "<>"]))
        if draw(st.integers(0, 3)) == 3:
            right: Any = ("path", draw_path(draw, item))
        else:
            right = ("val", current if current is not MISSING and draw(st.booleans()) else draw(values))
        return ("cmp", op, left, right) if draw(st.booleans()) else ("cmp", op, right, left)
    if shape == "order":
        op = draw(st.sampled_from(["<", "<=", ">", ">="]))
        right = ("path", draw_path(draw, item)) if draw(st.integers(0, 4)) == 4 else ("val", near(draw, current))
        return ("cmp", op, left, right) if draw(st.booleans()) else ("cmp", op, right, left)
    if shape == "between":
        low, high = near(draw, current), near(draw, current)
        if comparable(low, high) and low > high:
            low, high = high, low  # constant bounds the wrong way round are a request error
        bounds: list[Any] = [("val", low), ("val", high)]
        if draw(st.integers(0, 4)) == 4:
            bounds[draw(st.integers(0, 1))] = ("path", draw_path(draw, item))
        return ("between", left, *bounds)
    if shape == "in":
        choices = []
        for _ in range(draw(st.integers(1, 4))):
            if draw(st.integers(0, 4)) == 4:
                choices.append(("path", draw_path(draw, item)))
            else:
                choices.append(("val", current if current is not MISSING and draw(st.booleans()) else draw(values)))
        return ("in", left, tuple(choices))
    path = left[1]
    if shape == "exists":
        return ("fn", draw(st.sampled_from(["attribute_exists", "attribute_not_exists"])), (("path", path),))
    if shape == "type":
        wanted = kind(current) if current is not MISSING and draw(st.booleans()) else draw(st.sampled_from(TYPE_NAMES))
        return ("fn", "attribute_type", (("path", path), ("val", wanted)))
    if shape == "begins":
        prefix = near(draw, current) if draw(st.integers(0, 3)) < 3 else draw(strings | binaries)
        if kind(prefix) == "N":
            prefix = str(prefix)
        second: Any = ("path", draw_path(draw, item)) if draw(st.integers(0, 5)) == 5 else ("val", prefix)
        return ("fn", "begins_with", (("path", path), second))
    if current is not MISSING and kind(current) in SETS | {"L"} and current and draw(st.booleans()):
        element = draw(st.sampled_from(sorted(current, key=repr)))
    elif current is not MISSING and kind(current) == "S" and draw(st.booleans()):
        start = draw(st.integers(0, len(current)))
        element = current[start : start + draw(st.integers(0, 2))]
    else:
        element = draw(values)
    return ("fn", "contains", (("path", path), ("val", element)))


def draw_condition(draw: Any, item: dict[str, Any], depth: int = 0) -> Any:
    shape = draw(st.sampled_from(["leaf", "leaf", "and", "or", "not"] if depth < 3 else ["leaf"]))
    if shape == "leaf":
        return draw_leaf(draw, item)
    if shape == "not":
        return ("not", draw_condition(draw, item, depth + 1))
    return (shape, draw_condition(draw, item, depth + 1), draw_condition(draw, item, depth + 1))


_PRECEDENCE = {"or": 1, "and": 2, "not": 3}


def render_condition_operand(node: Any, ph: Placeholders) -> str:
    if node[0] == "val":
        return ph.value(node[1])
    if node[0] == "path":
        return ph.path(node[1])
    return f"size({ph.path(node[1])})"


def render_condition(node: Any, ph: Placeholders, context: int = 0) -> str:
    """Text with only the parentheses precedence needs, plus some redundant ones."""
    tag = node[0]
    if tag in _PRECEDENCE:
        precedence = _PRECEDENCE[tag]
        if tag == "not":
            text = f"{ph.keyword('NOT')} {render_condition(node[1], ph, precedence)}"
        else:
            left = render_condition(node[1], ph, precedence)
            # and/or parse left-associatively: a same-precedence right child needs parentheses.
            right = render_condition(node[2], ph, precedence + 1)
            text = f"{left} {ph.keyword(tag.upper())} {right}"
        return f"({text})" if precedence < context or ph.draw(st.integers(0, 5)) == 5 else text
    if tag == "cmp":
        text = f"{render_condition_operand(node[2], ph)} {node[1]} {render_condition_operand(node[3], ph)}"
    elif tag == "between":
        operand, low, high = (render_condition_operand(n, ph) for n in node[1:])
        text = f"{operand} {ph.keyword('BETWEEN')} {low} {ph.keyword('AND')} {high}"
    elif tag == "in":
        choices = ", ".join(render_condition_operand(c, ph) for c in node[2])
        text = f"{render_condition_operand(node[1], ph)} {ph.keyword('IN')} ({choices})"
    else:
        text = f"{node[1]}({', '.join(render_condition_operand(a, ph) for a in node[2])})"
    return f"({text})" if ph.draw(st.integers(0, 7)) == 7 else text


@st.composite
def condition_cases(draw: Any) -> Case:
    item = draw(maybe_items)
    condition = draw_condition(draw, item if item is not None else {})
    ph = Placeholders(draw)
    text = render_condition(condition, ph)
    delete = draw(st.integers(0, 3)) == 3
    return Case(
        item=item,
        text=text,
        names=ph.names,
        values=ph.values,
        model=condition,
        replacement=None if delete else draw(items),
        delete=delete,
    )


# ---- the real path --------------------------------------------------------------------


def store_holding(item: dict[str, Any] | None) -> PartitionStore:
    store = PartitionStore(key_schema=SCHEMA, low=0, high=HASH_SPACE)
    if item is not None:
        [result] = store.execute([PutOp(key=KEY, item=encode_item(normalize_item(item)))])
        assert isinstance(result, WriteResult), result
    return store


def stored(store: PartitionStore) -> bytes | None:
    [data] = store.execute([GetOp(key=KEY)])
    assert data is None or isinstance(data, bytes), data
    return data


def assert_same_item(actual: dict[str, Any] | None, expected: dict[str, Any] | None) -> None:
    assert (actual is None) == (expected is None), (actual, expected)
    if actual is not None and expected is not None:
        assert same(actual, expected), f"\n  grid:  {actual}\n  model: {expected}"


def describe(case: Case) -> str:
    return f"{case.text!r} names={case.names} values={case.values} item={case.item}"


# Removals in one list and inside another of its elements: each path names what it named
# in the old item (the model once removed them one after another and lost its way).
REMOVALS_ACROSS_SHIFTED_INDICES = [
    Case(
        item={PK: PK_VALUE, "a": None, "size": ["", [], [""]]},
        text="SET #n0 = :v0 REMOVE #n1[2][0], #n2[1]",
        names={"#n0": "a", "#n1": "size", "#n2": "size"},
        values={":v0": []},
        model=[
            Action(clause="REMOVE", path=("size", 2, 0)),
            Action(clause="SET", path=("a",), operand=("val", [])),
            Action(clause="REMOVE", path=("size", 1)),
        ],
    ),
    Case(
        item={PK: PK_VALUE, "a": None, "size": [[], {"x": ""}]},
        text="SET #n0 = :v0 REMOVE #n1[1].#n2, #n3[0]",
        names={"#n0": "a", "#n1": "size", "#n2": "x", "#n3": "size"},
        values={":v0": []},
        model=[
            Action(clause="REMOVE", path=("size", 1, "x")),
            Action(clause="SET", path=("a",), operand=("val", [])),
            Action(clause="REMOVE", path=("size", 0)),
        ],
    ),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(update_cases())
@example(REMOVALS_ACROSS_SHIFTED_INDICES[0])
@example(REMOVALS_ACROSS_SHIFTED_INDICES[1])
def test_update_matches_the_model(case: Case) -> None:
    try:
        expected: dict[str, Any] | None = model_update(case.item, case.model)
    except Invalid:
        expected = None
    store = store_holding(case.item)
    before, sequence = stored(store), store.log.last_sequence
    try:
        prepared = prepare_expressions({"UpdateExpression": case.text}, case.names or None, case.values or None)
    except ValidationException as error:
        assert expected is None, f"refused ({error.message}) but the model accepts: {describe(case)}"
        return
    op = UpdateOp(key=KEY, key_attributes={PK: PK_VALUE}, update=case.text, args=prepared.args)
    [result] = store.execute([op])
    if expected is None:
        assert isinstance(result, ValidationException), f"{result!r} but the model refuses: {describe(case)}"
        assert stored(store) == before
        assert store.log.last_sequence == sequence
        return
    assert isinstance(result, WriteResult), f"{result!r} but the model accepts: {describe(case)}"
    after = stored(store)
    assert after is not None
    assert_same_item(decode_item(after), expected)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(condition_cases())
def test_conditional_write_matches_the_model(case: Case) -> None:
    holds = model_condition(case.item if case.item is not None else {}, case.model)
    store = store_holding(case.item)
    before, sequence = stored(store), store.log.last_sequence
    prepared = prepare_expressions({"ConditionExpression": case.text}, case.names or None, case.values or None)
    if case.delete:
        op: PutOp | DeleteOp = DeleteOp(key=KEY, condition=case.text, args=prepared.args)
    else:
        assert case.replacement is not None
        op = PutOp(key=KEY, item=encode_item(normalize_item(case.replacement)), condition=case.text, args=prepared.args)
    [result] = store.execute([op])
    if not holds:
        assert isinstance(result, ConditionalCheckFailedException), f"{result!r}, model: false: {describe(case)}"
        assert stored(store) == before
        assert store.log.last_sequence == sequence
        return
    assert isinstance(result, WriteResult), f"{result!r}, model: true: {describe(case)}"
    after = stored(store)
    assert_same_item(None if after is None else decode_item(after), case.replacement)


def test_remove_past_the_old_end_spares_the_element_set_appends() -> None:
    store = store_holding({PK: PK_VALUE, "l": ["a", "b"]})
    text = "SET l[9] = :z REMOVE l[2]"
    prepared = prepare_expressions({"UpdateExpression": text}, None, {":z": "z"})
    [result] = store.execute([UpdateOp(key=KEY, key_attributes={PK: PK_VALUE}, update=text, args=prepared.args)])
    assert isinstance(result, WriteResult), result
    after = stored(store)
    assert after is not None
    assert decode_item(after) == {PK: PK_VALUE, "l": ["a", "b", "z"]}


# ---- fuzzing the client's preparation ----------------------------------------------------

_KINDS = [
    "ConditionExpression",
    "FilterExpression",
    "KeyConditionExpression",
    "UpdateExpression",
    "ProjectionExpression",
]
_TOKENS = [
    "a", "b", "l", "m.x", "#n0", "#n1", "#zz", ":v0", ":v1", ":zz", "[0]", "[1]", "[99999999999999999999]",
    ".", ",", "(", ")", "=", "<>", "<", "<=", ">", ">=", "+", "-", "AND", "OR", "NOT", "BETWEEN", "IN",
    "SET", "REMOVE", "ADD", "DELETE", "size", "attribute_exists", "attribute_not_exists", "attribute_type",
    "begins_with", "contains", "if_not_exists", "list_append", "name", "size(a)", "\u00e9", "#", ":", "\x00",
]  # fmt: skip

_odd_values = st.one_of(
    values,
    st.integers(),
    st.floats(),
    st.just(set()),
    st.frozensets(st.one_of(st.integers(), st.text(max_size=2), st.booleans()), max_size=3),
    st.tuples(st.integers(), st.text(max_size=2)),
    st.builds(bytearray, st.binary(max_size=3)),
    st.dictionaries(st.one_of(st.integers(), st.text(max_size=2)), st.integers(), max_size=2),
    st.builds(object),
)
_names_args = st.one_of(
    st.none(),
    st.dictionaries(
        st.one_of(st.sampled_from(["#n0", "#n1", "#zz", "n0", "", "#"]), st.integers()),
        st.one_of(st.sampled_from(["a", "b", "m", "x", "", "size", "dotted.name"]), st.integers(), st.none()),
        max_size=3,
    ),
    st.sampled_from([[], "names", 3]),
)
_values_args = st.one_of(
    st.none(),
    st.dictionaries(
        st.one_of(st.sampled_from([":v0", ":v1", ":zz", "v0", "", ":"]), st.integers()), _odd_values, max_size=3
    ),
    st.sampled_from([[], "values", 3]),
)


def _built(name: str, value: Any, how: int) -> ConditionBase:
    attribute = Attr(name)
    built = [
        attribute.eq(value),
        attribute.lt(value),
        attribute.between(value, value),
        attribute.is_in([value, value]),
        attribute.exists(),
        attribute.contains(value),
        attribute.size().gte(value),
        attribute.attribute_type(value),
    ][how]
    return ~built if how % 3 == 0 else built & attribute.not_exists()


_built_conditions = st.builds(
    _built, st.sampled_from(["a", "m.x", "l[0]", "size", "", "a.b[2].c", "#n0", ":v"]), _odd_values, st.integers(0, 7)
)
_expression_texts = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.lists(st.sampled_from(_TOKENS), max_size=12).map(" ".join),
    st.integers(),
    _built_conditions,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_KINDS), _expression_texts, max_size=3), _names_args, _values_args)
def test_prepare_expressions_succeeds_or_raises_validation(
    expressions: dict[str, Any], names: Any, values: Any
) -> None:
    try:
        prepared = prepare_expressions(expressions, names, values)
    except ValidationException:
        return
    # What the client accepts, a partition answers with a result or a request error, never an internal error.
    store = store_holding({PK: PK_VALUE, "a": D(1), "l": ["x"], "m": {"x": "y"}})
    op = UpdateOp(
        key=KEY,
        key_attributes={PK: PK_VALUE},
        update=prepared.text("UpdateExpression"),
        condition=prepared.text("ConditionExpression"),
        args=prepared.args,
    )
    [result] = store.execute([op])
    assert isinstance(result, (WriteResult, ValidationException, ConditionalCheckFailedException)), result

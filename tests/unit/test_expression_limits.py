"""DynamoDB's limits on expressions (``grid/_expressions/limits.py``), and bounded work per request.

Each limit is tested at its boundary: exactly at the limit passes, one over is
refused with DynamoDB's message. Inputs that used to exhaust Python's stack (deep
NOT, size(, AND/OR chains, parentheses, a deep built condition) now get a
ValidationException, and inputs that used to take quadratic time are refused by
size or, at the largest size allowed, checked in one pass. No test here measures
time: speed is for benchmarks; these tests pin the outcomes.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from grid._expression_args import prepare_expressions
from grid._expressions import (
    MAX_EXPRESSION_BYTES,
    MAX_IN_OPERANDS,
    MAX_OPERATORS,
    MAX_PATH_LEVELS,
    MAX_PLACEHOLDER_BYTES,
    MAX_SUBSTITUTION_BYTES,
    apply_update,
    check_projection,
    check_update,
    evaluate_condition,
    parse_condition,
    parse_projection,
    parse_update,
)
from grid._expressions import parse as parse_module
from grid._expressions.ast import Compare
from grid._expressions.parse import is_reserved_word
from grid._types import normalize_item
from grid.conditions import Attr, ConditionBase
from grid.errors import ValidationException

CONDITION_KINDS = ["ConditionExpression", "FilterExpression", "KeyConditionExpression"]


def size_message(kind: str, size: int) -> str:
    return f"Invalid {kind}: Expression size has exceeded the maximum allowed size; expression size: {size}"


def operators_message(kind: str) -> str:
    # DynamoDB stops counting at the first operator over the limit: it always says 301.
    return f"Invalid {kind}: The expression contains too many operators; operator count: 301"


def nesting_message(kind: str, levels: int) -> str:
    return f"Invalid {kind}: The document path has too many nesting levels; nesting levels: {levels}"


def parse(kind: str, text: str) -> Any:
    if kind == "UpdateExpression":
        return parse_update(text)
    if kind == "ProjectionExpression":
        return parse_projection(text)
    return parse_condition(text, kind)


def prepare(kind: str, text: str) -> Any:
    """The whole preparation a request's expression goes through on the client."""
    return prepare_expressions({kind: text}, None, None if kind == "ProjectionExpression" else {":v": 1})


def refused(call: Callable[[], Any]) -> str:
    with pytest.raises(ValidationException) as caught:
        call()
    return caught.value.message


def padded(kind: str, size: int) -> str:
    """A valid expression of exactly ``size`` bytes, padded with spaces inside."""
    if kind == "UpdateExpression":
        head, tail = "SET", "a = :v"
    elif kind == "ProjectionExpression":
        return "x" * size
    elif kind == "KeyConditionExpression":
        head, tail = "pk", "= :v"
    else:
        head, tail = "a", "= :v"
    return head + " " * (size - len(head) - len(tail)) + tail


def short_names() -> list[str]:
    """Distinct attribute names, shortest first, none of them reserved."""
    first = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    rest = first + [str(d) for d in range(10)] + ["_"]
    names = first + [a + b for a in first for b in rest]
    return [name for name in names if not is_reserved_word(name)]


def largest_list(items: list[str], separator: str, budget: int) -> list[str]:
    """The longest prefix of ``items`` whose joined length stays within ``budget``."""
    taken: list[str] = []
    length = -len(separator)
    for item in items:
        if length + len(separator) + len(item) > budget:
            break
        taken.append(item)
        length += len(separator) + len(item)
    return taken


# ---- the expression's size -------------------------------------------------


@pytest.mark.parametrize("kind", [*CONDITION_KINDS, "UpdateExpression", "ProjectionExpression"])
@pytest.mark.parametrize("entry", [parse, prepare], ids=["parse", "prepare"])
def test_an_expression_of_exactly_4_kb_is_accepted_and_one_byte_more_is_refused(
    kind: str, entry: Callable[[str, str], Any]
) -> None:
    entry(kind, padded(kind, MAX_EXPRESSION_BYTES))
    assert refused(lambda: entry(kind, padded(kind, MAX_EXPRESSION_BYTES + 1))) == size_message(kind, 4097)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("é" * 2049, size_message("ConditionExpression", 4098)),  # 2,049 characters, 4,098 bytes
        ("(" * 15000, size_message("ConditionExpression", 15000)),  # a syntax error too: the size comes first
        (" " * 5000, size_message("ConditionExpression", 5000)),  # blank too: the size comes first
    ],
    ids=["utf8-bytes", "size-before-syntax", "size-before-empty"],
)
def test_the_size_counts_utf8_bytes_and_is_checked_first(text: str, message: str) -> None:
    assert refused(lambda: parse_condition(text)) == message


def test_4_kb_of_two_byte_characters_is_not_a_size_error() -> None:
    message = refused(lambda: parse_condition("é" * 2048))  # 4,096 bytes: a syntax error, not a size one
    assert message.startswith("Invalid ConditionExpression: Syntax error")


# ---- operators and functions ------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "accepted", "over"),
    [
        (
            "ConditionExpression",  # NOT, 150 comparisons, 149 ORs: 300
            "NOT a < b" + " OR a < b" * 149,
            "NOT NOT a < b" + " OR a < b" * 149,
        ),
        (
            "KeyConditionExpression",  # keywords in any case
            "not a < b" + " or a < b" * 149,
            "not Not a < b" + " oR a < b" * 149,
        ),
        (
            "FilterExpression",  # functions count: NOT, 75 contains, 50 size and =, 124 ANDs
            "NOT " + " AND ".join(["contains(a, :v)"] * 75 + ["size(b) = :n"] * 50),
            "NOT " + " AND ".join(["contains(a, :v)"] * 74 + ["size(b) = :n"] * 51),
        ),
        (
            "UpdateExpression",  # + and - count; SET's = does not
            "SET " + ",".join([f"a{i}=:a+:b" for i in range(200)] + [f"b{i}=:a-:b" for i in range(100)]),
            "SET " + ",".join([f"a{i}=:a+:b" for i in range(201)] + [f"b{i}=:a-:b" for i in range(100)]),
        ),
    ],
    ids=["and-or-not", "any-case", "functions", "update-arithmetic"],
)
def test_300_operators_are_accepted_and_301_refused(kind: str, accepted: str, over: str) -> None:
    assert len(over.encode()) <= MAX_EXPRESSION_BYTES
    parse(kind, accepted)
    assert refused(lambda: parse(kind, over)) == operators_message(kind)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        # 3 IN lists of 100 operands and 2 ANDs are 5 operators, as DynamoDB counts them.
        (
            " AND ".join("a IN (" + ", ".join(f":v{i}" for i in range(100)) + ")" for _ in range(3)),
            "ConditionExpression",
        ),
        # 400 assignments: SET's = is no operator.
        ("SET " + ",".join(f"a{i}=:v" for i in range(400)), "UpdateExpression"),
        # BETWEEN ... AND counts once: 150 of them and 149 ORs.
        (" OR ".join(["a BETWEEN :x AND :y"] * 150), "ConditionExpression"),
        # Keywords inside placeholders and names are no operators.
        (" AND ".join(["#and = :or"] * 100) + " AND #not_in = :in", "ConditionExpression"),
    ],
    ids=["in-counts-once", "set-assignments", "between-counts-once", "placeholders-named-like-keywords"],
)
def test_what_does_not_count_as_an_operator(text: str, kind: str) -> None:
    assert len(text.encode()) <= MAX_EXPRESSION_BYTES
    parse(kind, text)


# ---- document path depth ------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "template"),
    [
        ("ProjectionExpression", "{path}"),
        ("ProjectionExpression", "a, b.c, {path}, d"),
        ("ConditionExpression", "attribute_exists({path})"),
        ("FilterExpression", "size({path}) > :n"),
        ("UpdateExpression", "SET {path} = :v"),
        ("UpdateExpression", "REMOVE x, {path}"),
    ],
)
@pytest.mark.parametrize(
    "step",
    [".b", "[0]", ".#n", " . b", " [ 7 ]"],
    ids=["names", "indexes", "placeholders", "spaced-names", "spaced-indexes"],
)
def test_paths_of_32_levels_are_accepted_and_33_refused(kind: str, template: str, step: str) -> None:
    parse(kind, template.format(path="a" + step * (MAX_PATH_LEVELS - 1)))
    assert refused(lambda: parse(kind, template.format(path="a" + step * MAX_PATH_LEVELS))) == nesting_message(kind, 33)


def test_the_message_counts_every_level_of_the_path() -> None:
    assert refused(lambda: parse_projection("a" + ".b[1]" * 50)) == nesting_message("ProjectionExpression", 101)


# ---- IN operands ---------------------------------------------------------------


def test_in_takes_100_operands_and_refuses_101() -> None:
    parse_condition("a IN (" + ", ".join([":v"] * MAX_IN_OPERANDS) + ")")
    assert refused(lambda: parse_condition("a IN (" + ", ".join([":v"] * 101) + ")")) == (
        "Invalid ConditionExpression: The IN operator is provided with too many operands; number of operands: 101"
    )


# ---- placeholders ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "values", "message"),
    [
        ({"#" + "n" * 254: "a"}, {":" + "v" * 254: 1}, None),
        (
            {"#" + "n" * 255: "a"},
            {":v": 1},
            "ExpressionAttributeNames contains invalid key: The expression attribute map contains a key that is too long; size of key: 256",
        ),
        (
            {"#" + "é" * 128: "a"},  # 257 bytes, 129 characters
            {":v": 1},
            "ExpressionAttributeNames contains invalid key: The expression attribute map contains a key that is too long; size of key: 257",
        ),
        (
            {"#" + "n" * 255 + "-x": "a"},  # too long and a syntax error: the length comes first
            {":v": 1},
            "ExpressionAttributeNames contains invalid key: The expression attribute map contains a key that is too long; size of key: 258",
        ),
        (
            {"#n": "a"},
            {":" + "v" * 255: 1},  # DynamoDB gives no size for values
            "ExpressionAttributeValues contains invalid key: The expression attribute map contains a key that is too long;",
        ),
    ],
    ids=["255-bytes", "256-bytes", "utf8-bytes", "length-before-syntax", "value-key"],
)
def test_placeholders_of_255_bytes_are_accepted_and_longer_ones_refused(
    names: dict[str, str], values: dict[str, Any], message: str | None
) -> None:
    (name,), (value,) = names, values
    expressions = {"ConditionExpression": f"{name} = {value}"}
    if message is None:
        assert len(name.encode()) == len(value.encode()) == MAX_PLACEHOLDER_BYTES
        prepare_expressions(expressions, names, values)
    else:
        assert refused(lambda: prepare_expressions(expressions, names, values)) == message


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (0, None),
        (1, "Combined size of ExpressionAttributeNames and ExpressionAttributeValues exceeds max size"),
    ],
    ids=["2-mb", "2-mb-and-a-byte"],
)
@pytest.mark.parametrize("where", ["values", "names"])
def test_names_and_values_of_2_mb_together_are_accepted_and_more_refused(
    where: str, extra: int, message: str | None
) -> None:
    # Keys and names count their UTF-8 bytes, and so does a string value: 2 MB exactly, plus extra.
    if where == "values":
        fill = MAX_SUBSTITUTION_BYTES - len("#n" + "a" + "#m" + "b" + ":v") + extra
        names, values = {"#n": "a", "#m": "b"}, {":v": "é" * (fill // 2) + "x" * (fill % 2)}
    else:
        fill = MAX_SUBSTITUTION_BYTES - len("#n" + "a" + "#m" + ":v") + extra
        names, values = {"#n": "a", "#m": "b" * fill}, {":v": ""}
    expressions = {"ConditionExpression": "#n = :v AND attribute_exists(#m)"}
    if message is None:
        prepare_expressions(expressions, names, values)
    else:
        assert refused(lambda: prepare_expressions(expressions, names, values)) == message


def test_a_number_counts_as_dynamodb_sizes_it() -> None:
    # A number of 38 digits counts 20 bytes (DynamoDB's sizing), not the 38 of its text.
    digits = Decimal("9" * 38)
    count = MAX_SUBSTITUTION_BYTES // (len(":v000000") + 20) + 1
    values = {f":v{i:06d}": digits for i in range(count)}
    message = refused(lambda: prepare_expressions({"ConditionExpression": "a = :v000000"}, None, values))
    assert message == "Combined size of ExpressionAttributeNames and ExpressionAttributeValues exceeds max size"


# ---- what used to exhaust Python's stack -----------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("NOT " * 5000 + "a < b", size_message("ConditionExpression", 20005)),
        ("NOT " * 1000 + "a < b", operators_message("ConditionExpression")),
        ("a < " + "size(" * 5000 + "b" + ")" * 5000, size_message("ConditionExpression", 30005)),
        ("a < " + "size(" * 680 + "b" + ")" * 680, operators_message("ConditionExpression")),
        ("a < b" + " AND a < b" * 5000, size_message("ConditionExpression", 50005)),
        ("a<b" + " OR a<b" * 584, operators_message("ConditionExpression")),
        ("a<b" + " OR (a<b" * 454 + ")" * 454, operators_message("ConditionExpression")),
        ("(" * 20000 + "a < b" + ")" * 20000, size_message("ConditionExpression", 40005)),
        ("a < " + "f(" * 1300 + "b" + ")" * 1300, "Invalid ConditionExpression: Invalid function name; function: f"),
        (
            "attribute_exists(" + "f(" * 1300 + "b" + ")" * 1300 + ")",
            "Invalid ConditionExpression: Operator or function requires a document path; "
            "operator or function: attribute_exists",
        ),
    ],
    ids=[
        "not-5000",
        "not-1000",
        "size-5000",
        "size-680",
        "and-5000",
        "or-584",
        "nested-or-454",
        "parentheses-20000",
        "unknown-function-1300",
        "unknown-function-as-a-path",
    ],
)
def test_deep_conditions_are_refused_not_a_recursion_error(text: str, message: str) -> None:
    within = len(text.encode()) <= MAX_EXPRESSION_BYTES
    assert within != message.startswith("Invalid ConditionExpression: Expression size")  # the case is what it says
    assert refused(lambda: parse_condition(text)) == message


def test_parentheses_2000_deep_within_4_kb_parse() -> None:
    text = "(" * 2000 + "a < b" + ")" * 2000
    assert parse_condition(text) == Compare(op="<", left=parse_projection("a")[0], right=parse_projection("b")[0])
    assert refused(lambda: parse_condition("(" * MAX_EXPRESSION_BYTES)).startswith(
        'Invalid ConditionExpression: Syntax error; token: "<EOF>"'
    )


def test_the_deepest_conditions_allowed_evaluate() -> None:
    deepest_not = parse_condition("NOT " * (MAX_OPERATORS - 1) + "a < :v")  # 299 NOTs: a < :v negated
    assert evaluate_condition(deepest_not, {"a": Decimal(1)}, None, {":v": Decimal(2)}) is False
    longest_or = parse_condition("a = :x" + " OR a = :x" * 148 + " OR a = :y")  # short-circuits at the end
    assert evaluate_condition(longest_or, {"a": Decimal(2)}, None, {":x": Decimal(1), ":y": Decimal(2)}) is True
    longest_and = parse_condition("(" * 149 + "a = :x" + " AND a = :x)" * 149)  # nested on the left
    assert evaluate_condition(longest_and, {"a": Decimal(1)}, None, {":x": Decimal(1)}) is True
    nested_right = parse_condition("a = :y" + " OR (a = :y" * 149 + ")" * 149)  # nested on the right
    assert evaluate_condition(nested_right, {"a": Decimal(1)}, None, {":x": Decimal(1), ":y": Decimal(2)}) is False


def test_the_deepest_update_operands_allowed_apply() -> None:
    depth = 240  # list_append( ... , :v) 240 deep fills 4 KB
    update = parse_update("SET l = " + "list_append(" * depth + ":v" + ", :v)" * depth)
    outcome = apply_update(update, {}, None, {":v": [Decimal(1)]})
    assert outcome.item == {"l": [Decimal(1)] * (depth + 1)}


def test_a_deep_update_path_is_refused_before_it_is_applied() -> None:
    text = "SET " + "a" + ".b" * 2000 + " = :v"
    assert refused(lambda: parse_update(text)) == nesting_message("UpdateExpression", 2001)


def chain(depth: int, combine: Callable[[ConditionBase, ConditionBase], ConditionBase]) -> ConditionBase:
    condition: ConditionBase = Attr("a").eq(1)
    for i in range(depth):
        condition = combine(condition, Attr(f"b{i % 10}").eq(i))
    return condition


def negations(depth: int) -> ConditionBase:
    condition: ConditionBase = Attr("a").exists()
    for _ in range(depth):
        condition = ~condition
    return condition


@pytest.mark.parametrize(
    "build",
    [
        lambda: chain(20000, lambda left, right: left & right),
        lambda: chain(20000, lambda left, right: right | left),
        lambda: negations(20000),
    ],
    ids=["and-on-the-left", "or-on-the-right", "not"],
)
@pytest.mark.parametrize("kind", ["ConditionExpression", "FilterExpression"])
def test_a_deep_built_condition_is_refused_not_a_recursion_error(build: Callable[[], ConditionBase], kind: str) -> None:
    message = refused(lambda: prepare_expressions({kind: build()}, None, None))
    assert message.startswith(
        f"Invalid {kind}: Expression size has exceeded the maximum allowed size; expression size: "
    )


def test_a_built_condition_within_the_limits_renders_and_evaluates() -> None:
    condition = chain(60, lambda left, right: left | right)
    prepared = prepare_expressions({"ConditionExpression": condition}, None, None)
    tree = prepared.parsed["ConditionExpression"]
    item = {"a": Decimal(0), "b9": Decimal(59)}
    assert evaluate_condition(tree, item, prepared.args.names, prepared.args.values) is True


# ---- what used to take quadratic time ----------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("ProjectionExpression", ", ".join(f"attribute{i}" for i in range(8000))),  # 8,000 paths, about 100 KB
        ("ProjectionExpression", ",".join(f"p{i}" for i in range(8000))),  # 8,000 paths, about 38 KB
        ("UpdateExpression", "SET " + ", ".join(f"a{i} = :v" for i in range(8000))),  # 8,000 actions
        ("ProjectionExpression", ",".join(f"a.b{i}" for i in range(50000))),  # about 340 KB
    ],
    ids=["projection-8000", "short-projection-8000", "update-8000", "projection-340kb"],
)
def test_the_quadratic_cases_are_refused_for_their_size(kind: str, text: str) -> None:
    assert refused(lambda: parse(kind, text)) == size_message(kind, len(text))
    params: dict[str, Any] = {kind: text}
    assert refused(lambda: prepare_expressions(params, None, {":v": 1} if kind == "UpdateExpression" else None)) == (
        size_message(kind, len(text))
    )


LARGEST_PROJECTION = largest_list(short_names(), ",", MAX_EXPRESSION_BYTES)


def test_the_largest_projection_allowed_is_accepted() -> None:
    text = ",".join(LARGEST_PROJECTION)
    assert len(text) > MAX_EXPRESSION_BYTES - 3 and len(LARGEST_PROJECTION) > 1300
    paths = parse_projection(text)
    check_projection(paths, None)
    assert len(paths) == len(LARGEST_PROJECTION)


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        (
            "ab",
            "ab.c",
            "overlap with each other; must remove or rewrite one of these paths; path one: [ab], path two: [ab, c]",
        ),
        (
            "ab.c",
            "ab[0]",
            "conflict with each other; must remove or rewrite one of these paths; path one: [ab, c], path two: [ab, [0]]",
        ),
        (
            "ab[1]",
            "ab[1]",
            "overlap with each other; must remove or rewrite one of these paths; path one: [ab, [1]], path two: [ab, [1]]",
        ),
    ],
    ids=["overlap", "map-and-list", "same-path"],
)
def test_the_largest_projection_still_finds_a_clash_at_its_end(first: str, last: str, message: str) -> None:
    others = [name for name in LARGEST_PROJECTION if name != "ab"]
    paths = [first, *largest_list(others, ",", MAX_EXPRESSION_BYTES - len(first) - len(last) - 2), last]
    text = ",".join(paths)
    assert len(text) <= MAX_EXPRESSION_BYTES and len(paths) > 1300
    assert refused(lambda: check_projection(parse_projection(text), None)) == (
        f"Invalid ProjectionExpression: Two document paths {message}"
    )


def test_the_largest_update_allowed_is_accepted_and_still_finds_a_clash_at_its_end() -> None:
    actions = largest_list([f"{name}=:v" for name in short_names()], ",", MAX_EXPRESSION_BYTES - len("SET "))
    text = "SET " + ",".join(actions)
    assert len(text) > MAX_EXPRESSION_BYTES - 8 and len(actions) > 650
    update = parse_update(text)
    check_update(update, None, {":v": Decimal(1)})
    assert len(update.actions) == len(actions)

    first = actions[0].split("=")[0]
    clashing = "SET " + ",".join(actions[:-2]) + f" REMOVE {first}.x"
    assert len(clashing) <= MAX_EXPRESSION_BYTES
    assert refused(lambda: check_update(parse_update(clashing), None)) == (
        "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite "
        f"one of these paths; path one: [{first}], path two: [{first}, x]"
    )


def test_the_first_pair_a_pairwise_check_would_name_is_named() -> None:
    # (c, c.d) is named: its first path comes first, though (a.b, a.b.c) shows up earlier in one pass.
    paths = parse_projection("c, a.b, x, a.b.c, c.d")
    assert refused(lambda: check_projection(paths, None)) == (
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite "
        "one of these paths; path one: [c], path two: [c, d]"
    )
    paths = parse_projection("q, a.b, a[0], a.b.c")
    assert refused(lambda: check_projection(paths, None)) == (
        "Invalid ProjectionExpression: Two document paths conflict with each other; must remove or rewrite "
        "one of these paths; path one: [a, b], path two: [a, [0]]"
    )
    paths = parse_projection("#one, #two")  # names resolve before the paths are compared
    assert refused(lambda: check_projection(paths, {"#one": "a", "#two": "a"})) == (
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite "
        "one of these paths; path one: [a], path two: [a]"
    )


def test_a_list_index_and_a_map_key_spelled_alike_conflict() -> None:
    message = refused(lambda: check_projection(parse_projection("a[1], a.#one"), {"#one": "1"}))
    assert message == (
        "Invalid ProjectionExpression: Two document paths conflict with each other; must remove or rewrite "
        "one of these paths; path one: [a, [1]], path two: [a, 1]"
    )


# ---- items an update deepens ---------------------------------------------------


def nested(levels: int) -> dict[str, Any]:
    """A map holding maps ``levels`` deep: {"a": {"a": ... {}}}, its innermost map at ``levels``."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("path_levels", "value", "accepted"),
    [
        (31, {}, True),  # a map at level 31, as deep as a put allows
        (32, {}, False),
        (32, Decimal(1), True),  # a scalar at level 32
        (1, nested(31), True),
        (1, nested(32), False),
        (2, [nested(29)], True),  # a list at level 2, maps at levels 3 to 31
        (2, [nested(30)], False),
    ],
)
def test_an_update_nests_maps_and_lists_at_most_32_levels_as_a_put_does(
    path_levels: int, value: Any, accepted: bool
) -> None:
    item = {"a": nested(31)}  # maps at levels 1 to 31 along a.a.a...
    update = parse_update("SET " + ".".join(["a"] * path_levels) + " = :v")
    put: dict[str, Any] = {"a": nested(31)}  # the item the update makes, as a put would write it
    parent = put
    for _ in range(path_levels - 1):
        parent = parent["a"]
    parent["a"] = value
    if accepted:
        assert apply_update(update, item, None, {":v": value}).item == normalize_item(put)
    else:
        message = "Nesting Levels have exceeded supported limits"
        assert refused(lambda: normalize_item(put)) == message
        assert refused(lambda: apply_update(update, item, None, {":v": value})) == message


def test_copying_an_attribute_into_itself_cannot_deepen_an_item_without_end() -> None:
    update = parse_update("SET a.b.c.d.e.f.g.h = a")  # 8 levels deeper each time
    item: dict[str, Any] = {"a": {"b": {"c": {"d": {"e": {"f": {"g": {}}}}}}}}
    for _ in range(3):
        item = apply_update(update, item, None, None).item
    assert refused(lambda: apply_update(update, item, None, None)) == "Nesting Levels have exceeded supported limits"


# ---- the parse cache ---------------------------------------------------------------


def test_the_parse_cache_is_bounded_by_the_length_of_its_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    # A tree takes about 60 bytes a character of its text: a count alone would let 4 KB texts pin gigabytes.
    monkeypatch.setattr(parse_module, "_CACHE_TEXT_LENGTH", 10_000)
    parse_projection.cache_clear()
    texts = [",".join(f"a{i}_{j}" for j in range(150)) for i in range(30)]  # about 1 KB each
    trees = [parse_projection(text) for text in texts]
    assert parse_projection._length <= 10_000
    assert parse_projection(texts[-1]) is trees[-1]  # the recent ones stay
    assert parse_projection(texts[0]) is not trees[0]  # the oldest went, and is parsed again
    assert parse_projection(texts[0]) == trees[0]
    parse_projection.cache_clear()

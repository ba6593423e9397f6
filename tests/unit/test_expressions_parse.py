"""Parsing and static validation of DynamoDB expressions (grid._expressions)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grid._expressions import (
    check_placeholders,
    check_projection,
    check_update,
    parse_condition,
    parse_projection,
    parse_update,
)
from grid._expressions.ast import (
    AddAction,
    And,
    Between,
    Compare,
    DeleteAction,
    Function,
    IfNotExists,
    In,
    ListAppend,
    Minus,
    Not,
    Or,
    Path,
    Plus,
    RemoveAction,
    SetAction,
    Size,
    Update,
    ValueRef,
)
from grid.errors import ValidationException


def p(*elements: str | int) -> Path:
    return Path(elements=elements)


def v(name: str) -> ValueRef:
    return ValueRef(name=name)


def eq(left: object, right: object) -> Compare:
    return Compare(op="=", left=left, right=right)  # type: ignore[arg-type]


# ---- conditions ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a = :v", eq(p("a"), v(":v"))),
        ("a <> :v", Compare(op="<>", left=p("a"), right=v(":v"))),
        ("a < :v", Compare(op="<", left=p("a"), right=v(":v"))),
        ("a <= :v", Compare(op="<=", left=p("a"), right=v(":v"))),
        ("a > :v", Compare(op=">", left=p("a"), right=v(":v"))),
        ("a >= :v", Compare(op=">=", left=p("a"), right=v(":v"))),
        ("a>=:v", Compare(op=">=", left=p("a"), right=v(":v"))),
        (":v = a", eq(v(":v"), p("a"))),
        ("a = b", eq(p("a"), p("b"))),
        ("a.b[0].c = :v", eq(p("a", "b", 0, "c"), v(":v"))),
        ("#n[12][3] = :v", eq(p("#n", 12, 3), v(":v"))),
        ("a.#b.c = :v", eq(p("a", "#b", "c"), v(":v"))),
        ("a BETWEEN :lo AND :hi", Between(operand=p("a"), low=v(":lo"), high=v(":hi"))),
        ("a between :lo and :hi", Between(operand=p("a"), low=v(":lo"), high=v(":hi"))),
        ("a IN (:x)", In(operand=p("a"), choices=(v(":x"),))),
        ("a in (:x, b, :y)", In(operand=p("a"), choices=(v(":x"), p("b"), v(":y")))),
        ("attribute_exists(a.b)", Function(name="attribute_exists", args=(p("a", "b"),))),
        ("attribute_not_exists(#k)", Function(name="attribute_not_exists", args=(p("#k"),))),
        ("attribute_type(a, :t)", Function(name="attribute_type", args=(p("a"), v(":t")))),
        ("begins_with(a, :p)", Function(name="begins_with", args=(p("a"), v(":p")))),
        ("contains(a, :e)", Function(name="contains", args=(p("a"), v(":e")))),
        ("contains(a, size(b))", Function(name="contains", args=(p("a"), Size(path=p("b"))))),
        ("size(a) > :n", Compare(op=">", left=Size(path=p("a")), right=v(":n"))),
        ("size(a) BETWEEN :x AND size(b)", Between(operand=Size(path=p("a")), low=v(":x"), high=Size(path=p("b")))),
        ("NOT a = :v", Not(operand=eq(p("a"), v(":v")))),
        ("not not a = :v", Not(operand=Not(operand=eq(p("a"), v(":v"))))),
        ("(a = :v)", eq(p("a"), v(":v"))),
        ("((a = :v))", eq(p("a"), v(":v"))),
        # Names that merely start with a keyword stay names.
        ("android = :v", eq(p("android"), v(":v"))),
        ("order_id = :v AND notes = :w", And(left=eq(p("order_id"), v(":v")), right=eq(p("notes"), v(":w")))),
        ("inbox = :v OR setting = :w", Or(left=eq(p("inbox"), v(":v")), right=eq(p("setting"), v(":w")))),
        ("_private = :v", eq(p("_private"), v(":v"))),
    ],
)
def test_condition_parses_to_tree(text: str, expected: object) -> None:
    assert parse_condition(text) == expected


A, B, C = (eq(p(name), v(":" + name)) for name in "abc")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # AND binds tighter than OR.
        ("a = :a OR b = :b AND c = :c", Or(left=A, right=And(left=B, right=C))),
        ("a = :a AND b = :b OR c = :c", Or(left=And(left=A, right=B), right=C)),
        # NOT binds tighter than AND.
        ("NOT a = :a AND b = :b", And(left=Not(operand=A), right=B)),
        ("NOT a = :a OR b = :b", Or(left=Not(operand=A), right=B)),
        # Parentheses override.
        ("(a = :a OR b = :b) AND c = :c", And(left=Or(left=A, right=B), right=C)),
        ("NOT (a = :a AND b = :b)", Not(operand=And(left=A, right=B))),
        # Left associative.
        ("a = :a OR b = :b OR c = :c", Or(left=Or(left=A, right=B), right=C)),
        ("a = :a AND b = :b AND c = :c", And(left=And(left=A, right=B), right=C)),
        # BETWEEN's AND belongs to BETWEEN, the next AND to the conjunction.
        (
            "a BETWEEN :x AND :y AND b = :b",
            And(left=Between(operand=p("a"), low=v(":x"), high=v(":y")), right=B),
        ),
        # Functions are primary conditions.
        (
            "attribute_exists(a) AND NOT contains(b, :b)",
            And(
                left=Function(name="attribute_exists", args=(p("a"),)),
                right=Not(operand=Function(name="contains", args=(p("b"), v(":b")))),
            ),
        ),
        ("a IN (:a) OR b = :b", Or(left=In(operand=p("a"), choices=(v(":a"),)), right=B)),
    ],
)
def test_condition_precedence(text: str, expected: object) -> None:
    assert parse_condition(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a = ", 'Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "= "'),
        ("a =", 'Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "="'),
        ("a = 3", 'Invalid ConditionExpression: Syntax error; token: "3", near: "= 3"'),
        ("a = :v AND", 'Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "AND"'),
        ("a == :v", 'Invalid ConditionExpression: Syntax error; token: "=", near: "=="'),
        ("a = :v b = :w", 'Invalid ConditionExpression: Syntax error; token: "b", near: ":v b"'),
        ("= :v", 'Invalid ConditionExpression: Syntax error; token: "=", near: "="'),
        ("a = @", 'Invalid ConditionExpression: Syntax error; token: "@", near: "= @"'),
        ("a IN ()", 'Invalid ConditionExpression: Syntax error; token: ")", near: "()"'),
        ("a[-1] = :v", 'Invalid ConditionExpression: Syntax error; token: "-", near: "[-"'),
        ("(a = :v", 'Invalid ConditionExpression: Syntax error; token: "<EOF>", near: ":v"'),
        ("a = :v)", 'Invalid ConditionExpression: Syntax error; token: ")", near: ":v)"'),
        ("a BETWEEN :x", 'Invalid ConditionExpression: Syntax error; token: "<EOF>", near: ":x"'),
        ("SET a = :v", 'Invalid ConditionExpression: Syntax error; token: "a", near: "SET a"'),
        ("a.1 = :v", 'Invalid ConditionExpression: Syntax error; token: "1", near: ".1"'),
        ("", "Invalid ConditionExpression: The expression can not be empty;"),
        ("   ", "Invalid ConditionExpression: The expression can not be empty;"),
        # Reserved words may not be bare names, in any case, anywhere in a path.
        ("status = :s", "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status"),
        ("Status = :s", "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: Status"),
        ("a.value = :s", "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: value"),
        (
            "attribute_exists(name)",
            "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: name",
        ),
        # Function names are case-sensitive and checked by position and arity.
        ("ATTRIBUTE_EXISTS(a)", "Invalid ConditionExpression: Invalid function name; function: ATTRIBUTE_EXISTS"),
        ("Begins_With(a, :p)", "Invalid ConditionExpression: Invalid function name; function: Begins_With"),
        ("foo(a)", "Invalid ConditionExpression: Invalid function name; function: foo"),
        (
            "size(a)",
            "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; "
            "function: size",
        ),
        (
            "attribute_exists(a) = :v",
            "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; "
            "function: attribute_exists",
        ),
        (
            "if_not_exists(a, :v) = :v",
            "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; "
            "function: if_not_exists",
        ),
        (
            "list_append(a, :v)",
            "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; "
            "function: list_append",
        ),
        (
            "attribute_exists(a, b)",
            "Invalid ConditionExpression: Incorrect number of operands for operator or function; "
            "operator or function: attribute_exists, number of operands: 2",
        ),
        (
            "begins_with(a)",
            "Invalid ConditionExpression: Incorrect number of operands for operator or function; "
            "operator or function: begins_with, number of operands: 1",
        ),
        (
            "contains()",
            "Invalid ConditionExpression: Incorrect number of operands for operator or function; "
            "operator or function: contains, number of operands: 0",
        ),
        (
            "size(a, b) = :v",
            "Invalid ConditionExpression: Incorrect number of operands for operator or function; "
            "operator or function: size, number of operands: 2",
        ),
        (
            "attribute_exists(:v)",
            "Invalid ConditionExpression: Operator or function requires a document path; "
            "operator or function: attribute_exists",
        ),
        (
            "attribute_type(:v, :t)",
            "Invalid ConditionExpression: Operator or function requires a document path; "
            "operator or function: attribute_type",
        ),
        (
            "size(:v) = :n",
            "Invalid ConditionExpression: Operator or function requires a document path; operator or function: size",
        ),
    ],
)
def test_condition_errors(text: str, message: str) -> None:
    with pytest.raises(ValidationException) as caught:
        parse_condition(text)
    assert caught.value.message == message


@pytest.mark.parametrize("kind", ["FilterExpression", "KeyConditionExpression"])
def test_condition_errors_name_the_parameter(kind: str) -> None:
    with pytest.raises(ValidationException, match=f"\\): Invalid {kind}: Syntax error"):
        parse_condition("a =", kind)


def test_in_accepts_up_to_100_operands() -> None:
    choices = ", ".join(f":v{i}" for i in range(100))
    assert len(parse_condition(f"a IN ({choices})").choices) == 100  # type: ignore[union-attr]
    with pytest.raises(ValidationException) as caught:
        parse_condition(f"a IN ({choices}, :v100)")
    assert caught.value.message == (
        "Invalid ConditionExpression: The IN operator is provided with too many operands; number of operands: 101"
    )


def test_parsing_is_cached_by_text() -> None:
    text = "attribute_not_exists(cache_probe) AND version = :v"
    assert parse_condition(text) is parse_condition(text)
    assert parse_update("SET cache_probe = :v") is parse_update("SET cache_probe = :v")
    assert parse_projection("cache_probe, b") is parse_projection("cache_probe, b")


# ---- updates -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "actions"),
    [
        ("SET a = :v", (SetAction(path=p("a"), value=v(":v")),)),
        ("set a = b", (SetAction(path=p("a"), value=p("b")),)),
        ("SET a = b + :v", (SetAction(path=p("a"), value=Plus(left=p("b"), right=v(":v"))),)),
        ("SET a = b-:v", (SetAction(path=p("a"), value=Minus(left=p("b"), right=v(":v"))),)),
        (
            "SET a = if_not_exists(a, :zero) + :one",
            (SetAction(path=p("a"), value=Plus(left=IfNotExists(path=p("a"), default=v(":zero")), right=v(":one"))),),
        ),
        (
            "SET l = list_append(if_not_exists(l, :empty), :new)",
            (
                SetAction(
                    path=p("l"),
                    value=ListAppend(first=IfNotExists(path=p("l"), default=v(":empty")), second=v(":new")),
                ),
            ),
        ),
        (
            "SET a[2] = :v, #b.c = :w",
            (SetAction(path=p("a", 2), value=v(":v")), SetAction(path=p("#b", "c"), value=v(":w"))),
        ),
        ("REMOVE a, b[1].c", (RemoveAction(path=p("a")), RemoveAction(path=p("b", 1, "c")))),
        (
            "ADD hits :one, tags :t",
            (AddAction(path=p("hits"), value=v(":one")), AddAction(path=p("tags"), value=v(":t"))),
        ),
        ("DELETE tags :t", (DeleteAction(path=p("tags"), value=v(":t")),)),
        (
            "remove x SET a = :v delete s :s add n :n",
            (
                RemoveAction(path=p("x")),
                SetAction(path=p("a"), value=v(":v")),
                DeleteAction(path=p("s"), value=v(":s")),
                AddAction(path=p("n"), value=v(":n")),
            ),
        ),
        ("SET settings = :v", (SetAction(path=p("settings"), value=v(":v")),)),
    ],
)
def test_update_parses_to_actions(text: str, actions: tuple[object, ...]) -> None:
    assert parse_update(text) == Update(actions=actions)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SET a = 3", 'Invalid UpdateExpression: Syntax error; token: "3", near: "= 3"'),
        ("SET a", 'Invalid UpdateExpression: Syntax error; token: "<EOF>", near: "a"'),
        ("SET a = :v,", 'Invalid UpdateExpression: Syntax error; token: "<EOF>", near: ","'),
        ("SET a = :v REMOVE", 'Invalid UpdateExpression: Syntax error; token: "<EOF>", near: "REMOVE"'),
        ("SET a = :v + :w + :x", 'Invalid UpdateExpression: Syntax error; token: "+", near: ":w +"'),
        ("ADD a b", 'Invalid UpdateExpression: Syntax error; token: "b", near: "a b"'),
        ("DELETE a", 'Invalid UpdateExpression: Syntax error; token: "<EOF>", near: "a"'),
        ("UPDATE a = :v", 'Invalid UpdateExpression: Syntax error; token: "UPDATE", near: "UPDATE"'),
        ("a = :v", 'Invalid UpdateExpression: Syntax error; token: "a", near: "a"'),
        (
            "SET a = :v SET b = :w",
            'Invalid UpdateExpression: The "SET" section can only be used once in an update expression;',
        ),
        (
            "REMOVE a remove b",
            'Invalid UpdateExpression: The "REMOVE" section can only be used once in an update expression;',
        ),
        (
            "ADD a :v SET c = :c ADD b :w",
            'Invalid UpdateExpression: The "ADD" section can only be used once in an update expression;',
        ),
        (
            "DELETE a :v DELETE b :w",
            'Invalid UpdateExpression: The "DELETE" section can only be used once in an update expression;',
        ),
        (
            "SET a = size(b)",
            "Invalid UpdateExpression: The function is not allowed in an update expression; function: size",
        ),
        (
            "SET a = attribute_exists(b)",
            "Invalid UpdateExpression: The function is not allowed in an update expression; function: attribute_exists",
        ),
        ("SET a = foo(b)", "Invalid UpdateExpression: Invalid function name; function: foo"),
        (
            "SET a = if_not_exists(:v, :w)",
            "Invalid UpdateExpression: Operator or function requires a document path; "
            "operator or function: if_not_exists",
        ),
        (
            "SET a = list_append(:v)",
            "Invalid UpdateExpression: Incorrect number of operands for operator or function; "
            "operator or function: list_append, number of operands: 1",
        ),
        ("SET status = :v", "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: status"),
        ("REMOVE a.size", "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: size"),
        ("", "Invalid UpdateExpression: The expression can not be empty;"),
    ],
)
def test_update_errors(text: str, message: str) -> None:
    with pytest.raises(ValidationException) as caught:
        parse_update(text)
    assert caught.value.message == message


# ---- projections -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "paths"),
    [
        ("a", (p("a"),)),
        ("a, b.c, #d[3]", (p("a"), p("b", "c"), p("#d", 3))),
        ("product.bullet_point[0].#v", (p("product", "bullet_point", 0, "#v"),)),
    ],
)
def test_projection_parses(text: str, paths: tuple[Path, ...]) -> None:
    assert parse_projection(text) == paths


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,", 'Invalid ProjectionExpression: Syntax error; token: "<EOF>", near: ","'),
        ("a b", 'Invalid ProjectionExpression: Syntax error; token: "b", near: "a b"'),
        ("size(a)", 'Invalid ProjectionExpression: Syntax error; token: "(", near: "size("'),
        ("name", "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: name"),
    ],
)
def test_projection_errors(text: str, message: str) -> None:
    with pytest.raises(ValidationException) as caught:
        parse_projection(text)
    assert caught.value.message == message


# ---- placeholders ----------------------------------------------------------


@pytest.mark.parametrize(
    ("expressions", "names", "values", "message"),
    [
        (
            {"ConditionExpression": "#n = :v"},
            None,
            {":v": "x"},
            "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; "
            "attribute name: #n",
        ),
        (
            {"UpdateExpression": "SET a = :v"},
            None,
            None,
            "Invalid UpdateExpression: An expression attribute value used in expression is not defined; "
            "attribute value: :v",
        ),
        (
            {"ConditionExpression": "a = :v"},
            {"#n": "a", "#m": "b"},
            {":v": "x"},
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#m, #n}",
        ),
        (
            {"ConditionExpression": "a = :v"},
            None,
            {":v": "x", ":w": "y"},
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}",
        ),
        ({}, {"#n": "a"}, None, "ExpressionAttributeNames can only be specified when using expressions"),
        (
            {"ConditionExpression": None},
            None,
            {":v": "x"},
            "ExpressionAttributeValues can only be specified when using expressions",
        ),
        (
            {"ProjectionExpression": "#p", "FilterExpression": "a = :v"},
            {"#q": "x"},
            {":v": "x"},
            "Invalid ProjectionExpression: An expression attribute name used in the document path is not defined; "
            "attribute name: #p",
        ),
    ],
)
def test_check_placeholders_refuses(
    expressions: dict[str, str | None], names: dict[str, str] | None, values: dict[str, object] | None, message: str
) -> None:
    with pytest.raises(ValidationException) as caught:
        check_placeholders(_parse_all(expressions), names, values)
    assert caught.value.message == message


def _parse_all(expressions: dict[str, str | None]) -> dict[str, object]:
    parsers = {
        "ConditionExpression": parse_condition,
        "FilterExpression": lambda text: parse_condition(text, "FilterExpression"),
        "UpdateExpression": parse_update,
        "ProjectionExpression": parse_projection,
    }
    return {kind: None if text is None else parsers[kind](text) for kind, text in expressions.items()}


def test_check_placeholders_accepts_names_used_across_expressions() -> None:
    parsed = _parse_all(
        {
            "UpdateExpression": "SET #a = :one",
            "ConditionExpression": "#v = :v",
            "ProjectionExpression": "#a, #v",
        }
    )
    check_placeholders(parsed, {"#a": "a", "#v": "version"}, {":one": Decimal(1), ":v": Decimal(2)})  # type: ignore[arg-type]
    # A plain list of trees works too; messages then guess the parameter from the tree.
    check_placeholders(list(parsed.values()), {"#a": "a", "#v": "version"}, {":one": Decimal(1), ":v": Decimal(2)})  # type: ignore[arg-type]
    with pytest.raises(ValidationException, match=r"\): Invalid UpdateExpression: An expression attribute value"):
        check_placeholders([parse_update("SET a = :x")], None, None)
    # No expressions and no placeholders is fine.
    check_placeholders({}, None, None)


# ---- update checks ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names", "message"),
    [
        (
            "SET a = :v, a.b = :v",
            None,
            "Invalid UpdateExpression: Two document paths overlap with each other; "
            "must remove or rewrite one of these paths; path one: [a], path two: [a, b]",
        ),
        (
            "SET a = :v REMOVE a",
            None,
            "Invalid UpdateExpression: Two document paths overlap with each other; "
            "must remove or rewrite one of these paths; path one: [a], path two: [a]",
        ),
        (
            "SET #x = :v ADD a.b :v",
            {"#x": "a"},
            "Invalid UpdateExpression: Two document paths overlap with each other; "
            "must remove or rewrite one of these paths; path one: [a], path two: [a, b]",
        ),
        (
            "REMOVE l[1], l[1].x",
            None,
            "Invalid UpdateExpression: Two document paths overlap with each other; "
            "must remove or rewrite one of these paths; path one: [l, [1]], path two: [l, [1], x]",
        ),
        (
            "SET a.b = :v, a[0] = :v",
            None,
            "Invalid UpdateExpression: Two document paths conflict with each other; "
            "must remove or rewrite one of these paths; path one: [a, b], path two: [a, [0]]",
        ),
        (
            "SET a = :v",
            {},
            None,
        ),
    ],
)
def test_check_update_overlapping_paths(text: str, names: dict[str, str] | None, message: str | None) -> None:
    update = parse_update(text)
    if message is None:
        check_update(update, names)
        return
    with pytest.raises(ValidationException) as caught:
        check_update(update, names)
    assert caught.value.message == message


def test_check_update_allows_disjoint_paths() -> None:
    check_update(parse_update("SET a.b = :v, a.c = :v, l[0] = :v, l[1] = :v REMOVE ab, a.bc"), None)
    check_update(parse_update("SET #a = :v, #b = :v"), {"#a": "x.y", "#b": "x"})


def test_check_update_needs_names_for_placeholders() -> None:
    with pytest.raises(ValidationException, match="attribute name: #a"):
        check_update(parse_update("SET #a = :v"), None)


@pytest.mark.parametrize(
    ("text", "value", "message"),
    [
        ("ADD a :v", "x", "operator: ADD, operand type: STRING"),
        ("ADD a :v", [Decimal(1)], "operator: ADD, operand type: LIST"),
        ("ADD a :v", {"k": "v"}, "operator: ADD, operand type: MAP"),
        ("ADD a :v", True, "operator: ADD, operand type: BOOLEAN"),
        ("ADD a :v", None, "operator: ADD, operand type: NULL"),
        ("ADD a :v", b"x", "operator: ADD, operand type: BINARY"),
        ("DELETE a :v", Decimal(1), "operator: DELETE, operand type: NUMBER"),
        ("DELETE a :v", "x", "operator: DELETE, operand type: STRING"),
        ("ADD a :v", Decimal(1), None),
        ("ADD a :v", {"x"}, None),
        ("ADD a :v", {Decimal(1)}, None),
        ("DELETE a :v", {b"x"}, None),
    ],
)
def test_check_update_add_delete_operand_types(text: str, value: object, message: str | None) -> None:
    update = parse_update(text)
    if message is None:
        check_update(update, None, {":v": value})
        return
    with pytest.raises(ValidationException) as caught:
        check_update(update, None, {":v": value})
    assert caught.value.message == (
        "Invalid UpdateExpression: Incorrect operand type for operator or function; " + message
    )


def test_check_projection_overlap() -> None:
    check_projection(parse_projection("a.b, a.c, l[0], l[1]"), None)
    with pytest.raises(ValidationException) as caught:
        check_projection(parse_projection("a, #x"), {"#x": "a"})
    assert caught.value.message == (
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove "
        "or rewrite one of these paths; path one: [a], path two: [a]"
    )


# ---- fuzzing ----------------------------------------------------------------

_TOKENS = [
    "a", "b", "c.d", "#n", ":v", ":w", "[0]", "[12]", ".", ",", "(", ")", "[", "]",
    "=", "<>", "<", "<=", ">", ">=", "+", "-", "AND", "or", "Not", "BETWEEN", "in",
    "SET", "remove", "ADD", "DELETE", "size", "attribute_exists", "attribute_type",
    "begins_with", "contains", "if_not_exists", "list_append", "status", "3", "@", "'", '"',
    "\t", "é", "Attribute_Exists", "ab_c", "#", ":",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=14), st.sampled_from(["", " "]))
def test_fuzzed_text_parses_or_raises_validation(tokens: list[str], separator: str) -> None:
    text = separator.join(tokens)
    for parse in (parse_condition, parse_update, parse_projection):
        try:
            parse(text)
        except ValidationException as error:
            assert error.message.startswith(
                ("Invalid ConditionExpression: ", "Invalid UpdateExpression: ", "Invalid ProjectionExpression: ")
            )


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_arbitrary_text_parses_or_raises_validation(text: str) -> None:
    for parse in (parse_condition, parse_update, parse_projection):
        try:
            parse(text)
        except ValidationException:
            pass

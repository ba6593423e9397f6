"""boto3's condition builder (``grid/conditions.py``): text the one parser accepts, one evaluator."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from grid._expressions import evaluate_condition, parse_condition
from grid._types import normalize_item, normalize_value
from grid.conditions import Attr, ConditionBase, Key, render_condition

SEED = normalize_item(json.loads(Path("/work/shared/catalog-item.json").read_text()))


def render(condition: ConditionBase, names: dict[str, str] | None = None, values: dict[str, Any] | None = None):
    names = {} if names is None else names
    values = {} if values is None else values
    return render_condition(condition, names, values), names, values


def evaluate(condition: ConditionBase, item: dict[str, Any] = SEED) -> bool:
    text, names, values = render(condition)
    normalized = {placeholder: normalize_value(value) for placeholder, value in values.items()}
    return evaluate_condition(parse_condition(text), item, names, normalized)


def test_rendering_uses_placeholders_for_every_name_and_value() -> None:
    text, names, values = render(Key("customer_id").eq(207808519) & Key("sku").begins_with("207808519/"))
    assert text == "(#gn0 = :gv0 AND begins_with(#gn1, :gv1))"
    assert names == {"#gn0": "customer_id", "#gn1": "sku"}
    assert values == {":gv0": 207808519, ":gv1": "207808519/"}
    parse_condition(text, "KeyConditionExpression")


def test_reserved_words_are_safe_as_names() -> None:
    text, names, _ = render(Attr("size").eq(1) & Attr("value").exists() & Attr("product.size").size().gt(0))
    assert not re.search(r"\b(size|value)\b(?!\()", text)
    assert set(names.values()) == {"size", "value", "product"}
    parse_condition(text)


def test_dotted_and_indexed_names_become_nested_paths() -> None:
    text, names, _ = render(Attr("product.bullet_point[1].value").eq("x"))
    assert text == "#gn0.#gn1[1].#gn2 = :gv0"
    assert names == {"#gn0": "product", "#gn1": "bullet_point", "#gn2": "value"}
    text, names, _ = render(Attr("grid[2][10].cell").exists())
    assert text == "attribute_exists(#gn0[2][10].#gn1)"
    assert names == {"#gn0": "grid", "#gn1": "cell"}


def test_a_name_used_twice_gets_one_placeholder() -> None:
    text, names, values = render(Attr("version").gte(1) & Attr("version").lt(3))
    assert text == "(#gn0 >= :gv0 AND #gn0 < :gv1)"
    assert names == {"#gn0": "version"}
    assert values == {":gv0": 1, ":gv1": 3}


def test_placeholders_do_not_collide_with_the_callers() -> None:
    names = {"#n": "customer_id", "#gn1": "mine", "#gn3": "also-mine"}
    values: dict[str, Any] = {":v": 1, ":gv1": "mine", ":gv2": "also-mine"}
    text, names, values = render(Attr("sku").eq("a") & Attr("brand").ne("b") & Attr("upc").exists(), names, values)
    assert {"#n": "customer_id", "#gn1": "mine", "#gn3": "also-mine"}.items() <= names.items()
    assert {":v": 1, ":gv1": "mine", ":gv2": "also-mine"}.items() <= values.items()
    generated_names = re.findall(r"#\w+", text)
    generated_values = re.findall(r":\w+", text)
    assert not {"#n", "#gn1", "#gn3"} & set(generated_names)
    assert not {":v", ":gv1", ":gv2"} & set(generated_values)
    assert sorted(names[p] for p in set(generated_names)) == ["brand", "sku", "upc"]
    assert sorted(values[p] for p in generated_values) == ["a", "b"]


def test_two_conditions_rendered_into_one_request_do_not_collide() -> None:
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    key_text = render_condition(Key("customer_id").eq(207808519), names, values)
    filter_text = render_condition(Attr("version").eq(2) & Attr("customer_id").gt(5), names, values)
    assert len(values) == 3
    normalized = {p: normalize_value(v) for p, v in values.items()}
    assert evaluate_condition(parse_condition(key_text), SEED, names, normalized)
    assert evaluate_condition(parse_condition(filter_text), SEED, names, normalized)


def test_combining_with_something_else_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Attr("a").eq(1) & "b = :c"  # type: ignore[operator]
    with pytest.raises(TypeError):
        Attr("a").eq(1) | True  # type: ignore[operator]


def test_grouping_is_explicit() -> None:
    true, false = Attr("version").eq(2), Attr("version").eq(3)
    assert evaluate((true | false) & false) is False
    assert evaluate(true | (false & false)) is True
    assert evaluate(~(true & false)) is True
    assert evaluate(~true | false) is False
    assert evaluate(~~true) is True


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (Key("customer_id").eq(207808519), True),
        (Key("customer_id").eq(207808518), False),
        (Key("sku").begins_with("207808519/"), True),
        (Key("sku").begins_with("207808519-"), False),
        (Key("sku").between("207808519/A", "207808519/D"), True),
        (Key("sku").between("207808519/D", "207808519/Z"), False),
        (Key("customer_id").gt(207808518) & Key("customer_id").lte(207808519), True),
        (Key("customer_id").lt(207808519), False),
        (Key("customer_id").gte(207808519.0), True),
        (Attr("version").eq(2), True),
        (Attr("version").ne(2), False),
        (Attr("version").is_in([1, 2, 3]), True),
        (Attr("version").is_in([4, 5]), False),
        (Attr("product.brand").eq("DISCOS"), True),
        (Attr("product.can_be_giftwrapped").eq(True), True),
        (Attr("product.bullet_point[0].lang").eq("en_US"), True),
        (Attr("product.bullet_point[2].value").begins_with("Removable"), True),
        (Attr("product.bullet_point[3]").exists(), False),
        (Attr("product.bullet_point[3]").not_exists(), True),
        (Attr("product.upc").exists() & Attr("product.isbn").not_exists(), True),
        (Attr("product.bullet_point").size().eq(3), True),
        (Attr("product.upc").size().gt(12), False),
        (Attr("product.brand").contains("SCO"), True),
        (Attr("sku").contains("C00K2DG90"), True),
        (Attr("product.upc").attribute_type("S"), True),
        (Attr("product.upc").attribute_type("N"), False),
        (Attr("product.bullet_point").attribute_type("L"), True),
        (Attr("product").attribute_type("M"), True),
        (Attr("missing").eq(1), False),
        (Attr("missing").ne(1), True),
        (~Attr("missing").exists(), True),
        (Attr("version").lt(3) | Attr("missing").eq(1), True),
    ],
)
def test_conditions_evaluate_on_the_seed_item(condition: ConditionBase, expected: bool) -> None:
    assert evaluate(condition) is expected


def test_contains_on_sets_and_lists() -> None:
    item = normalize_item({"tags": {"red", "blue"}, "sizes": [8, 9], "nested": [[1]]})
    assert evaluate(Attr("tags").contains("red"), item) is True
    assert evaluate(Attr("tags").contains("green"), item) is False
    assert evaluate(Attr("sizes").contains(9), item) is True
    assert evaluate(Attr("sizes").contains(10), item) is False
    assert evaluate(Attr("nested[0]").contains(1), item) is True

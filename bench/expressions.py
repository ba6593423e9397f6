"""Throughput of one conditional update's expressions on the seed catalog document.

Each operation does what a conditional UpdateItem costs outside Ray: the client's
``prepare_expressions`` (normalize the values, parse, check the placeholders and
paths) for

    UpdateExpression     SET version = version + :one, product.bullet_point[0].#v = :x
    ConditionExpression  version = :v

then the partition's ``evaluate_condition`` and ``apply_update`` on the seed document
(``shared/catalog-item.json``). The same run measures the loop with the parse cache
warm, with it cleared before every operation (every parse paid), and a baseline of
plain Python doing the same edit on a dict (deep copy, version check, two
assignments), so the figures read as ratios on a shared, noisy machine.

    python -m bench.expressions --seconds 3
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from grid._expression_args import prepare_expressions
from grid._expressions import apply_update, evaluate_condition, parse_condition, parse_projection, parse_update
from grid._types import normalize_item
from tests.seed import seed_item

UPDATE = "SET version = version + :one, product.bullet_point[0].#v = :x"
CONDITION = "version = :v"
NAMES = {"#v": "value"}
VALUES = {":one": 1, ":x": "Outdoor-ready runner with breathable mesh", ":v": 2}
# Check the clock once per this many operations, so that reading it costs next to nothing.
CHUNK = 200


def clear_parse_caches() -> None:
    parse_condition.cache_clear()
    parse_update.cache_clear()
    parse_projection.cache_clear()


def expressions_operation(item: dict[str, Any], *, cold: bool) -> Callable[[], dict[str, Any]]:
    """One prepared, evaluated and applied conditional update; ``cold`` parses from scratch."""
    expressions = {"UpdateExpression": UPDATE, "ConditionExpression": CONDITION}

    def operation() -> dict[str, Any]:
        if cold:
            clear_parse_caches()
        prepared = prepare_expressions(expressions, NAMES, VALUES)
        names, values = prepared.args.names, prepared.args.values
        if not evaluate_condition(prepared.parsed["ConditionExpression"], item, names, values):
            raise AssertionError("the seed document's version should be 2")
        return apply_update(prepared.parsed["UpdateExpression"], item, names, values).item

    return operation


def dict_operation(item: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """The same edit in plain Python: what the expression machinery is measured against."""

    def operation() -> dict[str, Any]:
        if item.get("version") != Decimal(2):
            raise AssertionError("the seed document's version should be 2")
        new = copy.deepcopy(item)
        new["version"] = new["version"] + 1
        new["product"]["bullet_point"][0]["value"] = VALUES[":x"]
        return new

    return operation


def measure(operation: Callable[[], dict[str, Any]], seconds: float) -> dict[str, float]:
    operation()  # warm up (and fill the parse cache for the warm loop)
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(CHUNK):
            operation()
        count += CHUNK
        now = time.perf_counter()
        if now >= deadline:
            break
    elapsed = now - started
    return {"ops_per_second": count / elapsed, "us_per_op": elapsed / count * 1e6, "operations": count}


def main(args: argparse.Namespace) -> dict[str, Any]:
    item = normalize_item(seed_item())
    expected = dict_operation(item)()
    for clears_cache in (False, True):
        if expressions_operation(item, cold=clears_cache)() != expected:
            raise AssertionError("the expression path and the baseline disagree on the new item")
    warm = measure(expressions_operation(item, cold=False), args.seconds)
    cold = measure(expressions_operation(item, cold=True), args.seconds)
    baseline = measure(dict_operation(item), args.seconds)
    return {
        "update_expression": UPDATE,
        "condition_expression": CONDITION,
        "parse_cache_warm": warm,
        "parse_cache_cleared_every_op": cold,
        "baseline_python_dict_copy_and_assign": baseline,
        "warm_to_baseline": warm["ops_per_second"] / baseline["ops_per_second"],
        "cleared_to_baseline": cold["ops_per_second"] / baseline["ops_per_second"],
        "warm_to_cleared": warm["ops_per_second"] / cold["ops_per_second"],
        "seconds_per_loop": args.seconds,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    print(json.dumps(main(parser.parse_args()), indent=2))

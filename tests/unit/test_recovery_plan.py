"""The router's catalog records, and how a restarted router rebuilds a map from its partitions."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.catalog_store import CatalogStore, MemoryKeyValue, TableRecord, TableStream
from actors.recovery import PartitionReport, recovery_plan
from grid._autoscaling import ScalingSettings
from grid._keys import HASH_SPACE
from grid._schema import TableSpec
from tests.seed import CATALOG_TABLE

QUARTER = HASH_SPACE // 4


def spec(name: str) -> TableSpec:
    return TableSpec.from_create_params({"TableName": name, **CATALOG_TABLE})


def report(partition_id: str, low: int, high: int, version: int = 1) -> PartitionReport:
    return PartitionReport(partition_id=partition_id, low=low, high=high, map_version=version)


def test_records_round_trip_and_a_deleted_table_stays_gone() -> None:
    store = CatalogStore(MemoryKeyValue())
    stream = TableStream(view_type="NEW_IMAGE", label="2026-11-27T00:00:00.000", arn="arn:x/stream/1")
    first = TableRecord(
        spec=spec("orders"),
        streams=(stream,),
        write_scaling=ScalingSettings(minimum=10, maximum=500, target=70.0),
        auto_scaling_enabled=True,
    )
    store.save(first)
    store.save(TableRecord(spec=spec("carts")))
    assert sorted(record.spec.name for record in store.load()) == ["carts", "orders"]
    (loaded,) = [record for record in store.load() if record.spec.name == "orders"]
    assert loaded == first and loaded.spec.table_id == first.spec.table_id
    store.save(TableRecord(spec=first.spec))  # a change overwrites the record
    store.delete("carts")
    assert [(r.spec.name, r.streams, r.auto_scaling_enabled) for r in store.load()] == [("orders", (), False)]


def test_partitions_that_tile_the_ring_are_the_map() -> None:
    reports = [report("b", 2 * QUARTER, HASH_SPACE, 3), report("a", 0, 2 * QUARTER, 2)]
    plan = recovery_plan(reports)
    assert plan is not None
    assert (plan.ranges, plan.version, plan.undo, plan.release, plan.stop) == ([reports[1], reports[0]], 3, [], [], [])


def test_a_split_cut_short_before_the_hand_over_stops_the_new_partition() -> None:
    old = report("old", 0, HASH_SPACE, 1)
    new = replace(report("new", 2 * QUARTER, HASH_SPACE, 2), awaiting_items=True)
    plan = recovery_plan([new, old])
    assert plan is not None
    assert (plan.ranges, plan.undo, plan.stop, plan.version) == ([old], [], [new], 2)


def test_a_split_cut_short_after_the_hand_over_is_undone() -> None:
    # The old partition gave up [half, end) and kept the items; the new one never got them.
    old = replace(report("old", 0, 2 * QUARTER, 2), hand_over=(HASH_SPACE, 1))
    new = replace(report("new", 2 * QUARTER, HASH_SPACE, 2), awaiting_items=True)
    plan = recovery_plan([old, new])
    assert plan is not None
    assert [(r.partition_id, r.low, r.high) for r in plan.ranges] == [("old", 0, HASH_SPACE)]
    assert (plan.undo, plan.stop, plan.release) == ([old], [new], [])
    assert plan.version == 2  # clients refused with version 2 must be able to see it


def test_a_split_whose_receiver_took_the_items_is_finished() -> None:
    old = replace(report("old", 0, 2 * QUARTER, 2), hand_over=(HASH_SPACE, 1))
    new = report("new", 2 * QUARTER, HASH_SPACE, 2)
    plan = recovery_plan([old, new])
    assert plan is not None
    assert (plan.ranges, plan.undo, plan.release, plan.stop) == ([old, new], [], [old], [])


def test_a_merge_cut_short_is_undone_and_a_finished_one_stops_the_retired_partition() -> None:
    lower = report("lower", 0, 2 * QUARTER, 1)
    retired = replace(report("upper", 2 * QUARTER, 2 * QUARTER, 2), hand_over=(HASH_SPACE, 1))
    plan = recovery_plan([lower, retired])
    assert plan is not None
    assert [(r.partition_id, r.low, r.high) for r in plan.ranges] == [
        ("lower", 0, 2 * QUARTER),
        ("upper", 2 * QUARTER, HASH_SPACE),
    ]
    assert (plan.undo, plan.stop) == ([retired], [])
    merged = report("lower", 0, HASH_SPACE, 2)
    plan = recovery_plan([merged, retired])
    assert plan is not None
    assert (plan.ranges, plan.undo, plan.stop) == ([merged], [], [retired])


def test_a_finished_split_whose_receiver_died_is_not_rolled_back() -> None:
    """The old partition still keeps the hand-over (its release never landed), but the new
    one took the items and acknowledged writes before it died: undoing would lose them."""
    old = replace(report("old", 0, 2 * QUARTER, 2), hand_over=(HASH_SPACE, 1))
    assert recovery_plan([old]) is None
    lower = report("lower", 0, HASH_SPACE, 2)  # the merge finished; its retired upper still keeps the items
    retired = replace(report("upper", 2 * QUARTER, 2 * QUARTER, 2), hand_over=(HASH_SPACE, 1))
    plan = recovery_plan([lower, retired])
    assert plan is not None and plan.undo == [] and plan.stop == [retired]


def test_a_record_that_does_not_read_back_is_skipped() -> None:
    kv = MemoryKeyValue()
    store = CatalogStore(kv)
    store.save(TableRecord(spec=spec("orders")))
    kv.put(b"table/broken", b"not a pickle")
    assert [record.spec.name for record in store.load()] == ["orders"]


@pytest.mark.parametrize(
    "reports",
    [
        [report("a", 0, QUARTER), report("c", 2 * QUARTER, HASH_SPACE)],  # a partition died
        [report("a", 0, 2 * QUARTER), report("b", QUARTER, 3 * QUARTER, 2), report("c", 3 * QUARTER, HASH_SPACE)],
        [report("a", 0, 3 * QUARTER)],  # the last partition is dead
        [replace(report("a", 0, QUARTER, 2), hand_over=(2 * QUARTER, 1))],  # undone, still short of the ring
        [],
    ],
)
def test_ranges_that_do_not_tile_the_ring_cannot_be_trusted(reports: list[PartitionReport]) -> None:
    assert recovery_plan(reports) is None

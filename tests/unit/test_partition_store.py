"""One partition's logic without Ray (``actors/partition_store.py``)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from actors.change_log import ChangeEvent
from actors.partition_store import PartitionStore
from grid._changes import EVENT, KEY, NEW_IMAGE, OLD_IMAGE, SEQUENCE
from grid._codec import decode_item, encode_item
from grid._keys import HASH_SPACE, KeySchema, StorageKey, increment_bytes
from grid._partition_map import PartitionMap
from grid._requests import (
    DeleteOp,
    ExpressionArgs,
    GetOp,
    PutOp,
    QueryRequest,
    ScanRequest,
    UpdateOp,
    WriteResult,
)
from grid._types import normalize_item, normalize_value
from grid.errors import (
    ConditionalCheckFailedException,
    PartitionMovedError,
    TransactionInProgressException,
    ValidationException,
)

SCHEMA = KeySchema(hash_name="customer_id", hash_type="N", range_name="sku", range_type="S")
SEED = normalize_item(json.loads(Path("/work/shared/catalog-item.json").read_text()))
SEED_ID = int(SEED["customer_id"])


def storage_key(customer_id: int, sku: str) -> StorageKey:
    return SCHEMA.storage_key(SCHEMA.normalize_key({"customer_id": customer_id, "sku": sku}))


def catalog_item(customer_id: int, sku: str, **attributes: Any) -> dict[str, Any]:
    return normalize_item({"customer_id": customer_id, "sku": sku, **attributes})


def put_op(item: dict[str, Any], **options: Any) -> PutOp:
    normalized = normalize_item(item)
    return PutOp(key=SCHEMA.storage_key(SCHEMA.key_of_item(normalized)), item=encode_item(normalized), **options)


def args(names: dict[str, str] | None = None, **values: Any) -> ExpressionArgs:
    return ExpressionArgs(names=names or {}, values={f":{k}": normalize_value(v) for k, v in values.items()})


def update_op(customer_id: int, sku: str, update: str | None, **options: Any) -> UpdateOp:
    key = SCHEMA.normalize_key({"customer_id": customer_id, "sku": sku})
    return UpdateOp(key=SCHEMA.storage_key(key), key_attributes=key, update=update, **options)


def one(store: PartitionStore, op: Any) -> Any:
    [result] = store.execute([op])
    return result


def get(store: PartitionStore, customer_id: int, sku: str) -> dict[str, Any] | None:
    data = one(store, GetOp(key=storage_key(customer_id, sku)))
    assert not isinstance(data, Exception), data
    return None if data is None else decode_item(data)


def whole_ring() -> PartitionStore:
    return PartitionStore(key_schema=SCHEMA, low=0, high=HASH_SPACE)


def query_all(customer_id: int, **options: Any) -> QueryRequest:
    prefix = SCHEMA.partition_prefix(Decimal(customer_id))
    end = increment_bytes(prefix)
    assert end is not None
    defaults: dict[str, Any] = {"low": prefix, "low_inclusive": True, "high": end, "high_inclusive": False}
    defaults.update(options)
    return QueryRequest(hash=int.from_bytes(prefix[:8], "big"), **defaults)


def skus(page_items: list[bytes]) -> list[str]:
    return [decode_item(data)["sku"] for data in page_items]


@pytest.fixture
def store() -> PartitionStore:
    return whole_ring()


@pytest.fixture
def catalog(store: PartitionStore) -> PartitionStore:
    """The seed customer with ten SKUs (s00..s09, version = index) and two neighbours."""
    ops = [put_op(catalog_item(SEED_ID, f"s{i:02}", version=i)) for i in range(10)]
    ops += [put_op(catalog_item(SEED_ID - 1, "s05")), put_op(catalog_item(SEED_ID + 1, "s05"))]
    assert all(isinstance(r, WriteResult) for r in store.execute(ops))
    return store


# -- single-item operations --------------------------------------------------------------------


def test_put_get_delete(store: PartitionStore) -> None:
    op = put_op(SEED)
    assert one(store, op) == WriteResult(units=1.0)  # one unit per KB written, at least one
    assert one(store, GetOp(key=op.key)) == op.item  # the stored bytes, served without decoding
    assert get(store, SEED_ID, SEED["sku"]) == SEED
    assert get(store, SEED_ID, "other") is None
    assert one(store, DeleteOp(key=op.key, return_old=True)) == WriteResult(old=op.item, units=1.0)
    assert get(store, SEED_ID, SEED["sku"]) is None
    assert one(store, DeleteOp(key=op.key, return_old=True)) == WriteResult(
        old=None, units=1.0
    )  # deleting nothing still costs a unit


def test_put_replaces_the_whole_item_and_can_return_the_old_one(store: PartitionStore) -> None:
    first = put_op(SEED)
    one(store, first)
    replacement = {"customer_id": SEED_ID, "sku": SEED["sku"], "version": 3}
    assert one(store, put_op(replacement, return_old=True)) == WriteResult(old=first.item, units=1.0)
    assert get(store, SEED_ID, SEED["sku"]) == normalize_item(replacement)


def test_conditional_put_fails_without_changing_anything(store: PartitionStore) -> None:
    condition = "attribute_not_exists(sku)"
    assert isinstance(one(store, put_op(SEED, condition=condition)), WriteResult)
    last = store.log.last_sequence
    changed = {**SEED, "version": 99}
    error = one(store, put_op(changed, condition=condition))
    assert isinstance(error, ConditionalCheckFailedException)
    assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert error.item is None
    assert get(store, SEED_ID, SEED["sku"]) == SEED
    assert store.log.last_sequence == last


def test_failed_condition_can_return_the_existing_item(store: PartitionStore) -> None:
    one(store, put_op(SEED))
    error = one(store, put_op(SEED, condition="attribute_not_exists(sku)", return_old_on_failure=True))
    assert isinstance(error, ConditionalCheckFailedException)
    assert error.item == SEED


def test_one_failure_does_not_affect_the_rest_of_the_batch(store: PartitionStore) -> None:
    one(store, put_op(SEED))
    other = catalog_item(SEED_ID, "other", version=1)
    results = store.execute(
        [
            put_op({**SEED, "version": 50}, condition="attribute_not_exists(sku)"),
            put_op(other),
            update_op(SEED_ID, SEED["sku"], "SET sku = :s", args=args(s="x")),
            GetOp(key=storage_key(SEED_ID, "other")),
            update_op(SEED_ID, "other", "SET version = version + :one", args=args(one=1)),
            DeleteOp(key=storage_key(SEED_ID, "missing"), condition="attribute_exists(sku)"),
        ]
    )
    assert isinstance(results[0], ConditionalCheckFailedException)
    assert isinstance(results[1], WriteResult)
    assert isinstance(results[2], ValidationException)
    assert results[3] == encode_item(other)
    assert isinstance(results[4], WriteResult)
    assert isinstance(results[5], ConditionalCheckFailedException)
    assert get(store, SEED_ID, SEED["sku"]) == SEED
    assert get(store, SEED_ID, "other") == {**other, "version": Decimal(2)}


def test_optimistic_locking_with_a_version_attribute(store: PartitionStore) -> None:
    one(store, put_op(SEED))  # version 2
    bump = "SET version = version + :one"
    check = "version = :v"
    result = one(
        store, update_op(SEED_ID, SEED["sku"], bump, condition=check, args=args(v=2, one=1), return_values="ALL_NEW")
    )
    assert isinstance(result, WriteResult)
    assert result.new is not None and decode_item(result.new)["version"] == Decimal(3)
    assert result.updated_names == ("version",)
    # Two writers that both read version 3: the first wins, the second must re-read.
    first, second = store.execute(
        [
            update_op(SEED_ID, SEED["sku"], bump, condition=check, args=args(v=3, one=1)),
            update_op(SEED_ID, SEED["sku"], bump, condition=check, args=args(v=3, one=1)),
        ]
    )
    assert isinstance(first, WriteResult)
    assert isinstance(second, ConditionalCheckFailedException)
    stored = get(store, SEED_ID, SEED["sku"])
    assert stored is not None and stored["version"] == Decimal(4)
    assert {k: v for k, v in stored.items() if k != "version"} == {k: v for k, v in SEED.items() if k != "version"}


def test_update_return_values(store: PartitionStore) -> None:
    first = put_op(SEED)
    one(store, first)
    old = one(store, update_op(SEED_ID, SEED["sku"], "SET version = :v", args=args(v=5), return_values="ALL_OLD"))
    assert old.old == first.item and old.new is None
    none = one(store, update_op(SEED_ID, SEED["sku"], "SET version = :v", args=args(v=6)))
    assert none == WriteResult(updated_names=("version",), units=1.0)  # a small item: one write unit


def test_update_creates_a_missing_item_from_its_key(store: PartitionStore) -> None:
    result = one(store, update_op(7, "new", "SET hits = :one", args=args(one=1), return_values="ALL_NEW"))
    assert decode_item(result.new) == {"customer_id": Decimal(7), "sku": "new", "hits": Decimal(1)}
    assert get(store, 7, "new") == {"customer_id": Decimal(7), "sku": "new", "hits": Decimal(1)}
    assert store.log.read()[-1][EVENT] == ChangeEvent.INSERT


@pytest.mark.parametrize(
    ("update", "values"),
    [("SET sku = :s", {"s": "other"}), ("SET customer_id = :c", {"c": 1}), ("REMOVE sku", {})],
)
def test_update_refuses_to_change_a_key_attribute(store: PartitionStore, update: str, values: dict) -> None:
    one(store, put_op(SEED))
    last = store.log.last_sequence
    error = one(store, update_op(SEED_ID, SEED["sku"], update, args=args(**values)))
    assert isinstance(error, ValidationException)
    assert "This attribute is part of the key" in error.message
    assert get(store, SEED_ID, SEED["sku"]) == SEED
    assert store.log.last_sequence == last


def test_update_refuses_items_over_400_kb(store: PartitionStore) -> None:
    one(store, put_op(catalog_item(1, "a", blob="x" * 300_000)))
    error = one(store, update_op(1, "a", "SET more = :m", args=args(m="y" * 200_000)))
    assert isinstance(error, ValidationException)
    assert "exceeded the maximum allowed size" in error.message
    assert "more" not in (get(store, 1, "a") or {})


# -- the change log ------------------------------------------------------------------------------


def test_writes_are_logged_with_images_and_increasing_sequences(store: PartitionStore) -> None:
    first = put_op(SEED)
    key = first.key.key
    one(store, first)
    second = put_op({**SEED, "version": 3})
    one(store, second)
    one(store, update_op(SEED_ID, SEED["sku"], "SET version = version + :one", args=args(one=1)))
    one(store, DeleteOp(key=first.key))
    records = store.log.read()
    assert [r[EVENT] for r in records] == [
        ChangeEvent.INSERT,
        ChangeEvent.MODIFY,
        ChangeEvent.MODIFY,
        ChangeEvent.REMOVE,
    ]
    assert [r[SEQUENCE] for r in records] == [1, 2, 3, 4]
    assert all(r[KEY] == key for r in records)
    assert (records[0][OLD_IMAGE], records[0][NEW_IMAGE]) == (None, first.item)
    assert (records[1][OLD_IMAGE], records[1][NEW_IMAGE]) == (first.item, second.item)
    assert records[2][OLD_IMAGE] == second.item
    assert records[2][NEW_IMAGE] is not None and decode_item(records[2][NEW_IMAGE])["version"] == Decimal(4)
    assert (records[3][OLD_IMAGE], records[3][NEW_IMAGE]) == (records[2][NEW_IMAGE], None)
    assert store.log.last_sequence == 4


def test_writes_that_change_nothing_log_nothing(store: PartitionStore) -> None:
    one(store, put_op(SEED))
    assert store.log.last_sequence == 1
    results = store.execute(
        [
            put_op(SEED),  # identical item
            put_op(json.loads(Path("/work/shared/catalog-item.json").read_text())),  # the same, written anew
            update_op(SEED_ID, SEED["sku"], "SET version = :v", args=args(v=2)),  # same value
            DeleteOp(key=storage_key(SEED_ID, "missing")),  # nothing to delete
            put_op(SEED, condition="attribute_not_exists(sku)"),  # refused
        ]
    )
    assert [type(r) for r in results[:4]] == [WriteResult] * 4
    assert store.log.last_sequence == 1
    assert len(store.log.read()) == 1


# -- ownership ---------------------------------------------------------------------------------------


def test_keys_outside_the_hash_range_are_refused_as_moved() -> None:
    inside = storage_key(SEED_ID, SEED["sku"])
    bounds = PartitionMap.uniform_bounds(4)
    low, high = next((lo, hi) for lo, hi in bounds if not lo <= inside.hash < hi)
    store = PartitionStore(key_schema=SCHEMA, low=low, high=high, map_version=7)
    owned = next(catalog_item(c, "x") for c in range(1, 1000) if low <= storage_key(c, "x").hash < high)
    results = store.execute([put_op(SEED), put_op(owned), GetOp(key=inside), DeleteOp(key=inside)])
    assert isinstance(results[0], PartitionMovedError)
    assert results[0].details["map_version"] == 7
    assert results[0].retryable
    assert isinstance(results[1], WriteResult)
    assert isinstance(results[2], PartitionMovedError)
    assert isinstance(results[3], PartitionMovedError)
    assert store.item_count == 1
    with pytest.raises(PartitionMovedError):
        store.query(query_all(SEED_ID))


# -- Query ----------------------------------------------------------------------------------------------


def test_query_walks_one_partition_key_in_sort_order(catalog: PartitionStore) -> None:
    page = catalog.query(query_all(SEED_ID))
    assert skus(page.items) == [f"s{i:02}" for i in range(10)]
    assert (page.count, page.scanned_count, page.more) == (10, 10, False)
    assert page.last_key == {"customer_id": Decimal(SEED_ID), "sku": "s09"}
    backwards = catalog.query(query_all(SEED_ID, forward=False))
    assert skus(backwards.items) == [f"s{i:02}" for i in reversed(range(10))]
    assert backwards.last_key == {"customer_id": Decimal(SEED_ID), "sku": "s00"}


def test_query_of_an_unknown_partition_key_is_empty(catalog: PartitionStore) -> None:
    page = catalog.query(query_all(12345))
    assert (page.items, page.count, page.scanned_count, page.last_key, page.more) == ([], 0, 0, None, False)


@pytest.mark.parametrize(
    ("low", "low_inclusive", "high", "high_inclusive", "expected"),
    [
        ("s03", True, "s06", True, ["s03", "s04", "s05", "s06"]),
        ("s03", False, "s06", False, ["s04", "s05"]),
        ("s03", True, "s03", True, ["s03"]),
        ("s035", True, "s07", False, ["s04", "s05", "s06"]),
    ],
)
def test_query_sort_key_bounds(
    catalog: PartitionStore, low: str, low_inclusive: bool, high: str, high_inclusive: bool, expected: list[str]
) -> None:
    bounds = {
        "low": storage_key(SEED_ID, low).key,
        "low_inclusive": low_inclusive,
        "high": storage_key(SEED_ID, high).key,
        "high_inclusive": high_inclusive,
    }
    assert skus(catalog.query(query_all(SEED_ID, **bounds)).items) == expected
    assert skus(catalog.query(query_all(SEED_ID, forward=False, **bounds)).items) == expected[::-1]


@pytest.mark.parametrize("forward", [True, False])
def test_query_pages_with_limit_and_exclusive_start(catalog: PartitionStore, forward: bool) -> None:
    expected = [f"s{i:02}" for i in range(10)]
    if not forward:
        expected.reverse()
    seen: list[str] = []
    start: bytes | None = None
    pages = []
    while True:
        page = catalog.query(query_all(SEED_ID, forward=forward, limit=4, exclusive_start=start))
        pages.append(page)
        seen += skus(page.items)
        assert page.last_key == {"customer_id": Decimal(SEED_ID), "sku": seen[-1]}
        if not page.more:
            break
        start = SCHEMA.storage_key(page.last_key).key
    assert seen == expected
    assert [p.count for p in pages] == [4, 4, 2]
    assert [p.more for p in pages] == [True, True, False]


def test_query_page_that_ends_exactly_at_the_last_item_has_no_more(catalog: PartitionStore) -> None:
    start = storage_key(SEED_ID, "s05").key
    page = catalog.query(query_all(SEED_ID, limit=4, exclusive_start=start))
    assert skus(page.items) == ["s06", "s07", "s08", "s09"]
    assert page.more is False


def test_query_filter_counts_scanned_and_matched(catalog: PartitionStore) -> None:
    page = catalog.query(query_all(SEED_ID, filter="version >= :v", args=args(v=7)))
    assert skus(page.items) == ["s07", "s08", "s09"]
    assert (page.count, page.scanned_count) == (3, 10)
    # Limit counts items evaluated, not items matched: a page may hold none yet have more.
    limited = catalog.query(query_all(SEED_ID, filter="version >= :v", args=args(v=7), limit=7))
    assert (limited.items, limited.count, limited.scanned_count, limited.more) == ([], 0, 7, True)
    assert limited.last_key == {"customer_id": Decimal(SEED_ID), "sku": "s06"}
    counted = catalog.query(query_all(SEED_ID, filter="version >= :v", args=args(v=7), count_only=True))
    assert (counted.items, counted.count, counted.scanned_count) == ([], 3, 10)


def test_query_page_stops_at_max_bytes(catalog: PartitionStore) -> None:
    page = catalog.query(query_all(SEED_ID, max_bytes=1))
    assert (page.count, page.more) == (1, True)
    assert page.last_key == {"customer_id": Decimal(SEED_ID), "sku": "s00"}


# -- Scan -------------------------------------------------------------------------------------------------


@pytest.fixture
def many(store: PartitionStore) -> PartitionStore:
    store.execute([put_op(catalog_item(c, f"sku-{c % 3}-{j}", n=c)) for c in range(1, 101) for j in range(2)])
    return store


def scanned_keys(page_items: list[bytes]) -> list[bytes]:
    return [SCHEMA.storage_key(SCHEMA.key_of_item(decode_item(data))).key for data in page_items]


def test_scan_returns_every_item_in_ring_order(many: PartitionStore) -> None:
    page = many.scan(ScanRequest(low_hash=0, high_hash=HASH_SPACE))
    keys = scanned_keys(page.items)
    assert len(keys) == page.count == page.scanned_count == 200
    assert keys == sorted(keys)
    assert page.more is False


def test_scan_pages_cover_every_item_exactly_once(many: PartitionStore) -> None:
    seen: list[bytes] = []
    start: bytes | None = None
    while True:
        page = many.scan(ScanRequest(low_hash=0, high_hash=HASH_SPACE, limit=37, exclusive_start=start))
        seen += scanned_keys(page.items)
        if not page.more:
            break
        assert page.last_key is not None
        start = SCHEMA.storage_key(page.last_key).key
    assert len(seen) == len(set(seen)) == 200
    assert seen == sorted(seen)


def test_scan_of_hash_sub_ranges_partitions_the_items(many: PartitionStore) -> None:
    everything = set(scanned_keys(many.scan(ScanRequest(low_hash=0, high_hash=HASH_SPACE)).items))
    union: set[bytes] = set()
    for low, high in PartitionMap.uniform_bounds(5):
        keys = scanned_keys(many.scan(ScanRequest(low_hash=low, high_hash=high)).items)
        assert all(low <= int.from_bytes(k[:8], "big") < high for k in keys)
        assert union.isdisjoint(keys)
        union.update(keys)
    assert union == everything


def test_scan_exclusive_start_inside_a_sub_range(many: PartitionStore) -> None:
    low, high = PartitionMap.uniform_bounds(2)[1]
    keys = scanned_keys(many.scan(ScanRequest(low_hash=low, high_hash=high)).items)
    rest = scanned_keys(many.scan(ScanRequest(low_hash=low, high_hash=high, exclusive_start=keys[9])).items)
    assert rest == keys[10:]


def test_scan_outside_the_partition_is_refused() -> None:
    low, high = PartitionMap.uniform_bounds(2)[0]
    store = PartitionStore(key_schema=SCHEMA, low=low, high=high)
    with pytest.raises(PartitionMovedError):
        store.scan(ScanRequest(low_hash=0, high_hash=HASH_SPACE))
    assert store.scan(ScanRequest(low_hash=low, high_hash=high)).count == 0


# -- splits and stats ---------------------------------------------------------------------------------------


def test_split_off_and_ingest_move_exactly_the_upper_range(many: PartitionStore) -> None:
    stored = many.scan(ScanRequest(low_hash=0, high_hash=HASH_SPACE)).items
    before = dict(zip(scanned_keys(stored), stored, strict=True))
    at = HASH_SPACE // 2 + 12345
    last_sequence = many.log.last_sequence
    moved = many.split_off(at, map_version=2)
    assert {key for key, _ in moved} == {k for k in before if int.from_bytes(k[:8], "big") >= at}
    assert 0 < len(moved) < len(before)
    assert all(before[key] == data for key, data in moved)
    target = PartitionStore(key_schema=SCHEMA, low=at, high=HASH_SPACE, map_version=2)
    target.ingest(moved)
    assert target.log.last_sequence == 0  # nothing changed, so nothing is logged
    assert many.log.last_sequence == last_sequence
    assert (many.high, many.map_version) == (at, 2)

    for key, data in before.items():
        decoded = decode_item(data)
        op = GetOp(key=SCHEMA.storage_key(SCHEMA.key_of_item(decoded)))
        owner, other = (target, many) if int.from_bytes(key[:8], "big") >= at else (many, target)
        assert one(owner, op) == data
        refused = one(other, op)
        assert isinstance(refused, PartitionMovedError)
    assert many.item_count + target.item_count == len(before)
    assert target.size_bytes == sum(len(data) for _, data in moved)
    assert many.size_bytes == sum(len(v) for k, v in before.items() if int.from_bytes(k[:8], "big") < at)
    left = scanned_keys(many.scan(ScanRequest(low_hash=0, high_hash=at)).items)
    right = scanned_keys(target.scan(ScanRequest(low_hash=at, high_hash=HASH_SPACE)).items)
    assert left + right == sorted(before)
    with pytest.raises(PartitionMovedError):
        many.scan(ScanRequest(low_hash=0, high_hash=HASH_SPACE))


@pytest.mark.parametrize("at", [0, HASH_SPACE, HASH_SPACE + 1])
def test_split_point_must_lie_inside_the_range(store: PartitionStore, at: int) -> None:
    with pytest.raises(ValidationException):
        store.split_off(at, map_version=2)
    assert store.high == HASH_SPACE


def test_stats_track_count_and_bytes(store: PartitionStore) -> None:
    assert (store.item_count, store.size_bytes, store.low, store.high) == (0, 0, 0, HASH_SPACE)
    assert (store.map_version, store.hand_over, store.log.last_sequence) == (1, None, 0)
    a, b = put_op(catalog_item(1, "a", v="x")), put_op(catalog_item(2, "b", v="y" * 100))
    store.execute([a, b])
    assert store.item_count == 2
    assert store.size_bytes == len(a.item) + len(b.item)
    bigger = put_op(catalog_item(1, "a", v="x" * 50))
    one(store, bigger)
    assert store.size_bytes == len(bigger.item) + len(b.item)
    one(store, DeleteOp(key=b.key))
    assert store.item_count == 1
    assert store.size_bytes == len(bigger.item)
    assert store.log.last_sequence == 4


def test_retire_and_absorb_upper_merge_two_ranges_into_one(many: PartitionStore) -> None:
    stored = many.scan(ScanRequest(low_hash=0, high_hash=HASH_SPACE)).items
    before = dict(zip(scanned_keys(stored), stored, strict=True))
    at = HASH_SPACE // 2
    upper = PartitionStore(key_schema=SCHEMA, low=at, high=HASH_SPACE, map_version=2, shard_id="upper-0")
    upper.ingest(many.split_off(at, map_version=2, child_shard_id="lower-1"))
    late = next(c for c in range(1000, 2000) if storage_key(c, "late").hash >= at)
    assert isinstance(one(upper, put_op(catalog_item(late, "late"))), WriteResult)  # a record of the upper log

    moved = upper.retire(map_version=3)
    assert upper.item_count == 0 and upper.size_bytes == 0
    assert upper.log.shards[-1].last_sequence == upper.log.last_sequence == 1  # its shard closed, the log stays
    for key in list(before)[:20]:
        refused = one(upper, GetOp(key=SCHEMA.storage_key(SCHEMA.key_of_item(decode_item(before[key])))))
        assert isinstance(refused, PartitionMovedError)
    with pytest.raises(PartitionMovedError):
        upper.scan(ScanRequest(low_hash=at, high_hash=HASH_SPACE))

    many.absorb_upper(moved, HASH_SPACE, map_version=3, child_shard_id="lower-2", other_parent="upper-0")
    assert (many.low, many.high, many.map_version) == (0, HASH_SPACE, 3)
    merged = scanned_keys(many.scan(ScanRequest(low_hash=0, high_hash=HASH_SPACE)).items)
    assert merged == sorted([*before, storage_key(late, "late").key])
    added = sum(len(data) for key, data in moved if key not in before)
    assert many.size_bytes == sum(len(v) for v in before.values()) + added
    assert [(s.shard_id, s.parents) for s in many.log.shards] == [
        ("shard-0", ()),
        ("lower-1", ("shard-0",)),
        ("lower-2", ("lower-1", "upper-0")),
    ]
    assert many.log.shards[1].last_sequence == many.log.last_sequence  # the merge logged nothing


def test_a_merge_must_extend_the_range_upwards(store: PartitionStore) -> None:
    with pytest.raises(ValidationException):
        store.absorb_upper([], HASH_SPACE, map_version=2, child_shard_id="x", other_parent="y")
    assert store.log.shards[-1].last_sequence is None


def test_retire_waits_for_transactions_holding_items(store: PartitionStore) -> None:
    op = put_op(catalog_item(1, "held"))
    store.locks[op.key.key] = object()
    with pytest.raises(TransactionInProgressException):
        store.retire(map_version=2)
    assert store.high == HASH_SPACE and store.item_count == 0


def test_a_hand_over_is_kept_until_released_and_can_be_undone_from_it(many: PartitionStore) -> None:
    """What a router restarted mid-move relies on: the giver still holds the items it handed over."""
    before = many.scan(ScanRequest(low_hash=0, high_hash=HASH_SPACE)).items
    assert many.kept_hand_over is None and many.undo_hand_over("shard-x", 2) is False
    many.split_off(HASH_SPACE // 2, map_version=2, child_shard_id="shard-1")
    assert many.kept_hand_over == (HASH_SPACE, 1)
    assert many.undo_hand_over("shard-2", 2) is True
    assert many.scan(ScanRequest(low_hash=0, high_hash=HASH_SPACE)).items == before
    # The version goes on from the one the restarted router serves: never back to 1.
    assert (many.high, many.map_version, many.kept_hand_over) == (HASH_SPACE, 2, None)
    many.split_off(HASH_SPACE // 2, map_version=2, child_shard_id="shard-3")
    many.release_hand_over()  # the receiver holds them: nothing to undo any more
    assert many.kept_hand_over is None and many.undo_hand_over("shard-4", 3) is False
    assert many.high == HASH_SPACE // 2
    upper = PartitionStore(key_schema=SCHEMA, low=0, high=HASH_SPACE, shard_id="u-0")
    upper.ingest(list(zip(scanned_keys(before), before, strict=True)))
    upper.retire(map_version=5)
    assert upper.kept_hand_over == (HASH_SPACE, 1) and upper.undo_hand_over("u-1", 5)
    assert upper.scan(ScanRequest(low_hash=0, high_hash=HASH_SPACE)).items == before


def test_take_back_undoes_a_hand_over_whose_receiver_failed(many: PartitionStore) -> None:
    before = many.scan(ScanRequest(low_hash=0, high_hash=HASH_SPACE)).items
    at = HASH_SPACE // 2
    moved = many.split_off(at, map_version=2, child_shard_id="shard-1")
    many.take_back(moved, HASH_SPACE, map_version=1, child_shard_id="shard-2")
    assert many.scan(ScanRequest(low_hash=0, high_hash=HASH_SPACE)).items == before
    assert (many.high, many.map_version) == (HASH_SPACE, 1)
    assert [(s.shard_id, s.parents) for s in many.log.shards] == [
        ("shard-0", ()),
        ("shard-1", ("shard-0",)),
        ("shard-2", ("shard-1",)),
    ]
    retired = PartitionStore(key_schema=SCHEMA, low=0, high=HASH_SPACE, shard_id="u-0")
    retired.ingest(retired_items := list(zip(scanned_keys(before), before, strict=True)))
    retired.take_back(retired.retire(map_version=2), HASH_SPACE, map_version=1, child_shard_id="u-1")
    assert retired.item_count == len(retired_items)
    assert isinstance(one(retired, put_op(catalog_item(1, "after"))), WriteResult)  # it writes again
    assert retired.log.shards[-1].shard_id == "u-1" and retired.log.last_sequence == 1

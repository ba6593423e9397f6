"""Key schemas, canonical storage keys and the stable, uniform key hash (``grid/_keys.py``)."""

from __future__ import annotations

import bisect
import random
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grid._keys import (
    HASH_SPACE,
    KeySchema,
    encode_number,
    encode_sort_value,
    hash_from_prefix,
    increment_bytes,
)
from grid._partition_map import PartitionMap
from grid.errors import ValidationException

CATALOG = KeySchema(hash_name="customer_id", hash_type="N", range_name="sku", range_type="S")
HASH_ONLY = KeySchema(hash_name="customer_id", hash_type="N")
STRING_PK = KeySchema(hash_name="pk", hash_type="S")
BINARY_SK = KeySchema(hash_name="pk", hash_type="S", range_name="sk", range_type="B")
NUMBER_SK = KeySchema(hash_name="pk", hash_type="S", range_name="sk", range_type="N")
STRING_SK = KeySchema(hash_name="pk", hash_type="S", range_name="sk", range_type="S")

SEED_CUSTOMER_ID = 207808519

# Numbers as DynamoDB holds them: up to 38 significant digits, magnitudes 1E-130 .. <1E+126.
dynamo_numbers = st.builds(
    lambda mantissa, exponent: Decimal(f"{mantissa}E{exponent}"),
    st.integers(min_value=-(10**38 - 1), max_value=10**38 - 1),
    st.integers(min_value=-167, max_value=125),
).filter(lambda n: n.is_zero() or -130 <= n.adjusted() <= 125)


def storage(schema: KeySchema, key: dict) -> bytes:
    return schema.storage_key(schema.normalize_key(key)).key


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ({"customer_id": 1}, "The provided key element does not match the schema"),
        ({"sku": "a"}, "The provided key element does not match the schema"),
        ({}, "The provided key element does not match the schema"),
        ({"customer_id": 1, "sku": "a", "extra": 1}, "The provided key element does not match the schema"),
        ({"customer_id": "1", "sku": "a"}, "The provided key element does not match the schema"),  # a Key names no type
        ({"customer_id": 1, "sku": 5}, "The provided key element does not match the schema"),  # a Key names no type
        ({"customer_id": 1, "sku": b"a"}, "The provided key element does not match the schema"),  # a Key names no type
        (
            {"customer_id": True, "sku": "a"},
            "The provided key element does not match the schema",
        ),  # a Key names no type
        ({"customer_id": None, "sku": "a"}, "The provided key element does not match the schema"),
        ({"customer_id": 1, "sku": ""}, "cannot contain an empty string value. Key: sku"),
    ],
)
def test_normalize_key_refuses_keys_that_do_not_match_the_schema(key: dict, message: str) -> None:
    with pytest.raises(ValidationException, match=message):
        CATALOG.normalize_key(key)


def test_normalize_key_refuses_a_non_mapping() -> None:
    with pytest.raises(ValidationException, match="does not match the schema"):
        CATALOG.normalize_key([("customer_id", 1), ("sku", "a")])


def test_normalize_key_converts_numbers_and_returns_only_key_attributes() -> None:
    key = CATALOG.normalize_key({"customer_id": SEED_CUSTOMER_ID, "sku": "207808519/C00K2DG90"})
    assert key == {"customer_id": Decimal(SEED_CUSTOMER_ID), "sku": "207808519/C00K2DG90"}
    assert isinstance(key["customer_id"], Decimal)


def test_empty_binary_key_is_refused() -> None:
    with pytest.raises(ValidationException, match="cannot contain an empty binary value. Key: sk"):
        BINARY_SK.normalize_key({"pk": "a", "sk": b""})


def test_key_of_item_names_the_missing_key_attribute() -> None:
    with pytest.raises(ValidationException, match="Missing the key sku in the item"):
        CATALOG.key_of_item({"customer_id": Decimal(1), "other": "x"})
    with pytest.raises(ValidationException, match="Missing the key customer_id in the item"):
        CATALOG.key_of_item({"sku": "x"})


def test_key_of_item_takes_the_key_and_ignores_other_attributes() -> None:
    item = {"customer_id": Decimal(7), "sku": "a", "version": Decimal(2), "product": {"brand": "X"}}
    assert CATALOG.key_of_item(item) == {"customer_id": Decimal(7), "sku": "a"}


def test_key_of_item_checks_types() -> None:
    with pytest.raises(ValidationException, match="Type mismatch for key sku expected: S actual: N"):
        CATALOG.key_of_item({"customer_id": Decimal(1), "sku": Decimal(2)})


def test_partition_key_size_limit_is_2048_utf8_bytes() -> None:
    assert STRING_PK.normalize_key({"pk": "x" * 2048})["pk"] == "x" * 2048
    assert STRING_PK.normalize_key({"pk": "é" * 1024})  # 2 bytes each: exactly 2048
    with pytest.raises(ValidationException, match="Size of hashkey has exceeded the maximum size limit"):
        STRING_PK.normalize_key({"pk": "x" * 2049})
    with pytest.raises(ValidationException, match="Size of hashkey has exceeded"):
        STRING_PK.normalize_key({"pk": "é" * 1025})


def test_sort_key_size_limit_is_1024_bytes() -> None:
    assert STRING_SK.normalize_key({"pk": "a", "sk": "y" * 1024})
    assert STRING_SK.normalize_key({"pk": "a", "sk": "é" * 512})
    with pytest.raises(ValidationException, match="exceeded the size limit of 1024 bytes"):
        STRING_SK.normalize_key({"pk": "a", "sk": "y" * 1025})
    with pytest.raises(ValidationException, match="exceeded the size limit of 1024 bytes"):
        STRING_SK.normalize_key({"pk": "a", "sk": "é" * 513})
    assert BINARY_SK.normalize_key({"pk": "a", "sk": b"\x00" * 1024})
    with pytest.raises(ValidationException, match="exceeded the size limit of 1024 bytes"):
        BINARY_SK.normalize_key({"pk": "a", "sk": b"\x00" * 1025})


def test_check_key_value_validates_one_attribute() -> None:
    assert CATALOG.check_key_value("sku", "abc") == "abc"
    assert CATALOG.check_key_value("customer_id", Decimal(3)) == Decimal(3)
    with pytest.raises(ValidationException, match="Type mismatch for key customer_id expected: N actual: S"):
        CATALOG.check_key_value("customer_id", "3")
    with pytest.raises(ValidationException, match="empty string value. Key: sku"):
        CATALOG.check_key_value("sku", "")
    with pytest.raises(ValidationException, match="does not match the schema"):
        CATALOG.check_key_value("sku", None)
    with pytest.raises(ValidationException, match="exceeded the size limit of 1024 bytes"):
        CATALOG.check_key_value("sku", "z" * 1025)


# -- number encoding ------------------------------------------------------------------------


@given(dynamo_numbers, dynamo_numbers)
def test_encode_number_preserves_order(a: Decimal, b: Decimal) -> None:
    assert (a < b) == (encode_number(a) < encode_number(b))
    assert (a == b) == (encode_number(a) == encode_number(b))


@given(dynamo_numbers, st.integers(min_value=0, max_value=5))
def test_encode_number_is_canonical_under_trailing_zeros(number: Decimal, extra_zeros: int) -> None:
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    padded = Decimal((sign, digits + (0,) * extra_zeros, exponent - extra_zeros))
    assert padded == number
    assert encode_number(padded) == encode_number(number)


@given(
    st.integers(min_value=10**28, max_value=10**38 - 2),
    st.integers(min_value=-167, max_value=88),
    st.booleans(),
)
def test_encode_number_keeps_all_38_digits(mantissa: int, exponent: int, negative: bool) -> None:
    """Numbers that differ only in a digit beyond the 28th are different numbers and keys."""
    sign = "-" if negative else ""
    a = Decimal(f"{sign}{mantissa}E{exponent}")
    b = Decimal(f"{sign}{mantissa + 1}E{exponent}")
    assert encode_number(a) != encode_number(b)
    assert (encode_number(a) < encode_number(b)) == (a < b)


def test_distinct_38_digit_keys_do_not_collide() -> None:
    first = storage(NUMBER_SK, {"pk": "a", "sk": Decimal("12345678901234567890123456789012345678")})
    second = storage(NUMBER_SK, {"pk": "a", "sk": Decimal("12345678901234567890123456789012345679")})
    assert first != second
    big = HASH_ONLY.storage_key(HASH_ONLY.normalize_key({"customer_id": Decimal("9" * 38)}))
    other = HASH_ONLY.storage_key(HASH_ONLY.normalize_key({"customer_id": Decimal("1E+38")}))
    assert big.key != other.key


def test_encode_number_sorts_a_table_of_hard_cases() -> None:
    ordered = [
        "-9.9999999999999999999999999999999999999E+125",
        "-1E+125",
        "-10",
        "-9.99",
        "-1.5",
        "-1.23",
        "-1.2",
        "-1",
        "-0.5",
        "-1E-130",
        "0",
        "1E-130",
        "0.5",
        "1",
        "1.2",
        "1.23",
        "1.5",
        "9.99",
        "10",
        "1E+125",
        "9.9999999999999999999999999999999999999E+125",
    ]
    numbers = [Decimal(text) for text in ordered]
    shuffled = numbers[:]
    random.Random(4).shuffle(shuffled)
    assert sorted(shuffled, key=encode_number) == numbers


@pytest.mark.parametrize(
    "equal", [[1, 1.0, Decimal("1.00"), Decimal("1E0"), Decimal("0.1E1")], [0, 0.0, Decimal("-0"), Decimal("0E-5")]]
)
def test_equal_numbers_make_equal_keys(equal: list) -> None:
    keys = {storage(NUMBER_SK, {"pk": "a", "sk": number}) for number in equal}
    assert len(keys) == 1
    hashes = {HASH_ONLY.storage_key(HASH_ONLY.normalize_key({"customer_id": n})).hash for n in equal}
    assert len(hashes) == 1


# -- storage-key order ------------------------------------------------------------------------


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_string_sort_keys_order_by_utf8_bytes(a: str, b: str) -> None:
    key_a = storage(STRING_SK, {"pk": "p", "sk": a})
    key_b = storage(STRING_SK, {"pk": "p", "sk": b})
    assert (a.encode("utf-8") < b.encode("utf-8")) == (key_a < key_b)
    assert (a == b) == (key_a == key_b)


def test_string_sort_keys_use_byte_order_not_utf16_order() -> None:
    # UTF-16 puts U+FFFD after U+1F600 (surrogates sort low); UTF-8 and DynamoDB put it before.
    assert storage(STRING_SK, {"pk": "p", "sk": "\ufffd"}) < storage(STRING_SK, {"pk": "p", "sk": "\U0001f600"})
    assert storage(STRING_SK, {"pk": "p", "sk": "Z"}) < storage(STRING_SK, {"pk": "p", "sk": "a"})
    assert storage(STRING_SK, {"pk": "p", "sk": "a"}) < storage(STRING_SK, {"pk": "p", "sk": "a\x00"})


@given(st.binary(min_size=1, max_size=20), st.binary(min_size=1, max_size=20))
def test_binary_sort_keys_order_as_unsigned_bytes(a: bytes, b: bytes) -> None:
    key_a = storage(BINARY_SK, {"pk": "p", "sk": a})
    key_b = storage(BINARY_SK, {"pk": "p", "sk": b})
    assert (a < b) == (key_a < key_b)


def test_binary_sort_keys_treat_high_bytes_as_large() -> None:
    values = [b"\x00", b"\x01", b"\x7f", b"\x80", b"\xff", b"\xff\x00"]
    keys = [storage(BINARY_SK, {"pk": "p", "sk": v}) for v in values]
    assert keys == sorted(keys)


def test_items_of_one_partition_key_are_contiguous_and_ordered_by_sort_key() -> None:
    # "a" and "ab" would interleave without a prefix-free partition-key encoding.
    partition_keys = ["a", "ab", "b", "a\x00", "x" * 300]
    sort_keys = ["\x00", "0", "a", "ab", "b", "zz", "\U0001f600"]
    entries = [(storage(STRING_SK, {"pk": p, "sk": s}), p, s) for p in partition_keys for s in sort_keys]
    random.Random(1).shuffle(entries)
    entries.sort()
    runs = [p for i, (_, p, _) in enumerate(entries) if i == 0 or entries[i - 1][1] != p]
    assert sorted(runs) == sorted(partition_keys), "each partition key's items must form one run"
    for p in partition_keys:
        in_order = [s for _, q, s in entries if q == p]
        assert in_order == sorted(sort_keys, key=lambda s: s.encode("utf-8"))


def test_storage_keys_of_a_partition_key_lie_in_its_prefix_range() -> None:
    prefix = STRING_SK.partition_prefix("customer")
    upper = increment_bytes(prefix)
    assert upper is not None
    for sort_key in ["a", "\U0010ffff" * 10, "\x00"]:
        key = STRING_SK.storage_key(STRING_SK.normalize_key({"pk": "customer", "sk": sort_key}))
        assert key.key.startswith(prefix)
        assert prefix < key.key < upper
        assert key.key == prefix + encode_sort_value(sort_key)
    other = storage(STRING_SK, {"pk": "customer2", "sk": "a"})
    assert not prefix <= other < upper


def test_hash_ignores_the_sort_key_and_heads_the_storage_key() -> None:
    one = CATALOG.storage_key(CATALOG.normalize_key({"customer_id": SEED_CUSTOMER_ID, "sku": "a"}))
    two = CATALOG.storage_key(CATALOG.normalize_key({"customer_id": SEED_CUSTOMER_ID, "sku": "b" * 900}))
    assert one.hash == two.hash
    assert one.key[:8] == two.key[:8] == one.hash.to_bytes(8, "big")
    assert hash_from_prefix(one.key) == one.hash
    assert 0 <= one.hash < HASH_SPACE


def test_hash_only_storage_key_is_the_partition_prefix() -> None:
    key = HASH_ONLY.storage_key(HASH_ONLY.normalize_key({"customer_id": SEED_CUSTOMER_ID}))
    assert key.key == HASH_ONLY.partition_prefix(Decimal(SEED_CUSTOMER_ID))


def test_same_text_as_string_number_and_binary_are_different_keys() -> None:
    text = KeySchema(hash_name="pk", hash_type="S").storage_key({"pk": "1"})
    number = KeySchema(hash_name="pk", hash_type="N").storage_key({"pk": Decimal(1)})
    binary = KeySchema(hash_name="pk", hash_type="B").storage_key({"pk": b"1"})
    assert len({text.key, number.key, binary.key}) == 3


def test_increment_bytes() -> None:
    assert increment_bytes(b"ab") == b"ac"
    assert increment_bytes(b"a\xff\xff") == b"b"
    assert increment_bytes(b"\xff\xff") is None


# -- the hash: stable and uniform ---------------------------------------------------------------


def test_hash_of_the_seed_customer_is_pinned() -> None:
    """Changing the hash function or the key encoding would re-place every stored item."""
    key = CATALOG.storage_key(CATALOG.normalize_key({"customer_id": SEED_CUSTOMER_ID, "sku": "207808519/C00K2DG90"}))
    assert key.hash == 14558401251773050417
    assert CATALOG.partition_prefix(Decimal(SEED_CUSTOMER_ID)).hex() == (
        "ca09d4ce0588ee316e000c038008323037383038353139"
    )


def test_hash_of_a_string_partition_key_is_pinned() -> None:
    assert STRING_PK.storage_key({"pk": "207808519/C00K2DG90"}).hash == 5942674442687233655


@pytest.fixture(scope="module")
def seed_like_hashes() -> list[int]:
    # 100,000 nine-digit customer ids around the seed's: consecutive ids are the hard case
    # for a weak hash, random ones the common case.
    rng = random.Random(207808519)
    ids = [SEED_CUSTOMER_ID + i for i in range(50_000)] + [rng.randrange(10**8, 10**9) for _ in range(50_000)]
    return [HASH_ONLY.storage_key(HASH_ONLY.normalize_key({"customer_id": c})).hash for c in ids]


@pytest.mark.parametrize(("partitions", "tolerance"), [(4, 0.03), (16, 0.05)])
def test_hash_spreads_seed_like_ids_evenly(seed_like_hashes: list[int], partitions: int, tolerance: float) -> None:
    bounds = PartitionMap.uniform_bounds(partitions)
    lows = [low for low, _ in bounds]
    counts = [0] * partitions
    for h in seed_like_hashes:
        counts[bisect.bisect_right(lows, h) - 1] += 1
    assert sum(counts) == len(seed_like_hashes)
    expected = len(seed_like_hashes) / partitions
    for count in counts:
        assert abs(count - expected) <= tolerance * expected, counts

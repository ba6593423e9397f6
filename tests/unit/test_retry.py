"""The client's retry policy (``grid/_retry.py``): botocore's options, backoff, and merged-away partitions."""

from __future__ import annotations

import pytest

from grid._partition_map import PartitionMap, PartitionRange
from grid._retry import RetryPolicy, partition_left
from grid.errors import PartitionUnavailableError, ValidationException


def two_partitions() -> PartitionMap:
    ranges = tuple(
        PartitionRange(partition_id=f"p{i}", low=low, high=high)
        for i, (low, high) in enumerate(PartitionMap.uniform_bounds(2))
    )
    return PartitionMap(table_name="t", table_id="t-1", version=1, ranges=ranges)


def test_max_attempts_counts_the_first_try_as_botocore_does() -> None:
    assert RetryPolicy.from_config(None).max_attempts == 3
    assert RetryPolicy.from_config({"max_attempts": 1, "mode": "standard"}).max_attempts == 1
    assert RetryPolicy.from_config({"total_max_attempts": 5}).max_attempts == 5


@pytest.mark.parametrize("config", [{"max_attempts": 0}, {"max_attempts": True}, {"mode": "fast"}, {"retry_after": 1}])
def test_bad_retry_options_are_refused(config: dict[str, object]) -> None:
    with pytest.raises(ValidationException):
        RetryPolicy.from_config(config)


def test_backoff_has_full_jitter_under_an_exponential_cap() -> None:
    policy = RetryPolicy.from_config(None)
    for attempt in range(1, 8):
        delays = [policy.backoff(attempt) for _ in range(200)]
        assert all(0 <= d <= min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1)) for d in delays)
        assert len(set(delays)) > 100  # jittered, not fixed


def test_only_a_partition_absent_from_the_fresh_map_counts_as_merged_away() -> None:
    before = two_partitions()
    after = before.with_merge("p0")
    assert partition_left(PartitionUnavailableError("gone", partition_id="p1"), [after])
    assert not partition_left(PartitionUnavailableError("down", partition_id="p0"), [after])
    assert not partition_left(PartitionUnavailableError("down", partition_id="p1"), [before])
    assert not partition_left(PartitionUnavailableError("unnamed"), [after])  # no name: not routine

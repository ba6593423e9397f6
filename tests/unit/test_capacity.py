"""Capacity units as DynamoDB meters them, and the token buckets that enforce provisioned throughput."""

from __future__ import annotations

import pytest

from actors.throttle import BURST_SECONDS, CapacityMeter, TokenBucket
from grid._capacity import Consumed, consumed_capacity_response, read_units, return_consumed_capacity, write_units
from grid.errors import ProvisionedThroughputExceededException, ValidationException


@pytest.mark.parametrize(
    ("size", "consistent", "transactional", "units"),
    [
        (0, True, False, 1),
        (1, True, False, 1),
        (4096, True, False, 1),
        (4097, True, False, 2),
        (10_000, True, False, 3),
        (4096, False, False, 0.5),
        (10_000, False, False, 1.5),
        (4096, True, True, 2),
        (9000, False, True, 6),
    ],
)
def test_read_units(size: int, consistent: bool, transactional: bool, units: float) -> None:
    assert read_units(size, consistent=consistent, transactional=transactional) == units


@pytest.mark.parametrize(
    ("size", "transactional", "units"),
    [(0, False, 1), (300, False, 1), (1024, False, 1), (1025, False, 2), (400 * 1024, False, 400), (1500, True, 4)],
)
def test_write_units(size: int, transactional: bool, units: float) -> None:
    assert write_units(size, transactional=transactional) == units


def test_consumed_capacity_shapes() -> None:
    parts = [Consumed("a", read=1.0), Consumed("a", write=2.0), Consumed("b", write=1.0)]
    assert consumed_capacity_response(parts, "NONE") == {}
    total = consumed_capacity_response(parts[:2], "TOTAL")["ConsumedCapacity"]
    assert total == {"TableName": "a", "CapacityUnits": 3.0, "ReadCapacityUnits": 1.0, "WriteCapacityUnits": 2.0}
    listed = consumed_capacity_response(parts, "INDEXES", as_list=True)["ConsumedCapacity"]
    assert [e["TableName"] for e in listed] == ["a", "b"] and listed[1]["Table"] == {
        "CapacityUnits": 1.0,
        "WriteCapacityUnits": 1.0,
    }
    with pytest.raises(ValidationException):
        return_consumed_capacity({"ReturnConsumedCapacity": "ALL"})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_refills_at_its_rate_and_bursts_at_most_300_seconds() -> None:
    clock = Clock()
    bucket = TokenBucket(10.0, clock)
    assert bucket.tokens == 10.0  # one second's worth to start
    bucket.charge(25)
    assert not bucket.admits()  # a large request took it below zero
    clock.now += 1.0
    assert not bucket.admits()  # -15 + 10
    clock.now += 1.0
    assert bucket.admits()
    clock.now += 10_000
    bucket.admits()
    assert bucket.tokens == 10.0 * BURST_SECONDS  # unused capacity accrues up to 300 seconds


def test_meter_throttles_and_counts() -> None:
    clock = Clock()
    meter = CapacityMeter(read_clock=clock, write_clock=clock)
    meter.provision(None, 2.0)
    meter.admit_read()  # reads are on demand here: never throttled
    meter.admit_write()
    meter.charge_write(2.0)
    with pytest.raises(ProvisionedThroughputExceededException) as failure:
        meter.admit_write()
    assert failure.value.retryable and meter.totals.throttled_writes == 1 and meter.totals.write_units == 2.0
    clock.now += 0.5
    meter.admit_write()
    meter.provision(None, None)  # switched to on demand
    meter.charge_write(100.0)
    meter.admit_write()

"""A partition's change log (``actors/change_log.py``): order, reads, bounded retention."""

from __future__ import annotations

import pytest

from actors.change_log import ChangeEvent, ChangeLog, RetentionPolicy
from grid._changes import EVENT, KEY, NEW_IMAGE, OLD_IMAGE, SEQUENCE, TIMESTAMP


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def fill(log: ChangeLog, count: int) -> None:
    for i in range(count):
        log.append(ChangeEvent.INSERT, f"k{i}".encode(), None, f"v{i}".encode())


def test_sequence_numbers_start_at_one_and_increase_by_one() -> None:
    log = ChangeLog()
    assert log.last_sequence == 0
    assert log.first_retained_sequence == 1
    assert log.read() == []
    records = [
        log.append(ChangeEvent.INSERT, b"a", None, b"1"),
        log.append(ChangeEvent.MODIFY, b"a", b"1", b"2"),
        log.append(ChangeEvent.REMOVE, b"a", b"2", None),
    ]
    assert [r[SEQUENCE] for r in records] == [1, 2, 3]
    assert [r[EVENT] for r in records] == [ChangeEvent.INSERT, ChangeEvent.MODIFY, ChangeEvent.REMOVE]
    assert (records[1][KEY], records[1][OLD_IMAGE], records[1][NEW_IMAGE]) == (b"a", b"1", b"2")
    assert log.last_sequence == 3
    assert len(log) == 3


def test_first_sequence_can_continue_an_earlier_log() -> None:
    log = ChangeLog(first_sequence=41)
    assert log.last_sequence == 40
    assert log.append(ChangeEvent.INSERT, b"k", None, b"v")[SEQUENCE] == 41
    assert log.read(after=40)[0][SEQUENCE] == 41
    assert log.read(after=41) == []


def test_read_after_and_limit() -> None:
    log = ChangeLog()
    fill(log, 10)
    assert [r[SEQUENCE] for r in log.read()] == list(range(1, 11))
    assert [r[SEQUENCE] for r in log.read(after=4)] == list(range(5, 11))
    assert [r[SEQUENCE] for r in log.read(after=4, limit=3)] == [5, 6, 7]
    assert [r[SEQUENCE] for r in log.read(after=8, limit=5)] == [9, 10]
    assert log.read(after=10) == []
    assert log.read(after=50, limit=2) == []
    assert log.read(after=0, limit=0) == []


def test_retention_by_count_keeps_the_newest() -> None:
    log = ChangeLog(RetentionPolicy(max_records=3, max_age_seconds=1e9))
    fill(log, 5)
    assert len(log) == 3
    assert log.first_retained_sequence == 3
    assert log.last_sequence == 5
    assert [r[SEQUENCE] for r in log.read()] == [3, 4, 5]
    # A reader that fell behind resumes at the oldest record still retained.
    assert [r[SEQUENCE] for r in log.read(after=1)] == [3, 4, 5]
    assert [r[SEQUENCE] for r in log.read(after=3, limit=1)] == [4]
    fill(log, 1)
    assert [r[SEQUENCE] for r in log.read()] == [4, 5, 6]


def test_retention_by_age(clock: FakeClock) -> None:
    log = ChangeLog(RetentionPolicy(max_records=1_000, max_age_seconds=60.0), clock=clock)
    log.append(ChangeEvent.INSERT, b"a", None, b"1")
    clock.now += 30
    log.append(ChangeEvent.INSERT, b"b", None, b"2")
    assert [r[TIMESTAMP] for r in log.read()] == [1_000_000.0, 1_000_030.0]
    clock.now += 30  # the first record is exactly 60 s old: still retained
    log.append(ChangeEvent.INSERT, b"c", None, b"3")
    assert [r[SEQUENCE] for r in log.read()] == [1, 2, 3]
    clock.now += 0.5
    log.append(ChangeEvent.INSERT, b"d", None, b"4")
    assert [r[SEQUENCE] for r in log.read()] == [2, 3, 4]
    assert log.first_retained_sequence == 2
    clock.now += 1_000
    log.append(ChangeEvent.INSERT, b"e", None, b"5")
    assert [r[SEQUENCE] for r in log.read()] == [5]
    assert log.last_sequence == 5


def test_count_and_age_trim_whichever_comes_first(clock: FakeClock) -> None:
    log = ChangeLog(RetentionPolicy(max_records=4, max_age_seconds=10.0), clock=clock)
    for _ in range(6):
        log.append(ChangeEvent.INSERT, b"k", None, b"v")
        clock.now += 1
    assert [r[SEQUENCE] for r in log.read()] == [3, 4, 5, 6]
    clock.now += 8  # records 3 and 4 are now older than 10 s; record 5 is exactly 10 s old
    log.append(ChangeEvent.INSERT, b"k", None, b"v")
    assert [r[SEQUENCE] for r in log.read()] == [5, 6, 7]


def test_shards_name_their_parents_across_splits_and_merges() -> None:
    log = ChangeLog(shard_id="a-0")
    fill(log, 3)
    log.open_shard("a-1")  # a split: one parent
    fill(log, 2)
    log.open_shard("a-2", other_parents=("b-0",))  # a merge: the neighbour's shard is a parent too
    assert [shard.describe() for shard in log.shards] == [
        ("a-0", (), 1, 3),
        ("a-1", ("a-0",), 4, 5),
        ("a-2", ("a-1", "b-0"), 6, None),
    ]


def test_a_retiring_log_closes_its_shard_once_and_stays_readable() -> None:
    log = ChangeLog(shard_id="b-0", parent_shard_id="a-0")
    fill(log, 4)
    closed = log.close_shard()
    assert closed.describe() == ("b-0", ("a-0",), 1, 4)
    assert log.close_shard().last_sequence == 4
    assert [r[SEQUENCE] for r in log.read(2)] == [3, 4]

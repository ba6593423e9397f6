"""The stream actor's plain logic (``actors/stream.py``): shard lineage, readability, retired partitions."""

from __future__ import annotations

from actors.stream import StreamFanout
from grid._changes import SEQUENCE, ChangeEvent, ChangeRecord, LogSlice


def records(first: int, last: int, at: float = 100.0) -> list[ChangeRecord]:
    return [(n, ChangeEvent.INSERT.value, b"k%d" % n, None, b"v", at + n) for n in range(first, last + 1)]


def merged_fanout() -> StreamFanout:
    """Partition a (records 1-3, then a merge) absorbed partition b (records 1-2); a's child names both."""
    fanout = StreamFanout()
    fanout.absorb("b", LogSlice(records(1, 2), [("b-0", (), 1, 2)], 1, 2), floor=0, through=2)
    lineage = [("a-0", (), 1, 3), ("a-1", ("a-0", "b-0"), 4, None)]
    fanout.absorb("a", LogSlice(records(1, 5), lineage, 1, 5), floor=0, through=5)
    return fanout


def test_a_merged_shard_is_read_only_after_both_parents() -> None:
    fanout = merged_fanout()
    assert {s.shard_id for s in fanout.readable({})} == {"a-0", "b-0"}
    assert {s.shard_id for s in fanout.readable({"a-0": 3})} == {"b-0"}  # one parent done: the child waits
    assert {s.shard_id for s in fanout.readable({"b-0": 2})} == {"a-0"}
    assert {s.shard_id for s in fanout.readable({"a-0": 3, "b-0": 2})} == {"a-1"}
    described = {s["ShardId"]: s for s in fanout.describe_shards()}
    assert described["a-1"]["ParentShardId"] == "a-0"  # DynamoDB's shape names one parent


def test_a_retired_partitions_records_are_served_from_the_archive_until_they_age_out() -> None:
    fanout = merged_fanout()
    shard = fanout.shards["b-0"]
    shard.buffer.clear()  # as if the pump's buffer had long moved on
    assert fanout.from_buffer(shard, 0, 10) is None  # a live shard would send the reader to the partition
    fanout.archive("b", records(1, 2), first_retained=1, retention=50.0)
    assert [r[SEQUENCE] for r in fanout.from_buffer(shard, 0, 10) or []] == [1, 2]
    assert [r[SEQUENCE] for r in fanout.from_buffer(shard, 1, 10) or []] == [2]
    assert fanout.from_buffer(shard, 2, 10) == []
    fanout.trim_archives(now=101.0 + 50.0 + 0.5)  # record 1 (written at 101) is older than retention
    assert shard.first_retained == 2
    assert [r[SEQUENCE] for r in fanout.from_buffer(shard, 1, 10) or []] == [2]
    fanout.trim_archives(now=1000.0)
    assert shard.first_retained == 3 and fanout.from_buffer(shard, 2, 10) == []
    assert {s.shard_id for s in fanout.readable({"a-0": 3})} == {"a-1"}  # an emptied, closed parent is done

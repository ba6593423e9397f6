"""Which batches a single replica may serve, told from the wire tuples alone (no decode)."""

from __future__ import annotations

from grid._keys import StorageKey
from grid._requests import GetOp, PutOp, TxRead, TxValidate, eventual_reads_only, read_only

KEY = StorageKey(key=b"k", hash=1)


def test_gets_are_read_only_and_consistent_when_any_asks_for_it() -> None:
    eventual = GetOp(key=KEY).to_wire()
    strong = GetOp(key=KEY, consistent=True).to_wire()
    assert read_only([eventual, eventual]) == (True, False)
    assert read_only([eventual, strong]) == (True, True)
    assert eventual_reads_only([eventual]) and not eventual_reads_only([eventual, strong])


def test_transaction_reads_are_read_only_and_strongly_consistent_unless_they_lock() -> None:
    assert read_only([TxRead(keys=(KEY,)).to_wire()]) == (True, True)
    assert read_only([TxValidate(keys=(KEY,), since=3).to_wire()]) == (True, True)
    assert read_only([TxRead(keys=(KEY,), lock_for="tx", lease=1.0).to_wire()]) == (False, False)


def test_a_batch_with_any_write_goes_through_the_log() -> None:
    write = PutOp(key=KEY, item={"id": "k"}).to_wire()
    assert read_only([GetOp(key=KEY).to_wire(), write]) == (False, False)
    assert not eventual_reads_only([write])

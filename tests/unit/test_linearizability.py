"""The linearizability checker itself: histories it must accept and histories it must refuse."""

from __future__ import annotations

from tests.linearizability import MISSING, Operation, linearizable


def test_sequential_histories() -> None:
    assert linearizable([Operation("write", 0, 1, value=1), Operation("read", 2, 3, result=1)])
    assert not linearizable([Operation("write", 0, 1, value=1), Operation("read", 2, 3, result=MISSING)])
    assert linearizable([Operation("read", 0, 1, result=MISSING)])


def test_a_stale_read_after_a_write_completed_is_refused() -> None:
    history = [
        Operation("write", 0, 1, value=1),
        Operation("write", 2, 3, value=2),
        Operation("read", 4, 5, result=1),
    ]
    assert not linearizable(history)


def test_concurrent_operations_may_order_either_way() -> None:
    history = [
        Operation("write", 0, 10, value=1),
        Operation("read", 1, 2, result=MISSING),
        Operation("read", 3, 4, result=1),
        Operation("read", 5, 6, result=1),
    ]
    assert linearizable(history)
    history.append(Operation("read", 7, 8, result=MISSING))  # back in time after seeing 1
    assert not linearizable(history)


def test_conditional_writes() -> None:
    history = [
        Operation("write", 0, 1, value=1),
        Operation("cas", 2, 3, value=2, expected=1, result=True),
        Operation("cas", 4, 5, value=3, expected=1, result=False),
        Operation("read", 6, 7, result=2),
    ]
    assert linearizable(history)
    lost = [*history[:2], Operation("read", 4, 5, result=1)]  # an acknowledged cas lost
    assert not linearizable(lost)
    both = [
        Operation("write", 0, 1, value=1),
        Operation("cas", 2, 5, value=2, expected=1, result=True),
        Operation("cas", 3, 6, value=3, expected=1, result=True),  # two winners of one version
    ]
    assert not linearizable(both)


def test_an_unanswered_write_may_or_may_not_have_happened() -> None:
    assert linearizable([Operation("write", 0, None, value=1), Operation("read", 2, 3, result=1)])
    assert linearizable([Operation("write", 0, None, value=1), Operation("read", 2, 3, result=MISSING)])
    history = [
        Operation("write", 0, None, value=1),
        Operation("read", 2, 3, result=1),
        Operation("read", 4, 5, result=MISSING),  # it happened, then vanished
    ]
    assert not linearizable(history)

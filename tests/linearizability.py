"""A linearizability checker for single-key histories of reads, writes and conditional writes.

Each operation has the times it was invoked and answered. An operation whose answer
never came (the caller's call failed: it may or may not have taken effect) has no
answer time; it may take effect at any time after its invocation, or never.

``linearizable`` searches for an order of the operations that respects real time (an
operation answered before another was invoked comes first) and in which each one is
correct for a register: a read returns the last value written, a conditional write
succeeds exactly when the register holds its expected value. This is Wing and Gong's
search with the memoization of Lowe's refinement: a state is the set of operations
placed so far and the register's value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Operation", "linearizable"]

MISSING = object()  # the register before its first write (a read of a missing item)


@dataclass(frozen=True, slots=True)
class Operation:
    """``kind`` is "read", "write" or "cas" (write ``value`` if the register holds ``expected``).

    ``result`` is what the caller saw: the value read, or whether a cas succeeded. An
    operation without ``answered`` failed from the caller's view (``result`` is unknown).
    """

    kind: str
    invoked: float
    answered: float | None
    value: Any = None
    expected: Any = MISSING
    result: Any = None


def _step(state: Any, operation: Operation) -> tuple[bool, Any]:
    """Whether ``operation`` is correct from register value ``state``, and the value after it."""
    known = operation.answered is not None
    if operation.kind == "read":
        return (not known or operation.result == state), state
    if operation.kind == "write":
        return True, operation.value
    succeeded = state == operation.expected
    if known and bool(operation.result) != succeeded:
        return False, state
    return True, operation.value if succeeded else state


def linearizable(history: list[Operation], initial: Any = MISSING) -> bool:
    """Whether ``history`` (one key's operations) has a linearization; see the module docstring."""
    operations = sorted(history, key=lambda o: o.invoked)
    ends = [o.answered if o.answered is not None else math.inf for o in operations]
    required = sum(1 << i for i, o in enumerate(operations) if o.answered is not None)
    seen: set[tuple[int, Any]] = set()
    stack: list[tuple[int, Any]] = [(0, initial)]
    while stack:
        placed, state = stack.pop()
        if placed & required == required:
            return True
        key = (placed, _hashable(state))
        if key in seen:
            continue
        seen.add(key)
        pending = [i for i in range(len(operations)) if not placed & (1 << i)]
        # Only an operation invoked before every pending one was answered can come next.
        horizon = min(ends[i] for i in pending)
        for i in pending:
            if operations[i].invoked > horizon:
                break
            correct, after = _step(state, operations[i])
            if correct:
                stack.append((placed | (1 << i), after))
            if operations[i].answered is None:
                # An operation that may never have happened can also be dropped.
                stack.append((placed | (1 << i), state))
    return False


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, (dict, list, set)) else value

"""A write load that remembers what was acknowledged, and the checks made after a fault.

``WriteLoad`` runs writers that each put ever higher versions of their own item, and
a few contended keys on which callers write, compare-and-set and read with
``ConsistentRead=True``, each call's invocation and answer recorded for the
linearizability checker (``tests.linearizability``). After the load stops,
``check_acknowledged`` reads every key: each holds its last acknowledged version or a
later one.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grid
from grid._groups import ReplicaGroup
from grid.errors import ConditionalCheckFailedException, GridError
from tests.linearizability import MISSING, Operation, linearizable
from tests.seed import catalog_item
from tests.seed import catalog_key as key_of

__all__ = ["WriteLoad", "group", "key_of", "kill", "replica_counts", "until"]

CONTENDED_KEYS = 3
CALLERS_PER_CONTENDED_KEY = 3
OPERATIONS_PER_CONTENDED_KEY = 120  # the checker's search stays small


@dataclass
class WriteLoad:
    table: grid.Table
    writers: int = 40
    first_customer: int = 0
    acknowledged: dict[int, int] = field(default_factory=dict)  # customer -> last acknowledged version
    failed: int = 0  # calls that raised (unacknowledged: they may or may not have landed)
    histories: dict[int, list[Operation]] = field(default_factory=dict)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def __aenter__(self) -> WriteLoad:
        customers = range(self.first_customer, self.first_customer + self.writers)
        self._tasks = [asyncio.ensure_future(self._writer(customer)) for customer in customers]
        contended = range(self.first_customer + self.writers, self.first_customer + self.writers + CONTENDED_KEYS)
        for customer in contended:
            self.histories[customer] = []
            self._tasks += [asyncio.ensure_future(self._contender(customer)) for _ in range(CALLERS_PER_CONTENDED_KEY)]
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    @property
    def writes(self) -> int:
        return sum(self.acknowledged.values())

    async def _writer(self, customer: int) -> None:
        for version in itertools.count(1):
            if self._stop.is_set():
                return
            try:
                await self.table.put_item(Item=catalog_item(customer, 0, version=version))
            except GridError:
                self.failed += 1
                await asyncio.sleep(0.05)
                continue
            self.acknowledged[customer] = version

    async def _contender(self, customer: int) -> None:
        """Writes, compare-and-sets and consistent reads of one register: the item's ``version``."""
        history = self.histories[customer]
        chooser = random.Random(customer * 31 + len(history))
        key = key_of(catalog_item(customer, 0))
        while not self._stop.is_set() and len(history) < OPERATIONS_PER_CONTENDED_KEY:
            kind = chooser.choice(["read", "write", "cas"])
            value = chooser.randrange(1_000_000)
            # Expect what this caller last saw or wrote: some cas succeed, some fail.
            expected = next(
                (o.result if o.kind == "read" else o.value for o in reversed(history) if o.answered), MISSING
            )
            invoked = time.monotonic()
            try:
                if kind == "read":
                    answer = await self.table.get_item(Key=key, ConsistentRead=True)
                    result: Any = answer["Item"]["version"] if "Item" in answer else MISSING
                elif kind == "write":
                    await self.table.put_item(Item={**key, "version": value})
                    result = None
                else:
                    condition: dict[str, Any] = (
                        {"ConditionExpression": "attribute_not_exists(version)"}
                        if expected is MISSING
                        else {
                            "ConditionExpression": "version = :expected",
                            "ExpressionAttributeValues": {":expected": expected},
                        }
                    )
                    try:
                        await self.table.put_item(Item={**key, "version": value}, **condition)
                        result = True
                    except ConditionalCheckFailedException:
                        result = False
            except GridError:
                history.append(Operation(kind, invoked, None, value=value, expected=expected))
                await asyncio.sleep(0.05)
                continue
            history.append(Operation(kind, invoked, time.monotonic(), value=value, expected=expected, result=result))
            await asyncio.sleep(chooser.uniform(0, 0.02))

    async def check_acknowledged(self) -> None:
        """Every writer's item holds its last acknowledged version or a later one (strongly consistent reads)."""
        customers = sorted(self.acknowledged)
        answers = await asyncio.gather(
            *(self.table.get_item(Key=key_of(catalog_item(c, 0)), ConsistentRead=True) for c in customers)
        )
        lost = [
            (customer, self.acknowledged[customer], answer.get("Item", {}).get("version"))
            for customer, answer in zip(customers, answers, strict=True)
            if answer.get("Item", {}).get("version", 0) < self.acknowledged[customer]
        ]
        assert not lost, f"acknowledged writes lost (customer, acknowledged, read): {lost[:10]}"

    def check_linearizable(self) -> None:
        for customer, history in self.histories.items():
            assert history, f"customer {customer}: no operation recorded"
            assert linearizable(history), f"customer {customer}: history not linearizable: {history}"


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 30.0, what: str = "") -> None:
    """Wait for ``condition`` (polled), failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what or condition}")
        await asyncio.sleep(0.2)


async def replica_counts(client: grid.Grid, table_name: str) -> list[int]:
    """The number of live voting replicas of each of the table's partitions (from a fresh map).

    A voter counts only if it answers itself: a killed replica stays a voter until its
    leader notices and replaces it. Negative: the group has voters the map does not name.
    """
    await client.dispatcher.refresh(table_name, stale_version=None)
    route = await client.dispatcher.route(table_name)
    counts = []
    for partition in route.map.ranges:
        try:
            stats = await partition.handle.stats()
        except GridError:
            counts.append(0)
            continue
        members = dict(partition.handle.members)
        if any(r not in members for r in stats.voters):
            counts.append(-len(stats.voters))
            continue
        answers = await asyncio.gather(*(members[r].stats() for r in stats.voters), return_exceptions=True)
        counts.append(sum(1 for answer in answers if not isinstance(answer, BaseException)))
    return counts


async def group(client: grid.Grid, table: str, position: int = 0) -> ReplicaGroup:
    """The replica group of the table's ``position``-th partition (from a fresh map)."""
    await client.dispatcher.refresh(table, stale_version=None)
    handle = (await client.dispatcher.route(table)).map.ranges[position].handle
    assert isinstance(handle, ReplicaGroup)
    return handle


async def kill(members: ReplicaGroup, *, leader: bool) -> str:
    """Kill the group's leader, or one of its followers (``ray.kill``, as a crash would); the replica id killed."""
    import ray

    stats = await members.stats()
    assert stats.leader is not None
    victim = stats.leader if leader else random.choice([r for r in stats.voters if r != stats.leader])
    service = members.member(victim)
    assert service is not None, f"{victim} not in the map's group {members.replica_ids}"
    ray.kill(service.handle, no_restart=True)  # type: ignore[attr-defined]
    return victim

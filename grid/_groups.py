"""A partition's replica group, called as one partition: writes find the leader, reads may go anywhere.

A ``ReplicaGroup`` stands where a single partition actor stood (a map's
``PartitionRange.handle``): it offers the same calls (``grid._services.PartitionService``)
and routes each one. Writes, strongly consistent reads and moves go to the leader:
the one it last heard of, else each member in turn, following a ``NotLeaderError``'s
hint, through an election (a few hundred milliseconds) and past dead members, for up
to ``FAILOVER_SECONDS``. Eventually consistent reads go to any member that serves
them, so read load spreads over the group; change-log reads go to the leader.

The leader it found is remembered per process, not pickled: a group sent inside a
map arrives without it and finds the leader on its first call.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from grid._changes import ChangeRecord, LogSlice
from grid._requests import Page, QueryRequest, ScanRequest, eventual_reads_only
from grid._services import HandOverItems, PartitionStats, ReplicaService
from grid.errors import GridError, NotLeaderError, PartitionMovedError, PartitionUnavailableError

__all__ = ["FAILOVER_SECONDS", "ReplicaGroup"]

T = TypeVar("T")

# How long a call keeps looking for a leader (an election takes well under a second).
FAILOVER_SECONDS = 10.0
_FIRST_PAUSE = 0.01
_LONGEST_PAUSE = 0.2

Member = tuple[str, ReplicaService]


class ReplicaGroup:
    """The replicas of one partition, by replica id; see the module docstring.

    It also remembers the highest log index any answer carried (``seen``) and sends it
    with reads, so this process reads its own writes and never an older state, whichever
    replica answers.
    """

    __slots__ = ("_leader", "members", "seen")

    def __init__(self, members: Sequence[Member], leader: str | None = None) -> None:
        if not members:
            raise ValueError("a replica group needs a member")
        self.members: tuple[Member, ...] = tuple(members)
        self._leader = leader
        self.seen = 0

    def __reduce__(self) -> tuple[Any, ...]:
        return (ReplicaGroup, (self.members,))

    def __repr__(self) -> str:
        return f"ReplicaGroup({[replica for replica, _ in self.members]})"

    @property
    def replica_ids(self) -> tuple[str, ...]:
        return tuple(replica for replica, _ in self.members)

    def adopt(self, older: ReplicaGroup) -> None:
        """Keep what an older copy of this group learned (a refreshed map brings a new copy)."""
        self.seen = max(self.seen, older.seen)
        if self._leader is None and older._leader is not None and self.member(older._leader) is not None:
            self._leader = older._leader

    def member(self, replica_id: str) -> ReplicaService | None:
        return next((service for replica, service in self.members if replica == replica_id), None)

    # -- routing -------------------------------------------------------------------------

    async def on_leader(self, call: Callable[[ReplicaService], Awaitable[T]]) -> T:
        """``call`` on the group's leader, finding it first if need be.

        Raises the leader's own ``GridError``s; ``PartitionUnavailableError`` once no
        member has led for ``FAILOVER_SECONDS`` (every member dead, or no majority).
        """
        deadline = time.monotonic() + FAILOVER_SECONDS
        pause = _FIRST_PAUSE
        last_error: GridError | None = None
        while True:
            tried: set[str] = set()
            unreachable = 0
            target = self._leader
            while len(tried) < len(self.members):
                replica, service = self._pick(target, tried)
                tried.add(replica)
                try:
                    answer = await call(service)
                except NotLeaderError as error:
                    if error.leader is not None and self.member(error.leader) is None:
                        # The group changed since this copy of the map (a replica was replaced):
                        # the caller refreshes its map and tries the group as it is now.
                        raise PartitionMovedError(
                            f"The partition's leader {error.leader} is not in this map's group"
                        ) from None
                    last_error, target = error, error.leader  # follow its hint (each member once a round)
                    continue
                except PartitionUnavailableError as error:
                    last_error, target = error, None
                    unreachable += 1
                    if self._leader == replica:
                        self._leader = None
                    continue
                self._leader = replica
                return answer
            if unreachable == len(self.members):
                raise PartitionUnavailableError(
                    f"No replica of the partition answers: {last_error.message if last_error else ''}"
                )
            if time.monotonic() >= deadline:
                raise PartitionUnavailableError(
                    f"No replica of the partition leads it: {last_error.message if last_error else 'no answer'}"
                )
            await asyncio.sleep(pause)  # an election is under way
            pause = min(_LONGEST_PAUSE, pause * 2)

    async def on_any(self, call: Callable[[ReplicaService], Awaitable[T]]) -> T:
        """``call`` on any member that serves it (a random one first), else on the leader."""
        replica, service = random.choice(self.members)
        if replica != self._leader:
            try:
                return await call(service)
            except (NotLeaderError, PartitionUnavailableError):
                pass  # behind, or gone: the leader serves it
        return await self.on_leader(call)

    def _pick(self, target: str | None, tried: set[str]) -> Member:
        """``target`` if it is an untried member, else the first untried one."""
        untried = [member for member in self.members if member[0] not in tried]
        return next((member for member in untried if member[0] == target), untried[0])

    # -- PartitionService ----------------------------------------------------------------

    async def execute(self, wire_ops: Sequence[tuple[Any, ...]]) -> list[Any]:
        if eventual_reads_only(wire_ops):
            results, applied = await self.on_any(lambda member: member.execute(wire_ops, None, self.seen))
        else:
            # One id for every try: a batch the old leader applied before it died is not applied twice.
            request = uuid.uuid4().hex
            results, applied = await self.on_leader(lambda member: member.execute(wire_ops, request, self.seen))
        self.seen = max(self.seen, applied)
        return results

    async def query(self, request: QueryRequest) -> Page:
        return await self._read(request.consistent, lambda member: member.query(request, self.seen))

    async def scan(self, request: ScanRequest) -> Page:
        return await self._read(request.consistent, lambda member: member.scan(request, self.seen))

    async def _read(self, consistent: bool, call: Callable[[ReplicaService], Awaitable[tuple[Page, int]]]) -> Page:
        page, applied = await (self.on_leader(call) if consistent else self.on_any(call))
        self.seen = max(self.seen, applied)
        return page

    async def ready(self) -> str:
        answers = await asyncio.gather(*(service.ready() for _, service in self.members))
        return answers[0]

    def _change(self, call: Callable[[ReplicaService, str], Awaitable[T]]) -> Awaitable[T]:
        """A change on the leader, under one request id for every try (applied once however often it is sent)."""
        request = uuid.uuid4().hex
        return self.on_leader(lambda member: call(member, request))

    def fence(self, epoch: int) -> Awaitable[None]:
        return self._change(lambda member, request: member.fence(epoch, request))

    def split_off(self, at: int, map_version: int, epoch: int = 0) -> Awaitable[tuple[HandOverItems, str]]:
        return self._change(lambda member, request: member.split_off(at, map_version, epoch, request))

    def ingest(self, entries: HandOverItems, parent_shard_id: str | None = None, epoch: int = 0) -> Awaitable[None]:
        return self._change(lambda member, request: member.ingest(entries, parent_shard_id, epoch, request))

    def retire(self, map_version: int, epoch: int = 0) -> Awaitable[tuple[HandOverItems, str]]:
        return self._change(lambda member, request: member.retire(map_version, epoch, request))

    def release_hand_over(self, epoch: int = 0) -> Awaitable[None]:
        return self._change(lambda member, request: member.release_hand_over(epoch, request))

    def undo_hand_over(self, map_version: int, epoch: int = 0) -> Awaitable[bool]:
        return self._change(lambda member, request: member.undo_hand_over(map_version, epoch, request))

    def absorb_upper(
        self, entries: HandOverItems, high: int, map_version: int, other_parent: str, epoch: int = 0
    ) -> Awaitable[None]:
        return self._change(
            lambda member, request: member.absorb_upper(entries, high, map_version, other_parent, epoch, request)
        )

    def read_log(self, after: int = 0, limit: int | None = None) -> Awaitable[list[ChangeRecord]]:
        # The leader's: a follower may lag a heartbeat, and a stream reading a log to its
        # end (a merge's archive) must not take a lagging copy for the whole.
        return self.on_leader(lambda member: member.read_log(after, limit))

    def wait_log(self, after: int, limit: int, timeout: float) -> Awaitable[LogSlice]:
        return self.on_leader(lambda member: member.wait_log(after, limit, timeout))

    def provision(self, read_per_second: float | None, write_per_second: float | None) -> Awaitable[None]:
        return self._change(lambda member, request: member.provision(read_per_second, write_per_second, request))

    def set_retention(self, max_records: int, max_age_seconds: float) -> Awaitable[None]:
        return self._change(lambda member, request: member.set_retention(max_records, max_age_seconds, request))

    def stats(self) -> Awaitable[PartitionStats]:
        return self.on_leader(lambda member: member.stats(True))

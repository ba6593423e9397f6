"""The partition actor: one replica of a partition's replica group.

A group of ``Replicas`` actors holds each partition. Every change is a command in the
group's log (``actors.replication``, Raft): the leader proposes it, the group
replicates it, and once a majority holds it every replica applies it to its
``PartitionState`` (``actors.partition_state``), the leader answering the caller
then. So an acknowledged write is on a majority and survives any minority's death,
and a new leader, elected by a majority, holds every acknowledged write.

Reads are served by one replica from its applied state, without the log: strongly
consistent ones by the leader while its lease runs (no other replica can lead
meanwhile), eventually consistent ones by any replica that heard from its leader
recently. A replica that cannot serve a call answers ``NotLeaderError`` naming the
leader it knows; callers (``grid._groups.ReplicaGroup``) follow it.

The leader also keeps the group whole: a member that died is removed from the group
and a new replica is started, copies the state and catches up from the log, and
joins the majority once it holds everything (``_repair``). The router learns the new
members and publishes them in the table's map.

Replicas talk through ``deliver``: a Ray call carries a batch of protocol messages
and returns the replies, so a replication round costs one call per follower.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

from actors.change_log import RetentionPolicy
from actors.partition_state import (
    AbsorbUpper,
    Batch,
    Command,
    Fence,
    FinishTransactions,
    Ingest,
    PartitionState,
    Provision,
    ReleaseHandOver,
    Retire,
    SetRetention,
    SplitOff,
    UndoHandOver,
)
from actors.partition_store import HandOverItems
from actors.replication import Configuration, Entry, InstallSnapshot, Message, NotLeader, Ready, ReplicaNode, Role
from actors.system import ActorSystem, PartitionConfig
from grid._changes import ChangeRecord, LogSlice
from grid._requests import GetOp, Page, QueryRequest, ScanRequest, op_from_wire, read_only
from grid._services import PartitionStats, ReplicaService
from grid.errors import GridError, NotLeaderError, PartitionUnavailableError

__all__ = ["PartitionActor"]

log = logging.getLogger("grid.partition")

TICK_SECONDS = 0.02  # how often a repair checks on its progress
SWEEP_INTERVAL_SECONDS = 0.2
LOG_LINGER_SECONDS = 0.002
# Entries kept past what every replica holds, so a follower a little behind catches up
# from the log rather than from a whole snapshot.
KEPT_ENTRIES = 2000
CAUGHT_UP_ENTRIES = 64  # a learner this close to the commit votes from then on
# A member that has not answered for this long, or whose actor Ray reports dead, is replaced.
DEAD_AFTER_SECONDS = 2.0
START_SECONDS = 60.0  # a replacement that has not started by then is given up (and tried again)
REPAIR_RETRY_SECONDS = 2.0
# A follower holds a ``watch`` call open on its leader, renewed this often: when the
# leader's process dies the call fails at once, and the group elects a new leader in
# about a heartbeat rather than after an election timeout.
WATCH_SECONDS = 30.0
WATCH_POLL_SECONDS = 0.1


class PartitionActor:
    """One replica; see the module docstring."""

    def __init__(
        self, config: PartitionConfig, system: ActorSystem, *, retention: RetentionPolicy | None = None
    ) -> None:
        self.config = config
        self.table_name = config.table_name
        self.partition_id = config.partition_id
        self.replica_id = config.replica_id
        self._system = system
        self.state = PartitionState(config, retention)
        now = time.monotonic()
        self.node = ReplicaNode(
            config.replica_id, Configuration(voters=frozenset(config.members)), now=now, timing=config.timing
        )
        self._peers: dict[str, ReplicaService] = {}
        self._waiting: dict[int, asyncio.Future[Any]] = {}  # proposals this leader answers once applied
        self._log_advanced = asyncio.Event()  # replaced each time it fires: waiters hold their own
        self._lease_renewed = asyncio.Event()  # likewise, for reads waiting on an idle leader's heartbeat
        self._started = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._silent_since: dict[str, float] = {}  # members that did not answer, since when
        self._repairing = False
        self._repair_not_before = 0.0  # after a failed repair, the next waits a little
        self._tried_ids: set[str] = set()  # replica ids this replica gave to new replicas
        self._watching: tuple[str, int] | None = None  # the (leader, term) this follower watches
        self._stopped = False
        self._batches = 0
        self._service_seconds = 0.0

    # -- lifecycle -----------------------------------------------------------------------

    def _start(self) -> None:
        """Start ticking (on the first call: Ray runs calls on the actor's event loop, not __init__)."""
        if self._started:
            return
        self._started = True
        self._spawn(self._tick_forever())
        self._spawn(self._sweep_forever())
        if self.config.campaign:
            self._process(self.node.campaign(time.monotonic()))

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def stop(self) -> None:
        self._stopped = True
        for task in list(self._tasks):
            task.cancel()

    async def ready(self) -> str:
        self._start()
        return self.partition_id

    # -- the protocol --------------------------------------------------------------------

    async def deliver(self, messages: Sequence[Message]) -> list[Message]:
        """Take protocol messages from a peer; the replies to it (the call's answer: one call a round)."""
        self._start()
        now = time.monotonic()
        replies: list[Message] = []
        for message in messages:
            ready = self.node.step(message, now)
            replies.extend(m for target, m in ready.messages if target == message.sender)
            ready.messages = [(t, m) for t, m in ready.messages if t != message.sender]
            self._process(ready)
        return replies

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.node.tick_interval(time.monotonic()))
            self._process(self.node.tick(time.monotonic()))
            if self.node.role is Role.LEADER:
                self._repair()
            else:
                self._watch_leader()

    def _process(self, ready: Ready) -> None:
        """Act on what the protocol produced: install, apply, send; answer or fail waiting callers."""
        if ready.snapshot is not None:
            self._install(ready.snapshot)
        for entry in ready.committed:
            self._apply(entry)
        for peer in ready.snapshot_wanted:
            self._send(self.node.snapshot_for(peer, self.state.snapshot(), time.monotonic()))
        self._send(ready.messages)
        if self.node.role is not Role.LEADER and self._waiting:
            self._fail_waiting()
        self.node.compact(min(self.node.applied, self._held_everywhere()) - KEPT_ENTRIES)

    def _held_everywhere(self) -> int:
        return self.node.held_by_all() if self.node.role is Role.LEADER else self.node.applied

    def _apply(self, entry: Entry) -> None:
        command = entry.command
        if command is None or isinstance(command, Configuration):
            result: Any = None  # a leader's no-op, or the group changing: nothing to the partition
        else:
            at, request_id, body = command
            before = self.state.store.log.last_sequence
            try:
                result = self.state.apply(body, at, request_id)
            except GridError as error:
                result = error
            except Exception as error:  # a bug: the entry fails on every replica alike
                log.exception("partition %s could not apply entry %d", self.partition_id, entry.index)
                result = error
            if not isinstance(body, Batch) or self.state.store.log.last_sequence != before:
                self._wake_log_readers()
        waiting = self._waiting.pop(entry.index, None)
        if waiting is not None and not waiting.done():
            if isinstance(result, BaseException):
                waiting.set_exception(result)
            else:
                waiting.set_result(result)

    def _install(self, snapshot: InstallSnapshot) -> None:
        self.state = PartitionState.restore(snapshot.state)
        self._wake_log_readers()

    def _fail_waiting(self) -> None:
        """A deposed leader cannot answer: its callers try the new one (the request id avoids a second apply)."""
        error = NotLeaderError("This replica no longer leads its partition", leader=self.node.leader)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(error)
        self._waiting.clear()

    def _send(self, messages: Sequence[tuple[str, Message]]) -> None:
        by_peer: dict[str, list[Message]] = {}
        for target, message in messages:
            by_peer.setdefault(target, []).append(message)
        for target, batch in by_peer.items():
            self._spawn(self._deliver_to(target, batch))

    async def _deliver_to(self, target: str, messages: list[Message]) -> None:
        peer = self._peer(target)
        if peer is None:
            self._silent_since.setdefault(target, time.monotonic())
            return
        try:
            replies = await peer.deliver(messages)
        except GridError:
            self._silent_since.setdefault(target, time.monotonic())
            self._peers.pop(target, None)  # look it up again: it may have been replaced
            self.node.unreachable(target)
            return
        self._silent_since.pop(target, None)
        now = time.monotonic()
        for reply in replies:
            self._process(self.node.step(reply, now))
        if self.node.lease_valid(now):
            self._lease_renewed.set()
            self._lease_renewed = asyncio.Event()

    def _peer(self, replica_id: str) -> ReplicaService | None:
        peer = self._peers.get(replica_id)
        if peer is None:
            found = self._system.find_replica(self.config.table_id, self.partition_id, replica_id)
            if found is not None:
                peer = self._peers[replica_id] = cast(ReplicaService, found)
        return peer

    async def watch(self, term: int) -> None:
        """Answer once this replica no longer leads in ``term``, or after ``WATCH_SECONDS`` (see there)."""
        self._start()
        deadline = time.monotonic() + WATCH_SECONDS
        while (
            self.node.role is Role.LEADER
            and self.node.term == term
            and not self._stopped
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(WATCH_POLL_SECONDS)
        if self._stopped:
            raise PartitionUnavailableError("This replica was stopped")

    def _watch_leader(self) -> None:
        leader, term = self.node.leader, self.node.term
        if leader is None or leader == self.replica_id or self._watching == (leader, term):
            return
        self._watching = (leader, term)
        self._spawn(self._watch(leader, term))

    async def _watch(self, leader: str, term: int) -> None:
        try:
            peer = self._peer(leader)
            if peer is None:
                raise PartitionUnavailableError(f"replica {leader} is gone")
            await peer.watch(term)
        except PartitionUnavailableError:
            if self.node.leader == leader and self.node.term == term:
                self.node.leader_died(time.monotonic())
        except GridError:
            await asyncio.sleep(WATCH_SECONDS / 10)  # not a death (the timeouts decide): try again later
        finally:
            if self._watching == (leader, term):
                self._watching = None

    # -- proposing -----------------------------------------------------------------------

    async def _propose(self, command: Command, request_id: str | None = None) -> Any:
        """Append ``command`` as leader; its answer once a majority holds it and it is applied.

        ``request_id`` names the caller's request across its tries (``PartitionState.apply``).
        """
        self._start()
        try:
            index, ready = self.node.propose((time.time(), request_id, command), time.monotonic())
        except NotLeader as refused:
            raise NotLeaderError("This replica does not lead its partition", leader=refused.leader) from None
        waiting: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[index] = waiting
        self._process(ready)
        return await waiting

    async def _check_reads(self, consistent: bool, min_index: int, low: int, high: int) -> None:
        """Refuse a read of hashes ``[low, high)`` this replica may not serve now.

        Strongly consistent: only a leader whose lease runs (an idle leader renews it
        first: one heartbeat round), and it heartbeats fast for a while to keep it.
        Eventually consistent: a replica in touch with its leader that applied the
        caller's ``min_index`` and, if it follows, the split or merge that gave it the
        range (a follower a split's or merge's items have not reached yet must not
        answer as if the range were empty); these leave the group's heartbeat rate
        alone (an idle leader's followers stay in touch at the idle rate), so a
        read-mostly load pays for reads, not for heartbeats.
        """
        self._start()
        now = time.monotonic()
        if consistent:
            self.node.note_activity(now)
            await self._hold_lease(now)
        elif (
            not self.node.in_sync(now)
            or self.node.applied < min_index
            or (self.node.role is not Role.LEADER and not self._holds(low, high))
        ):
            raise NotLeaderError("This replica is behind its leader", leader=self.node.leader)

    def _holds(self, low: int, high: int) -> bool:
        """Whether this replica's state has the items of hashes ``[low, high)`` (its moves applied)."""
        store = self.state.store
        return not self.state.awaiting_items and store.low <= low and high <= store.high

    async def _hold_lease(self, now: float) -> None:
        """Return once this replica leads under a lease; ``NotLeaderError`` if it does not lead."""
        if self.node.lease_valid(now):
            return
        if self.node.role is Role.LEADER:
            self._process(self.node.heartbeat_now(now))
            renewed = self._lease_renewed
            try:
                await asyncio.wait_for(renewed.wait(), self.node.timing.election)
            except asyncio.TimeoutError:
                pass
            if self.node.lease_valid(time.monotonic()):
                return
        raise NotLeaderError("Strongly consistent reads are served by the leader", leader=self.node.leader)

    # -- PartitionService ----------------------------------------------------------------

    async def execute(
        self, wire_ops: Sequence[tuple[Any, ...]], request_id: str | None = None, min_index: int = 0
    ) -> tuple[list[Any], int]:
        """A batch of single-item operations and transaction messages, in order: results in their
        positions, and this replica's applied index."""
        started = time.perf_counter()
        try:
            reads_only, consistent = read_only(wire_ops)
            if reads_only:
                ops = [op_from_wire(wire) for wire in wire_ops]
                # The hashes read matter only to an eventually consistent read on a follower.
                hashes = [] if consistent else [op.key.hash for op in ops if isinstance(op, GetOp)]
                await self._check_reads(consistent, min_index, min(hashes, default=0), max(hashes, default=-1) + 1)
                return self.state.run(ops), self.node.applied
            answer: list[Any] = await self._propose(Batch(tuple(wire_ops)), request_id)
            return answer, self.node.applied
        finally:
            self._served(started)

    async def query(self, request: QueryRequest, min_index: int = 0) -> tuple[Page, int]:
        started = time.perf_counter()
        try:
            await self._check_reads(request.consistent, min_index, request.hash, request.hash + 1)
            return self.state.store.query(request), self.node.applied
        finally:
            self._served(started)

    async def scan(self, request: ScanRequest, min_index: int = 0) -> tuple[Page, int]:
        started = time.perf_counter()
        try:
            await self._check_reads(request.consistent, min_index, request.low_hash, request.high_hash)
            return self.state.store.scan(request), self.node.applied
        finally:
            self._served(started)

    def _served(self, started: float) -> None:
        """Count one call and the time it took here (the table's service latency metric)."""
        self._batches += 1
        self._service_seconds += time.perf_counter() - started

    # Moves carry the sending router's epoch: a partition fenced by a newer router refuses them.

    async def fence(self, epoch: int, request_id: str | None = None) -> None:
        """A restarted router's epoch: refuse moves from earlier routers from now on."""
        await self._propose(Fence(epoch), request_id)

    async def split_off(
        self, at: int, map_version: int, epoch: int = 0, request_id: str | None = None
    ) -> tuple[HandOverItems, str]:
        """Hand over ``[at, high)``; answers its items and the stream shard that closed."""
        answer: tuple[HandOverItems, str] = await self._propose(SplitOff(at, map_version, epoch), request_id)
        return answer

    async def ingest(
        self,
        entries: HandOverItems,
        parent_shard_id: str | None = None,
        epoch: int = 0,
        request_id: str | None = None,
    ) -> None:
        """Take over a split's items; this partition's stream shard is a child of ``parent_shard_id``."""
        await self._propose(Ingest(entries, parent_shard_id, epoch), request_id)

    async def retire(
        self, map_version: int, epoch: int = 0, request_id: str | None = None
    ) -> tuple[HandOverItems, str]:
        """Hand over every item to the lower neighbour (a merge); answers them and the shard that closed."""
        answer: tuple[HandOverItems, str] = await self._propose(Retire(map_version, epoch), request_id)
        return answer

    async def release_hand_over(self, epoch: int = 0, request_id: str | None = None) -> None:
        await self._propose(ReleaseHandOver(epoch), request_id)

    async def undo_hand_over(self, map_version: int, epoch: int = 0, request_id: str | None = None) -> bool:
        return bool(await self._propose(UndoHandOver(map_version, epoch), request_id))

    async def absorb_upper(
        self,
        entries: HandOverItems,
        high: int,
        map_version: int,
        other_parent: str,
        epoch: int = 0,
        request_id: str | None = None,
    ) -> None:
        await self._propose(AbsorbUpper(entries, high, map_version, other_parent, epoch), request_id)

    async def provision(
        self, read_per_second: float | None, write_per_second: float | None, request_id: str | None = None
    ) -> None:
        await self._propose(Provision(read_per_second, write_per_second), request_id)

    async def set_retention(self, max_records: int, max_age_seconds: float, request_id: str | None = None) -> None:
        await self._propose(SetRetention(max_records, max_age_seconds), request_id)

    # -- the change log (every replica holds only committed records) ---------------------

    async def read_log(self, after: int = 0, limit: int | None = None) -> list[ChangeRecord]:
        return self.state.store.log.read(after, limit)

    async def wait_log(self, after: int, limit: int, timeout: float) -> LogSlice:
        """Change records after ``after`` (waiting up to ``timeout`` for one), with the shard lineage."""
        self._start()
        store = self.state.store
        store.log.trim()
        if store.log.last_sequence <= after and timeout > 0:
            waiter = self._log_advanced
            try:
                await asyncio.wait_for(waiter.wait(), timeout)
                await asyncio.sleep(LOG_LINGER_SECONDS)  # let a few more batches land: fewer, fuller calls
            except asyncio.TimeoutError:
                pass
        store = self.state.store  # a snapshot may have replaced it meanwhile
        return LogSlice(
            records=store.log.read(after, limit),
            shards=[shard.describe() for shard in store.log.shards],
            first_retained=store.log.first_retained_sequence,
            last_sequence=store.log.last_sequence,
            map_version=store.map_version,
        )

    def _wake_log_readers(self) -> None:
        self._log_advanced.set()
        self._log_advanced = asyncio.Event()

    # -- transactions whose coordinator went quiet -----------------------------------------

    async def _sweep_forever(self) -> None:
        """Leader only: finish transactions whose coordinator went quiet (ask their ledger, then log the outcome)."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_SECONDS)
            if self.node.role is not Role.LEADER:
                continue
            expired, readers = self.state.transactions.expired(time.time())
            if not expired and not readers:
                continue
            decided = []
            for ledger, txid in expired:
                try:
                    decided.append((txid, await self._system.ledger(ledger).resolve(txid)))
                except GridError:  # the ledger is unreachable now: ask again next round
                    continue
            if decided or readers:
                try:
                    await self._propose(FinishTransactions(tuple(decided), tuple(readers)))
                except GridError:
                    continue

    # -- keeping the group whole -----------------------------------------------------------

    def _repair(self) -> None:
        """Leader only: replace a member that died, or add one to a group short of its size (one change at a time)."""
        now = time.monotonic()
        if self._repairing or self.node.configuration_pending() or now < self._repair_not_before:
            return
        configuration = self.node.configuration
        dead = [
            member
            for member in sorted(configuration.members - {self.replica_id})
            if now - self._silent_since.get(member, now) > DEAD_AFTER_SECONDS
        ]
        if dead or len(configuration.members) < self.config.group_size:
            self._repairing = True
            self._spawn(self._replace(dead[0] if dead else None))
            return
        # Caught up: within a few entries of the commit (under a steady write load a learner's
        # last answer is always a round old, so "all of it" might never hold).
        caught_up = [m for m in configuration.learners if self.node.match_of(m) >= self.node.commit - CAUGHT_UP_ENTRIES]
        if caught_up:
            promoted = caught_up[0]
            self._propose_configuration(
                replace(
                    configuration,
                    voters=configuration.voters | {promoted},
                    learners=configuration.learners - {promoted},
                )
            )

    def _propose_configuration(self, configuration: Configuration) -> None:
        try:
            _, ready = self.node.propose(configuration, time.monotonic())
        except (NotLeader, ValueError):
            return
        self._process(ready)

    async def _replace(self, dead: str | None) -> None:
        """Remove ``dead`` (if any) from the group, then start a new replica (in its place, or for a
        group short of its size: an earlier replacement failed to start)."""
        try:
            if dead is not None:
                configuration = self.node.configuration
                self._propose_configuration(
                    replace(
                        configuration,
                        voters=configuration.voters - {dead},
                        learners=configuration.learners - {dead},
                        departed=configuration.departed | {dead},
                    )
                )
                self._silent_since.pop(dead, None)
                self._peers.pop(dead, None)
                self._system.stop_replica(self.config.table_id, self.partition_id, dead)
            await self._add_replica()
        except Exception:
            log.exception("partition %s: replacing replica %s failed; trying again", self.partition_id, dead)
            self._repair_not_before = time.monotonic() + REPAIR_RETRY_SECONDS
        finally:
            self._repairing = False

    async def _add_replica(self) -> None:
        """Start a new replica away from the group's nodes, add it as a learner, and tell the router."""
        newcomer = self._next_replica_id()
        self._tried_ids.add(newcomer)  # a start that fails may leave its name taken for a while
        config = replace(
            self.config,
            replica_id=newcomer,
            members=(),
            campaign=False,
            awaiting_items=False,
            avoid_nodes=await self._nodes_in_use(),
        )
        service = self._system.start_partition(config)
        try:
            await asyncio.wait_for(service.ready(), START_SECONDS)
        except (GridError, asyncio.TimeoutError):
            self._system.stop_replica(self.config.table_id, self.partition_id, newcomer)
            raise
        self._peers[newcomer] = cast(ReplicaService, service)
        while self.node.configuration_pending():
            await asyncio.sleep(TICK_SECONDS)
        current = self.node.configuration
        self._propose_configuration(replace(current, learners=current.learners | {newcomer}))
        await self._announce()

    async def _nodes_in_use(self) -> tuple[str, ...]:
        """The nodes the group's live members run on (a replacement goes elsewhere if it can)."""
        others = [self._peer(m) for m in sorted(self.node.configuration.members - {self.replica_id})]
        answers = await asyncio.gather(
            *(asyncio.wait_for(peer.stats(), START_SECONDS) for peer in others if peer is not None),
            return_exceptions=True,
        )
        nodes = {answer.node_id for answer in answers if isinstance(answer, PartitionStats)} | {self._system.node_id()}
        return tuple(sorted(node for node in nodes if node is not None))

    def _next_replica_id(self) -> str:
        configuration = self.node.configuration
        known = configuration.members | configuration.departed | self._tried_ids | {self.replica_id}
        numbers = [int(m[1:]) for m in known if m[1:].isdigit()]
        return f"r{max(numbers, default=0) + 1}"

    async def _announce(self) -> None:
        """Tell the router the group's members, so maps name the new replica (calls go on meanwhile)."""
        members = sorted(self.node.configuration.members)
        try:
            await self._system.router().replicas_changed(self.table_name, self.partition_id, tuple(members))
        except GridError:
            log.warning("partition %s: the router did not take its new members; it asks again", self.partition_id)

    # -- introspection -------------------------------------------------------------------

    async def stats(self, leading: bool = False) -> PartitionStats:
        """This replica's figures; with ``leading``, only if it leads under a lease (its state is the group's)."""
        self._start()
        if leading:
            await self._hold_lease(time.monotonic())
        store = self.state.store
        totals = store.meter.totals
        return PartitionStats(
            partition_id=self.partition_id,
            node_id=self._system.node_id(),
            awaiting_items=self.state.awaiting_items,
            item_count=store.item_count,
            size_bytes=store.size_bytes,
            low=store.low,
            high=store.high,
            map_version=store.map_version,
            hand_over=store.kept_hand_over,
            last_sequence=store.log.last_sequence,
            consumed_read_units=totals.read_units,
            consumed_write_units=totals.write_units,
            throttled_reads=totals.throttled_reads,
            throttled_writes=totals.throttled_writes,
            batches=self._batches,
            service_seconds=self._service_seconds,
            replica_id=self.replica_id,
            leader=self.node.leader,
            members=tuple(sorted(self.node.configuration.members)),
            voters=tuple(sorted(self.node.configuration.voters)),
            router_epoch=self.state.router_epoch,
        )

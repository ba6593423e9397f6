"""Replica groups agree on one log: the replication protocol (Raft), as a plain class without I/O.

A ``ReplicaNode`` is one replica's view of the protocol. It takes messages
(``step``), the passing of time (``tick``) and proposals (``propose``), and answers
with a ``Ready``: the messages to send and the entries that are now committed, in
order, to apply. It never sends, sleeps or applies anything itself, so every
interleaving of a group (drops, delays, reorders, crashes) can be played out
deterministically in one process (``tests/unit/test_replication.py``), and the
partition actor only carries its messages.

The protocol is Raft, with the parts a data grid needs:

- terms on every message, refused when older; a leader is elected by a majority
  whose logs it has all of (so it holds every committed entry), after a pre-vote
  (a replica that was cut off cannot force elections when it returns);
- an entry commits once a majority holds it and an entry of the leader's own term
  does; a new leader commits a no-op first;
- leader leases: a replica that heard from a leader within ``election_timeout``
  votes for nobody else, so a leader whose majority answered a heartbeat it sent at
  ``t`` leads alone until ``t + lease``. It serves strongly consistent reads only
  while that lease runs (``lease_valid``), and steps down when it cannot reach a
  majority for a whole election timeout;
- one configuration change at a time (a server is added or removed): learners get
  every entry but neither vote nor count for the majority until promoted;
- snapshots: a follower too far behind (the leader compacted what it needs) or one
  that lost its state gets the group's state at an index, then the log after it.

Times are seconds of one monotonic clock per replica; only durations are compared
across replicas.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AppendEntries",
    "AppendReply",
    "Configuration",
    "Entry",
    "InstallSnapshot",
    "Message",
    "NotLeader",
    "Ready",
    "ReplicaNode",
    "Role",
    "Timing",
    "VoteReply",
    "VoteRequest",
]

MAX_ENTRIES_PER_MESSAGE = 512
RESEND_HEARTBEATS = 2  # a message unanswered for this many heartbeat intervals is taken as lost
SNAPSHOT_SECONDS = 30.0  # a snapshot unanswered this long is sent again
MIN_TICK_SECONDS, MAX_TICK_SECONDS = 0.01, 0.25


@dataclass(frozen=True, slots=True)
class Configuration:
    """Who votes, and who only follows (a new replica catching up).

    ``departed`` names the replicas that left the group: their ids are never given again,
    so nothing meant for a dead replica (a late message, a handle a client kept, the
    leader's view of its progress) can be taken for its replacement's.
    """

    voters: frozenset[str]
    learners: frozenset[str] = frozenset()
    departed: frozenset[str] = frozenset()

    @property
    def members(self) -> frozenset[str]:
        return self.voters | self.learners

    def majority(self) -> int:
        return len(self.voters) // 2 + 1


@dataclass(frozen=True, slots=True)
class Entry:
    term: int
    index: int
    command: Any  # the application's; a ``Configuration`` changes the group; None is a leader's no-op


@dataclass(frozen=True, slots=True)
class AppendEntries:
    term: int
    sender: str
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]
    commit: int
    round: int  # the leader's heartbeat round, echoed back (its lease counts from when it sent it)
    interval: float = 0.05  # how often the leader sends now: followers time out after a few of these
    quick: bool = True  # the leader sends this follower entries at once: it stands first if the leader dies


@dataclass(frozen=True, slots=True)
class AppendReply:
    term: int
    sender: str
    success: bool
    match: int  # on success, the last index it holds; on failure, the last index it has at all
    round: int


@dataclass(frozen=True, slots=True)
class VoteRequest:
    term: int
    sender: str
    last_index: int
    last_term: int
    pre_vote: bool


@dataclass(frozen=True, slots=True)
class VoteReply:
    term: int
    sender: str
    granted: bool
    pre_vote: bool


@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    """The group's state at ``last_index``, for a follower the log can no longer bring up to date."""

    term: int
    sender: str
    last_index: int
    last_term: int
    configuration: Configuration
    state: Any
    round: int


Message = AppendEntries | AppendReply | VoteRequest | VoteReply | InstallSnapshot


@dataclass(frozen=True, slots=True)
class Timing:
    """Heartbeats every ``heartbeat`` seconds; elections after ``election`` to twice that without one.

    An idle group (nothing proposed or read for ``active_seconds``) heartbeats every
    ``idle_heartbeat`` seconds instead, and its followers wait proportionally longer:
    idle groups cost next to nothing. (A leader that dies is noticed faster than any
    timeout: its followers' calls to it fail, see ``ReplicaNode.leader_died``.)
    """

    heartbeat: float = 0.05
    election: float = 0.6
    idle_heartbeat: float = 1.0
    active_seconds: float = 2.0
    lease_fraction: float = 0.8  # of ``election``: margin for the followers' timers starting late

    @property
    def lease(self) -> float:
        return self.election * self.lease_fraction


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


class NotLeader(Exception):
    """This replica does not lead its group; ``leader`` is the one it knows of (None: unknown)."""

    def __init__(self, leader: str | None) -> None:
        super().__init__(f"not the leader; the leader is {leader}")
        self.leader = leader


@dataclass(slots=True)
class Ready:
    """What a call produced: messages to send, committed entries to apply, a snapshot to install."""

    messages: list[tuple[str, Message]] = field(default_factory=list)
    committed: list[Entry] = field(default_factory=list)
    snapshot: InstallSnapshot | None = None  # install this state before applying ``committed``
    snapshot_wanted: list[str] = field(default_factory=list)  # followers that need the leader's state

    def extend(self, other: Ready) -> None:
        self.messages.extend(other.messages)
        self.committed.extend(other.committed)
        if other.snapshot is not None:
            self.snapshot = other.snapshot
        self.snapshot_wanted.extend(other.snapshot_wanted)


@dataclass(slots=True)
class _Progress:
    """The leader's view of one follower."""

    next_index: int
    match: int = 0
    in_flight: bool = False  # one AppendEntries at a time: entries batch up meanwhile
    snapshot_until: float = float("-inf")  # a snapshot on its way: no other until then
    last_sent: float = float("-inf")
    commit_sent: int = 0  # the commit index it was last told
    announced: float = 0.0  # the heartbeat interval it was last told: the next message comes within it
    round_acked: int = 0
    last_heard: float = float("-inf")
    answer_time: float = 0.0  # how long its answers take (a moving average; infinite once unreachable)


class ReplicaNode:
    """One replica of a group; see the module docstring."""

    def __init__(
        self,
        node_id: str,
        configuration: Configuration,
        *,
        now: float,
        timing: Timing | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.id = node_id
        self.timing = timing or Timing()
        self._rng = rng or random.Random()
        self.term = 0
        self.voted_for: str | None = None
        self.role = Role.FOLLOWER
        self.leader: str | None = None
        self.log: list[Entry] = []  # entries after ``snapshot_index``
        self._configurations: list[int] = []  # indexes of the log's Configuration entries, ascending
        self._quick = True  # the leader sends this replica entries at once (see ``AppendEntries.quick``)
        self.snapshot_index = 0
        self.snapshot_term = 0
        self.snapshot_configuration = configuration
        self.commit = 0
        self.applied = 0  # handed out in ``Ready.committed``
        self._heard_leader_at = float("-inf")
        self._election_deadline = now + self._election_timeout()
        self._votes: set[str] = set()
        self._progress: dict[str, _Progress] = {}
        self._round = 0
        self._round_sent_at: dict[int, float] = {}
        self._lease_until = float("-inf")
        self._term_start = 0  # the index of this leader's first entry (its no-op)
        self._active_until = float("-inf")
        self._leader_interval = self.timing.heartbeat  # how often the leader said it sends

    # -- the log -------------------------------------------------------------------------

    @property
    def last_index(self) -> int:
        return self.log[-1].index if self.log else self.snapshot_index

    @property
    def last_term(self) -> int:
        return self.log[-1].term if self.log else self.snapshot_term

    def term_at(self, index: int) -> int | None:
        """The term of the entry at ``index`` (None if this replica no longer has or never had it)."""
        if index == self.snapshot_index:
            return self.snapshot_term
        position = index - self.snapshot_index - 1
        if 0 <= position < len(self.log):
            return self.log[position].term
        return None

    def entries_from(self, index: int, limit: int = MAX_ENTRIES_PER_MESSAGE) -> tuple[Entry, ...]:
        start = index - self.snapshot_index - 1
        return tuple(self.log[max(0, start) : max(0, start) + limit])

    @property
    def configuration(self) -> Configuration:
        """The newest configuration in the log (used from when it is appended, committed or not)."""
        if self._configurations:
            return self._configuration_entry(self._configurations[-1])
        return self.snapshot_configuration

    def _configuration_entry(self, index: int) -> Configuration:
        command = self.log[index - self.snapshot_index - 1].command
        assert isinstance(command, Configuration)
        return command

    def _log_append(self, entry: Entry) -> None:
        self.log.append(entry)
        if isinstance(entry.command, Configuration):
            self._configurations.append(entry.index)

    def _log_truncate_from(self, index: int) -> None:
        """Drop the entries from ``index`` on (a conflicting suffix, never committed)."""
        del self.log[index - self.snapshot_index - 1 :]
        self._configurations = [i for i in self._configurations if i < index]

    def _log_clear(self) -> None:
        self.log.clear()
        self._configurations.clear()

    def compact(self, through: int) -> None:
        """Forget applied entries up to ``through`` (the application keeps their effect)."""
        through = min(through, self.applied)
        if through <= self.snapshot_index:
            return
        term = self.term_at(through)
        assert term is not None
        configuration = self._configuration_at(through)
        del self.log[: through - self.snapshot_index]
        self.snapshot_index, self.snapshot_term = through, term
        self.snapshot_configuration = configuration
        self._configurations = [i for i in self._configurations if i > through]

    def _configuration_at(self, index: int) -> Configuration:
        found = [i for i in self._configurations if i <= index]
        return self._configuration_entry(found[-1]) if found else self.snapshot_configuration

    # -- the application's calls ---------------------------------------------------------

    def propose(self, command: Any, now: float) -> tuple[int, Ready]:
        """Append ``command`` (as leader); its index, and messages that carry it. Raises ``NotLeader``."""
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader)
        if isinstance(command, Configuration) and self.configuration_pending():
            raise ValueError("a configuration change is already under way")
        self.note_activity(now)
        index = self._append(command)
        ready = Ready()
        self._advance_commit(now, ready)  # a group of one commits at once
        self._broadcast(now, ready, heartbeat=False)
        return index, ready

    def _append(self, command: Any) -> int:
        entry = Entry(term=self.term, index=self.last_index + 1, command=command)
        self._log_append(entry)
        progress = self._progress.get(self.id)
        if progress is not None:
            progress.match = entry.index
        return entry.index

    def configuration_pending(self) -> bool:
        """Whether a configuration change is appended and not yet committed (one at a time)."""
        return bool(self._configurations) and self._configurations[-1] > self.commit

    def match_of(self, peer: str) -> int:
        """How much of the log ``peer`` is known to hold (leader only; 0 when unknown)."""
        progress = self._progress.get(peer)
        return progress.match if progress is not None else 0

    def held_by_all(self) -> int:
        """The highest index every member is known to hold (leader only: its own last index otherwise)."""
        matches = [self.match_of(peer) for peer in self.configuration.members if peer != self.id]
        return min(matches, default=self.last_index)

    def in_sync(self, now: float) -> bool:
        """Whether this replica heard from a leader as recently as that leader said it would send."""
        return self.role is Role.LEADER or self._leader_recently(now)

    def note_activity(self, now: float) -> None:
        """Something was proposed or read: heartbeat at the fast rate for a while."""
        self._active_until = now + self.timing.active_seconds

    def heartbeat_interval(self, now: float) -> float:
        return self.timing.heartbeat if now < self._active_until else self.timing.idle_heartbeat

    def tick_interval(self, now: float) -> float:
        """How often ``tick`` is due: a fraction of the heartbeat the leader keeps now (idle groups tick rarely)."""
        interval = self.heartbeat_interval(now) if self.role is Role.LEADER else self._leader_interval
        if self.role in (Role.PRE_CANDIDATE, Role.CANDIDATE):
            interval = self.timing.heartbeat
        return min(MAX_TICK_SECONDS, max(MIN_TICK_SECONDS, interval / 4))

    def heartbeat_now(self, now: float) -> Ready:
        """Leader only: a heartbeat round at once (to renew the lease before a consistent read)."""
        ready = Ready()
        if self.role is Role.LEADER:
            self.note_activity(now)
            for progress in self._progress.values():
                progress.last_sent = float("-inf")
            self._broadcast(now, ready, heartbeat=True)
        return ready

    def leader_died(self, now: float) -> None:
        """The leader's actor is gone (a call to it failed): stand for election at once, not after a timeout."""
        if self.role is Role.LEADER:
            return
        dead = self.leader
        self._heard_leader_at = float("-inf")
        self.leader = None
        self._leader_interval = self.timing.heartbeat  # tick often until a leader is found
        # The survivors stand one after another, not all at once: two candidates at once
        # split the vote, and each retry costs an election timeout. The quick followers
        # first (they hold every entry; a slower one's log may be too short to win), then by id.
        survivors = sorted(self.configuration.voters - {dead})
        rank = survivors.index(self.id) if self.id in survivors else 0
        rank = 0 if self._quick else 1 + rank
        delay = rank * self.timing.election / 4 + self._rng.uniform(0, self.timing.heartbeat)
        self._election_deadline = min(self._election_deadline, now + delay)

    def lease_valid(self, now: float) -> bool:
        """Whether this replica leads alone now: it may serve strongly consistent reads."""
        return self.role is Role.LEADER and now < self._lease_until and self.commit >= self._term_start

    def tick(self, now: float) -> Ready:
        ready = Ready()
        if self.role is Role.LEADER:
            if self._lost_quorum(now):
                self._become_follower(self.term, None, now)
                return ready
            self._broadcast(now, ready, heartbeat=True)
        elif now >= self._election_deadline and self.id in self.configuration.voters:
            self._start_pre_vote(now, ready)
        return ready

    def step(self, message: Message, now: float) -> Ready:
        """Take one message; what to send and apply in answer."""
        ready = Ready()
        if message.term > self.term:
            if isinstance(message, (VoteRequest, VoteReply)) and message.pre_vote:
                pass  # pre-votes ask about a term nobody has entered yet
            elif isinstance(message, VoteRequest) and self._leader_recently(now):
                pass  # a live leader's follower ignores a candidate (leader stickiness: the lease holds)
            else:
                leader = message.sender if isinstance(message, (AppendEntries, InstallSnapshot)) else None
                self._become_follower(message.term, leader, now)
        if isinstance(message, AppendEntries):
            self._on_append(message, now, ready)
        elif isinstance(message, AppendReply):
            self._on_append_reply(message, now, ready)
        elif isinstance(message, VoteRequest):
            self._on_vote_request(message, now, ready)
        elif isinstance(message, VoteReply):
            self._on_vote_reply(message, now, ready)
        elif isinstance(message, InstallSnapshot):
            self._on_snapshot(message, now, ready)
        return ready

    def snapshot_for(self, peer: str, state: Any, now: float) -> list[tuple[str, Message]]:
        """The message that brings ``peer`` to this leader's applied state (``state`` is the application's)."""
        if self.role is not Role.LEADER or peer not in self._progress:
            return []
        index = self.applied
        term = self.term_at(index)
        assert term is not None
        progress = self._progress[peer]
        progress.in_flight, progress.last_sent = True, now
        progress.snapshot_until = now + SNAPSHOT_SECONDS
        message = InstallSnapshot(
            term=self.term,
            sender=self.id,
            last_index=index,
            last_term=term,
            configuration=self._configuration_at(index),
            state=state,
            round=self._next_round(now),
        )
        return [(peer, message)]

    def unreachable(self, peer: str) -> None:
        """A message to ``peer`` could not be delivered (its call failed): the next one may go at once."""
        progress = self._progress.get(peer)
        if progress is not None:
            progress.in_flight = False
            progress.snapshot_until = float("-inf")
            progress.answer_time = float("inf")  # no longer among the quick ones (see ``_quick_followers``)

    def forget_state(self) -> None:
        """This replica lost its application state: the leader will send it a snapshot.

        No actor calls it (a replica that dies is replaced under a new id); the simulation
        uses it to play a replica that comes back empty under its old id.
        """
        self._log_clear()
        self.snapshot_index = self.snapshot_term = 0
        self.commit = self.applied = 0

    # -- roles ---------------------------------------------------------------------------

    def _election_timeout(self, interval: float | None = None) -> float:
        """Randomized, and long enough for a few of the heartbeats the leader announced."""
        base = self.timing.election if interval is None else max(self.timing.election, 3 * interval)
        return base * (1.0 + self._rng.random())

    def _leader_recently(self, now: float) -> bool:
        """Heard from a leader within the time that leader said it would send again (at least an election timeout).

        Such a replica votes for nobody else: what makes the leader's lease safe. A leader
        counts as having heard from one (itself) until it steps down for want of a majority.
        """
        if self.role is Role.LEADER:
            return True
        return now - self._heard_leader_at < max(self.timing.election, 3 * self._leader_interval)

    def _become_follower(self, term: int, leader: str | None, now: float) -> None:
        if term > self.term:
            self.term, self.voted_for = term, None
        self.role = Role.FOLLOWER
        self.leader = leader
        self._progress.clear()
        self._lease_until = float("-inf")
        self._election_deadline = now + self._election_timeout()

    def _start_pre_vote(self, now: float, ready: Ready) -> None:
        self.role = Role.PRE_CANDIDATE
        self.leader = None
        self._votes = {self.id}
        self._election_deadline = now + self._election_timeout()
        self._request_votes(ready, pre_vote=True)
        self._maybe_win(now, ready)

    def _start_election(self, now: float, ready: Ready) -> None:
        self.role = Role.CANDIDATE
        self.term += 1
        self.voted_for = self.id
        self._votes = {self.id}
        self._election_deadline = now + self._election_timeout()
        self._request_votes(ready, pre_vote=False)
        self._maybe_win(now, ready)

    def _request_votes(self, ready: Ready, *, pre_vote: bool) -> None:
        term = self.term + 1 if pre_vote else self.term
        for peer in sorted(self.configuration.voters - {self.id}):
            request = VoteRequest(
                term=term, sender=self.id, last_index=self.last_index, last_term=self.last_term, pre_vote=pre_vote
            )
            ready.messages.append((peer, request))

    def _maybe_win(self, now: float, ready: Ready) -> None:
        if len(self._votes & self.configuration.voters) < self.configuration.majority():
            return
        if self.role is Role.PRE_CANDIDATE:
            self._start_election(now, ready)
        elif self.role is Role.CANDIDATE:
            self._become_leader(now, ready)

    def _become_leader(self, now: float, ready: Ready) -> None:
        self.role = Role.LEADER
        self.leader = self.id
        self._progress = {
            peer: _Progress(next_index=self.last_index + 1, last_heard=now) for peer in self.configuration.members
        }
        self._lease_until = float("-inf")
        self._term_start = self._append(None)  # a no-op of this term commits what came before
        self._advance_commit(now, ready)
        self._broadcast(now, ready, heartbeat=True)

    def campaign(self, now: float) -> Ready:
        """Stand for election now (a new group's first replica), not after a timeout."""
        ready = Ready()
        if self.role is not Role.LEADER and self.id in self.configuration.voters:
            self._start_pre_vote(now, ready)
        return ready

    # -- replication ---------------------------------------------------------------------

    def _next_round(self, now: float) -> int:
        self._round += 1
        self._round_sent_at[self._round] = now
        return self._round

    def _broadcast(self, now: float, ready: Ready, *, heartbeat: bool) -> None:
        """Send new entries to every idle follower; with ``heartbeat``, also an empty append to those due one."""
        round_number: int | None = None
        quick = self._quick_followers()
        for peer in sorted(self.configuration.members - {self.id}):
            progress = self._progress.setdefault(peer, _Progress(next_index=self.last_index + 1, last_heard=now))
            # New entries go at once to the followers a majority needs (the quickest), and
            # to the others with their next heartbeat: a write costs one call, not one per
            # follower, and the others get many entries a call. A commit the follower has
            # not heard of rides along with entries or a heartbeat: a message for the commit
            # alone would double the calls of a write load.
            has_news = progress.next_index <= self.last_index and peer in quick
            interval = min(progress.announced or self.timing.heartbeat, self.heartbeat_interval(now))
            due = heartbeat and now - progress.last_sent >= interval
            if now < progress.snapshot_until:
                continue  # a whole state on its way: it may take a while
            if progress.in_flight and now - progress.last_sent < RESEND_HEARTBEATS * self.heartbeat_interval(now):
                continue  # one message at a time (unless the last one seems lost)
            if not has_news and not due:
                continue
            if progress.next_index <= self.snapshot_index:
                ready.snapshot_wanted.append(peer)
                continue
            if round_number is None:
                round_number = self._next_round(now)
            message = self._append_message(progress, round_number, self.heartbeat_interval(now), peer in quick)
            ready.messages.append((peer, message))
            progress.in_flight, progress.last_sent, progress.commit_sent = True, now, self.commit
            progress.announced = message.interval
        if self._lone():
            self._lease_until = now + self.timing.lease

    def _quick_followers(self) -> set[str]:
        """The followers that get new entries at once: the quickest voters a majority needs, and learners.

        Learners are catching up and count for nothing yet; a voter whose answers were
        never timed (a new leader's followers) is quick until they are. A voter left out still gets
        every entry with its heartbeat, at most ``heartbeat`` later, so it stays close
        enough to take over; one that stops answering drops out of the quick ones at once.
        """
        voters = sorted(
            (self._progress[peer].answer_time if peer in self._progress else 0.0, peer)
            for peer in self.configuration.voters - {self.id}
        )
        needed = self.configuration.majority() - (1 if self.id in self.configuration.voters else 0)
        learners = self.configuration.members - self.configuration.voters - {self.id}
        # Voters not timed yet (a new leader's) all count as quick until their first answers.
        unmeasured = {peer for answer_time, peer in voters if answer_time == 0.0}
        return {peer for _, peer in voters[: max(0, needed)]} | unmeasured | learners

    def _lone(self) -> bool:
        return self.configuration.voters == {self.id}

    def _append_message(self, progress: _Progress, round_number: int, interval: float, quick: bool) -> AppendEntries:
        prev_index = progress.next_index - 1
        prev_term = self.term_at(prev_index)
        assert prev_term is not None
        return AppendEntries(
            term=self.term,
            sender=self.id,
            prev_index=prev_index,
            prev_term=prev_term,
            entries=self.entries_from(progress.next_index),
            commit=self.commit,
            round=round_number,
            interval=interval,
            quick=quick,
        )

    def _follow(self, message: AppendEntries | InstallSnapshot, now: float, ready: Ready) -> bool:
        """Take ``message``'s sender as leader; False (and a refusal sent) if its term is over."""
        if message.term < self.term:
            ready.messages.append((message.sender, self._reply(False, message.round)))
            return False
        self.leader = message.sender
        self.role = Role.FOLLOWER
        self._heard_leader_at = now
        if isinstance(message, AppendEntries):
            self._leader_interval = message.interval
            self._quick = message.quick
            self._election_deadline = now + self._election_timeout(message.interval)
        else:
            self._election_deadline = now + self._election_timeout()
        return True

    def _on_append(self, message: AppendEntries, now: float, ready: Ready) -> None:
        if not self._follow(message, now, ready):
            return
        known = self.term_at(message.prev_index)
        if message.prev_index > self.last_index or (known is not None and known != message.prev_term):
            ready.messages.append(
                (message.sender, self._reply(False, message.round, match=min(self.last_index, message.prev_index - 1)))
            )
            return
        for entry in message.entries:
            if entry.index <= self.snapshot_index:
                continue
            existing = self.term_at(entry.index)
            if existing is not None and existing != entry.term:
                self._log_truncate_from(entry.index)  # a conflicting suffix never committed
                existing = None
            if existing is None:
                self._log_append(entry)
        last_new = message.prev_index + len(message.entries)
        if message.commit > self.commit:
            self.commit = min(message.commit, last_new, self.last_index)
        self._hand_out(ready)
        ready.messages.append((message.sender, self._reply(True, message.round, match=last_new)))

    def _reply(self, success: bool, round_number: int, match: int | None = None) -> AppendReply:
        return AppendReply(
            term=self.term,
            sender=self.id,
            success=success,
            match=self.last_index if match is None else match,
            round=round_number,
        )

    def _on_snapshot(self, message: InstallSnapshot, now: float, ready: Ready) -> None:
        if not self._follow(message, now, ready):
            return
        if message.last_index <= self.applied:
            ready.messages.append((message.sender, self._reply(True, message.round, match=self.last_index)))
            return
        self._log_clear()
        self.snapshot_index, self.snapshot_term = message.last_index, message.last_term
        self.snapshot_configuration = message.configuration
        self.commit = self.applied = message.last_index
        ready.snapshot = message
        ready.messages.append((message.sender, self._reply(True, message.round, match=message.last_index)))

    def _on_append_reply(self, message: AppendReply, now: float, ready: Ready) -> None:
        progress = self._progress.get(message.sender)
        if self.role is not Role.LEADER or message.term < self.term or progress is None:
            return
        progress.in_flight = False
        progress.snapshot_until = float("-inf")
        progress.last_heard = now
        took = now - progress.last_sent
        progress.answer_time = (
            took if progress.answer_time in (0.0, float("inf")) else 0.8 * progress.answer_time + 0.2 * took
        )
        if message.success:
            progress.match = max(progress.match, message.match)
            progress.next_index = max(progress.next_index, message.match + 1)
            progress.round_acked = max(progress.round_acked, message.round)
            self._update_lease()
            self._advance_commit(now, ready)
        else:
            progress.next_index = max(1, min(progress.next_index - 1, message.match + 1))
        self._broadcast(now, ready, heartbeat=False)

    def _update_lease(self) -> None:
        """The lease runs from the newest round a majority (this leader included) has answered."""
        voters = self.configuration.voters
        rounds = sorted(
            (self._round if peer == self.id else self._progress[peer].round_acked)
            for peer in voters
            if peer == self.id or peer in self._progress
        )
        rounds += [0] * (len(voters) - len(rounds))
        rounds.sort(reverse=True)
        agreed = rounds[self.configuration.majority() - 1]
        sent_at = self._round_sent_at.get(agreed)
        if sent_at is not None:
            self._lease_until = max(self._lease_until, sent_at + self.timing.lease)
        for old in [r for r in self._round_sent_at if r < agreed]:
            del self._round_sent_at[old]

    def _lost_quorum(self, now: float) -> bool:
        """No majority heard from for a whole election timeout (as long as its followers wait): replaced, maybe."""
        window = max(self.timing.election, 3 * self.heartbeat_interval(now))
        heard = sum(
            1
            for peer in self.configuration.voters
            if peer == self.id or now - self._progress.get(peer, _Progress(0)).last_heard < window
        )
        return heard < self.configuration.majority()

    def _advance_commit(self, now: float, ready: Ready) -> None:
        voters = self.configuration.voters
        matches = sorted(
            (self.last_index if peer == self.id else self._progress.get(peer, _Progress(0)).match for peer in voters),
            reverse=True,
        )
        agreed = matches[self.configuration.majority() - 1]
        # Only an entry of this term commits by counting; earlier ones commit with it.
        if agreed > self.commit and self.term_at(agreed) == self.term:
            self.commit = agreed
        self._hand_out(ready)
        if self.role is Role.LEADER and self.id not in self.configuration.voters and self.commit >= self.last_index:
            self._become_follower(self.term, None, now)  # removed from the group: step aside

    def _hand_out(self, ready: Ready) -> None:
        if self.commit > self.applied:
            ready.committed.extend(self.entries_from(self.applied + 1, limit=self.commit - self.applied))
            self.applied = self.commit

    # -- elections -----------------------------------------------------------------------

    def _on_vote_request(self, message: VoteRequest, now: float, ready: Ready) -> None:
        up_to_date = (message.last_term, message.last_index) >= (self.last_term, self.last_index)
        if message.pre_vote:
            granted = message.term > self.term and up_to_date and not self._leader_recently(now)
        else:
            granted = (
                message.term == self.term
                and self.voted_for in (None, message.sender)
                and up_to_date
                and not (self._leader_recently(now) and self.leader != message.sender)
            )
            if granted:
                self.voted_for = message.sender
                self._election_deadline = now + self._election_timeout()
        reply = VoteReply(
            term=message.term if message.pre_vote else self.term,
            sender=self.id,
            granted=granted,
            pre_vote=message.pre_vote,
        )
        ready.messages.append((message.sender, reply))

    def _on_vote_reply(self, message: VoteReply, now: float, ready: Ready) -> None:
        expected = Role.PRE_CANDIDATE if message.pre_vote else Role.CANDIDATE
        wanted_term = self.term + 1 if message.pre_vote else self.term
        if self.role is not expected or message.term != wanted_term or not message.granted:
            return
        self._votes.add(message.sender)
        self._maybe_win(now, ready)

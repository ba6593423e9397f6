"""The replication protocol on a simulated network: every interleaving is a seed away.

A ``Simulation`` runs a group of ``ReplicaNode``s on one clock with a network that
delays, drops and reorders messages, partitions replicas and crashes them. After
every step it checks Raft's safety properties: one leader per term, committed
entries never differ between replicas nor disappear from later leaders, and at most
one replica holds a leader lease at any moment. A failing seed replays exactly.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from actors.replication import (
    Configuration,
    Entry,
    InstallSnapshot,
    Message,
    NotLeader,
    Ready,
    ReplicaNode,
    Role,
    Timing,
)

TIMING = Timing(heartbeat=0.05, election=0.4)


@dataclass
class Replica:
    node: ReplicaNode
    applied: list[Any] = field(default_factory=list)  # the application's state: commands in order
    alive: bool = True


class Simulation:
    def __init__(
        self, seed: int, size: int = 3, *, drop: float = 0.0, delay: tuple[float, float] = (0.001, 0.01)
    ) -> None:
        self.rng = random.Random(seed)
        self.now = 0.0
        self.drop = drop
        self.delay = delay
        ids = [f"r{i}" for i in range(size)]
        configuration = Configuration(voters=frozenset(ids))
        self.replicas = {
            i: Replica(ReplicaNode(i, configuration, now=0.0, timing=TIMING, rng=random.Random(seed * 100 + n)))
            for n, i in enumerate(ids)
        }
        self.queue: list[tuple[float, int, str, Message]] = []
        self.counter = itertools.count()
        self.cut: set[frozenset[str]] = set()  # pairs that cannot talk
        self.leaders_by_term: dict[int, str] = {}
        self.committed: dict[int, Entry] = {}  # index -> the entry committed there, as first seen

    # -- the network ---------------------------------------------------------------------

    def deliver(self, sender: str, ready: Ready) -> None:
        replica = self.replicas[sender]
        if ready.snapshot is not None:
            replica.applied = list(ready.snapshot.state)
        for entry in ready.committed:
            self.check_committed(entry)
            if entry.command is not None and not isinstance(entry.command, Configuration):
                replica.applied.append(entry.command)
        for peer in ready.snapshot_wanted:
            self.deliver(sender, Ready(messages=replica.node.snapshot_for(peer, list(replica.applied), self.now)))
        for target, message in ready.messages:
            if self.rng.random() < self.drop or frozenset((sender, target)) in self.cut:
                continue
            arrival = self.now + self.rng.uniform(*self.delay)
            heapq.heappush(self.queue, (arrival, next(self.counter), target, message))

    def run(self, seconds: float, *, propose_every: float | None = None) -> list[Any]:
        """Advance the clock; with ``propose_every``, the leader is asked to append a command that often."""
        end = self.now + seconds
        next_tick = self.now
        next_proposal = self.now if propose_every else float("inf")
        proposed: list[Any] = []
        while self.now < end:
            upcoming = min(next_tick, next_proposal, self.queue[0][0] if self.queue else float("inf"), end)
            self.now = upcoming
            if self.queue and self.queue[0][0] <= self.now:
                _, _, target, message = heapq.heappop(self.queue)
                if self.replicas[target].alive:
                    self.deliver(target, self.replicas[target].node.step(message, self.now))
            elif next_tick <= self.now:
                for name, replica in self.replicas.items():
                    if replica.alive:
                        self.deliver(name, replica.node.tick(self.now))
                next_tick = self.now + 0.01
            elif next_proposal <= self.now:
                command = f"c{len(proposed)}-{self.now:.3f}"
                leader = self.leader()
                if leader is not None:
                    try:
                        _, ready = self.replicas[leader].node.propose(command, self.now)
                    except NotLeader:
                        pass
                    else:
                        proposed.append(command)
                        self.deliver(leader, ready)
                assert propose_every is not None
                next_proposal = self.now + propose_every
            self.check_safety()
        return proposed

    # -- faults --------------------------------------------------------------------------

    def crash(self, name: str) -> None:
        self.replicas[name].alive = False

    def restart_empty(self, name: str) -> None:
        """A replacement with the same name and no state (as a lost replica's replacement starts)."""
        old = self.replicas[name].node
        node = ReplicaNode(name, old.configuration, now=self.now, timing=TIMING, rng=random.Random(self.rng.random()))
        self.replicas[name] = Replica(node)

    def partition(self, *groups: set[str]) -> None:
        self.cut = {
            frozenset((a, b)) for first, second in itertools.combinations(groups, 2) for a in first for b in second
        }

    def heal(self) -> None:
        self.cut = set()

    # -- what must always hold -----------------------------------------------------------

    def leader(self) -> str | None:
        leaders = [n for n, r in self.replicas.items() if r.alive and r.node.role is Role.LEADER]
        return max(leaders, key=lambda n: self.replicas[n].node.term) if leaders else None

    def check_committed(self, entry: Entry) -> None:
        first = self.committed.setdefault(entry.index, entry)
        assert first == entry, f"index {entry.index} committed twice, differently: {first} and {entry}"

    def check_safety(self) -> None:
        holding_lease = []
        for name, replica in self.replicas.items():
            node = replica.node
            if node.role is Role.LEADER and replica.alive:
                assert self.leaders_by_term.setdefault(node.term, name) == name, f"two leaders in term {node.term}"
                for index, entry in self.committed.items():
                    if index > node.snapshot_index:  # leader completeness
                        assert node.term_at(index) == entry.term, f"leader {name} lacks committed entry {index}"
            if replica.alive and node.lease_valid(self.now):
                holding_lease.append(name)
            newest = [e.command for e in node.log if isinstance(e.command, Configuration)]
            assert node.configuration == (newest[-1] if newest else node.snapshot_configuration), (
                f"{name}'s configuration is not its log's newest"
            )
        assert len(holding_lease) <= 1, f"two leases at {self.now}: {holding_lease}"

    def check_converged(self) -> None:
        """Every live replica applied the same sequence of commands."""
        histories = [r.applied for r in self.replicas.values() if r.alive]
        longest = max(histories, key=len)
        for history in histories:
            assert history == longest[: len(history)]


def test_a_group_elects_one_leader_and_commits() -> None:
    simulation = Simulation(seed=1)
    proposed = simulation.run(3.0, propose_every=0.02)
    simulation.run(1.0)
    assert simulation.leader() is not None
    simulation.check_converged()
    assert all(r.applied == proposed for r in simulation.replicas.values())


def test_a_group_of_one_commits_at_once() -> None:
    node = ReplicaNode("only", Configuration(voters=frozenset({"only"})), now=0.0, timing=TIMING)
    ready = node.campaign(0.0)
    assert node.role is Role.LEADER and node.lease_valid(0.0)
    index, ready = node.propose("x", 0.0)
    assert [e.command for e in ready.committed] == ["x"] and node.commit == index


def test_a_follower_refuses_to_propose() -> None:
    simulation = Simulation(seed=2)
    simulation.run(2.0)
    leader = simulation.leader()
    follower = next(n for n in simulation.replicas if n != leader)
    with pytest.raises(NotLeader) as refused:
        simulation.replicas[follower].node.propose("x", simulation.now)
    assert refused.value.leader == leader


@pytest.mark.parametrize("seed", range(12))
def test_the_leader_crashes_under_load_and_no_committed_entry_is_lost(seed: int) -> None:
    simulation = Simulation(seed=seed, drop=0.05, delay=(0.001, 0.03))
    proposed = simulation.run(2.0, propose_every=0.01)
    leader = simulation.leader()
    assert leader is not None
    simulation.crash(leader)
    proposed += simulation.run(3.0, propose_every=0.01)
    simulation.run(1.0)
    new_leader = simulation.leader()
    assert new_leader is not None and new_leader != leader
    simulation.check_converged()
    survivors = [r.applied for n, r in simulation.replicas.items() if n != leader]
    assert survivors[0] == survivors[1]
    # Whatever committed is applied in proposal order (a command may be lost only if it never committed).
    order = {command: n for n, command in enumerate(proposed)}
    assert [order[c] for c in survivors[0]] == sorted(order[c] for c in survivors[0])


@pytest.mark.parametrize("seed", range(8))
def test_partitions_and_heals_keep_every_replica_consistent(seed: int) -> None:
    simulation = Simulation(seed=seed, size=5, drop=0.02)
    simulation.run(1.5, propose_every=0.02)
    for _ in range(4):
        names = list(simulation.replicas)
        simulation.rng.shuffle(names)
        cut = simulation.rng.randint(1, 2)
        simulation.partition(set(names[:cut]), set(names[cut:]))
        simulation.run(1.5, propose_every=0.02)
        simulation.heal()
        simulation.run(1.0, propose_every=0.02)
    simulation.run(2.0)
    simulation.check_converged()
    assert len({len(r.applied) for r in simulation.replicas.values()}) == 1


def test_a_minority_leader_cannot_commit_or_keep_its_lease() -> None:
    simulation = Simulation(seed=3)
    simulation.run(2.0, propose_every=0.05)
    old = simulation.leader()
    assert old is not None
    others = set(simulation.replicas) - {old}
    simulation.partition({old}, others)
    committed_before = simulation.replicas[old].node.commit
    simulation.run(0.1)
    _, ready = simulation.replicas[old].node.propose("lost", simulation.now)
    simulation.deliver(old, ready)
    simulation.run(3.0, propose_every=0.05)
    assert simulation.replicas[old].node.commit == committed_before or "lost" not in simulation.replicas[old].applied
    assert not simulation.replicas[old].node.lease_valid(simulation.now)
    new = simulation.leader()
    assert new is not None and new != old
    simulation.heal()
    simulation.run(2.0)
    simulation.check_converged()
    assert "lost" not in simulation.replicas[new].applied  # never acknowledged, so never committed


def test_a_rejoining_replica_does_not_disrupt_the_leader() -> None:
    """Pre-votes: a replica that was cut off returns without forcing a new election."""
    simulation = Simulation(seed=4)
    simulation.run(2.0)
    leader = simulation.leader()
    loner = next(n for n in simulation.replicas if n != leader)
    simulation.partition({loner}, set(simulation.replicas) - {loner})
    simulation.run(3.0)
    term = simulation.replicas[leader].node.term
    simulation.heal()
    simulation.run(2.0)
    assert simulation.leader() == leader and simulation.replicas[leader].node.term == term


def test_a_lagging_replica_catches_up_from_a_snapshot() -> None:
    simulation = Simulation(seed=5)
    simulation.run(1.0, propose_every=0.02)
    lagging = next(n for n in simulation.replicas if n != simulation.leader())
    simulation.crash(lagging)
    simulation.run(2.0, propose_every=0.02)
    leader = simulation.leader()
    assert leader is not None
    node = simulation.replicas[leader].node
    node.compact(node.applied)  # the entries the lagging replica lacks are gone from the log
    simulation.restart_empty(lagging)
    snapshots: list[InstallSnapshot] = []
    deliver = simulation.deliver

    def watching(sender: str, ready: Ready) -> None:
        snapshots.extend(m for _, m in ready.messages if isinstance(m, InstallSnapshot))
        deliver(sender, ready)

    simulation.deliver = watching  # type: ignore[method-assign]
    simulation.run(2.0, propose_every=0.02)
    simulation.run(1.0)
    assert snapshots
    assert simulation.replicas[lagging].applied == simulation.replicas[leader].applied


def test_membership_changes_one_at_a_time() -> None:
    """A dead replica is replaced: a new one is added, then the dead one removed."""
    simulation = Simulation(seed=6)
    simulation.run(1.0, propose_every=0.02)
    leader = simulation.leader()
    assert leader is not None
    dead = next(n for n in simulation.replicas if n != leader)
    simulation.crash(dead)
    node = simulation.replicas[leader].node
    fresh = ReplicaNode(
        "r9", Configuration(voters=frozenset()), now=simulation.now, timing=TIMING, rng=random.Random(9)
    )
    simulation.replicas["r9"] = Replica(fresh)
    added = Configuration(voters=node.configuration.voters, learners=frozenset({"r9"}))
    _, ready = node.propose(added, simulation.now)
    simulation.deliver(leader, ready)
    with pytest.raises(ValueError, match="already under way"):
        node.propose(Configuration(voters=frozenset()), simulation.now)
    simulation.run(1.0, propose_every=0.02)
    for configuration in (
        Configuration(voters=node.configuration.voters | {"r9"}),
        Configuration(voters=(node.configuration.voters | {"r9"}) - {dead}),
    ):
        _, ready = node.propose(configuration, simulation.now)
        simulation.deliver(leader, ready)
        simulation.run(1.0, propose_every=0.02)
    assert node.configuration.voters == frozenset({leader, "r9"} | (set(simulation.replicas) - {dead, leader, "r9"}))
    simulation.crash(next(n for n in node.configuration.voters if n not in (leader, "r9")))
    proposed = simulation.run(1.0, propose_every=0.02)  # two of the three new voters still commit
    simulation.run(0.5)
    assert proposed and simulation.replicas["r9"].applied[-len(proposed) :] == proposed


def test_a_replica_that_forgot_its_state_is_sent_the_group_state() -> None:
    simulation = Simulation(seed=7)
    simulation.run(1.0, propose_every=0.02)
    leader = simulation.leader()
    assert leader is not None
    simulation.replicas[leader].node.compact(simulation.replicas[leader].node.applied)
    other = next(n for n in simulation.replicas if n != leader)
    simulation.replicas[other].node.forget_state()
    simulation.replicas[other].applied = []
    simulation.run(1.0, propose_every=0.02)
    simulation.run(0.5)
    assert simulation.replicas[other].applied == simulation.replicas[leader].applied

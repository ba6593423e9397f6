"""The dispatcher: how the client reaches partitions, the router and ledgers, and when it tries again.

Under ``Table``, batches, transactions and streams sits one ``Dispatcher`` per
``Grid``. It owns:

- the partition-map cache: a ``TableRoute`` per table (spec, map, one coalescing
  ``PartitionBatcher`` per partition), fetched from the router once and refreshed
  when a partition says a key moved;
- the retry policy, in one loop (``retrying``) for every kind of call: a partition
  that moved or was merged away means "refresh the map and go again" on a budget of
  its own; other retryable errors back off and count against ``max_attempts``;
- router calls, which ride out a router restart;
- transaction ledgers (decisions coalesced per ledger) and stream infos.

It reaches actors only through its ``Transport``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from grid._batcher import PartitionBatcher
from grid._groups import ReplicaGroup
from grid._keys import hash_from_prefix
from grid._partition_map import PartitionMap, PartitionRange
from grid._requests import GetOp, ItemOp, Page, PartitionMessage, QueryRequest, ScanRequest, WriteResult
from grid._retry import RetryPolicy, partition_left
from grid._schema import TableSpec
from grid._services import LedgerService, RouterService, StreamInfo
from grid._transport import Transport
from grid.errors import GridError, PartitionMovedError, PartitionUnavailableError

__all__ = ["Dispatcher", "TableRoute"]

T = TypeVar("T")

# How long router calls are tried again while Ray restarts a router that died.
log = logging.getLogger("grid.dispatch")

# ``close`` waits this long for calls in flight (a failover takes seconds), then cancels them.
CLOSE_SECONDS = 30.0
ROUTER_RESTART_SECONDS = 30.0


@dataclass(slots=True)
class RetryState:
    """How often one call has failed and had its maps refreshed so far."""

    failures: int = 0
    refreshes: int = 0


@dataclass(slots=True)
class TableRoute:
    """A client's cached view of one table: its spec, map, and one batcher per partition."""

    spec: TableSpec
    map: PartitionMap
    # By (partition id, eventually consistent reads): those go to any replica, the rest to the leader.
    batchers: dict[tuple[str, bool], PartitionBatcher] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return self.map.version


class Dispatcher:
    """Routing, retries and actor calls for one ``Grid``; see the module docstring."""

    def __init__(self, transport: Transport, policy: RetryPolicy, check_open: Callable[[], None]) -> None:
        self.transport = transport
        self.policy = policy
        self._check_open = check_open
        self._router: RouterService | None = None
        self._routes: dict[str, TableRoute] = {}
        self._refreshing: dict[str, asyncio.Future[TableRoute]] = {}
        self._ledger_batchers: dict[int, PartitionBatcher] = {}
        self._streams: dict[str, StreamInfo] = {}  # by ARN
        # Test hook: called at named points of the transaction protocol (fault injection).
        self.fault_hook: Callable[[str], None] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> None:
        self._router = await self.transport.open()
        await self.router_call(lambda router: router.ping())

    async def close(self) -> None:
        """Send what is queued, wait for calls in flight (up to ``CLOSE_SECONDS``), then release the transport."""
        try:
            await asyncio.wait_for(asyncio.gather(*(batcher.close() for batcher in self._batchers())), CLOSE_SECONDS)
        except asyncio.TimeoutError:
            log.warning("closing: calls still in flight after %.0f s are cancelled", CLOSE_SECONDS)
            self.terminate()
        self._routes.clear()
        await self.transport.close()

    def terminate(self) -> None:
        """Cancel calls in flight and queued at once (the transport is left as it is)."""
        for batcher in self._batchers():
            batcher.terminate()
        self._routes.clear()

    def _batchers(self) -> list[PartitionBatcher]:
        return [b for route in self._routes.values() for b in route.batchers.values()] + list(
            self._ledger_batchers.values()
        )

    # -- the router ----------------------------------------------------------------------

    async def router_call(self, call: Callable[[RouterService], Awaitable[T]]) -> T:
        """``call(router)``, riding out the router's restart.

        Ray restarts a router that dies, and the new one reads its catalog back; calls
        meanwhile fail as unavailable and are tried again for up to
        ``ROUTER_RESTART_SECONDS``, on a budget of their own (like map refreshes, this
        is no fault of the caller's). A call that was running when the router died may
        or may not have taken effect, as with any DynamoDB call retried after a 5xx.
        """
        assert self._router is not None, "the dispatcher is not open"
        deadline = time.monotonic() + ROUTER_RESTART_SECONDS
        tries = 0
        while True:
            try:
                return await call(self._router)
            except PartitionUnavailableError:
                tries += 1
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(min(0.5, 0.01 * 2**tries))

    # -- partition maps ------------------------------------------------------------------

    def cached_route(self, name: str) -> TableRoute | None:
        """Table ``name``'s route if this client holds it (no call, no await)."""
        return self._routes.get(name)

    async def route(self, name: str) -> TableRoute:
        """The cached route of table ``name`` (fetched from the router the first time)."""
        route = self._routes.get(name)
        if route is not None:
            return route
        self._check_open()
        return await self.refresh(name, stale_version=None)

    async def refresh(self, name: str, stale_version: int | None) -> TableRoute:
        """Fetch the table's map from the router once, however many callers ask at once.

        With ``stale_version``, a cached map already newer than it is answered as is.
        """
        route = self._routes.get(name)
        if route is not None and stale_version is not None and route.version > stale_version:
            return route  # someone else already refreshed
        pending = self._refreshing.get(name)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch_route(name))
            self._refreshing[name] = pending
            pending.add_done_callback(lambda _: self._refreshing.pop(name, None))
        return await asyncio.shield(pending)

    async def _fetch_route(self, name: str) -> TableRoute:
        try:
            spec, partition_map = await self.router_call(lambda router: router.get_table(name))
        except GridError:
            self.forget(name)
            raise
        old = self._routes.get(name)
        route = TableRoute(spec=spec, map=partition_map)
        if old is not None and old.spec.table_id == spec.table_id:
            # Keep batchers of partitions that did not change (same range, same replicas):
            # their calls in flight stay valid. A changed one gets a new batcher bound to
            # its new group (an old one would keep calling the replicas that were replaced).
            unchanged = {p.partition_id for p in partition_map.ranges} & {
                p.partition_id for p in old.map.ranges if _same_partition(p, partition_map)
            }
            route.batchers = {key: b for key, b in old.batchers.items() if key[0] in unchanged}
            # And what this client learned of each group: its leader, the newest state it saw.
            before = {r.partition_id: r.handle for r in old.map.ranges}
            for entry in partition_map.ranges:
                older = before.get(entry.partition_id)
                if isinstance(entry.handle, ReplicaGroup) and isinstance(older, ReplicaGroup):
                    entry.handle.adopt(older)
        self._routes[name] = route
        return route

    def forget(self, name: str) -> None:
        self._routes.pop(name, None)

    # -- partitions ----------------------------------------------------------------------

    def send(self, route: TableRoute, partition: PartitionRange, message: PartitionMessage) -> asyncio.Future[Any]:
        """One operation or transaction message to a partition, coalesced with everything else bound there.

        Eventually consistent GetItems batch apart: any replica may serve them, so read
        load spreads over the partition's group while writes go to its leader.
        """
        key = (partition.partition_id, type(message) is GetOp and not message.consistent)
        batcher = route.batchers.get(key)
        if batcher is None:
            batcher = PartitionBatcher(functools.partial(self._execute, partition))
            route.batchers[key] = batcher
        return batcher.submit(message)

    async def _execute(self, partition: PartitionRange, messages: Sequence[PartitionMessage]) -> list[Any]:
        return await self._named(
            partition, self.transport.partition(partition).execute([m.to_wire() for m in messages])
        )

    @staticmethod
    async def _named(partition: PartitionRange, call: Awaitable[T]) -> T:
        """A partition call whose unavailability names the partition.

        The retry policy needs the name: a partition that a newer map no longer holds
        was merged away (and refused everything first), so trying again on the new map
        is safe.
        """
        try:
            return await call
        except PartitionUnavailableError as error:
            raise PartitionUnavailableError(error.message, partition_id=partition.partition_id) from None

    async def run_item_op(self, name: str, op: ItemOp) -> Any:
        """The op's result: the item's bytes (or None) for a get, a ``WriteResult`` for a write.

        The retry loop of ``retrying``, written out: this is the hot path, one call per item.
        """
        tries: RetryState | None = None
        while True:
            route = self._routes.get(name) or await self.route(name)
            try:
                result = await self.send(route, route.map.partition_for(op.key.hash), op)
            except GridError as error:
                tries = await self._after_failure(error, (name,), (route.version,), tries, self.policy)
                continue
            return result if isinstance(op, GetOp) else WriteResult.from_wire(result)

    async def query(self, name: str, request: QueryRequest) -> Page:
        async def attempt(route: TableRoute) -> Page:
            partition = route.map.partition_for(request.hash)
            return await self._named(partition, self.transport.partition(partition).query(request))

        return await self.with_retries(name, attempt)

    async def scan(self, name: str, request: ScanRequest) -> Page:
        """Walk partitions in ring order from the start key until the page is full."""
        position = request.exclusive_start
        cursor = request.low_hash if position is None else hash_from_prefix(position)
        remaining = request.limit
        budget = request.max_bytes
        items: list[bytes] = []
        count = scanned = 0
        units = 0.0
        last_key = None
        while cursor < request.high_hash:
            step = functools.partial(
                self._scan_step, request=request, cursor=cursor, position=position, limit=remaining, budget=budget
            )
            page, next_cursor = await self.with_retries(name, step)
            items.extend(page.items)
            count += page.count
            scanned += page.scanned_count
            units += page.units
            if page.last_key is not None:
                last_key = page.last_key
            budget -= sum(len(data) for data in page.items) if page.items else 0
            if remaining is not None:
                remaining -= page.scanned_count
            if page.more:
                return Page(items=items, count=count, scanned_count=scanned, last_key=last_key, more=True, units=units)
            cursor, position = next_cursor, None
            if (remaining is not None and remaining <= 0) or budget <= 0:
                more = cursor < request.high_hash and last_key is not None
                return Page(
                    items=items,
                    count=count,
                    scanned_count=scanned,
                    last_key=last_key if more else None,
                    more=more,
                    units=units,
                )
        return Page(items=items, count=count, scanned_count=scanned, last_key=None, more=False, units=units)

    async def _scan_step(
        self,
        route: TableRoute,
        *,
        request: ScanRequest,
        cursor: int,
        position: bytes | None,
        limit: int | None,
        budget: int,
    ) -> tuple[Page, int]:
        """Scan the partition that owns ``cursor`` from ``cursor`` on, within the request's segment.

        From the cursor, not the partition's start: after a merge the partition may
        also own the range this scan has already walked.
        """
        partition = route.map.partition_for(cursor)
        part_request = replace(
            request,
            low_hash=cursor,
            high_hash=min(request.high_hash, partition.high),
            exclusive_start=position,
            limit=limit,
            max_bytes=budget,
        )
        page = await self._named(partition, self.transport.partition(partition).scan(part_request))
        return page, partition.high

    # -- the retry policy ----------------------------------------------------------------

    async def with_retries(self, name: str, attempt: Callable[[TableRoute], Awaitable[T]]) -> T:
        """``attempt`` against table ``name``'s current route, as the retry policy allows."""

        async def once() -> T:
            return await attempt(await self.route(name))

        return await self.retrying((name,), once)

    async def retrying(
        self, tables: Sequence[str], attempt: Callable[[], Awaitable[T]], policy: RetryPolicy | None = None
    ) -> T:
        """Run ``attempt`` (which routes by ``tables``' maps) until it succeeds or the policy gives up."""
        policy = policy or self.policy
        tries: RetryState | None = None
        while True:
            versions = [self._cached_version(table) for table in tables]
            try:
                return await attempt()
            except GridError as error:
                tries = await self._after_failure(error, tables, versions, tries, policy)

    async def _after_failure(
        self,
        error: GridError,
        tables: Sequence[str],
        versions: Sequence[int | None],
        tries: RetryState | None,
        policy: RetryPolicy,
    ) -> RetryState:
        """The retry policy: raise ``error`` if it ends the call, else get ready for the next try.

        A partition that moved is routine (a split or merge): refresh the maps and go
        again, on a budget of its own (``max_map_refreshes``). An unreachable partition
        is too if the refreshed maps no longer hold it (a merge retired it after
        refusing everything); otherwise it, like any retryable error, counts as a failed
        try: back off, and give up after ``max_attempts``. ``versions`` are the maps'
        versions the failed try routed by.
        """
        state = tries or RetryState()
        if isinstance(error, PartitionMovedError):
            state.refreshes += 1
            if state.refreshes > policy.max_map_refreshes:
                raise error
            fresh = await self._refresh_all(tables, versions)
            if all(m.version == v for m, v in zip(fresh, versions, strict=True)):
                # The router has not published the new map yet (a split is under way).
                await asyncio.sleep(min(0.1, 0.002 * 2 ** min(state.refreshes, 6)))
            return state
        if isinstance(error, PartitionUnavailableError):
            fresh = await self._refresh_all(tables, versions)
            if partition_left(error, fresh) and state.refreshes < policy.max_map_refreshes:
                state.refreshes += 1
                return state
        elif not error.retryable:
            raise error
        state.failures += 1
        if state.failures >= policy.max_attempts:
            raise error
        await asyncio.sleep(policy.backoff(state.failures))
        return state

    async def refresh_after(self, error: GridError, routes: Sequence[TableRoute]) -> None:
        """After a partition moved or went away: refresh the maps these routes came from.

        For code with its own rounds (a snapshot read). A partition that went away is
        only routine when the fresh maps no longer hold it (a merge retired it, after
        refusing everything); otherwise ``error`` is raised again.
        """
        unique = {id(route): route for route in routes}.values()
        fresh = [(await self.refresh(route.spec.name, stale_version=route.version)).map for route in unique]
        if isinstance(error, PartitionUnavailableError) and not partition_left(error, fresh):
            raise error

    def _cached_version(self, table: str) -> int | None:
        route = self._routes.get(table)
        return route.version if route is not None else None

    async def _refresh_all(self, tables: Sequence[str], versions: Sequence[int | None]) -> list[PartitionMap]:
        return [(await self.refresh(t, stale_version=v)).map for t, v in zip(tables, versions, strict=True)]

    # -- transaction ledgers -------------------------------------------------------------

    def ledger(self, index: int) -> LedgerService:
        return self.transport.ledger(index)

    async def decide(self, index: int, txid: str, state: str) -> str:
        """Record a transaction's decision in its ledger (coalesced with other decisions)."""
        batcher = self._ledger_batchers.get(index)
        if batcher is None:
            ledger = self.ledger(index)
            batcher = self._ledger_batchers[index] = PartitionBatcher(
                lambda decisions: ledger.decide_many(list(decisions))
            )
        decided: str = await batcher.submit((txid, state))
        return decided

    def fault_point(self, name: str) -> None:
        if self.fault_hook is not None:
            self.fault_hook(name)

    # -- streams -------------------------------------------------------------------------

    async def stream_info(self, arn: str, *, fresh: bool = False) -> StreamInfo:
        """A stream's actor, view type and key schema, from the router once per client.

        Cached like partition maps: the router stays off the path of GetRecords calls.
        ``fresh`` asks again (for a status that can change, as DescribeStream shows).
        """
        info = self._streams.get(arn)
        if info is None or fresh:
            info = await self.router_call(lambda router: router.get_stream(arn))
            self._streams[arn] = info
        return info


def _same_partition(entry: PartitionRange, partition_map: PartitionMap) -> bool:
    """Whether ``partition_map`` holds ``entry``'s partition with the same range and replicas."""
    for other in partition_map.ranges:
        if other.partition_id == entry.partition_id:
            return (other.low, other.high, _replicas(other)) == (entry.low, entry.high, _replicas(entry))
    return False


def _replicas(entry: PartitionRange) -> tuple[str, ...]:
    return entry.handle.replica_ids if isinstance(entry.handle, ReplicaGroup) else ()

"""``Grid``: a client of one grid namespace, and ``connect`` to get one.

A ``Grid`` owns what one client needs and nothing global: the Ray transport, the
router handle, a cache of partition maps, and a ``PartitionBatcher`` per partition.
Closing it releases the client; the tables live on in their actors.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from grid._batch import batch_get_item, batch_write_item
from grid._batcher import PartitionBatcher
from grid._keys import hash_from_prefix
from grid._naming import ledger_index
from grid._partition_map import PartitionMap, PartitionRange
from grid._requests import GetOp, ItemOp, Page, QueryRequest, ScanRequest, WriteResult
from grid._retry import RetryPolicy, partition_left
from grid._schema import TableSpec, check_table_name
from grid._streams import describe_stream, get_records, get_shard_iterator, list_streams
from grid._table import Table
from grid._transactions import DEFAULT_LEASE_SECONDS, transact_get_items, transact_write_items
from grid._transport import RayTransport, call
from grid.errors import GridError, PartitionMovedError, PartitionUnavailableError, ValidationException

__all__ = ["Grid", "connect"]

T = TypeVar("T")

# How long router calls are tried again while Ray restarts a router that died.
ROUTER_RESTART_SECONDS = 30.0


class GridState(enum.Enum):
    NEW = "new"  # created by connect(), not yet opened
    OPEN = "open"  # Ray joined, router found: calls allowed
    CLOSED = "closed"  # released; calls raise


@dataclass(slots=True)
class TableRoute:
    """A client's cached view of one table: its spec, map, and one batcher per partition."""

    spec: TableSpec
    map: PartitionMap
    batchers: dict[str, PartitionBatcher] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return self.map.version

    def batcher_for(self, partition: PartitionRange) -> PartitionBatcher:
        batcher = self.batchers.get(partition.partition_id)
        if batcher is None:
            batcher = PartitionBatcher(lambda ops: call_partition(partition, "execute", [op.to_wire() for op in ops]))
            self.batchers[partition.partition_id] = batcher
        return batcher


async def call_partition(partition: PartitionRange, method: str, *args: Any) -> Any:
    """``call`` on one partition's actor; if it cannot be reached, the error names the partition.

    The retry policy needs the name: a partition that a newer map no longer holds was
    merged away (and refused everything first), so trying again on the new map is safe.
    """
    try:
        return await call(getattr(partition.handle, method), *args)
    except PartitionUnavailableError as error:
        raise PartitionUnavailableError(error.message, partition_id=partition.partition_id) from None


def connect(
    address: str | None = None,
    *,
    namespace: str = "grid",
    retries: dict[str, Any] | None = None,
    transaction_lease: float = DEFAULT_LEASE_SECONDS,
    **ray_init_kwargs: Any,
) -> Grid:
    """A client of the grid in ``namespace``; open it with ``async with`` or ``await``.

    With no Ray running and no ``address``, it starts an embedded local Ray whose
    sockets listen on 127.0.0.1 only; with an address (``"auto"`` inside a Ray job) it
    joins that cluster. ``retries`` is botocore's option:
    ``{"max_attempts": n, "mode": "standard"}``, ``max_attempts`` counting the first try.
    ``transaction_lease`` is how long (seconds) a transaction this client coordinates
    may hold its items before partitions finish it without the client.

    >>> async with grid.connect() as g:
    ...     table = await g.create_table(TableName="catalog", ...)
    """
    return Grid(
        address=address,
        namespace=namespace,
        retries=retries,
        transaction_lease=transaction_lease,
        ray_init_kwargs=ray_init_kwargs,
    )


class Grid:
    """The tables of one grid namespace. Make one with ``grid.connect()``."""

    def __init__(
        self,
        *,
        address: str | None,
        namespace: str,
        retries: dict[str, Any] | None,
        ray_init_kwargs: dict[str, Any],
        transaction_lease: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        if not 0 < transaction_lease <= 600:
            raise ValidationException("transaction_lease must be more than 0 and at most 600 seconds")
        self.namespace = namespace
        self.retry_policy = RetryPolicy.from_config(retries)
        self.transaction_lease = transaction_lease
        self._ledgers: dict[int, Any] = {}
        self._ledger_batchers: dict[int, PartitionBatcher] = {}
        self._stream_info: dict[str, dict[str, Any]] = {}  # stream ARN -> its actor and shape
        # Test hook: called at named points of the transaction protocol (fault injection).
        self._fault_hook: Callable[[str], None] | None = None
        self._transport = RayTransport(address, namespace, ray_init_kwargs)
        self._state = GridState.NEW
        self._routes: dict[str, TableRoute] = {}
        self._refreshing: dict[str, asyncio.Future[TableRoute]] = {}

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> Grid:
        if self._state is GridState.CLOSED:
            raise RuntimeError("this Grid is closed; connect again")
        if self._state is GridState.NEW:
            self._transport.open()
            await self._ask_router("ping")
            self._state = GridState.OPEN
        return self

    def __await__(self) -> Generator[Any, None, Grid]:
        return self.open().__await__()

    async def __aenter__(self) -> Grid:
        return await self.open()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the client: cancel calls in flight. Tables and their items stay."""
        if self._state is GridState.CLOSED:
            return
        self._state = GridState.CLOSED
        for route in self._routes.values():
            for batcher in route.batchers.values():
                await batcher.close()
        self._routes.clear()

    def terminate(self) -> None:
        """Release the client at once, without waiting: calls in flight are cancelled."""
        self._state = GridState.CLOSED
        for route in self._routes.values():
            for batcher in route.batchers.values():
                batcher.terminate()
        self._routes.clear()

    def _check_open(self) -> None:
        if self._state is not GridState.OPEN:
            raise RuntimeError(
                "Grid is not open: use `async with grid.connect() as g` or `g = await grid.connect()`"
                if self._state is GridState.NEW
                else "Grid is closed"
            )

    # -- tables --------------------------------------------------------------------------

    async def create_table(self, **params: Any) -> Table:
        """Create a table (DynamoDB's parameters, plus ``GridSettings``); returns it ACTIVE."""
        self._check_open()
        TableSpec.from_create_params(params)  # fail fast, before any Ray call
        await self._ask_router("create_table", dict(params))
        return self.Table(params["TableName"])

    def Table(self, name: str) -> Table:  # noqa: N802 - boto3's resource spells it so
        """A handle to table ``name`` (no call is made until it is used)."""
        check_table_name(name)
        return Table(self, name)

    async def delete_table(self, **params: Any) -> dict[str, Any]:
        self._check_open()
        name = self._table_name_param(params)
        description = await self._ask_router("delete_table", name)
        self._forget(name)
        return {"TableDescription": description}

    async def describe_table(self, **params: Any) -> dict[str, Any]:
        self._check_open()
        name = self._table_name_param(params)
        return {"Table": await self._ask_router("describe_table", name)}

    async def update_table(self, **params: Any) -> dict[str, Any]:
        """Change a table online: ``StreamSpecification`` (enable or disable its stream),
        ``BillingMode`` and ``ProvisionedThroughput``, and grid's ``GridSettings``
        (``Partitions``: split or merge until the table has that many; ``TimeScale``).
        """
        self._check_open()
        name = check_table_name(params.get("TableName"))
        description = await self._ask_router("update_table", name, dict(params))
        if name in self._routes:
            await self._refresh_route(name, stale_version=None)  # this client routes by the new map at once
        return {"TableDescription": description}

    async def update_table_replica_auto_scaling(self, **params: Any) -> dict[str, Any]:
        """Target-tracking auto scaling of a provisioned table's reads and writes.

        Each ``Provisioned{Read,Write}CapacityAutoScalingUpdate`` takes ``MinimumUnits``,
        ``MaximumUnits`` and ``ScalingPolicyUpdate.TargetTrackingScalingPolicyConfiguration.TargetValue``
        (20 to 90 percent), as DynamoDB's call does.
        """
        self._check_open()
        name = check_table_name(params.get("TableName"))
        answer: dict[str, Any] = await self._ask_router("update_table_replica_auto_scaling", name, dict(params))
        return answer

    async def describe_table_replica_auto_scaling(self, **params: Any) -> dict[str, Any]:
        self._check_open()
        name = self._table_name_param(params)
        answer: dict[str, Any] = await self._ask_router("describe_table_replica_auto_scaling", name)
        return answer

    async def table_metrics(self, *, TableName: str, Since: float | None = None) -> dict[str, Any]:  # noqa: N803
        """grid's own call: the table's time series (a sample a second), newest last.

        Each sample holds consumed and provisioned read and write units per second,
        throttled requests, partitions, items and bytes, the mean time a partition
        took to serve a call (``AverageServiceLatencyMs``), its ``Timestamp``, and
        ``PartitionMetrics``: the same per partition (``PartitionId``, consumed units,
        throttled requests, ``ItemCount``, ``SizeBytes``).
        """
        self._check_open()
        samples = await self._ask_router("table_metrics", check_table_name(TableName), Since)
        return {"Samples": samples}

    # -- DynamoDB Streams ------------------------------------------------------------------

    async def list_streams(self, **params: Any) -> dict[str, Any]:
        self._check_open()
        return await list_streams(self, params)

    async def describe_stream(self, **params: Any) -> dict[str, Any]:
        self._check_open()
        return await describe_stream(self, params)

    async def get_shard_iterator(self, **params: Any) -> dict[str, Any]:
        self._check_open()
        return await get_shard_iterator(self, params)

    async def get_records(self, **params: Any) -> dict[str, Any]:
        self._check_open()
        return await get_records(self, params)

    async def list_tables(self, **params: Any) -> dict[str, Any]:
        self._check_open()
        unknown = set(params) - {"ExclusiveStartTableName", "Limit"}
        if unknown:
            raise ValidationException(f"Unknown parameter in ListTables input: {', '.join(sorted(unknown))}")
        limit = params.get("Limit", 100)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            raise ValidationException("Limit must be an integer from 1 to 100")
        return await self._ask_router("list_tables", params.get("ExclusiveStartTableName"), limit)

    @staticmethod
    def _table_name_param(params: dict[str, Any]) -> str:
        if set(params) - {"TableName"}:
            raise ValidationException(f"Unknown parameters: {', '.join(sorted(set(params) - {'TableName'}))}")
        return check_table_name(params.get("TableName"))

    # -- batches and transactions ------------------------------------------------------------

    async def batch_get_item(self, **params: Any) -> dict[str, Any]:
        """Up to 100 items from one or more tables, read in parallel (one call per partition).

        Not a snapshot: each item is read on its own. Keys that could not be read now
        come back in ``UnprocessedKeys``.
        """
        self._check_open()
        return await batch_get_item(self, params)

    async def batch_write_item(self, **params: Any) -> dict[str, Any]:
        """Up to 25 puts and deletes over one or more tables, each applied on its own (not atomic)."""
        self._check_open()
        return await batch_write_item(self, params)

    async def transact_write_items(self, **params: Any) -> dict[str, Any]:
        """Up to 100 Put/Update/Delete/ConditionCheck actions, all applied or none.

        Raises ``TransactionCanceledException`` with one ``CancellationReasons`` entry per
        action (``ConditionalCheckFailed``, ``TransactionConflict``, or ``None``). With a
        ``ClientRequestToken``, a repeat within 10 minutes returns the first outcome.
        """
        self._check_open()
        return await transact_write_items(self, params, self.transaction_lease)

    async def transact_get_items(self, **params: Any) -> dict[str, Any]:
        """Up to 100 items read as one consistent snapshot."""
        self._check_open()
        return await transact_get_items(self, params)

    def _ledger_by_index(self, index: int) -> Any:
        if index not in self._ledgers:
            from actors.launch import get_or_start_ledger

            handle = get_or_start_ledger(self.namespace, index)
            self._ledgers[index] = handle
            self._ledger_batchers[index] = PartitionBatcher(lambda ops: call(handle.decide_many, list(ops)))
        return self._ledgers[index]

    def _ledger(self, key: str) -> Any:
        return self._ledger_by_index(ledger_index(key))

    async def _decide(self, index: int, txid: str, state: str) -> str:
        """Record a transaction's decision in its ledger (coalesced with other decisions)."""
        self._ledger_by_index(index)
        decided: str = await self._ledger_batchers[index].submit((txid, state))
        return decided

    def _fault_point(self, name: str) -> None:
        if self._fault_hook is not None:
            self._fault_hook(name)

    # -- routing (used by Table) -----------------------------------------------------------

    async def _route(self, name: str) -> TableRoute:
        route = self._routes.get(name)
        if route is not None:
            return route
        self._check_open()
        return await self._refresh_route(name, stale_version=None)

    async def _refresh_route(self, name: str, stale_version: int | None) -> TableRoute:
        """Fetch the table's map from the router once, however many callers ask at once."""
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
            spec, partition_map = await self._ask_router("get_table", name)
        except GridError:
            self._forget(name)
            raise
        old = self._routes.get(name)
        route = TableRoute(spec=spec, map=partition_map)
        if old is not None and old.spec.table_id == spec.table_id:
            # Keep batchers of partitions that did not change: their calls in flight stay valid.
            live = {p.partition_id for p in partition_map.ranges}
            route.batchers = {pid: b for pid, b in old.batchers.items() if pid in live}
        self._routes[name] = route
        return route

    async def _ask_router(self, method: str, *args: Any) -> Any:
        """Call the router, riding out its restart.

        Ray restarts a router that dies, and the new one reads its catalog back; calls
        meanwhile fail as unavailable and are tried again for up to
        ``ROUTER_RESTART_SECONDS``, on a budget of their own (like map refreshes, this
        is no fault of the caller's). A call that was running when the router died may
        or may not have taken effect, as with any DynamoDB call retried after a 5xx.
        """
        deadline = time.monotonic() + ROUTER_RESTART_SECONDS
        tries = 0
        while True:
            try:
                return await call(getattr(self._transport.router, method), *args)
            except PartitionUnavailableError:
                tries += 1
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(min(0.5, 0.01 * 2**tries))

    def _forget(self, name: str) -> None:
        self._routes.pop(name, None)

    async def _with_retries(self, name: str, attempt: Callable[[TableRoute], Awaitable[T]]) -> T:
        """Run ``attempt`` against the current route as ``self.retry_policy`` allows.

        A partition that moved is routine (a split or merge): refresh the map and go
        again, on a budget of its own. An unreachable partition is too if the refreshed
        map no longer routes to it; otherwise it, like any retryable error, counts as a
        failed try: back off, and give up after ``max_attempts`` tries.
        """
        policy = self.retry_policy
        tries = refreshes = 0
        while True:
            route = await self._route(name)
            try:
                return await attempt(route)
            except PartitionMovedError:
                refreshes += 1
                if refreshes > policy.max_map_refreshes:
                    raise
                fresh = await self._refresh_route(name, stale_version=route.version)
                if fresh.version == route.version:
                    # The router has not published the new map yet (a split is under way).
                    await asyncio.sleep(min(0.1, 0.002 * 2 ** min(refreshes, 6)))
            except PartitionUnavailableError as error:
                # A partition merged away stops after a grace period; a client that held
                # the old map meets a dead actor. If the new map no longer holds it, that
                # is no failed try.
                fresh = await self._refresh_route(name, stale_version=route.version)
                if partition_left(error, [fresh.map]) and refreshes < policy.max_map_refreshes:
                    refreshes += 1
                    continue
                tries += 1
                if tries >= policy.max_attempts:
                    raise
                await asyncio.sleep(policy.backoff(tries))
            except GridError as error:
                tries += 1
                if not error.retryable or tries >= policy.max_attempts:
                    raise
                await asyncio.sleep(policy.backoff(tries))

    async def _run_item_op(self, name: str, op: ItemOp) -> Any:
        """The op's result: the item's bytes (or None) for a get, a ``WriteResult`` for a write."""

        def attempt(route: TableRoute) -> Awaitable[Any]:
            return route.batcher_for(route.map.partition_for(op.key.hash)).submit(op)

        result = await self._with_retries(name, attempt)
        return result if isinstance(op, GetOp) else WriteResult.from_wire(result)

    async def _run_page(self, name: str, request: QueryRequest) -> Page:
        async def attempt(route: TableRoute) -> Page:
            partition = route.map.partition_for(request.hash)
            page: Page = await call_partition(partition, "query", request)
            return page

        return await self._with_retries(name, attempt)

    async def _run_scan(self, name: str, request: ScanRequest) -> Page:
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
            page, next_cursor = await self._with_retries(name, step)
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

    @staticmethod
    async def _scan_step(
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
        page: Page = await call_partition(partition, "scan", part_request)
        return page, partition.high

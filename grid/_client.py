"""``Grid``: the front door to one grid namespace, and ``connect`` to get one.

A ``Grid`` owns what one client needs and nothing global: its transport and the
``Dispatcher`` over it (maps, retries, coalescing). It opens and closes the client
and answers the table-level calls (create, describe, update, delete, list); ``Table``,
batches, transactions and streams work through the dispatcher. Closing it releases
the client; the tables live on in their actors.
"""

from __future__ import annotations

import enum
from collections.abc import Generator, Mapping
from typing import Any

from grid._autoscaling import AutoScalingUpdate
from grid._batch import batch_get_item, batch_write_item
from grid._dispatch import Dispatcher
from grid._operations import check_request, optional_string, page_limit
from grid._retry import RetryPolicy
from grid._schema import GridSettings, StreamSpecification, TableSpec, TableUpdate, check_table_name
from grid._streams import describe_stream, get_records, get_shard_iterator, list_streams
from grid._table import Table
from grid._transactions import DEFAULT_LEASE_SECONDS, transact_get_items, transact_write_items
from grid._transport import Transport
from grid.errors import ValidationException

__all__ = ["Grid", "connect"]


class GridState(enum.Enum):
    NEW = "new"  # created by connect(), not yet opened
    OPEN = "open"  # the grid joined, its router found: calls allowed
    CLOSED = "closed"  # released; calls raise


def connect(
    address: str | None = None,
    *,
    namespace: str = "grid",
    retries: dict[str, Any] | None = None,
    transaction_lease: float = DEFAULT_LEASE_SECONDS,
    transport: Transport | None = None,
    default_grid_settings: dict[str, Any] | None = None,
    **ray_init_kwargs: Any,
) -> Grid:
    """A client of the grid in ``namespace``; open it with ``async with`` or ``await``.

    With no Ray running and no ``address``, it starts an embedded local Ray whose
    sockets listen on 127.0.0.1 only (closing the client stops it again); with an
    address (``"auto"`` inside a Ray job) it joins that cluster. ``retries`` is
    botocore's option: ``{"max_attempts": n, "mode": "standard"}``, ``max_attempts``
    counting the first try. ``transaction_lease`` is how long (seconds) a transaction
    this client coordinates may hold its items before partitions finish it without
    the client. ``transport`` replaces Ray: ``grid.LocalTransport()`` runs a whole grid
    inside this process (for tests). ``default_grid_settings`` are the ``GridSettings``
    tables this client creates start from (a table's own settings win), e.g.
    ``{"Replicas": 1}`` for a client whose tables are caches.

    >>> async with grid.connect() as g:
    ...     table = await g.create_table(TableName="catalog", ...)
    """
    if transport is None:
        from grid._ray_transport import RayTransport

        transport = RayTransport(address, namespace, ray_init_kwargs)
    elif address is not None or ray_init_kwargs:
        raise ValidationException("connect: an address or Ray options make no sense with a transport")
    return Grid(
        transport=transport,
        retries=retries,
        transaction_lease=transaction_lease,
        default_grid_settings=default_grid_settings,
    )


class Grid:
    """The tables of one grid namespace. Make one with ``grid.connect()``."""

    def __init__(
        self,
        *,
        transport: Transport,
        retries: dict[str, Any] | None = None,
        transaction_lease: float = DEFAULT_LEASE_SECONDS,
        default_grid_settings: dict[str, Any] | None = None,
    ) -> None:
        if isinstance(transaction_lease, bool) or not isinstance(transaction_lease, (int, float)):
            raise ValidationException("transaction_lease must be a number of seconds")
        if not 0 < transaction_lease <= 600:
            raise ValidationException("transaction_lease must be more than 0 and at most 600 seconds")
        self.namespace = transport.namespace
        self.transaction_lease = float(transaction_lease)
        GridSettings.from_params(default_grid_settings or {})  # refused here, not at each create_table
        self.default_grid_settings = dict(default_grid_settings or {})
        self._state = GridState.NEW
        self.dispatcher = Dispatcher(transport, RetryPolicy.from_config(retries), self._check_open)

    @property
    def retry_policy(self) -> RetryPolicy:
        return self.dispatcher.policy

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> Grid:
        if self._state is GridState.CLOSED:
            raise RuntimeError("this Grid is closed; connect again")
        if self._state is GridState.NEW:
            await self.dispatcher.open()
            self._state = GridState.OPEN
        return self

    def __await__(self) -> Generator[Any, None, Grid]:
        return self.open().__await__()

    async def __aenter__(self) -> Grid:
        return await self.open()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the client once calls in flight have answered. Tables and their items stay
        (unless this client started an embedded Ray: it stops with it)."""
        if self._state is GridState.CLOSED:
            return
        opened = self._state is GridState.OPEN
        self._state = GridState.CLOSED
        if opened:
            await self.dispatcher.close()

    def terminate(self) -> None:
        """Release the client at once, without waiting: calls in flight are cancelled."""
        self._state = GridState.CLOSED
        self.dispatcher.terminate()

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
        if self.default_grid_settings:
            own = params.get("GridSettings") or {}
            if isinstance(own, dict):
                params = {**params, "GridSettings": {**self.default_grid_settings, **own}}
        spec = TableSpec.from_create_params(params)
        raw_stream = params.get("StreamSpecification")
        stream = StreamSpecification.from_params(raw_stream) if raw_stream is not None else None
        await self.dispatcher.router_call(lambda router: router.create_table(spec, stream))
        return self.Table(spec.name)

    def Table(self, name: str) -> Table:  # noqa: N802 - boto3's resource spells it so
        """A handle to table ``name`` (no call is made until it is used)."""
        check_table_name(name)
        return Table(self.dispatcher, name)

    async def delete_table(self, **params: Any) -> dict[str, Any]:
        self._check_open()
        name = self._table_name("DeleteTable", params)
        description = await self.dispatcher.router_call(lambda router: router.delete_table(name))
        self.dispatcher.forget(name)
        return {"TableDescription": description}

    async def describe_table(self, **params: Any) -> dict[str, Any]:
        self._check_open()
        name = self._table_name("DescribeTable", params)
        return {"Table": await self.dispatcher.router_call(lambda router: router.describe_table(name))}

    async def update_table(self, **params: Any) -> dict[str, Any]:
        """Change a table online: ``StreamSpecification`` (enable or disable its stream),
        ``BillingMode`` and ``ProvisionedThroughput``, and grid's ``GridSettings``
        (``Partitions``: split or merge until the table has that many; ``TimeScale``).
        """
        self._check_open()
        name = self._table_name("UpdateTable", params)
        update = TableUpdate.from_params(params)
        description = await self.dispatcher.router_call(lambda router: router.update_table(name, update))
        await self.dispatcher.refresh(name, stale_version=None)  # this client routes by the new map at once
        return {"TableDescription": description}

    async def update_table_replica_auto_scaling(self, **params: Any) -> dict[str, Any]:
        """Target-tracking auto scaling of a provisioned table's reads and writes.

        Each ``Provisioned{Read,Write}CapacityAutoScalingUpdate`` takes ``MinimumUnits``,
        ``MaximumUnits`` and ``ScalingPolicyUpdate.TargetTrackingScalingPolicyConfiguration.TargetValue``
        (20 to 90 percent), as DynamoDB's call does.
        """
        self._check_open()
        name = self._table_name("UpdateTableReplicaAutoScaling", params)
        update = AutoScalingUpdate.from_params(params)
        return await self.dispatcher.router_call(lambda router: router.update_table_replica_auto_scaling(name, update))

    async def describe_table_replica_auto_scaling(self, **params: Any) -> dict[str, Any]:
        self._check_open()
        name = self._table_name("DescribeTableReplicaAutoScaling", params)
        return await self.dispatcher.router_call(lambda router: router.describe_table_replica_auto_scaling(name))

    async def table_metrics(self, *, TableName: str, Since: float | None = None) -> dict[str, Any]:  # noqa: N803
        """grid's own call: the table's time series (a sample a second), newest last.

        Each sample holds consumed and provisioned read and write units per second,
        throttled requests, partitions, items and bytes, the mean time a partition
        took to serve a call (``AverageServiceLatencyMs``), its ``Timestamp``, and
        ``PartitionMetrics``: the same per partition (``PartitionId``, consumed units,
        throttled requests, ``ItemCount``, ``SizeBytes``).
        """
        self._check_open()
        name = check_table_name(TableName)
        if Since is not None and (isinstance(Since, bool) or not isinstance(Since, (int, float))):
            raise ValidationException("Since must be a timestamp in seconds")
        samples = await self.dispatcher.router_call(lambda router: router.table_metrics(name, Since))
        return {"Samples": samples}

    async def list_tables(self, **params: Any) -> dict[str, Any]:
        self._check_open()
        check_request("ListTables", params)
        start = optional_string(params, "ExclusiveStartTableName")
        limit = page_limit(params, 100)
        return await self.dispatcher.router_call(lambda router: router.list_tables(start, limit))

    @staticmethod
    def _table_name(operation: str, params: Mapping[str, Any]) -> str:
        check_request(operation, params)
        return check_table_name(params.get("TableName"))

    # -- DynamoDB Streams ------------------------------------------------------------------

    async def list_streams(self, **params: Any) -> dict[str, Any]:
        self._check_open()
        return await list_streams(self.dispatcher, params)

    async def describe_stream(self, **params: Any) -> dict[str, Any]:
        self._check_open()
        return await describe_stream(self.dispatcher, params)

    async def get_shard_iterator(self, **params: Any) -> dict[str, Any]:
        self._check_open()
        return await get_shard_iterator(self.dispatcher, params)

    async def get_records(self, **params: Any) -> dict[str, Any]:
        self._check_open()
        return await get_records(self.dispatcher, params)

    # -- batches and transactions ------------------------------------------------------------

    async def batch_get_item(self, **params: Any) -> dict[str, Any]:
        """Up to 100 items from one or more tables, read in parallel (one call per partition).

        Not a snapshot: each item is read on its own. Keys that could not be read now
        come back in ``UnprocessedKeys``.
        """
        self._check_open()
        return await batch_get_item(self.dispatcher, params)

    async def batch_write_item(self, **params: Any) -> dict[str, Any]:
        """Up to 25 puts and deletes over one or more tables, each applied on its own (not atomic)."""
        self._check_open()
        return await batch_write_item(self.dispatcher, params)

    async def transact_write_items(self, **params: Any) -> dict[str, Any]:
        """Up to 100 Put/Update/Delete/ConditionCheck actions, all applied or none.

        Raises ``TransactionCanceledException`` with one ``CancellationReasons`` entry per
        action (``ConditionalCheckFailed``, ``TransactionConflict``, or ``None``). With a
        ``ClientRequestToken``, a repeat within 10 minutes returns the first outcome.
        """
        self._check_open()
        return await transact_write_items(self.dispatcher, params, self.transaction_lease)

    async def transact_get_items(self, **params: Any) -> dict[str, Any]:
        """Up to 100 items read as one consistent snapshot."""
        self._check_open()
        return await transact_get_items(self.dispatcher, params, self.transaction_lease)

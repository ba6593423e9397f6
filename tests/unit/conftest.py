"""Fixtures shared by the unit tests: a whole grid on the local transport (no Ray)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

import grid
from grid._local_transport import LocalTransport


@pytest_asyncio.fixture
async def local() -> AsyncIterator[tuple[grid.Grid, LocalTransport]]:
    """A client of a grid that runs inside this process, and the transport that runs it."""
    transport = LocalTransport()
    async with grid.connect(transport=transport) as client:
        yield client, transport

"""Kill the process coordinating a transaction mid-protocol: it still ends all or nothing, unlocked."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import ray

import grid
from tests.integration.coordinator_process import EXIT_CODE
from tests.integration.test_transactions import ACCOUNTS_TABLE, spread_ids

pytestmark = pytest.mark.asyncio(loop_scope="session")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("point", "moved"), [("prepared", False), ("decided", True)])
async def test_killed_coordinator(make_table: Any, grid_client: grid.Grid, point: str, moved: bool) -> None:
    table = await make_table(**ACCOUNTS_TABLE, GridSettings={"Partitions": 2})
    source, target = await spread_ids(grid_client, table.name, 2)
    await table.put_item(Item={"id": source, "balance": 10})
    await table.put_item(Item={"id": target, "balance": 10})
    address = ray.get_runtime_context().gcs_address
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.coordinator_process",
        address,
        grid_client.namespace,
        table.name,
        source,
        target,
        point,
        cwd=ROOT,
        env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == EXIT_CODE, stderr.decode()[-2000:]

    await asyncio.sleep(2.5)  # the one-second lease runs out; partitions ask the ledger
    snapshot = await grid_client.transact_get_items(
        TransactItems=[{"Get": {"TableName": table.name, "Key": {"id": i}}} for i in (source, target)]
    )
    balances = [r["Item"]["balance"] for r in snapshot["Responses"]]
    assert balances == ([5, 15] if moved else [10, 10])
    await table.put_item(Item={"id": source, "balance": 0})  # no lock is left behind

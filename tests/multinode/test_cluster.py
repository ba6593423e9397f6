"""Partitions of one table spread over several (simulated) nodes, answer, and survive a node's loss."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_scenario(module: str) -> dict[str, Any]:
    """Run ``module`` (a script that starts its own cluster) and read its JSON report."""
    completed = subprocess.run(
        [sys.executable, "-m", module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return report


def test_partitions_spread_over_nodes_and_answer() -> None:
    report = run_scenario("tests.multinode.scenario")
    assert report["cluster_nodes"] == 3
    assert report["partitions"] == 6
    assert report["nodes"] >= 2, f"all partitions landed on one node: {report}"
    assert report["all_read_back"] is True
    assert report["scanned"] == 300 and sum(report["items_per_partition"]) == 300
    assert min(report["items_per_partition"]) > 0


def test_a_leader_a_follower_and_a_node_lost_under_writes_lose_no_acknowledged_write() -> None:
    report = run_scenario("tests.multinode.node_loss")
    assert report["partitions_sharing_a_node_at_start"] == 0, report
    assert report["partitions_sharing_a_node_after_repairs"] == 0, report
    assert report["victim_held_a_leader"], report
    assert report["lost"] == [], report
    assert report["linearizable"], report
    assert report["writes_after_removal"] > 0, report
    assert report["replica_counts"] == [3, 3, 3, 3], report

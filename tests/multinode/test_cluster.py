"""Partitions of one table spread over several (simulated) nodes and all answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_partitions_spread_over_nodes_and_answer() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "tests.multinode.scenario"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["cluster_nodes"] == 3
    assert report["partitions"] == 6
    assert report["nodes"] >= 2, f"all partitions landed on one node: {report}"
    assert report["all_read_back"] is True
    assert report["scanned"] == 300 and sum(report["items_per_partition"]) == 300
    assert min(report["items_per_partition"]) > 0

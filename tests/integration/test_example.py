"""The README's main job runs end to end (small size) and passes its own checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_catalog_example_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "examples/catalog.py", "--customers", "60", "--skus", "3", "--writers", "6"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "loaded 180 seed-like documents" in completed.stdout
    assert "6 concurrent read-modify-write writers: stock=6" in completed.stdout
    assert "= 180 items, each exactly once" in completed.stdout

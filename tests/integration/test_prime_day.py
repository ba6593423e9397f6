"""The main job, small: the Prime Day run completes and its own end-of-run checks pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_prime_day_small(tmp_path: Path) -> None:
    plot = tmp_path / "prime_day.png"
    completed = subprocess.run(
        [
            sys.executable,
            "examples/prime_day.py",
            "--customers",
            "60",
            "--skus",
            "2",
            "--seconds",
            "8",
            "--base-rate",
            "40",
            "--time-scale",
            "600",
            "--cooldown",
            "3",
            "--plot",
            str(plot),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"},
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    summary = json.loads(completed.stdout[completed.stdout.index("{") : completed.stdout.rindex("}") + 1])
    assert summary["checks"]["stream_view_equals_table"] is True
    assert summary["operations"]["get"] > 0 and summary["operations"]["order"] > 0
    low, high = summary["write_capacity_min_max"]
    assert high > low >= 5  # auto scaling followed the curve from the minimum
    assert plot.exists() and plot.stat().st_size > 10_000

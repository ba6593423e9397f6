"""Linters and the type checker run as tests, so CI holds the code to them."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "ruff", "check", "."],
        [sys.executable, "-m", "ruff", "format", "--check", "grid", "actors", "bench", "examples"],
        [sys.executable, "-m", "mypy"],
    ],
    ids=["ruff", "ruff-format", "mypy"],
)
def test_source_is_clean(command: list[str]) -> None:
    if importlib.util.find_spec(command[2]) is None:
        pytest.fail(f"{command[2]} is not installed: install the test extras (pip install -e '.[test]')")
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]

"""grid's public face is small and pinned; importing it costs no Ray."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grid

ROOT = Path(__file__).resolve().parents[2]

EXPORTS = ["ClientError", "Grid", "LocalTransport", "Table", "conditions", "connect", "errors"]


def test_all_is_sorted_and_pinned() -> None:
    assert grid.__all__ == sorted(grid.__all__)
    assert grid.__all__ == EXPORTS


def test_every_export_exists() -> None:
    for name in grid.__all__:
        assert getattr(grid, name) is not None, name
    assert grid.ClientError is grid.errors.ClientError
    assert callable(grid.connect)


def test_importing_grid_does_not_import_ray() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import grid, sys; assert 'ray' not in sys.modules, 'ray was imported'"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr

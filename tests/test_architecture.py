"""The import layering of design.md holds (import-linter contract in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_architecture_imports_point_down_only() -> None:
    exe = shutil.which("lint-imports")
    assert exe, "import-linter is a dev dependency; install with pip install -e .[dev]"
    proc = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr

"""scripts/bench_scale runs end to end at a tiny size: every section, its table and its checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bench_scale"


def test_bench_scale_quick_tiny_run_passes_its_checks_and_prints_the_table(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--partitions", "20,40", "--connections", "5,10", "--groups", "2,4",
         "--partitions-per-topic", "10", "--partitions-per-request", "15", "--idle-seconds", "0.2",
         "--json", str(out)],
        capture_output=True, text=True, timeout=90, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for header in ("partitions [memory]", "connections [memory]", "groups [memory]"):
        assert header in proc.stdout
    assert "full/small" in proc.stdout
    assert "all checks passed" in proc.stdout
    result = json.loads(out.read_text())
    assert result["failed_checks"] == 0
    assert {(r["section"], r["size"]) for r in result["runs"]} == {
        ("partitions", 20), ("partitions", 40), ("connections", 5), ("connections", 10), ("groups", 2), ("groups", 4)}
    assert all(r["error"] is None and r["checks"] for r in result["runs"])
    # 40 partitions in Produce and Fetch requests of 15: three of each
    big = next(r for r in result["runs"] if r["section"] == "partitions" and r["size"] == 40)
    assert len(big["metrics"]["produce_requests_ms"]) == 3 and len(big["metrics"]["fetch_requests_ms"]) == 3


def test_bench_scale_help_describes_the_sizes() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--partitions SMALL,FULL" in proc.stdout and "--quick" in proc.stdout

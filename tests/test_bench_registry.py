"""scripts/bench_registry runs end to end at a tiny size and prints every figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bench_registry"


def test_bench_registry_quick_run_prints_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "registry.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    medians = json.loads(out.read_text())["medians"]
    for name in ("registrations/s", "GET /schemas/ids/{id} /s", "id validation / none", "payload validation / none"):
        assert name in proc.stdout and medians[name] > 0

# SPDX-License-Identifier: MIT
"""`make demo` (scripts/demo.sh) end to end: a SatSOM sweep, its export, and the comparison with naive."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import synaptune_cmd

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.sh"


@pytest.mark.slow
def test_demo_ends_with_the_comparison_table(tmp_path: Path) -> None:
    cmd = synaptune_cmd()
    assert len(cmd) == 1, "the demo runs the installed `synaptune` command"
    r = subprocess.run(["bash", str(DEMO)], cwd=tmp_path, env={**os.environ, "SYNAPTUNE": cmd[0]},
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    lines = r.stdout.strip().splitlines()
    table = [line for line in lines if line.startswith("| ")]
    assert table[0].startswith("| entry") and len(table) == 3  # header + the two entries
    rows = {line.split("|")[2].strip(): line for line in table[1:]}
    assert set(rows) == {"satsom", "naive"}
    assert any("| best" in line for line in table[1:])
    assert lines[-1].startswith("look further: mlflow ui")
    assert len(list((tmp_path / "demo").glob("demo-*-compare/comparison.png"))) == 1

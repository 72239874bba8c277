# SPDX-License-Identifier: MIT
"""``import synaptune`` (and the CLI module) stays light: no Ray, Optuna, MLflow, torchvision."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("ray", "optuna", "mlflow", "torchvision")


def _loaded_after(code: str) -> list[str]:
    probe = (f"{code}; import sys, json; "
             f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_package_imports_are_light() -> None:
    assert _loaded_after("import synaptune, synaptune.learners, synaptune.benchmarks, "
                         "synaptune.searchspaces, synaptune.cli, synaptune.hpo") == []


def test_listing_and_a_space_stay_light() -> None:
    code = ("from synaptune.learners import LEARNERS; from synaptune.benchmarks import BENCHMARKS; "
            "from synaptune.searchspaces import load_space; "
            "[LEARNERS.get(n) for n in LEARNERS.names()]; BENCHMARKS.names(); load_space('naive'); "
            "from synaptune.cli import build_parser; build_parser()")
    assert _loaded_after(code) == []

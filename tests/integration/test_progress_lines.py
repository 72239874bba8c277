# SPDX-License-Identifier: MIT
"""A real sweep through the CLI prints a line per trial start and end, and no start-up noise of Ray or Optuna."""

from __future__ import annotations

import re
from pathlib import Path

import pytest


pytest.importorskip("ray")
pytest.importorskip("mlflow")

FAST_SPACE = str(Path(__file__).with_name("fast_naive.yaml"))


@pytest.mark.slow
def test_sweep_prints_progress_lines(tmp_path: Path, cli) -> None:
    r = cli("sweep", "--learner", "naive", "--benchmark", "split-digits", "--n-tasks", "3", "--classes-per-task", "3",
            "--space", FAST_SPACE, "--trials", "3", "--concurrency", "1", "--scheduler", "none",
            "--num-cpus", "1", "--name", "progress", "--storage", str(tmp_path / "results"),
            "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]
    err = r.stderr
    assert re.search(r"^trial 1/3 started: lr=\S+ hidden_units=\d+$", err, re.M), err[-4000:]
    completed = re.findall(r"^trial (\d)/3 completed: objective (0\.\d{4}); best so far (0\.\d{4}) \(trial \d\); "
                           r"(\d) of 3 done(.*)$", err, re.M)
    assert len(completed) == 3, err[-4000:]  # --scheduler none: every trial sees every task
    assert sorted(int(c[0]) for c in completed) == [1, 2, 3]
    assert [int(c[3]) for c in completed] == [1, 2, 3]
    # The first two say how long the rest takes (measured from the first trial); the last has nothing left.
    assert all(re.fullmatch(r", ETA ~(\d+m)?\d+s", c[4]) for c in completed[:2]), completed
    assert completed[2][4] == ""
    best = max(float(c[1]) for c in completed)
    assert float(completed[2][2]) == pytest.approx(best)
    assert "A new study created" not in err
    assert "Token authentication is enabled" not in err
    assert "stopped" not in err and "failed" not in err

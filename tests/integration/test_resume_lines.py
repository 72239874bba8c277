# SPDX-License-Identifier: MIT
"""A resumed sweep prints where a trial really resumed, on the driver's stderr (issue 29), with real Ray.

A trial fails before task 2 (the trainable's test fault switch, no retries), so it
ends ERROR with checkpoints after tasks 1 and 2, Tune's record naming the second;
that one is cut in half (the fault matrix's ``truncate_half``) and the sweep resumed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.faults import checkpoint_files, truncate_half  # shared with the fault matrix

pytest.importorskip("ray")
pytest.importorskip("mlflow")

FAST_SPACE = str(Path(__file__).with_name("fast_naive.yaml"))


@pytest.mark.slow
def test_resume_after_a_truncated_checkpoint_says_where_the_trial_resumed(tmp_path: Path, cli) -> None:
    env = {"SYNAPTUNE_TEST_FAULT_AT_TASK": "2", "SYNAPTUNE_TEST_FAULT_DIR": str(tmp_path / "faults")}
    args = ["sweep", "--learner", "naive", "--benchmark", "split-digits", "--n-tasks", "5", "--space", FAST_SPACE,
            "--trials", "1", "--concurrency", "1", "--scheduler", "none", "--max-failures", "0",
            "--num-cpus", "2", "--name", "truth", "--storage", str(tmp_path / "results"),
            "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"]
    first = cli(*args, cwd=tmp_path, env=env)
    assert "trial 1/1 failed after task 2 of 5" in first.stderr, first.stderr[-4000:]
    (paths,) = checkpoint_files(tmp_path / "results" / "truth").values()
    assert len(paths) == 2  # after tasks 1 and 2
    truncate_half(paths[-1])

    r = cli(*args, "--resume", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-4000:]
    lines = [line for line in r.stderr.splitlines() if line.startswith("trial 1/1 ")]
    assert lines[0].startswith("trial 1/1 resumed after task 1 "
                               "(its checkpoint after task 2 was skipped: trial.pt truncated): lr="), r.stderr[-4000:]
    assert sum("was skipped" in line for line in r.stderr.splitlines()) == 1  # once, on the driver
    assert "resumed after task 2" not in r.stderr
    assert lines[-1].startswith("trial 1/1 completed: objective ")

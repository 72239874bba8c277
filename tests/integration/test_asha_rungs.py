# SPDX-License-Identifier: MIT
"""Rungs that carry signal: with the default grace period, ASHA never stops a trial
on a split stream after its first task (where every configuration is near perfect
and a rung would prune at random)."""

from __future__ import annotations

from pathlib import Path

import pytest


pytest.importorskip("ray")
pytest.importorskip("mlflow")

FAST_SPACE = str(Path(__file__).with_name("fast_naive.yaml"))
N_TASKS = 5  # split-digits' default
TRIALS = 6


def test_default_grace_period_prunes_no_trial_after_one_task(tmp_path: Path, cli) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    # Defaults: --scheduler asha, --grace-period (2 on a split stream), --reduction-factor 3.
    r = cli("sweep", "--learner", "naive", "--benchmark", "split-digits", "--space", FAST_SPACE,
            "--trials", str(TRIALS), "--concurrency", "2", "--num-cpus", "2", "--name", "rungs",
            "--storage", str(tmp_path / "results"), "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode in (0, 1), r.stderr[-4000:]  # 1: no trial saw every task (unlikely, not the point)
    # 6 trials, one rung at task 2 keeping ~1 in 3: the sweep said so before Ray started.
    assert "ASHA stops trials after task 2 of 5" in r.stderr and "--trials >= 9" in r.stderr, r.stderr[-4000:]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("rungs")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'trial'")
    assert len(runs) == TRIALS
    seen = sorted(int(run.data.metrics["tasks_seen"]) for run in runs)
    assert 1 not in seen, seen  # no trial pruned at one task
    assert set(seen) <= {2, N_TASKS}, seen  # the one rung before the last task is at task 2
    assert N_TASKS in seen, seen

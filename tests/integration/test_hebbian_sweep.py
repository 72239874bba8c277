# SPDX-License-Identifier: MIT
"""A sweep of `hebbian` over p / k / Delta on split-digits, through the CLI, logged to MLflow."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytest.importorskip("ray")
pytest.importorskip("mlflow")

HERE = Path(__file__).parent
TRIALS = 3


@pytest.mark.slow
def test_hebbian_sweep_over_p_k_delta_logs_to_mlflow(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    r = run_cli("sweep", "--learner", "hebbian", "--benchmark", "split-digits", "--n-tasks", "2",
                "--space", str(HERE / "hebbian_pkd.yaml"), "--trials", str(TRIALS), "--concurrency", "2",
                "--num-cpus", "2", "--scheduler", "none", "--name", "hebbian",
                "--storage", str(tmp_path / "results"), "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]

    from mlflow.tracking import MlflowClient

    from synaptune.learners.hebbian import HebbianParams

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("hebbian")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'trial'")
    assert len(runs) == TRIALS
    fields = {f.name for f in dataclasses.fields(HebbianParams)}
    sampled = set()
    for run in runs:
        assert {f"learner/{f}" for f in fields} <= set(run.data.params)
        assert run.data.params["learner"] == "hebbian"
        assert run.data.tags["synaptune.status"] == "completed"
        assert 2 <= int(run.data.params["learner/p"]) <= 8 and 2 <= int(run.data.params["learner/k"]) <= 10
        assert 0.0 <= float(run.data.params["learner/delta"]) <= 0.4
        sampled.add((run.data.params["learner/p"], run.data.params["learner/k"], run.data.params["learner/delta"]))
        assert 0.0 <= run.data.metrics["val/acc"] <= 1.0
    assert len(sampled) == TRIALS  # Optuna chose a different (p, k, Delta) each time

    r = run_cli("best", "--experiment", "hebbian", "--top", "1", "--format", "json", "--tracking-uri", uri,
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]

# SPDX-License-Identifier: MIT
"""A sweep of `sparse-mlp` over percent_on / sparsity on split-digits through the CLI, logged to MLflow."""

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
def test_sparse_mlp_sweep_over_percent_on_and_sparsity_logs_to_mlflow(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    r = run_cli("sweep", "--learner", "sparse-mlp", "--benchmark", "split-digits", "--n-tasks", "2",
                "--space", str(HERE / "sparse_digits.yaml"), "--trials", str(TRIALS), "--concurrency", "2",
                "--num-cpus", "2", "--scheduler", "none", "--name", "sparse", "--storage", str(tmp_path / "results"),
                "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]

    from mlflow.tracking import MlflowClient

    from synaptune.learners.sparse import SparseMLPParams

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("sparse")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'trial'")
    assert len(runs) == TRIALS
    fields = {f.name for f in dataclasses.fields(SparseMLPParams)}
    sampled = set()
    for run in runs:
        assert {f"learner/{f}" for f in fields} <= set(run.data.params)
        assert run.data.params["learner"] == "sparse-mlp"
        params = {k.removeprefix("learner/"): v for k, v in run.data.params.items() if k.startswith("learner/")}
        assert params["hidden_units"] == "128" and params["train_ep"] == "2"  # the fixed values
        assert 0.05 <= float(params["percent_on_fc"]) <= 1.0 and 0.0 <= float(params["sparsity_fc"]) <= 0.95
        sampled.add((params["percent_on_fc"], params["sparsity_fc"]))
        assert run.data.tags["synaptune.status"] == "completed"
        assert 0.0 <= run.data.metrics["val/acc"] <= 1.0
    assert len(sampled) == TRIALS  # Optuna chose distinct configurations

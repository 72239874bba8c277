# SPDX-License-Identifier: MIT
"""A sweep of `satsom` on split-digits (class-il) with its shipped search space."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytest.importorskip("ray")
pytest.importorskip("mlflow")


@pytest.mark.slow
def test_satsom_sweep_logs_satsom_params(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    r = run_cli("sweep", "--learner", "satsom", "--benchmark", "split-digits", "--n-tasks", "2",
                "--trials", "2", "--concurrency", "2", "--num-cpus", "2", "--scheduler", "none",
                "--name", "satsom", "--storage", str(tmp_path / "results"), "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]

    from mlflow.tracking import MlflowClient

    from synaptune.learners.satsom import SatSOMParams

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("satsom")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'trial'")
    assert len(runs) == 2
    fields = {f.name for f in dataclasses.fields(SatSOMParams)}
    for run in runs:
        assert {f"learner/{f}" for f in fields} <= set(run.data.params)
        assert run.data.params["learner"] == "satsom"
        assert run.data.tags["synaptune.status"] == "completed"
        assert 0.0 <= run.data.metrics["val/acc"] <= 1.0

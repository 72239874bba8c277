# SPDX-License-Identifier: MIT
"""A multi-objective sweep (val/acc up, state_bytes down): `best` shows a Pareto front, `export --pareto`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from synaptune.hpo.store import dominates

pytest.importorskip("ray")
pytest.importorskip("mlflow")

SPACE = """
learner: ewc
params:
  hidden_units: {int: [8, 64], step: 8}
  lr: {float: [0.01, 0.3], log: true}
fixed:
  epochs: 1
  hidden_layers: 1
  fisher_samples: 50
"""


@pytest.mark.slow
def test_multi_objective_sweep_front_is_not_dominated(tmp_path: Path, cli) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    common = ["--learner", "ewc", "--benchmark", "split-digits", "--n-tasks", "2", "--space", str(space),
              "--concurrency", "2", "--num-cpus", "2", "--name", "mo", "--storage", str(tmp_path / "results"),
              "--tracking-uri", uri, "--objective", "val/acc", "--objective", "state_bytes:min"]
    r = cli("sweep", *common, "--trials", "8", cwd=tmp_path)
    assert r.returncode == 2 and "needs --scheduler none" in r.stderr  # ASHA is single-metric
    r = cli("sweep", *common, "--trials", "8", "--scheduler", "none", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "Pareto front (" in r.stdout

    r = cli("best", "--experiment", "mo", "--format", "json", "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    assert doc["objectives"] == [["val/acc", "max"], ["state_bytes", "min"]]
    point = [(run["metrics"]["val/acc"], run["metrics"]["state_bytes"]) for run in doc["front"]]
    modes = ["max", "min"]
    assert point
    assert not any(dominates(p, q, modes) for p in point for q in point)
    # Every completed trial off the front is dominated by a front point (the front is complete).
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("mo")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.status` = 'completed'")
    assert len(runs) == 8
    front_ids = {run["run_id"] for run in doc["front"]}
    for run in runs:
        if run.info.run_id not in front_ids:
            mine = (run.data.metrics["val/acc"], run.data.metrics["state_bytes"])
            assert any(dominates(p, mine, modes) or p == mine for p in point)
    table = cli("best", "--experiment", "mo", "--tracking-uri", uri, cwd=tmp_path)
    assert table.returncode == 0 and table.stdout.count("\n") == len(point) + 2

    r = cli("export", "--experiment", "mo", "--pareto", "-o", str(tmp_path / "presets"),
                "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    presets = sorted((tmp_path / "presets").glob("mo-pareto-*.yaml"))
    assert len(presets) == len(point)
    exported = {yaml.safe_load(p.read_text())["provenance"]["run_id"] for p in presets}
    assert exported == front_ids

# SPDX-License-Identifier: MIT
"""ASHA stops weak trials after one task; only trials that saw every task are ever 'best'."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml


pytest.importorskip("ray")
pytest.importorskip("mlflow")

ASHA_SPACE = str(Path(__file__).with_name("asha_naive.yaml"))
N_TASKS = 4


def test_best_and_export_only_return_trials_that_saw_every_task(tmp_path: Path, cli) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    r = cli("sweep", "--learner", "naive", "--benchmark", "split-digits", "--n-tasks", str(N_TASKS),
            "--classes-per-task", "2", "--space", ASHA_SPACE, "--trials", "8", "--concurrency", "2", "--num-cpus", "2",
            "--scheduler", "asha", "--grace-period", "1", "--reduction-factor", "2",
            "--name", "asha", "--storage", str(tmp_path / "results"), "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("asha")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'trial'")
    assert len(runs) == 8
    pruned = [r for r in runs if r.data.tags["synaptune.status"] == "pruned"]
    completed = [r for r in runs if r.data.tags["synaptune.status"] == "completed"]
    assert pruned, "ASHA stopped no trial; the test needs some"
    assert any(r.data.metrics["tasks_seen"] == 1 for r in pruned)
    assert all(r.data.metrics["tasks_seen"] < N_TASKS and "val/acc" not in r.data.metrics for r in pruned)
    assert completed and all(r.data.metrics["tasks_seen"] == N_TASKS for r in completed)
    # The MLflow UI's list tells them apart by name (both end FINISHED): `naive-3 (pruned after 1 of 4 tasks)`.
    assert all(r.info.status == "FINISHED" for r in pruned + completed)
    assert all(r.info.run_name.endswith(f" (pruned after {int(r.data.metrics['tasks_seen'])} of {N_TASKS} tasks)")
               for r in pruned), [r.info.run_name for r in pruned]
    assert not any("pruned" in r.info.run_name for r in completed)

    r = cli("best", "--experiment", "asha", "--top", "8", "--format", "json", "--tracking-uri", uri,
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    best = json.loads(r.stdout)
    assert {b["run_id"] for b in best} == {r.info.run_id for r in completed}
    assert all(b["metrics"]["tasks_seen"] == N_TASKS for b in best)

    # The trap: ranked by val/acc_seen, a one-task trial would usually win; it is still never returned.
    r = cli("best", "--experiment", "asha", "--metric", "val/acc_seen", "--top", "8", "--format", "json",
            "--tracking-uri", uri, cwd=tmp_path)
    assert {b["run_id"] for b in json.loads(r.stdout)} == {r.info.run_id for r in completed}

    out = tmp_path / "preset.yaml"
    r = cli("export", "--experiment", "asha", "-o", str(out), "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(out.read_text())["provenance"]["run_id"] == best[0]["run_id"]

    # Exporting a pruned trial by id is refused.
    r = cli("export", "--experiment", "asha", "-o", str(tmp_path / "p2.yaml"), "--run-id",
            pruned[0].info.run_id, "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 2
    assert "did not see every task" in r.stderr
    assert not (tmp_path / "p2.yaml").exists()


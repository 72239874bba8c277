# SPDX-License-Identifier: MIT
"""Each tuning protocol end to end on the digits streams: what was tuned on, what was reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml


pytest.importorskip("ray")
pytest.importorskip("mlflow")

FAST_SPACE = str(Path(__file__).with_name("fast_naive.yaml"))


def sweep(cli, tmp_path: Path, name: str, *extra: str):  # noqa: ANN001
    return cli("sweep", "--learner", "naive", "--benchmark", "split-digits", "--space", FAST_SPACE,
               "--trials", "2", "--concurrency", "2", "--num-cpus", "2", "--scheduler", "none",
               "--name", name, "--storage", str(tmp_path / "results"),
               "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", *extra, cwd=tmp_path)


def trial_runs(tmp_path: Path, experiment: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'trial'")


def export_and_run(cli, tmp_path: Path, experiment: str, *run_args: str) -> tuple[dict, dict, object]:  # noqa: ANN001
    """Export the best trial, run the preset; returns (preset doc, run json, MLflow run of `run`)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    preset = tmp_path / f"{experiment}.yaml"
    r = cli("export", "--experiment", experiment, "-o", str(preset), "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    r = cli("run", "--preset", str(preset), "--format", "json", "--experiment", f"{experiment}-test",
            "--tracking-uri", uri, *run_args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    return yaml.safe_load(preset.read_text()), out, client.get_run(out["run_id"])


def reported_matrix(tmp_path: Path, run) -> list[list]:
    import mlflow

    path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="accuracy_matrix.json",
                                               tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
                                               dst_path=str(tmp_path / run.info.run_id))
    return json.loads(Path(path).read_text())["R"]


@pytest.mark.slow
def test_first_tasks_tunes_on_n_tasks_and_reports_the_whole_stream(tmp_path: Path, cli) -> None:
    r = sweep(cli, tmp_path, "first", "--protocol", "first-tasks:2")
    assert r.returncode == 0, r.stderr[-3000:]
    runs = trial_runs(tmp_path, "first")
    assert len(runs) == 2
    for run in runs:
        assert run.data.params["protocol"] == "first-tasks:2"
        assert run.data.metrics["tasks_seen"] == 2 and "val/acc_task_2" not in run.data.metrics
    preset, out, test_run = export_and_run(cli, tmp_path, "first")
    assert preset["protocol"] == {"name": "first-tasks:2"}
    assert test_run.data.params["protocol"] == "first-tasks:2"
    assert test_run.data.tags["reported_tasks"] == "0-4"
    assert len(reported_matrix(tmp_path, test_run)[0]) == 5  # split-digits: 5 tasks


@pytest.mark.slow
def test_validation_tasks_excludes_tuning_tasks_from_the_report(tmp_path: Path, cli) -> None:
    r = sweep(cli, tmp_path, "agem", "--protocol", "validation-tasks:2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert all(run.data.metrics["tasks_seen"] == 2 for run in trial_runs(tmp_path, "agem"))
    preset, out, test_run = export_and_run(cli, tmp_path, "agem")
    assert preset["protocol"] == {"name": "validation-tasks:2"}
    assert test_run.data.tags["reported_tasks"] == "2-4"
    matrix = reported_matrix(tmp_path, test_run)
    assert len(matrix) == 3 and all(len(row) == 3 for row in matrix)  # T - N = 5 - 2 columns


@pytest.mark.slow
def test_held_out_stream_reports_elsewhere_and_refuses_the_tuning_stream(tmp_path: Path, cli) -> None:
    # A stream of another shape is refused before anything runs.
    r = sweep(cli, tmp_path, "bad", "--protocol", "held-out-stream", "--eval-benchmark", "permuted-digits")
    assert r.returncode == 2 and "differs from split-digits in number of tasks" in r.stderr
    # Tune on split-digits (class order of seed 0), report on split-digits with the class order of seed 3.
    r = sweep(cli, tmp_path, "held", "--protocol", "held-out-stream", "--eval-benchmark", "split-digits",
              "--eval-benchmark-seed", "3")
    assert r.returncode == 0, r.stderr[-3000:]
    for run in trial_runs(tmp_path, "held"):
        assert run.data.params["protocol"] == "held-out-stream"
        assert run.data.params["protocol/eval_benchmark_seed"] == "3"
    preset, out, test_run = export_and_run(cli, tmp_path, "held")
    assert preset["benchmark"]["name"] == "split-digits" and preset["benchmark"]["params"]["seed"] == 0
    assert preset["protocol"] == {"name": "held-out-stream", "eval_benchmark": {"name": "split-digits", "seed": 3}}
    assert test_run.data.params["benchmark/seed"] == "3"  # reported on the held-out stream by default
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tuned_on = ["run", "--preset", str(tmp_path / "held.yaml"), "--benchmark-seed", "0", "--tracking-uri", uri]
    r = cli(*tuned_on, cwd=tmp_path)
    assert r.returncode == 2
    assert "was tuned on split-digits (seed 0) under held-out-stream" in r.stderr
    assert "--allow-tuning-stream" in r.stderr
    r = cli(*tuned_on, "--allow-tuning-stream", "--format", "json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]

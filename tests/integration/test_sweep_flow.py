# SPDX-License-Identifier: MIT
"""sweep → best → export → run, through the real CLI, Ray Tune, Optuna and MLflow."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

pytest.importorskip("ray")
pytest.importorskip("mlflow")

FAST_SPACE = str(Path(__file__).with_name("fast_naive.yaml"))


def sweep_args(tmp_path: Path, name: str, *extra: str) -> list[str]:
    return ["sweep", "--learner", "naive", "--benchmark", "split-digits", "--n-tasks", "3", "--classes-per-task", "3",
            "--space", FAST_SPACE, "--num-cpus", "2", "--concurrency", "2", "--name", name,
            "--storage", str(tmp_path / "results"), *extra]


def test_sweep_against_real_mlflow_server(tmp_path: Path, mlflow_server: str, cli) -> None:
    r = cli(*sweep_args(tmp_path, "srv", "--trials", "3", "--scheduler", "none",
                        "--tracking-uri", mlflow_server), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "best configuration" in r.stdout

    # Read back from a separate client: the mlflow library, not synaptune.
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(mlflow_server)
    try:
        trials = mlflow.search_runs(experiment_names=["srv"], filter_string="tags.`synaptune.role` = 'trial'")
        parents = mlflow.search_runs(experiment_names=["srv"], filter_string="tags.`synaptune.role` = 'sweep'")
    finally:
        mlflow.set_tracking_uri(None)
    assert len(trials) == 3
    assert trials["tags.trial_id"].nunique() == 3
    assert set(trials["tags.synaptune.status"]) == {"completed"}
    assert trials["metrics.val/acc"].between(0.0, 1.0).all()
    assert (trials["params.learner/epochs"] == "1").all()  # fixed values are logged with the sampled ones
    assert set(trials["tags.mlflow.parentRunId"]) == {parents["run_id"][0]}
    assert parents["tags.best_run_id"][0] == trials.sort_values("metrics.val/acc").iloc[-1]["run_id"]

    client = MlflowClient(tracking_uri=mlflow_server)
    run_id = trials["run_id"][0]
    history = client.get_metric_history(run_id, "val/acc_seen")
    assert sorted(m.step for m in history) == [1, 2, 3]
    local = client.download_artifacts(run_id, "accuracy_matrix.json", str(tmp_path))
    R = json.loads(Path(local).read_text())["R"]
    assert len(R) == 3 and R[0][1] is None and all(v is not None for v in R[2])


@pytest.mark.smoke
def test_sweep_best_export_run(tmp_path: Path, cli) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    r = cli(*sweep_args(tmp_path, "flow", "--trials", "3", "--scheduler", "none",
                        "--tracking-uri", uri), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]

    r = cli("best", "--experiment", "flow", "--top", "3", "--format", "json", "--tracking-uri", uri,
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    best = json.loads(r.stdout)
    assert len(best) == 3
    accs = [b["metrics"]["val/acc"] for b in best]
    assert accs == sorted(accs, reverse=True)
    # Every sweep measures the learner's defaults (the space's fixed values applied) as a trial of its own.
    from synaptune.learners import params_of

    defaults = dataclasses.asdict(params_of("naive")(epochs=1, hidden_layers=1))
    named = [b for b in best if b["name"] == "naive-defaults"]
    assert len(named) == 1, [b["name"] for b in best]
    assert named[0]["params"] == {k: str(v) for k, v in defaults.items()}

    preset_file = tmp_path / "preset.yaml"
    r = cli("export", "--experiment", "flow", "-o", str(preset_file), "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # The pick's margin over the defaults is shown once: beyond noise on stdout, else a warning on stderr.
    shown = [line for line in (r.stdout + r.stderr).splitlines() if "defaults (naive-defaults" in line]
    assert len(shown) == 1, (r.stdout, r.stderr)
    assert (shown[0].startswith("margin: +") and shown[0].endswith("beyond noise")) or \
        (shown[0].startswith("warning: ") and shown[0] in r.stderr), shown
    preset = yaml.safe_load(preset_file.read_text())
    assert preset["format_version"] == 1
    assert preset["learner"] == "naive"
    assert preset["benchmark"] == {"name": "split-digits", "params": preset["benchmark"]["params"]}
    assert preset["benchmark"]["params"]["n_tasks"] == 3
    assert preset["provenance"]["run_id"] == best[0]["run_id"]
    # The sweep's provenance, as a shipped preset carries it, and no path of this machine in the file.
    prov = preset["provenance"]
    for key in ("commit", "sweep", "sweep_command", "space", "fixed_by_set", "trials", "budget", "picked", "machine"):
        assert key in prov, key
    assert prov["sweep_command"].startswith("synaptune sweep --learner naive --benchmark split-digits")
    assert "--storage WORK/results" in prov["sweep_command"] and "--tracking-uri sqlite:///WORK/mlflow.db" in \
        prov["sweep_command"] and f"--space WORK/{Path(FAST_SPACE).name}" in prov["sweep_command"]
    assert prov["trials"]["asked"] == 3 and prov["trials"]["completed"] == 3 and prov["budget"]["sweep_seconds"] > 0
    assert str(tmp_path) not in preset_file.read_text() and "data_dir" not in preset["benchmark"]["params"]
    assert preset["objective"]["value"] == pytest.approx(best[0]["metrics"]["val/acc"])
    # The preset holds exactly the params of the best trial (logged as strings in MLflow).
    for name, value in preset["params"].items():
        assert str(value) == best[0]["params"][name], name

    r = cli("run", "--preset", str(preset_file), "--seeds", "2", "--format", "json",
            "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert 0.0 <= out["test/acc"] <= 1.0
    assert len(out["per_seed"]) == 2
    assert out["test/acc_std"] >= 0.0

    from mlflow.tracking import MlflowClient

    run = MlflowClient(tracking_uri=uri).get_run(out["run_id"])
    assert run.data.tags["synaptune.role"] == "run" and run.info.run_name == "preset seeds 0-1"
    assert run.data.metrics["test/acc"] == pytest.approx(out["test/acc"])
    assert run.data.params["learner/lr"] == best[0]["params"]["lr"]


def test_export_warns_when_the_pick_is_no_better_than_the_defaults(tmp_path: Path, cli) -> None:
    """A sweep of one trial has only the defaults: its export says tuning found nothing better."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    r = cli(*sweep_args(tmp_path, "one", "--trials", "1", "--scheduler", "none", "--tracking-uri", uri),
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]
    r = cli("best", "--experiment", "one", "--tracking-uri", uri, cwd=tmp_path)
    assert "#1  naive-defaults" in r.stdout
    assert "margin of #1: the pick is the learner's defaults (naive-defaults): tuning found nothing better" \
        in r.stdout
    r = cli("export", "--experiment", "one", "-o", str(tmp_path / "p.yaml"), "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "warning: the pick is the learner's defaults (naive-defaults): tuning found nothing better" in r.stderr

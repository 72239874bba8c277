# SPDX-License-Identifier: MIT
"""The shared setup for real: MLflow on a PostgreSQL server, the Optuna study in PostgreSQL too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import create_database, running_mlflow_server

pytest.importorskip("ray")
pytest.importorskip("mlflow")
pytest.importorskip("psycopg")

FAST_SPACE = str(Path(__file__).with_name("fast_naive.yaml"))
N_TRIALS = 50


@pytest.mark.slow
def test_fifty_trials_on_postgres_backed_mlflow_server(tmp_path: Path, postgres_server: str, cli) -> None:
    backend = create_database(postgres_server, "mlflow")
    study_db = create_database(postgres_server, "optuna")
    upgrade = subprocess.run([str(Path(sys.executable).parent / "mlflow"), "db", "upgrade", backend],
                             capture_output=True, text=True, timeout=300)
    assert upgrade.returncode == 0, upgrade.stderr[-3000:]
    with running_mlflow_server(backend, tmp_path) as uri:
        r = cli("doctor", "--tracking-uri", uri, "--storage", str(tmp_path / "results"),
                "--study-storage", study_db, cwd=tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"ok    tracking   {uri} answers" in r.stdout

        r = cli("sweep", "--learner", "naive", "--benchmark", "split-digits", "--n-tasks", "2",
                "--space", FAST_SPACE, "--trials", str(N_TRIALS), "--concurrency", "2", "--num-cpus", "2",
                "--scheduler", "none", "--name", "pg", "--storage", str(tmp_path / "results"),
                "--tracking-uri", uri, "--study-storage", study_db, cwd=tmp_path, timeout=1500)
        assert r.returncode == 0, r.stderr[-4000:]
        assert f"{N_TRIALS} completed" in r.stdout

        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        exp = client.get_experiment_by_name("pg")
        runs = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'trial'",
                                  max_results=1000)
        trial_ids = [run.data.tags["trial_id"] for run in runs]
        assert len(trial_ids) == N_TRIALS
        assert len(set(trial_ids)) == N_TRIALS  # exactly one child run per trial
        assert {run.data.tags["synaptune.status"] for run in runs} == {"completed"}
        sweeps = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'sweep'")
        assert len(sweeps) == 1

    import optuna

    study = optuna.load_study(study_name="pg", storage=study_db)
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(finished) == N_TRIALS - 1  # the first trial, the learner's defaults, is not an Optuna trial


def test_doctor_names_allowed_hosts_on_invalid_host_header(tmp_path: Path, cli_here) -> None:
    # A server that allows only another host name answers 403 "Invalid Host header".
    with running_mlflow_server(f"sqlite:///{tmp_path}/server.db", tmp_path,
                               "--allowed-hosts", "mlflow.example.org") as uri:
        r = cli_here("doctor", "--tracking-uri", uri, "--storage", str(tmp_path / "results"), cwd=tmp_path)
    assert r.returncode == 1
    assert "FAIL  tracking" in r.stdout
    assert "403 Invalid Host header" in r.stdout and "--allowed-hosts" in r.stdout

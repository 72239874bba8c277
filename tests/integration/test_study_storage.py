# SPDX-License-Identifier: MIT
"""``--study-storage`` keeps the sampler's history; ``--resume-if-possible`` is safe to repeat."""

from __future__ import annotations

from pathlib import Path

import pytest


pytest.importorskip("ray")
pytest.importorskip("optuna")

FAST_SPACE = str(Path(__file__).with_name("fast_naive.yaml"))


@pytest.mark.slow
def test_study_outlives_results_folder_and_job_retries_resume(tmp_path: Path, cli) -> None:
    journal = tmp_path / "study.log"

    def sweep(results: str):
        return cli("sweep", "--learner", "naive", "--benchmark", "split-digits", "--n-tasks", "2",
                   "--space", FAST_SPACE, "--trials", "2", "--concurrency", "2", "--num-cpus", "2",
                   "--scheduler", "none", "--name", "s", "--storage", str(tmp_path / results),
                   "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--study-storage", str(journal),
                   "--resume-if-possible", cwd=tmp_path)

    first = sweep("results-a")
    assert first.returncode == 0, first.stderr[-4000:]
    # The same command again (what a Kubernetes job retry does) continues, not restarts, the sweep.
    again = sweep("results-a")
    assert again.returncode == 0, again.stderr[-4000:]
    assert "2 completed" in again.stdout
    assert len(list((tmp_path / "results-a" / "s").glob("train_trial_*"))) == 2

    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    def n_complete() -> int:
        study = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(journal))))
        return sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)

    assert n_complete() == 1  # the first trial, the learner's defaults, is not an Optuna trial
    # A fresh results folder: Tune starts over, the Optuna study continues with its history (and, having
    # started before, does not measure the defaults again).
    fresh = sweep("results-b")
    assert fresh.returncode == 0, fresh.stderr[-4000:]
    assert n_complete() == 3

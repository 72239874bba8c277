# SPDX-License-Identifier: MIT
"""``--time-budget``: no trial is launched once the budget is spent, and every launched trial completes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

pytest.importorskip("ray")
pytest.importorskip("mlflow")

SLOW_SPACE = str(Path(__file__).with_name("slow_naive.yaml"))
BUDGET_S = 12.0


@pytest.mark.slow
def test_time_budget_stops_launching_and_finishes_cleanly(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    events = tmp_path / "events.log"
    r = run_cli("sweep", "--learner", "naive", "--benchmark", "split-digits", "--n-tasks", "4", "--classes-per-task", "2",
                "--space", SLOW_SPACE, "--trials", "40", "--concurrency", "2", "--num-cpus", "2",
                "--scheduler", "none", "--time-budget", str(BUDGET_S), "--name", "budget",
                "--storage", str(tmp_path / "results"), "--tracking-uri", uri, cwd=tmp_path,
                env={"SYNAPTUNE_TEST_EVENT_LOG": str(events)})
    assert r.returncode == 0, r.stderr[-4000:]
    assert "not launched (budget spent)" in r.stdout
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("budget")
    parent = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'sweep'")[0]
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'trial'")
    assert 0 < len(runs) < 40
    # Every trial it launched finished the stream: the budget never cuts a trial short.
    assert {run.data.tags["synaptune.status"] for run in runs} == {"completed"}
    assert parent.data.metrics["trials/not_launched"] == 40 - len(runs)

    # Events, not wall-clock bounds: under a loaded CPU a worker may take minutes to start a trial, but
    # the searcher must launch none once the budget is spent, and every trial that ran was one it launched.
    events_seen = [line.split() for line in events.read_text().splitlines()]
    (started,) = [float(e[3]) for e in events_seen if e[1] == "budget_started"]
    (spent,) = [float(e[3]) for e in events_seen if e[1] == "budget_spent"]
    launched = {e[0]: float(e[3]) for e in events_seen if e[1] == "launched"}
    assert spent >= started + BUDGET_S
    assert all(when < started + BUDGET_S for when in launched.values()), (started, launched)
    assert {e[0] for e in events_seen if e[1] == "start"} == set(launched)
    assert {run.data.tags["trial_id"] for run in runs} == set(launched)

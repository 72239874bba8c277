# SPDX-License-Identifier: MIT
"""``--time-budget``: no trial starts after the budget, the sweep ends within one trial's length of it."""

from __future__ import annotations

from collections import defaultdict
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
    r = run_cli("sweep", "--learner", "naive", "--benchmark", "split-digits", "--n-tasks", "4",
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

    times = defaultdict(list)
    for line in events.read_text().splitlines():
        trial_id, _, _, when, *_ = line.split()
        times[trial_id].append(float(when))
    # The budget clock starts after the parent run is created (just before Tune starts).
    budget_start = parent.info.start_time / 1000
    longest_trial = max(max(t) - min(t) for t in times.values())
    last_start = max(min(t) for t in times.values())
    last_end = max(max(t) for t in times.values())
    assert last_start <= budget_start + BUDGET_S + 1.0
    assert last_end <= budget_start + BUDGET_S + longest_trial + 2.0, (last_end - budget_start, longest_trial)

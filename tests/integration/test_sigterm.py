# SPDX-License-Identifier: MIT
"""SIGTERM (a cluster's stop) on ``run`` and ``compare``: exit 143, the stopped runs KILLED with reason
``terminated`` and the finished seeds kept in MLflow; ``--resume`` trains only the rest and ends with the
numbers of an uninterrupted command, nothing logged twice. (``sweep``: tests/integration/test_interrupt.py.)

Each command runs in its own process (the signal is the point), and the test waits on MLflow's database
for the event it needs (a finished seed), read with plain sqlite3 so that it never races the command's
own creation of the database.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import synaptune_cmd

pytest.importorskip("mlflow")

STREAM = ("--benchmark", "split-digits", "--n-tasks", "2", "--threads", "1")


def _query(db: Path, sql: str) -> list[tuple]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return list(con.execute(sql))
    except sqlite3.Error:  # not created yet, or its tables not yet
        return []


def _terminate_when(proc: subprocess.Popen, ready: Callable[[], bool], timeout_s: float = 300) -> str:
    """SIGTERM to ``proc`` once ``ready()``; its stderr. Fails if it ended first."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert proc.poll() is None, f"it ended before the event:\n{proc.stderr.read()[-3000:]}"
        assert time.monotonic() < deadline, "the event never came"
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    return err


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([*synaptune_cmd(), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_sigterm_on_run_keeps_finished_seeds_and_resume_trains_the_rest(tmp_path: Path, cli_here) -> None:
    from mlflow.tracking import MlflowClient

    db = tmp_path / "m.db"
    args = ["run", "--learner", "naive", "--seeds", "6", *STREAM, "--tracking-uri", f"sqlite:///{db}",
            "--format", "json"]
    proc = _start(args, tmp_path)
    err = _terminate_when(proc, lambda: bool(_query(db, "SELECT 1 FROM metrics WHERE key = 'seeds_done' AND "
                                                        "value >= 2")))
    assert proc.returncode == 143, err[-2000:]
    assert err.strip().splitlines()[-1].startswith("synaptune: terminated (SIGTERM); its MLflow run is marked "
                                                   "KILLED and keeps the seeds that finished"), err[-2000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    (stopped,) = client.search_runs([client.get_experiment_by_name("synaptune-run").experiment_id])
    assert stopped.info.status == "KILLED" and stopped.data.tags["synaptune.reason"] == "terminated"
    kept = int(stopped.data.metrics["seeds_done"])
    assert 2 <= kept < 6 and "test/acc" not in stopped.data.metrics

    r = cli_here(*args, "--resume")
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{kept} of 6 seeds finished before and are kept; training the other {6 - kept}" in r.stderr
    resumed = json.loads(r.stdout)
    assert resumed["run_id"] == stopped.info.run_id
    run = client.get_run(stopped.info.run_id)
    assert run.info.status == "FINISHED" and "synaptune.reason" not in run.data.tags
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "seed/test/acc")) == list(range(6))

    whole = json.loads(cli_here(*args[:-4], "--tracking-uri", f"sqlite:///{tmp_path / 'whole.db'}",
                                "--format", "json").stdout)
    for key in ("test/acc", "test/acc_std", "test/bwt", "test/forgetting"):
        assert resumed[key] == whole[key], key  # 1 thread: the same numbers as one uninterrupted run
    assert [s["test/acc"] for s in resumed["per_seed"]] == [s["test/acc"] for s in whole["per_seed"]]
    assert cli_here(*args, "--resume").returncode == 2  # nothing stopped is left to resume


def test_sigterm_on_compare_keeps_finished_runs_and_resume_gives_the_same_table(tmp_path: Path, cli_here) -> None:
    from mlflow.tracking import MlflowClient

    db = tmp_path / "m.db"
    args = ["compare", "naive", "naive:lr=0.02", "--seeds", "3", *STREAM, "--tracking-uri", f"sqlite:///{db}",
            "--format", "json"]
    proc = _start(args, tmp_path)
    finished = ("SELECT r.run_uuid FROM runs r JOIN tags t ON r.run_uuid = t.run_uuid WHERE t.key = "
                "'synaptune.role' AND t.value = 'compare-run' AND r.status = 'FINISHED'")
    err = _terminate_when(proc, lambda: len(_query(db, finished)) >= 2)
    assert proc.returncode == 143, err[-2000:]
    assert "synaptune: terminated (SIGTERM); its MLflow parent run is marked KILLED" in err
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    exp_id = client.get_experiment_by_name("synaptune-compare").experiment_id
    (parent,) = client.search_runs([exp_id], "tags.`synaptune.role` = 'compare'")
    assert parent.info.status == "KILLED" and parent.data.tags["synaptune.error"] == "terminated (SIGTERM)"
    kept = len(_query(db, finished))
    assert 2 <= kept < 6

    r = cli_here(*args, "--resume")
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{kept} of 6 runs finished before and are kept; training the other {6 - kept}" in r.stderr
    resumed = json.loads(r.stdout)
    assert resumed["parent_run_id"] == parent.info.run_id
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"
    children = client.search_runs([exp_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    pairs = [(c.data.params["entry"], c.data.params["seed"]) for c in children]
    assert len(pairs) == 6 == len(set(pairs)) and all(c.info.status == "FINISHED" for c in children)

    whole = json.loads(cli_here(*args[:-4], "--tracking-uri", f"sqlite:///{tmp_path / 'whole.db'}",
                                "--format", "json").stdout)

    def table(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in row.items() if k != "train_seconds"} for row in rows]

    assert table(resumed["rows"]) == table(whole["rows"])

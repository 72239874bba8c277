# SPDX-License-Identifier: MIT
"""Faults survived: a trial failing mid-stream, and the sweep driver killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import run_cli, synaptune_cmd

pytest.importorskip("ray")
pytest.importorskip("mlflow")

FAST_SPACE = str(Path(__file__).with_name("fast_naive.yaml"))
SLOW_SPACE = str(Path(__file__).with_name("slow_naive.yaml"))


def read_events(path: Path) -> list[tuple[str, str, int]]:
    """``(trial_id, what, task)`` lines written by the trainable's test event log."""
    if not path.exists():
        return []
    return [(a, b, int(c)) for a, b, c, *_ in (line.split() for line in path.read_text().splitlines())]


def trial_runs(uri: str, experiment: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'trial'")


def sweep_args(tmp_path: Path, name: str, uri: str, *extra: str, space: str = FAST_SPACE) -> list[str]:
    return ["sweep", "--learner", "naive", "--benchmark", "split-digits", "--space", space,
            "--num-cpus", "2", "--concurrency", "2", "--scheduler", "none", "--name", name,
            "--storage", str(tmp_path / "results"), "--tracking-uri", uri, *extra]


def test_trial_failing_at_task_2_resumes_from_its_task_2_checkpoint(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    events = tmp_path / "events.log"
    env = {"SYNAPTUNE_TEST_FAULT_AT_TASK": "2", "SYNAPTUNE_TEST_FAULT_DIR": str(tmp_path / "faults"),
           "SYNAPTUNE_TEST_EVENT_LOG": str(events)}
    r = run_cli(*sweep_args(tmp_path, "fault", uri, "--trials", "2", "--n-tasks", "4"), cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-4000:]

    failed = sorted(p.stem for p in (tmp_path / "faults").glob("*.failed"))
    assert len(failed) == 2  # the switch fired once in each trial
    starts = defaultdict(list)
    for trial_id, what, task in read_events(events):
        if what == "start":
            starts[trial_id].append(task)
    # Each trial started at task 0, failed before task 2, and restarted from its
    # checkpoint after task index 1, i.e. at task 2: never from task 0 again.
    assert {t: s for t, s in starts.items()} == {t: [0, 2] for t in failed}

    runs = trial_runs(uri, "fault")
    assert len(runs) == 2
    assert {r.data.tags["synaptune.status"] for r in runs} == {"completed"}
    assert all(r.data.metrics["tasks_seen"] == 4 for r in runs)


@pytest.mark.slow
def test_sigkilled_driver_resumes_without_retraining_or_duplicate_runs(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    events = tmp_path / "events.log"
    env = {**os.environ, "SYNAPTUNE_TEST_EVENT_LOG": str(events)}
    args = sweep_args(tmp_path, "killed", uri, "--trials", "6", "--n-tasks", "5", space=SLOW_SPACE)
    log = open(tmp_path / "driver.log", "w")
    driver = subprocess.Popen([*synaptune_cmd(), *args], cwd=tmp_path, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # Kill once some trials have checkpointed tasks but the sweep is far from done.
        deadline = time.time() + 300
        while time.time() < deadline:
            reported = [e for e in read_events(events) if e[1] == "reported"]
            if len(reported) >= 4 or driver.poll() is not None:
                break
            time.sleep(0.2)
        assert driver.poll() is None, "the sweep ended before it could be killed: " + \
            (tmp_path / "driver.log").read_text()[-3000:]
        time.sleep(1.5)  # let Tune snapshot the experiment state that records the checkpoints
    finally:
        # SIGKILL the driver and the local Ray processes it started (its own session).
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    before = read_events(events)
    checkpointed = {t for t, what, _ in before if what == "reported"}
    assert checkpointed, "no trial had checkpointed before the kill"
    assert sum(what == "reported" for _, what, _ in before) < 6 * 5, "the kill came after the last task"
    time.sleep(2)

    r = run_cli(*args, "--resume", cwd=tmp_path, env={"SYNAPTUNE_TEST_EVENT_LOG": str(events)})
    assert r.returncode == 0, r.stderr[-4000:]

    after = read_events(events)[len(before):]
    restarted_from_zero = {t for t, what, task in after if what == "start" and task == 0}
    # A trial that had checkpointed a task is never trained again from task 0.
    assert not (restarted_from_zero & checkpointed), (before, after)
    # ...and at least one trial that was mid-stream continued from its checkpoint.
    assert any(what == "start" and task > 0 for _, what, task in after), (after, r.stderr[-4000:])

    runs = trial_runs(uri, "killed")
    # A trial started within a second of the kill may be unknown to the restored
    # experiment: its run is closed as "lost" and a new trial takes its place.
    live = [r for r in runs if r.data.tags["synaptune.status"] != "lost"]
    trial_ids = [r.data.tags["trial_id"] for r in live]
    assert len(trial_ids) == len(set(trial_ids)) == 6  # no duplicate child runs
    assert {r.data.tags["synaptune.status"] for r in live} == {"completed"}
    for lost in (r for r in runs if r.data.tags["synaptune.status"] == "lost"):
        assert lost.data.tags["trial_id"] not in trial_ids
        assert lost.info.status == "KILLED"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("killed")
    sweeps = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'sweep'")
    assert len(sweeps) == 1  # the resumed sweep reuses its parent run
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {sweeps[0].info.run_id}

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

from bench.faults import signal_session, tune_state, wait_session_gone  # shared with the fault matrix
from tests.conftest import run_cli, synaptune_cmd

pytest.importorskip("ray")
pytest.importorskip("mlflow")

FAST_SPACE = str(Path(__file__).with_name("fast_naive.yaml"))
SLOW_SPACE = str(Path(__file__).with_name("slow_naive.yaml"))


def read_events(path: Path) -> list[tuple[str, str, int]]:
    """``(trial_id, what, task)`` lines written by the trainable's test event log."""
    if not path.exists():
        return []
    rows = [line.split() for line in path.read_text().splitlines()]
    return [(r[0], r[1], int(r[2])) for r in rows if len(r) >= 5]  # skips a line still being written


def trial_runs(uri: str, experiment: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'trial'")


def sweep_args(tmp_path: Path, name: str, uri: str, *extra: str, space: str = FAST_SPACE) -> list[str]:
    return ["sweep", "--learner", "naive", "--benchmark", "split-digits", "--space", space,
            "--num-cpus", "2", "--concurrency", "2", "--scheduler", "none", "--name", name,
            "--storage", str(tmp_path / "results"), "--tracking-uri", uri, *extra]


def mid_stream(state: dict[str, tuple[str, int]] | None, n_tasks: int) -> dict[str, int]:
    """Trials the state will resume (not terminated) with a checkpoint of a task before the last."""
    return {t: k for t, (status, k) in (state or {}).items() if status not in ("TERMINATED", "ERROR")
            and 0 < k < n_tasks}


def freeze_when_mid_stream(driver: subprocess.Popen, events: Path, experiment_dir: Path, n_tasks: int,
                           min_reported: int, timeout_s: float = 600) -> dict[str, int]:
    """Wait until Tune's newest state records a checkpoint of a mid-stream trial; return those trials.

    The sweep (its whole session) is stopped with SIGSTOP before the state is
    read for the last time, so the state the caller sees is exactly the one a
    ``--resume`` after a SIGKILL restores. When it turns out not to qualify
    (rewritten meanwhile), the sweep continues and the wait goes on.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert driver.poll() is None, "the sweep ended before it could be killed"
        reported = sum(what == "reported" for _, what, _ in read_events(events))
        if reported >= min_reported and mid_stream(tune_state(experiment_dir), n_tasks):
            signal_session(driver.pid, signal.SIGSTOP)
            frozen = mid_stream(tune_state(experiment_dir), n_tasks)
            if frozen:
                return frozen
            signal_session(driver.pid, signal.SIGCONT)
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint of a mid-stream trial in Tune's state after {timeout_s} s")


def test_trial_failing_at_task_2_resumes_from_its_task_2_checkpoint(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    events = tmp_path / "events.log"
    env = {"SYNAPTUNE_TEST_FAULT_AT_TASK": "2", "SYNAPTUNE_TEST_FAULT_DIR": str(tmp_path / "faults"),
           "SYNAPTUNE_TEST_EVENT_LOG": str(events)}
    r = run_cli(*sweep_args(tmp_path, "fault", uri, "--trials", "2", "--n-tasks", "4", "--classes-per-task", "2"),
                cwd=tmp_path, env=env)
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
    n_tasks, n_trials = 5, 6
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    events = tmp_path / "events.log"
    env = {**os.environ, "SYNAPTUNE_TEST_EVENT_LOG": str(events)}
    args = sweep_args(tmp_path, "killed", uri, "--trials", str(n_trials), "--n-tasks", str(n_tasks),
                      space=SLOW_SPACE)
    # Import Tune's state decoder now: under a CPU hog, importing it at the first poll takes longer
    # than the whole sweep.
    import ray.tune.utils.serialization  # noqa: F401
    log = open(tmp_path / "driver.log", "w")
    driver = subprocess.Popen([*synaptune_cmd(), *args], cwd=tmp_path, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # Kill once some trials have checkpointed tasks and Tune's experiment state records a
        # checkpoint of a trial that is mid-stream: that trial must continue from it.
        resumable = freeze_when_mid_stream(driver, events, tmp_path / "results" / "killed", n_tasks,
                                           min_reported=4)
    except AssertionError as e:
        raise AssertionError(f"{e}:\n{(tmp_path / 'driver.log').read_text()[-3000:]}") from None
    finally:
        # SIGKILL the driver and the local Ray processes it started (its own session).
        signal_session(driver.pid, signal.SIGKILL)
        driver.wait()
        wait_session_gone(driver.pid)
    before = read_events(events)
    checkpointed = {t for t, what, _ in before if what == "reported"}
    assert checkpointed, "no trial had checkpointed before the kill"
    assert sum(what == "reported" for _, what, _ in before) < n_trials * n_tasks, \
        "the kill came after the last task"

    r = run_cli(*args, "--resume", cwd=tmp_path, env={"SYNAPTUNE_TEST_EVENT_LOG": str(events)})
    assert r.returncode == 0, r.stderr[-4000:]

    after = read_events(events)[len(before):]
    restarted_from_zero = {t for t, what, task in after if what == "start" and task == 0}
    # A trial that had checkpointed a task is never trained again from task 0.
    assert not (restarted_from_zero & checkpointed), (before, after)
    # Each trial the restored state holds mid-stream continues from its checkpoint (or a newer one on disk).
    for trial_id, tasks_done in resumable.items():
        starts = [task for t, what, task in after if t == trial_id and what == "start"]
        assert starts and min(starts) >= tasks_done, (trial_id, tasks_done, starts, r.stderr[-4000:])

    runs = trial_runs(uri, "killed")
    # A trial started within a second of the kill may be unknown to the restored
    # experiment: its run is closed as "lost" and a new trial takes its place.
    live = [r for r in runs if r.data.tags["synaptune.status"] != "lost"]
    trial_ids = [r.data.tags["trial_id"] for r in live]
    assert len(trial_ids) == len(set(trial_ids)) == n_trials  # no duplicate child runs
    assert {r.data.tags["synaptune.status"] for r in live} == {"completed"}
    for lost in (r for r in runs if r.data.tags["synaptune.status"] == "lost"):
        assert lost.data.tags["trial_id"] not in trial_ids
        assert lost.info.status == "KILLED"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    # Every task's result is in each completed run once: none missing after the kill, none logged twice.
    for run in live:
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "tasks_seen"))
        assert steps == list(range(1, n_tasks + 1)), (run.data.tags["trial_id"], steps)
    exp = client.get_experiment_by_name("killed")
    sweeps = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'sweep'")
    assert len(sweeps) == 1  # the resumed sweep reuses its parent run
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {sweeps[0].info.run_id}


@pytest.mark.slow
def test_a_checkpoint_tune_had_deleted_when_the_driver_was_killed_does_not_fail_the_trial(tmp_path: Path) -> None:
    """Tune's state, written every few seconds, can name a checkpoint its rotation deleted since
    (found at try 17 of 20 of `bench/faults.py --faults sigkill-driver`): Tune alone fails that
    trial on resume ("does not exist on storage anymore"). The fault matrix's own try of it."""
    from bench.faults import run_try

    t = run_try("deleted-named-checkpoint", tmp_path, timeout_s=600)
    assert t.survived, (t.problems, t.notes, t.measure)

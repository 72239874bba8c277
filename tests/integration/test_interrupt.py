# SPDX-License-Identifier: MIT
"""Ctrl-C or SIGTERM (a cluster's stop) on a sweep: exit 130 / 143, a true summary, synaptune's resume
command, no run left RUNNING, and a resume that completes every trial once."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli, synaptune_cmd

pytest.importorskip("ray")
pytest.importorskip("mlflow")

SLOW_SPACE = str(Path(__file__).with_name("slow_naive.yaml"))


def wait_for_line(path: Path, word: str, proc: subprocess.Popen, timeout_s: float = 600) -> None:
    """Until the trainable's event log has a ``word`` line (the sweep exiting first fails the test)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and any(line.split()[1] == word for line in path.read_text().splitlines() if line):
            return
        assert proc.poll() is None, f"the sweep ended before any trial reported:\n{proc.stderr.read()[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"no `{word}` line in {path} after {timeout_s} s")


@pytest.mark.parametrize(("stop", "code", "says"), [(signal.SIGINT, 130, "interrupted"),
                                                    (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_ctrl_c_names_the_end_records_it_and_resumes(tmp_path: Path, stop: int, code: int, says: str) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    events = tmp_path / "events.log"
    env = {**os.environ, "SYNAPTUNE_TEST_EVENT_LOG": str(events)}
    args = ["sweep", "--learner", "naive", "--benchmark", "split-digits", "--n-tasks", "4", "--classes-per-task", "2",
            "--space", SLOW_SPACE,
            "--trials", "3", "--concurrency", "2", "--num-cpus", "2", "--scheduler", "none", "--name", "cc",
            "--storage", str(tmp_path / "results"), "--tracking-uri", uri]
    proc = subprocess.Popen([*synaptune_cmd(), *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(events, "reported", proc)  # a trial finished a task: it is mid-stream now
        proc.send_signal(stop)  # to the driver alone, as Kubernetes sends SIGTERM to the container's process
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err[-3000:]
    assert f"sweep `cc` {says} after" in out and "budget" not in out, out
    resume = next(line for line in out.splitlines() if line.startswith("continue it:"))
    assert resume.endswith("--resume") and "--name cc" in resume
    assert "Tuner.restore" not in err  # synaptune's resume command, not Ray's

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("cc")
    runs = client.search_runs([exp.experiment_id])
    parent = next(r for r in runs if r.data.tags["synaptune.role"] == "sweep")
    assert parent.info.status == "KILLED" and parent.data.tags["synaptune.status"] == "interrupted"
    assert parent.data.tags.get("synaptune.reason") == ("terminated" if stop == signal.SIGTERM else None)
    children = [r for r in runs if r.data.tags["synaptune.role"] == "trial"]
    assert children and all(r.info.status != "RUNNING" for r in children)
    assert {r.data.tags["synaptune.status"] for r in children} <= {"interrupted", "completed"}
    assert any(r.data.tags["synaptune.status"] == "interrupted" for r in children)
    if stop == signal.SIGTERM:
        assert all(r.data.tags.get("synaptune.reason") == "terminated" for r in children
                   if r.data.tags["synaptune.status"] == "interrupted")
    assert "Traceback" not in err, err[-3000:]

    # The printed command continues the sweep: every trial completes, none is duplicated.
    r = run_cli(*shlex.split(resume.split(":", 1)[1])[1:], cwd=tmp_path, env={"SYNAPTUNE_TEST_EVENT_LOG": str(events)})
    assert r.returncode == 0, r.stderr[-4000:]
    assert "sweep `cc`: 3 completed" in r.stdout, r.stdout
    children = [r for r in client.search_runs([exp.experiment_id], "tags.`synaptune.role` = 'trial'")]
    assert len(children) == 3 == len({r.data.tags["trial_id"] for r in children})
    assert all(r.data.tags["synaptune.status"] == "completed" and r.info.status == "FINISHED" for r in children)
    parent = client.get_run(parent.info.run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["synaptune.status"] == "finished"
    starts = [int(line.split()[2]) for line in events.read_text().splitlines() if line.split()[1] == "start"]
    assert any(task > 0 for task in starts), "no interrupted trial continued from its last finished task"

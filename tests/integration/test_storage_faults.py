# SPDX-License-Identifier: MIT
"""The results disk fills up, or turns read-only, in the middle of a sweep.

A real tmpfs is mounted as ``--storage`` (this needs the mount privilege, which
the CI container has; elsewhere the test says why it cannot run). The sweep
must end with exit 1 and one line naming the cause, its parent run FAILED with
the reason, no child run left running; a resume once the disk has room again
must either complete with nothing lost or refuse with a clear line, never
exit 0 with trials lost.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import synaptune_cmd

pytest.importorskip("ray")
pytest.importorskip("mlflow")

SLOW_SPACE = str(Path(__file__).with_name("slow_naive.yaml"))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}): needs root with CAP_SYS_ADMIN")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def wait_for(path: Path, text: str, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and text in path.read_text():
            return
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended (exit {proc.returncode}) before {text!r} appeared in {path}")
        time.sleep(0.2)
    pytest.fail(f"{text!r} never appeared in {path}")


def sweep_runs(uri: str, name: str) -> tuple[list, list]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(name)
    parents = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'sweep'")
    children = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'trial'")
    return parents, children


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_results_disk_failing_mid_sweep_fails_the_sweep_cleanly(tmp_path: Path, small_disk: Path, fault: str) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    events = tmp_path / "events.log"
    args = [*synaptune_cmd(), "sweep", "--learner", "naive", "--benchmark", "split-digits", "--space", SLOW_SPACE,
            "--n-tasks", "5", "--trials", "3", "--scheduler", "none", "--num-cpus", "2", "--concurrency", "2",
            "--max-failures", "0", "--name", "disk", "--storage", str(small_disk / "results"), "--tracking-uri", uri]
    env = {**os.environ, "SYNAPTUNE_TEST_EVENT_LOG": str(events)}
    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=out, stderr=err, start_new_session=True)
        try:
            wait_for(events, " reported ", proc)  # a trial has checkpointed a task: the sweep is under way
            if fault == "full":
                subprocess.run(["dd", "if=/dev/zero", f"of={small_disk}/filler", "bs=1M", "count=64"],
                               capture_output=True, check=False)
            else:
                subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
            proc.wait(timeout=900)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()
    stderr = (tmp_path / "err").read_text()
    assert proc.returncode == 1, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("synaptune: error:")]
    # One clear line (what, where, how to continue, where the detail went); Ray's retries are in the log file.
    assert len(errors) == 1 and "sweep `disk` stopped: --storage" in errors[0], stderr[-3000:]
    assert ("is full" if fault == "full" else "is not writable any more (Read-only file system)") in errors[0]
    assert "--resume (details: " in errors[0] and "Traceback" not in stderr, stderr[-3000:]
    assert len(stderr.splitlines()) < 20, stderr[-3000:]
    parents, children = sweep_runs(uri, "disk")
    assert len(parents) == 1 and parents[0].info.status == "FAILED"
    assert parents[0].data.tags["synaptune.status"] == "failed" and parents[0].data.tags["synaptune.error"]
    assert children and all(c.info.status != "RUNNING" for c in children)
    assert all(c.data.tags["synaptune.status"] != "running" for c in children)

    # Room again: the resume completes every trial, nothing lost (Tune's last good state is put back if the
    # full disk damaged its files).
    if fault == "full":
        (small_disk / "filler").unlink()
    else:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    r = subprocess.run([*args, "--resume"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    parents, children = sweep_runs(uri, "disk")
    assert r.returncode == 0, r.stderr[-3000:]
    done = [c for c in children if c.data.tags["synaptune.status"] == "completed"]
    assert len(done) == 3 == len({c.data.tags["trial_id"] for c in done}), r.stderr[-3000:]
    assert all(c.info.status != "RUNNING" for c in children)

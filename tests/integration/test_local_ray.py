# SPDX-License-Identifier: MIT
"""A sweep without --address runs on a Ray of its own, even when `ray start` left a cluster here.

Plain ``ray.init()`` joins the cluster a ``ray start`` on this machine
recorded in ``/tmp/ray/ray_current_cluster`` (and then refuses ``num_cpus``
with a traceback); synaptune must start its own.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.faults import signal_session, wait_session_gone
from tests.conftest import free_port

pytest.importorskip("ray")


@pytest.mark.slow
def test_a_local_sweep_ignores_a_ray_start_cluster(tmp_path: Path, cli_here) -> None:  # noqa: ANN001
    ray_exe = Path(sys.executable).parent / "ray"
    started = time.time()
    head = subprocess.Popen([str(ray_exe), "start", "--head", "--block", "--num-cpus", "1",
                             "--port", str(free_port()), "--include-dashboard", "false"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        recorded = Path("/tmp/ray/ray_current_cluster")
        deadline = time.time() + 300
        while not (recorded.exists() and recorded.stat().st_mtime >= started - 1):
            assert head.poll() is None, "ray start --head exited"
            assert time.time() < deadline, "ray start --head did not record its cluster"
            time.sleep(0.2)
        r = cli_here("sweep", "--learner", "naive", "--n-tasks", "2", "--trials", "1", "--num-cpus", "2",
                     "--scheduler", "none", "--name", "own", "--storage", str(tmp_path / "results"),
                     "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "sweep `own`: 1 completed" in r.stdout
    finally:  # the head and everything it started (its session), and nothing else
        signal_session(head.pid, signal.SIGTERM)
        wait_session_gone(head.pid, grace_s=5)  # then SIGKILL: a test cluster has nothing to save
        head.wait()


def test_the_trials_of_a_local_ray_share_the_cpus_fairly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray runs its workers at niceness 15, so any busy process on the machine starved the trials
    (a trial got ~3% of a CPU beside two busy processes); a Ray that synaptune starts uses 0."""
    import os

    import ray

    from synaptune.hpo.sweep import SweepConfig, start_ray

    monkeypatch.delenv("RAY_worker_niceness", raising=False)
    assert not ray.is_initialized()
    assert start_ray(SweepConfig(learner="naive", num_cpus=1))
    try:
        @ray.remote(num_cpus=1)
        def niceness() -> int:
            return os.nice(0)

        assert ray.get(niceness.remote(), timeout=300) == os.nice(0)
    finally:
        ray.shutdown()


def test_a_sweeps_ray_workers_start_warm_with_the_trials_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """With SYNAPTUNE_WARM_WORKERS=1, the worker_process_setup_hook sets OMP_NUM_THREADS before torch loads, then imports the trainable
    and builds an optimiser, so a worker's first trial pays neither (bench/README.md, start-up)."""
    import sys

    import ray

    from synaptune.hpo.sweep import SweepConfig, start_ray

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # the hook, not the environment, must set it
    monkeypatch.setenv("SYNAPTUNE_WARM_WORKERS", "1")  # off by default (synaptune/hpo/worker_setup.py)
    assert not ray.is_initialized()
    assert start_ray(SweepConfig(learner="naive", num_cpus=2, cpus_per_trial=1))
    try:
        @ray.remote(num_cpus=1)
        def state_at_first_task() -> tuple[bool, bool, int]:
            import torch

            return "synaptune.hpo.raytune" in sys.modules, "torch._dynamo" in sys.modules, torch.get_num_threads()

        trainable_loaded, optimiser_built, threads = ray.get(state_at_first_task.remote(), timeout=300)
        assert trainable_loaded and optimiser_built
        assert threads == 1
    finally:
        ray.shutdown()


def test_gpus_per_trial_without_gpus_is_refused_and_ray_shut_down(tmp_path: Path, cli_here) -> None:  # noqa: ANN001
    import ray
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert not ray.is_initialized()
    try:
        r = cli_here("sweep", "--learner", "naive", "--storage", str(tmp_path / "res"), "--tracking-uri",
                     f"sqlite:///{tmp_path}/m.db", "--gpus-per-trial", "1", "--num-cpus", "1")
    finally:
        initialized = ray.is_initialized()
        if initialized:
            ray.shutdown()
    assert not initialized, "run_sweep left Ray running"
    # Starting Ray may log its own warnings first (Ray 2.60: "Token authentication is
    # enabled ..."); the error itself is one line, and the last one.
    lines = r.stderr.splitlines()
    assert r.returncode == 2 and r.stdout == ""
    assert [line for line in lines if line.startswith("synaptune:")] == lines[-1:], r.stderr
    assert lines[-1] == ("synaptune: error: --gpus-per-trial 1: a trial asks for 1 GPU, this machine has none "
                         "(torch.cuda.is_available() is False). Lower --gpus-per-trial (0 runs on CPU), or give "
                         "--address of a Ray cluster with GPUs.")  # refused before Ray starts
    assert not (tmp_path / "res").exists()  # no trial was started, no results written

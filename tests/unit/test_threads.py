# SPDX-License-Identifier: MIT
"""The thread rule (synaptune.threads): a trial uses its CPUs, `run` the CPUs other processes leave free,
and an exported OMP_NUM_THREADS or --threads wins."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from synaptune import threads
from synaptune.benchmarks import BenchmarkParams, build_stream


def test_requested_wins_then_the_environment_then_the_free_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "available_cpus", lambda: 8)
    monkeypatch.setattr(threads, "busy_cpus", lambda: 2)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.training_threads(requested=5) == 5
    assert threads.training_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert threads.training_threads() == 6  # 8 CPUs, 2 kept busy by others
    assert threads.training_threads(concurrent=2) == 3
    monkeypatch.setattr(threads, "busy_cpus", lambda: 9)
    assert threads.training_threads() == 1  # never fewer than one
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert threads.training_threads() == 1


@contextlib.contextmanager
def busy_processes(n: int) -> Iterator[None]:
    """``n`` processes that keep a CPU busy each, killed on exit."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for h in hogs:
            h.kill()
            h.wait()


def test_busy_cpus_sees_two_busy_processes() -> None:
    if not Path("/proc/loadavg").exists():
        pytest.skip("needs Linux /proc/loadavg")
    with busy_processes(2):
        # a hog is runnable from its start, but its interpreter may still be loading: look a few times
        assert max(threads.busy_cpus() for _ in range(20)) >= 2


def test_a_trial_uses_its_cpus_per_trial_threads(fake_tune: dict[str, Any]) -> None:
    from synaptune.hpo.raytune import TrialSpec, train_trial

    stream = build_stream("split-digits", BenchmarkParams(n_tasks=1))
    torch.set_num_threads(1)
    train_trial({"epochs": 1, "hidden_units": 8, "hidden_layers": 1}, stream, TrialSpec("naive", {}, (0,), threads=2))
    assert torch.get_num_threads() == 2
    assert len(fake_tune["reports"]) == 1


@pytest.fixture
def restore_threads() -> Iterator[None]:
    """`run` sets this process's torch thread count: put it back after the test."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _run_threads(synaptune, monkeypatch: pytest.MonkeyPatch, *flags: str) -> int:  # noqa: ANN001
    """torch's thread count once `synaptune run` has set it (training stubbed out)."""
    import synaptune.hpo.evaluate as evaluate

    seen: list[int] = []

    def stop(*args: object, **kwargs: object) -> None:
        seen.append(torch.get_num_threads())
        raise SystemExit(0)

    monkeypatch.setattr(evaluate, "run_preset", stop)
    with pytest.raises(SystemExit):
        synaptune("run", "--learner", "naive", "--n-tasks", "1", "--tracking-uri", "sqlite:///m.db", *flags)
    (n,) = seen
    return n


def test_run_sets_the_threads_of_the_rule(synaptune, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
                                          restore_threads: None) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert _run_threads(synaptune, monkeypatch, "--threads", "2") == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert _run_threads(synaptune, monkeypatch) == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    if Path("/proc/loadavg").exists():
        with busy_processes(threads.available_cpus()):  # every CPU busy: one thread, not one per CPU
            assert _run_threads(synaptune, monkeypatch) == 1


def test_run_records_its_threads_and_they_reproduce_its_numbers(synaptune, workdir: Path,  # noqa: ANN001
                                                                restore_threads: None) -> None:
    """The numbers of `run` depend on the torch thread count (float sums in another order), so `run` records
    it (JSON, MLflow param, the table's line naming the flag) and the same --threads gives the same numbers."""
    from mlflow.tracking import MlflowClient

    db = f"sqlite:///{workdir}/m.db"
    base = ["run", "--learner", "naive", "--n-tasks", "2", "--seeds", "2", "--threads", "1", "--tracking-uri", db]
    runs = []
    for _ in range(2):
        code, out, err = synaptune(*base, "--format", "json")
        assert code == 0, err[-3000:]
        runs.append(json.loads(out))
    assert [r["threads"] for r in runs] == [1, 1]
    assert [s["test/acc"] for s in runs[0]["per_seed"]] == [s["test/acc"] for s in runs[1]["per_seed"]]
    assert MlflowClient(tracking_uri=db).get_run(runs[0]["run_id"]).data.params["threads"] == "1"
    code, out, err = synaptune(*base)
    assert code == 0, err[-3000:]
    assert "trained with 1 torch thread(s); the numbers depend on it: --threads 1 reproduces them" in out

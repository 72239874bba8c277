# SPDX-License-Identifier: MIT
"""Rungs that carry signal, and settings that leave a task without validation samples.

:mod:`synaptune.hpo.asha` on real (small, offline) streams; the sweep's use of
it through :func:`synaptune.hpo.sweep.prepare` and through the CLI, in process
and in a real ``synaptune sweep`` process (stderr as a user sees it).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synaptune.benchmarks import BenchmarkParams, build_stream
from synaptune.exceptions import ConfigError
from synaptune.hpo.asha import (
    check_eval_samples,
    default_grace_period,
    few_samples_warning,
    rung_milestones,
    too_small_warning,
)
from synaptune.hpo.sweep import SweepConfig, prepare
from tests.conftest import ROOT
from tests.unit.conftest import error_line, sweep_args, tree

# ------------------------------------------------------------------ default_grace_period


@pytest.mark.parametrize(("benchmark", "params", "grace"), [
    ("split-digits", {}, 2),                                  # class-il
    ("split-digits", {"scenario": "task-il"}, 2),
    ("split-digits", {"n_tasks": 1, "classes_per_task": 2}, 1),  # never more than the tasks
    ("permuted-digits", {}, 1),                               # domain-il
    ("permuted-digits", {"scenario": "task-il"}, 1),          # tasks carry permutations
    ("permuted-digits", {"n_tasks": 3}, 1),
])
def test_default_grace_period(benchmark: str, params: dict, grace: int) -> None:
    assert default_grace_period(build_stream(benchmark, BenchmarkParams(**params))) == grace


def test_default_grace_period_of_a_permuted_stream_cut_to_its_first_task() -> None:
    first = build_stream("permuted-digits", BenchmarkParams(n_tasks=3)).head(1)
    assert first.tasks[0].permutation is None  # task 0 is the identity
    assert default_grace_period(first) == 1


# ------------------------------------------------------------------ rungs and too_small_warning


def test_rungs_match_ray() -> None:
    """The rung arithmetic is Ray's own (one bracket); rungs at max_t or beyond stop nothing."""
    pytest.importorskip("ray")
    from ray.tune.schedulers.async_hyperband import _Bracket

    for rf in (2, 3, 4):
        for max_t in range(1, 21):
            for grace in range(1, max_t + 1):
                ray_rungs = sorted(m for m, _ in _Bracket(grace, max_t, rf, 0)._rungs if m < max_t)
                assert rung_milestones(grace, rf, max_t) == ray_rungs, (grace, rf, max_t)


def test_rung_milestones_examples() -> None:
    assert rung_milestones(2, 3, 5) == [2]        # split-digits, the defaults
    assert rung_milestones(1, 3, 5) == [1, 3]     # the old default grace
    assert rung_milestones(1, 3, 10) == [1, 3, 9]  # permuted-digits
    assert rung_milestones(1, 2, 4) == [1, 2]
    assert rung_milestones(5, 3, 5) == []
    assert rung_milestones(9, 3, 5) == []         # grace clamped to max_t


def test_too_small_warning_counts_rungs() -> None:
    # One rung (task 2 of 5), rf 3: about 8 / 3 = 2.7 trials finish; 9 trials leave 3.
    msg = too_small_warning(8, 2, 3, 5)
    assert msg is not None and "\n" not in msg
    assert "after task 2 of 5" in msg and "of 8 trials about 2.7 would see every task" in msg
    assert "--trials >= 9" in msg and "--scheduler none" in msg
    assert too_small_warning(9, 2, 3, 5) is None
    # Two rungs (tasks 1 and 3): 3**3 trials are needed, not 3**2.
    msg = too_small_warning(20, 1, 3, 5)
    assert msg is not None and "after tasks 1, 3 of 5" in msg and "--trials >= 27" in msg
    assert "--grace-period 2" in msg  # one rung at task 2: 20 >= 9
    assert too_small_warning(27, 1, 3, 5) is None
    # The case tests/integration/test_asha.py runs: 8 trials, rungs at 1 and 2 of 4, rf 2.
    assert too_small_warning(8, 1, 2, 4) is None
    msg = too_small_warning(7, 1, 2, 4)
    assert msg is not None and "--trials >= 8" in msg and "--grace-period 2" in msg


def test_too_small_warning_is_silent_without_rungs() -> None:
    assert too_small_warning(1, 5, 3, 5) is None  # grace = last task: ASHA stops nobody
    assert too_small_warning(2, 1, 3, 1) is None


# ------------------------------------------------------------------ validation samples


def test_check_eval_samples_refuses_an_empty_validation_split() -> None:
    stream = build_stream("split-digits", BenchmarkParams(val_fraction=0.0))
    with pytest.raises(ConfigError) as e:
        check_eval_samples(stream, "val", val_fraction=0.0)
    assert str(e.value) == ("--val-fraction 0 leaves task 0 of split-digits with no validation samples; "
                            "trials could not be compared. Use --val-fraction 0.1 or more.")
    # Too small to give any class of a task one sample: floor(0.001 * ~145) = 0.
    with pytest.raises(ConfigError, match=r"--val-fraction 0.001 leaves task 0 .* 0.1 or more"):
        check_eval_samples(build_stream("split-digits", BenchmarkParams(val_fraction=0.001)), "val",
                           val_fraction=0.001)
    with pytest.raises(ConfigError, match=r"^task 0 of permuted-digits has no validation samples"):
        check_eval_samples(build_stream("permuted-digits", BenchmarkParams(val_fraction=0.0, n_tasks=2)),
                           "val")
    check_eval_samples(stream, "test")  # the test split is untouched by --val-fraction
    check_eval_samples(build_stream("split-digits"), "val")


def test_few_samples_warning() -> None:
    stream = build_stream("split-digits")  # 28 or 29 validation samples per task at --val-fraction 0.1
    n = min(t.size("val") for t in stream.tasks)
    msg = few_samples_warning(stream, "val")
    assert msg is not None and "\n" not in msg
    assert f"has only {n} validation samples" in msg and f"steps of 1/{n}" in msg
    assert "cannot be told apart" in msg and "--val-fraction" in msg and "--seeds" in msg
    # The fraction it names does give every task 100 samples.
    fraction = float(msg.split("larger --val-fraction (")[1].split(" ")[0])
    wider = build_stream("split-digits", BenchmarkParams(val_fraction=fraction))
    assert min(t.size("val") for t in wider.tasks) >= 100
    assert few_samples_warning(wider, "val") is None
    assert min(t.size("val") for t in build_stream("split-digits", BenchmarkParams(
        val_fraction=round(fraction - 0.01, 2))).tasks) < 100  # and is the smallest that does
    permuted = build_stream("permuted-digits", BenchmarkParams(n_tasks=2))  # 140 per task
    assert few_samples_warning(permuted, "val") is None
    assert "has only 140 validation samples" in few_samples_warning(permuted, "val", minimum=200)


# ------------------------------------------------------------------ the sweep: prepare() and the CLI


def _cfg(tmp_path: Path, **kw) -> SweepConfig:
    kw.setdefault("tracking_uri", f"sqlite:///{tmp_path}/mlflow.db")
    kw.setdefault("storage", str(tmp_path / "results"))
    return SweepConfig(learner="naive", **kw)


@pytest.mark.parametrize(("kw", "grace"), [
    ({}, 2),
    ({"benchmark": "permuted-digits", "benchmark_params": BenchmarkParams(n_tasks=3)}, 1),
    ({"grace_period": 3}, 3),
    ({"grace_period": 5}, 5),  # at most the tasks of the stream (more is refused)
    ({"protocol": "first-tasks:2", "grace_period": 2}, 2),  # the tuning stream's tasks
    ({"scheduler": "none", "grace_period": 9}, 5),  # no ASHA: the grace period is not used
])
def test_prepare_resolves_the_grace_period(tmp_path: Path, kw: dict, grace: int) -> None:
    assert prepare(_cfg(tmp_path, **kw)).grace_period == grace


def test_prepare_warns_before_ray_starts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="synaptune"):
        prepare(_cfg(tmp_path, trials=8))
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 2, messages
    assert "--trials >= 9" in messages[0] and "validation samples" in messages[1]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="synaptune"):
        prepare(_cfg(tmp_path, trials=9, benchmark_params=BenchmarkParams(val_fraction=0.4)))
        prepare(_cfg(tmp_path, trials=2, scheduler="none",
                     benchmark_params=BenchmarkParams(val_fraction=0.4)))
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_prepare_refuses_val_fraction_0_of_another_task_order(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no validation samples"):
        prepare(_cfg(tmp_path, task_orders=2, benchmark_params=BenchmarkParams(val_fraction=0.0)))
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "results").exists()


def test_cli_sweep_refuses_val_fraction_0(synaptune, workdir: Path) -> None:  # noqa: ANN001, F811
    msg = error_line(synaptune(*sweep_args(workdir, "--val-fraction", "0")))
    assert msg == ("--val-fraction 0 leaves task 0 of split-digits with no validation samples; "
                   "trials could not be compared. Use --val-fraction 0.1 or more.")
    assert tree(workdir) == {}  # no results directory, no MLflow store


def test_cli_sweep_prints_the_warnings_on_stderr(tmp_path: Path) -> None:
    """A real ``synaptune sweep`` process: the warnings come on stderr before Ray starts.

    The process's ``start_ray`` refuses in one line (an unreachable ``--address`` is now refused
    before the warnings), so it stops right after them, where it would start Ray (no trial, seconds).
    """
    stop = ("import sys; from synaptune import cli; from synaptune.exceptions import UnreachableError; "
            "from synaptune.hpo import sweep\n"
            "def start_ray(cfg): raise UnreachableError('Ray would start here')\n"
            "sweep.start_ray = start_ray; sys.exit(cli.main())")
    r = subprocess.run([sys.executable, "-c", stop, "sweep", "--learner", "naive", "--trials", "4", "--storage",
                        str(tmp_path / "res"), "--tracking-uri", f"sqlite:///{tmp_path}/m.db"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    too_small = [i for i, line in enumerate(lines) if line.startswith("ASHA stops trials after task 2 of 5")]
    few = [i for i, line in enumerate(lines) if "validation samples" in line and "steps of 1/" in line]
    assert len(too_small) == 1 and len(few) == 1, r.stderr
    assert "of 4 trials about 1.3 would see every task" in lines[too_small[0]]
    assert "--trials >= 9" in lines[too_small[0]] and "--scheduler none" in lines[too_small[0]]
    assert lines[-1] == "synaptune: error: Ray would start here", r.stderr
    assert r.stdout == ""
    assert not (tmp_path / "res").exists()


# ------------------------------------------------------------------ the searcher and ASHA's stops


def test_searcher_tells_optuna_an_early_stopped_trial_is_pruned() -> None:
    import optuna

    from synaptune.hpo.raytune import make_searcher
    from synaptune.searchspaces import load_space

    space = load_space("naive", ROOT / "tests" / "integration" / "asha_naive.yaml")
    searcher = make_searcher(space, metric="val/acc_seen", seed=0)
    for trial_id in ("stopped", "finished"):
        assert searcher.suggest(trial_id)["lr"] > 0
        searcher.on_trial_result(trial_id, {"val/acc_seen": 0.99, "tasks_seen": 1, "n_tasks": 4})
    searcher.on_trial_complete("stopped", {"val/acc_seen": 0.99, "tasks_seen": 1, "n_tasks": 4})
    searcher.on_trial_complete("finished", {"val/acc_seen": 0.4, "tasks_seen": 4, "n_tasks": 4})
    trials = searcher._ot_study.trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.COMPLETE]
    assert trials[1].value == 0.4
    assert searcher._ot_study.best_trial.number == 1

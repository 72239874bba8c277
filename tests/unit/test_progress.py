# SPDX-License-Identifier: MIT
"""The progress lines of a sweep: the formatting functions, and the callback fed stand-in trials (no Ray run)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

pytest.importorskip("ray")

from synaptune.hpo import progress  # noqa: E402
from synaptune.hpo.progress import (  # noqa: E402
    TrialProgress,
    completed_line,
    error_reason,
    eta_seconds,
    failed_line,
    format_done,
    format_duration,
    format_params,
    format_value,
    launch_number,
    started_line,
    stopped_line,
)


def test_values_in_short() -> None:
    assert format_value(0.05) == "0.05"
    assert format_value(0.0123456) == "0.0123"
    assert format_value(123.456) == "123"
    assert format_value(1.5e-5) == "1.5e-05"
    assert format_value(128) == "128"
    assert format_value(True) == "True"
    assert format_value("classp") == "classp"


def test_params_cut_after_six() -> None:
    assert format_params({"lr": 0.05, "hidden": 128}) == "lr=0.05 hidden=128"
    many = {f"p{i}": i for i in range(8)}
    assert format_params(many) == "p0=0 p1=1 p2=2 p3=3 p4=4 p5=5 ..."
    assert format_params({f"p{i}": i for i in range(6)}) == "p0=0 p1=1 p2=2 p3=3 p4=4 p5=5"
    assert format_params({}) == ""


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (44.6, "45s"), (80, "1m20s"), (3599, "59m59s"),
                                           (3600, "1h00m"), (7500, "2h05m"), (-3, "0s")])
def test_durations(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_eta_from_mean_wall_time_and_concurrency() -> None:
    assert eta_seconds([], remaining=5, concurrency=2) is None
    assert eta_seconds([10.0, 30.0], remaining=0, concurrency=2) == 0.0
    # mean 20 s, 6 left, 2 at a time: 60 s
    assert eta_seconds([10.0, 30.0], remaining=6, concurrency=2) == pytest.approx(60.0)
    # one left with 4 slots: it still takes a whole trial
    assert eta_seconds([10.0, 30.0], remaining=1, concurrency=4) == pytest.approx(20.0)


def test_done_and_eta_text() -> None:
    assert format_done(0, 9, None) == "0 of 9 done, ETA unknown"
    assert format_done(4, 9, 80.0) == "4 of 9 done, ETA ~1m20s"
    assert format_done(9, 9, 0.0) == "9 of 9 done"


def test_lines() -> None:
    assert started_line(3, 9, {"lr": 0.05, "hidden": 128}) == "trial 3/9 started: lr=0.05 hidden=128"
    assert started_line(3, 9, {"lr": 0.05}, resumed_after=2) == "trial 3/9 resumed after task 2: lr=0.05"
    assert stopped_line(3, 9, tasks_seen=2, n_tasks=5, score=0.41, best=(0.63, 1), done="4 of 9 done, ETA ~1m20s") \
        == "trial 3/9 stopped by ASHA after task 2 of 5: objective_seen 0.4100 (best so far 0.6300); " \
           "4 of 9 done, ETA ~1m20s"
    assert stopped_line(2, 9, tasks_seen=1, n_tasks=5, score=float("nan"), best=None, done="1 of 9 done", by=None) \
        == "trial 2/9 stopped early after task 1 of 5 (no trial completed yet); 1 of 9 done"
    assert completed_line(3, 9, objective=0.62, best=(0.63, 1), done="4 of 9 done, ETA ~1m20s") \
        == "trial 3/9 completed: objective 0.6200; best so far 0.6300 (trial 1); 4 of 9 done, ETA ~1m20s"
    assert failed_line(3, 9, reason="RuntimeError: boom", tasks_seen=2, n_tasks=5, done="4 of 9 done") \
        == "trial 3/9 failed after task 2 of 5: RuntimeError: boom; 4 of 9 done"
    assert failed_line(3, 9, reason="x", tasks_seen=None, n_tasks=None, done="1 of 9 done") \
        == "trial 3/9 failed: x; 1 of 9 done"


def test_error_reason_and_launch_number() -> None:
    trace = "Failure # 1\nTraceback (most recent call last):\n  File x\nRuntimeError: test fault: boom\n\n"
    assert error_reason(trace) == "RuntimeError: test fault: boom"
    assert error_reason(None).startswith("error (see error.txt")
    assert error_reason("E: " + "x" * 500, limit=20) == "E: " + "x" * 14 + "..."
    assert launch_number("3_lr=0.05,hidden_units=48") == 3
    assert launch_number("12") == 12
    assert launch_number(None) is None
    assert launch_number("lr=0.05") is None


def _trial(trial_id: str, number: int, config: dict, status: str = "RUNNING", **result: object) -> SimpleNamespace:
    return SimpleNamespace(trial_id=trial_id, experiment_tag=f"{number}_x", config=config, status=status,
                           last_result=dict(result), num_failures=0, get_error=lambda: "Trace\nValueError: bad lr")


def test_callback_lines_through_a_sweep(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([100.0, 100.0, 160.0, 190.0, 200.0])  # start a, start b, end a (60 s), end b, end c
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    cb = TrialProgress(1, concurrency=2)
    cb.setup(total_num_samples=4)  # Tune's count wins (a resumed sweep may have extended it)
    a = _trial("a", 1, {"lr": 0.0123456, "hidden_units": 48})
    b = _trial("b", 2, {"lr": 0.2, "hidden_units": 16})
    c = _trial("c", 3, {"lr": 0.01, "hidden_units": 32})
    with caplog.at_level(logging.INFO, logger="synaptune.hpo.progress"):
        cb.on_trial_start(0, [a, b], a)
        cb.on_trial_start(0, [a, b], b)
        a.last_result = {"tasks_seen": 3, "n_tasks": 3, "objective": 0.75, "objective_seen": 0.75}
        cb.on_trial_complete(0, [a, b], a)
        a.status = "TERMINATED"
        b.last_result = {"tasks_seen": 2, "n_tasks": 3, "objective_seen": 0.41}
        cb.on_trial_complete(0, [a, b], b)
        b.status = "TERMINATED"
        c.last_result = {"tasks_seen": 1, "n_tasks": 3}
        c.status = "ERROR"
        cb.on_trial_error(0, [a, b, c], c)  # never started on this driver: no wall time of its own
    lines = [r.getMessage() for r in caplog.records if r.name == "synaptune.hpo.progress"]
    assert lines == [
        "trial 1/4 started: lr=0.0123 hidden_units=48",
        "trial 2/4 started: lr=0.2 hidden_units=16",
        # mean of one 60 s trial, 3 left, 2 at a time: 90 s
        "trial 1/4 completed: objective 0.7500; best so far 0.7500 (trial 1); 1 of 4 done, ETA ~1m30s",
        # trials of 60 and 90 s: mean 75 s, 2 left
        "trial 2/4 stopped by ASHA after task 2 of 3: objective_seen 0.4100 (best so far 0.7500); "
        "2 of 4 done, ETA ~1m15s",
        "trial 3/4 failed after task 1 of 3: ValueError: bad lr; 3 of 4 done, ETA ~1m15s",
    ]


def test_callback_best_ignores_diverged_and_pruned(caplog: pytest.LogCaptureFixture) -> None:
    cb = TrialProgress(3, concurrency=1)
    pruned = _trial("p", 1, {}, status="TERMINATED", tasks_seen=1, n_tasks=3, objective_seen=0.99, time_total_s=30.0)
    diverged = _trial("d", 2, {}, status="TERMINATED", tasks_seen=3, n_tasks=3, objective=0.98, diverged=True,
                      time_total_s=30.0)
    done = _trial("c", 3, {}, tasks_seen=3, n_tasks=3, objective=0.5, diverged_reason="")
    with caplog.at_level(logging.INFO, logger="synaptune.hpo.progress"):
        cb.on_trial_complete(0, [pruned, diverged, done], done)
        cb.on_trial_complete(0, [pruned, diverged, done], diverged)
    lines = [r.getMessage() for r in caplog.records if r.name == "synaptune.hpo.progress"]
    assert lines[0] == "trial 3/3 completed: objective 0.5000; best so far 0.5000 (trial 3); 3 of 3 done"
    assert lines[1].startswith("trial 2/3 failed after task 3 of 3: diverged (")


def test_quiet_start_up_silences_optuna_and_ray_unless_debug() -> None:
    import optuna

    root = logging.getLogger("synaptune")
    before = (root.level, optuna.logging.get_verbosity(), logging.getLogger("ray").level)
    try:
        root.setLevel(logging.INFO)
        optuna.logging.set_verbosity(optuna.logging.INFO)
        progress.quiet_start_up()
        assert optuna.logging.get_verbosity() == optuna.logging.WARNING
        assert logging.getLogger("ray").level == logging.WARNING
        token = logging.getLogger("ray._private.authentication.authentication_token_setup")
        record = token.makeRecord(token.name, logging.WARNING, __file__, 1,
                                  "Token authentication is enabled for this Ray cluster. Set RAY_AUTH_MODE", (),
                                  None)
        assert not token.filter(record)
        other = token.makeRecord(token.name, logging.WARNING, __file__, 1, "Token authentication is disabled", (),
                                 None)
        assert token.filter(other)

        root.setLevel(logging.DEBUG)  # synaptune -v: the libraries keep their own levels
        optuna.logging.set_verbosity(optuna.logging.INFO)
        progress.quiet_start_up()
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
    finally:
        root.setLevel(before[0])
        optuna.logging.set_verbosity(before[1])
        logging.getLogger("ray").setLevel(before[2])

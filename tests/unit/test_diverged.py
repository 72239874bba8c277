# SPDX-License-Identifier: MIT
"""Nothing non-finite is an answer: diverged runs are detected, stop, fail in Optuna; ``run`` refuses them."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch

from synaptune.benchmarks import BenchmarkParams, Stream, build_stream
from synaptune.exceptions import DivergedError, SynaptuneError
from synaptune.hpo.pareto import PER_TASK_NAME
from synaptune.hpo.trial import TrialRun
from synaptune.learners import LEARNERS

NAIVE = LEARNERS.get("naive").params_cls
SMALL = {"epochs": 1, "hidden_units": 32, "hidden_layers": 1, "batch_size": 16}
#: lr=10 with momentum 0.99 blows the weights up; weight_decay=1 makes it overflow whatever the data
#: (lr * weight_decay = 10: each SGD step multiplies the weights by about -9), so NaN within one task.
DIVERGING = {**SMALL, "lr": 10.0, "momentum": 0.99, "weight_decay": 1.0}
SANE = {**SMALL, "lr": 0.05, "momentum": 0.9}


@pytest.fixture(scope="module")
def stream() -> Stream:
    return build_stream("split-digits", BenchmarkParams(n_tasks=2, seed=0))


def test_diverging_configuration_is_named(stream: Stream) -> None:
    run = TrialRun("naive", NAIVE(**DIVERGING), stream, seeds=(0,))
    result = run.step()
    reason = run.diverged()
    assert reason is not None and reason.startswith("learner state has non-finite values (seed 0, net.")
    assert result["diverged"] == 1 and result["diverged_reason"] == reason
    # The reason is real: some floating tensor of the learner is not finite.
    state = run.learners[0].state_dict().values()
    assert any(not torch.isfinite(t).all() for t in state if t.is_floating_point())


def test_sane_configuration_does_not_diverge(stream: Stream) -> None:
    run = TrialRun("naive", NAIVE(**SANE), stream, seeds=(0, 1))
    while not run.finished:
        result = run.step()
        assert run.diverged() is None and "diverged" not in result and "diverged_reason" not in result
    assert math.isfinite(result["objective"])


def test_non_finite_accuracy_and_second_seed_are_named(stream: Stream) -> None:
    run = TrialRun("naive", NAIVE(**SANE), stream, seeds=(0, 1))
    run.step()
    run.matrices[1][0, 0] = float("inf")  # a measured entry
    assert run.diverged() == "val/acc_task_0 is inf (seed 1, after task 0)"
    run.matrices[1][0, 0] = 0.5
    assert run.diverged() is None  # unmeasured NaN entries (R[0, 1]) are no divergence
    with torch.no_grad():
        next(iter(run.learners[1].parameters())).view(-1)[0] = float("nan")
    reason = run.diverged()
    assert reason is not None and reason.startswith("learner state has non-finite values (seed 1, ")


# ------------------------------------------------------------------ the searcher


def _searcher() -> Any:
    from synaptune.hpo.raytune import make_searcher
    from synaptune.searchspaces.space import parse_space

    doc = {"learner": "naive", "params": {"lr": {"float": [0.001, 0.1]}}}
    space = parse_space(doc, NAIVE, learner="naive")
    return make_searcher(space, metric="objective_seen", seed=0)


def _state(searcher: Any, trial_id: str) -> optuna.trial.TrialState:
    number = searcher._ot_trials[trial_id].number
    return searcher._ot_study.trials[number].state


def test_diverged_trial_is_told_to_optuna_as_failed() -> None:
    searcher = _searcher()
    assert isinstance(searcher.suggest("bad"), dict) and isinstance(searcher.suggest("good"), dict)
    diverged = {"tasks_seen": 1, "n_tasks": 2, "objective_seen": math.nan, "val/acc_seen": math.nan,
                "diverged": 1, "diverged_reason": "learner state has non-finite values (seed 0, net.x)"}
    searcher.on_trial_result("bad", diverged)
    searcher.on_trial_complete("bad", diverged)
    bad = searcher._ot_study.trials[searcher._ot_trials["bad"].number]
    assert bad.state == optuna.trial.TrialState.FAIL and bad.intermediate_values == {}
    # Even a diverged run at the end of the stream with a finite value is no COMPLETE.
    assert isinstance(searcher.suggest("late"), dict)
    searcher.on_trial_complete("late", {"tasks_seen": 2, "n_tasks": 2, "objective_seen": 0.2, "diverged": 1,
                                        "diverged_reason": "val/acc_task_1 is nan"})
    assert _state(searcher, "late") == optuna.trial.TrialState.FAIL
    full = {"tasks_seen": 2, "n_tasks": 2, "objective_seen": 0.8, "val/acc_seen": 0.8}
    searcher.on_trial_result("good", full)
    searcher.on_trial_complete("good", full)
    good = searcher._ot_study.trials[searcher._ot_trials["good"].number]
    assert good.state == optuna.trial.TrialState.COMPLETE and good.value == pytest.approx(0.8)
    assert good.intermediate_values == {2: pytest.approx(0.8)}


# ------------------------------------------------------------------ the Tune trainable


def test_trainable_stops_at_the_diverged_task(stream: Stream, fake_tune: dict[str, Any]) -> None:
    from synaptune.hpo.raytune import TrialSpec, train_trial

    train_trial(DIVERGING, stream, TrialSpec("naive", {}, (0,)))
    assert len(fake_tune["reports"]) == 1  # task 0 diverged: task 1 never trained
    result = fake_tune["reports"][0]
    assert result["diverged"] == 1 and result["diverged_reason"].startswith("learner state has non-finite")
    assert result["tasks_seen"] == 1 and result["n_tasks"] == 2
    for name in PER_TASK_NAME.values():  # every metric the searcher / ASHA may read is there...
        assert name in result
    # ...and the choosing ones are NaN, not the finite accuracy NaN weights still score.
    assert math.isnan(result["objective_seen"]) and math.isnan(result["val/acc_seen"])
    assert math.isfinite(result["val/acc_task_0"])


def test_trainable_restored_from_a_diverged_checkpoint_does_not_train_on(
        stream: Stream, fake_tune: dict[str, Any], tmp_path: Path) -> None:
    from synaptune.hpo.raytune import TrialSpec, train_trial

    run = TrialRun("naive", NAIVE(**DIVERGING), stream, seeds=(0,))
    run.step()
    assert run.diverged() is not None
    run.save(tmp_path)

    class Checkpoint:
        @contextlib.contextmanager
        def as_directory(self):  # noqa: ANN202
            yield str(tmp_path)

    fake_tune["checkpoint"] = Checkpoint()
    train_trial(DIVERGING, stream, TrialSpec("naive", {}, (0,)))
    assert [r["tasks_seen"] for r in fake_tune["reports"]] == [1]  # told again why it ends; no task 1
    assert fake_tune["reports"][0]["diverged"] == 1


def test_trainable_trains_a_sane_configuration_through(stream: Stream, fake_tune: dict[str, Any]) -> None:
    from synaptune.hpo.raytune import TrialSpec, train_trial

    train_trial(SANE, stream, TrialSpec("naive", {}, (0,)))
    assert [r["tasks_seen"] for r in fake_tune["reports"]] == [1, 2]
    assert not any("diverged" in r for r in fake_tune["reports"])
    assert math.isfinite(fake_tune["reports"][-1]["objective"])


# ------------------------------------------------------------------ synaptune run


def test_run_preset_refuses_a_diverging_preset() -> None:
    from synaptune.hpo.evaluate import run_preset
    from synaptune.hpo.presets import Preset

    bench = BenchmarkParams(n_tasks=2, seed=0)
    with pytest.raises(DivergedError) as info:
        run_preset(Preset("naive", NAIVE(**DIVERGING), "split-digits", bench), seeds=2)
    message = str(info.value)
    assert isinstance(info.value, SynaptuneError) and "\n" not in message
    assert message.startswith("seed 0 diverged at task 0 of split-digits: learner state has non-finite")
    assert "lower the learning rate" in message
    done = run_preset(Preset("naive", NAIVE(**SANE), "split-digits", bench), seeds=1)
    assert math.isfinite(done.metrics["test/acc"])

# SPDX-License-Identifier: MIT
"""TrialRun (seeds, metrics, checkpoint/resume) and DefineByRun (Optuna sampling of a space)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from synaptune.benchmarks import BenchmarkParams, Stream, build_stream
from synaptune.benchmarks import metrics as m
from synaptune.hpo.trial import CHECKPOINT_FILE, TrialRun
from synaptune.learners import LEARNERS
from synaptune.searchspaces.space import parse_space

NAIVE = LEARNERS.get("naive").params_cls


def params(learner: str = "naive", **kw):  # noqa: ANN201, ANN003
    base = {"epochs": 1, "hidden_units": 32, "hidden_layers": 1, "batch_size": 64, "lr": 0.1}
    if learner == "ewc":
        base["fisher_samples"] = 50
    return LEARNERS.get(learner).params_cls(**{**base, **kw})


@pytest.fixture(scope="module")
def stream() -> Stream:
    s = build_stream("split-digits", BenchmarkParams(n_tasks=2, seed=0))
    # The first training step in a process pays one-off imports (torch._dynamo, ~2 s): pay it here.
    for learner in ("naive", "ewc"):
        TrialRun(learner, params(learner), s, seeds=(9,)).step()
    return s


def test_two_seeds_metrics(stream: Stream) -> None:
    run = TrialRun("naive", params(), stream, seeds=(0, 1))
    assert not run.finished and len(run.learners) == 2
    first = run.step()
    assert first["tasks_seen"] == 1 and first["n_tasks"] == 2
    assert set(first) == {"tasks_seen", "n_tasks", "val/acc_seen", "val/acc_task_0", "state_bytes",
                          "objective_seen", "train_seconds"}
    assert first["objective_seen"] == pytest.approx(first["val/acc_seen"])  # aggregate "mean"
    assert first["train_seconds"] > 0
    assert first["val/acc_seen"] == pytest.approx(first["val/acc_task_0"])
    last = run.step()
    assert run.finished
    expected = {"tasks_seen", "n_tasks", "val/acc_seen", "val/acc_task_0", "val/acc_task_1",
                "val/acc", "val/acc_std", "val/bwt", "val/bwt_std", "val/forgetting", "val/forgetting_std", "state_bytes",
                "objective_seen", "objective", "val/acc_worst", "train_seconds"}
    assert set(last) == expected
    per_seed = [float(m.average_accuracy(R)) for R in run.matrices]
    assert last["val/acc"] == pytest.approx(np.mean(per_seed))
    assert last["val/acc_std"] == pytest.approx(np.std(per_seed))
    assert last["objective"] == pytest.approx(last["val/acc"]) and last["val/acc_worst"] == min(per_seed)
    assert last["val/bwt"] == pytest.approx(np.mean([float(m.backward_transfer(R)) for R in run.matrices]))
    # After the last task, acc_seen is the mean over all tasks = val/acc
    assert last["val/acc_seen"] == pytest.approx(last["val/acc"])
    for R in run.matrices:
        assert R.shape == (2, 2) and np.isnan(R[0, 1]) and not np.isnan(R[1]).any()
        assert ((R[~np.isnan(R)] >= 0) & (R[~np.isnan(R)] <= 1)).all()
    mean = run.accuracy_matrix()
    assert mean[0][1] is None and mean[1][0] == pytest.approx((run.matrices[0][1, 0] + run.matrices[1][1, 0]) / 2)


def test_seeds_differ_and_are_reproducible(stream: Stream) -> None:
    a = TrialRun("naive", params(), stream, seeds=(0, 1))
    b = TrialRun("naive", params(), stream, seeds=(0, 1))
    for run in (a, b):
        while not run.finished:
            run.step()
    for Ra, Rb in zip(a.matrices, b.matrices):
        np.testing.assert_array_equal(Ra, Rb)


@pytest.mark.parametrize("learner", ["naive", "ewc"])
def test_save_load_continues_like_an_uninterrupted_run(stream: Stream, tmp_path: Path, learner: str) -> None:
    p = params(learner, dropout=0.2)  # dropout: the global RNG must be restored too
    whole = TrialRun(learner, p, stream, seeds=(0, 1))
    while not whole.finished:
        whole.step()

    first = TrialRun(learner, p, stream, seeds=(0, 1))
    first.step()
    assert first.save(tmp_path) == tmp_path / CHECKPOINT_FILE
    # Something else trains in between (another trial in the same worker process).
    other = TrialRun("naive", params(), stream, seeds=(5,))
    other.step()

    resumed = TrialRun(learner, p, stream, seeds=(0, 1))
    resumed.load(tmp_path)
    assert resumed.tasks_done == 1
    np.testing.assert_array_equal(resumed.matrices[0], first.matrices[0])
    final = resumed.step()
    assert resumed.finished
    for R_whole, R_resumed in zip(whole.matrices, resumed.matrices):
        np.testing.assert_allclose(R_resumed, R_whole, atol=1e-6, equal_nan=True)
    assert final["val/acc"] == pytest.approx(whole.metrics()["val/acc"], abs=1e-6)


def test_load_refuses_other_seeds(stream: Stream, tmp_path: Path) -> None:
    run = TrialRun("naive", params(), stream, seeds=(0, 1))
    run.step()
    run.save(tmp_path)
    with pytest.raises(ValueError, match=r"has seeds \[0, 1\], this trial \[0\]"):
        TrialRun("naive", params(), stream, seeds=(0,)).load(tmp_path)


# ------------------------------------------------------------------ DefineByRun (Optuna)

SPACE = """
params:
  optimizer: {categorical: [sgd, adam]}
  momentum: {float: [0.1, 0.9], when: {optimizer: sgd}}
  hidden_layers: {int: [1, 3]}
  dropout: {float: [0.0, 0.5], when: {hidden_layers: [2, 3], optimizer: adam}}
  hidden_units: {int: [32, 96], step: 32}
  lr: {float: [0.001, 0.01], log: true}
  epochs: {int: [1, 4], log: true}
fixed:
  arch: mlp
"""


def test_define_by_run_honours_when_and_inclusive_bounds() -> None:
    optuna = pytest.importorskip("optuna")
    pytest.importorskip("ray")
    from synaptune.hpo.raytune import DefineByRun

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = parse_space(yaml.safe_load(SPACE), NAIVE, learner="naive")
    define = DefineByRun(space)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen: dict[str, list] = {d.name: [] for d in space.dims}
    n = 250
    for _ in range(n):
        trial = study.ask()
        define(trial)
        values = trial.params
        assert "arch" not in values  # fixed values are not suggested
        assert ("momentum" in values) == (values["optimizer"] == "sgd")
        assert ("dropout" in values) == (values["optimizer"] == "adam" and values["hidden_layers"] in (2, 3))
        space.build(values)  # every sample is a valid Params
        for k, v in values.items():
            seen[k].append(v)
        study.tell(trial, 0.0)
    assert set(seen["optimizer"]) == {"sgd", "adam"}
    # int bounds are inclusive: both ends are drawn, nothing outside
    assert set(seen["hidden_layers"]) == {1, 2, 3}
    assert set(seen["hidden_units"]) == {32, 64, 96}
    assert min(seen["epochs"]) == 1 and max(seen["epochs"]) == 4
    assert all(isinstance(v, int) for v in seen["hidden_layers"] + seen["epochs"])
    # float bounds stay within [low, high]
    for name, low, high in (("momentum", 0.1, 0.9), ("dropout", 0.0, 0.5), ("lr", 0.001, 0.01)):
        assert seen[name], name
        assert low <= min(seen[name]) and max(seen[name]) <= high, name
    assert len(seen["optimizer"]) == len(seen["lr"]) == n  # unconditional dims: every trial
    assert 0 < len(seen["momentum"]) < n and 0 < len(seen["dropout"]) < n


def test_aggregates_on_a_lucky_configuration() -> None:
    from synaptune.hpo.trial import aggregate

    lucky, steady = [0.95, 0.35], [0.62, 0.60]  # lucky wins on one seed only
    assert aggregate(lucky, "mean") > aggregate(steady, "mean")
    assert aggregate(lucky, "mean-minus-std") < aggregate(steady, "mean-minus-std")
    assert aggregate(lucky, "worst") == 0.35 and aggregate(steady, "worst") == 0.60
    with pytest.raises(ValueError, match="aggregate must be one of"):
        aggregate(lucky, "median")


def test_task_orders_run_every_seed_on_every_order() -> None:
    import dataclasses

    from synaptune.benchmarks import BenchmarkParams, build_stream

    base = BenchmarkParams(n_tasks=2, classes_per_task=2)
    orders = [build_stream("split-digits", dataclasses.replace(base, seed=k)) for k in range(2)]
    assert orders[0].tasks[0].classes != orders[1].tasks[0].classes
    run = TrialRun("naive", params(), orders[0], seeds=(0, 1), more_orders=(orders[1],), aggregate="worst")
    assert len(run.matrices) == 4 and [s for s, _ in run.runs] == [orders[0]] * 2 + [orders[1]] * 2
    while not run.finished:
        last = run.step()
    finals = [float(m.average_accuracy(R)) for R in run.matrices]
    assert last["objective"] == pytest.approx(min(finals))
    assert last["val/acc"] == pytest.approx(np.mean(finals))

# SPDX-License-Identifier: MIT
"""``synaptune sweep --set NAME=VALUE`` (a learner parameter held fixed over the search space) and the
trial-cost estimate logged at a sweep's start (issue 17)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from synaptune.benchmarks import BenchmarkParams, build_stream
from synaptune.cli import build_parser, sweep_config
from synaptune.exceptions import ConfigError
from synaptune.hpo import cost, sweep
from synaptune.hpo.config import SweepConfig
from synaptune.hpo.sweep import check_same_sweep, fixed_space, prepare, sweep_settings
from synaptune.searchspaces import load_space
from tests.unit.conftest import error_line, sweep_args, tree


@pytest.fixture(scope="module")
def stream():  # noqa: ANN201
    return build_stream("split-digits", BenchmarkParams(n_tasks=2))


def _cfg(tmp_path: Path, **kw) -> SweepConfig:
    kw.setdefault("learner", "sparse-mlp")
    kw.setdefault("tracking_uri", f"sqlite:///{tmp_path}/mlflow.db")
    kw.setdefault("storage", str(tmp_path / "results"))
    return SweepConfig(**kw)


# ------------------------------------------------------------------ --set on the search space


def test_set_takes_a_sampled_parameter_out_of_the_space_and_records_it_fixed() -> None:
    space = load_space("sparse-mlp")
    fixed = space.with_fixed({"train_ep": "1", "hidden_units": "100"})
    names = [d.name for d in fixed.dims]
    assert "train_ep" not in names and "hidden_units" not in names
    assert names == [d.name for d in space.dims if d.name not in ("train_ep", "hidden_units")]
    # Converted by the Params class: ints, not the strings given; 100 lies outside {512, ..., 4000}: allowed.
    assert fixed.fixed == {"train_ep": 1, "hidden_units": 100}
    assert type(fixed.fixed["train_ep"]) is int
    doc = yaml.safe_load(fixed.to_yaml())
    assert doc["fixed"] == {"train_ep": 1, "hidden_units": 100}
    assert "train_ep" not in doc["params"] and "hidden_units" not in doc["params"]
    assert fixed.build({}).hidden_units == 100
    assert space.with_fixed({}) is space


def test_set_adds_a_parameter_the_space_did_not_have_and_overrides_its_fixed_value() -> None:
    space = load_space("naive")
    assert "weight_decay" not in {d.name for d in space.dims} and space.fixed == {"arch": "mlp"}
    fixed = space.with_fixed({"weight_decay": "1e-4", "arch": "cnn"})
    assert fixed.dims == space.dims
    assert fixed.fixed == {"arch": "cnn", "weight_decay": 1e-4}


def test_set_on_a_when_condition_keeps_the_conditional_dimension() -> None:
    # naive's momentum is sampled only when optimizer is sgd: fixing optimizer keeps momentum, whose
    # condition now reads the fixed value.
    fixed = load_space("naive").with_fixed({"optimizer": "adam"})
    assert "optimizer" not in {d.name for d in fixed.dims}
    momentum = next(d for d in fixed.dims if d.name == "momentum")
    assert not momentum.active(dict(fixed.fixed))


def test_set_of_an_unknown_name_names_the_learners_knobs() -> None:
    with pytest.raises(ConfigError) as e:
        load_space("sparse-mlp").with_fixed({"hidden_unit": "100"})
    msg = str(e.value)
    assert msg.startswith("--set: `hidden_unit` is not a parameter of SparseMLPParams."), msg
    assert "did you mean `hidden_units`?" in msg.lower()
    assert "Its parameters: percent_on_fc," in msg and "train_ep_inc" in msg
    assert "\n" not in msg


@pytest.mark.parametrize(("item", "expected"), [
    ("train_ep=abc", "--set: `train_ep` must be int, got 'abc'."),
    ("train_ep=0", "--set: `train_ep` must be in [1, inf), got 0."),
    ("dropout=1.5", "--set: `dropout` must be in [0, 1), got 1.5."),
    ("nesterov=maybe", "--set: `nesterov` must be true or false, got 'maybe'."),
])
def test_set_value_is_checked_by_the_params_class(tmp_path: Path, item: str, expected: str) -> None:
    with pytest.raises(ConfigError) as e:
        fixed_space(_cfg(tmp_path, fixed_params=(item,)))
    assert str(e.value).startswith(expected), str(e.value)


def test_set_without_equals_sign_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--set expects NAME=VALUE, got 'train_ep'\.$"):
        fixed_space(_cfg(tmp_path, fixed_params=("train_ep",)))


def test_set_works_with_a_space_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({"learner": "naive", "params": {"lr": {"float": [0.01, 0.1], "log": True},
                                                                   "epochs": {"int": [1, 3]}}}))
    with caplog.at_level(logging.INFO, logger="synaptune"):
        space = fixed_space(_cfg(tmp_path, learner="naive", space_file=str(path),
                                 fixed_params=("epochs=7", "hidden_units=16")))
    assert [d.name for d in space.dims] == ["lr"]
    assert space.fixed == {"epochs": 7, "hidden_units": 16}
    assert space.source == str(path)
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("fixed by --set"))
    assert line == "fixed by --set: epochs=7 (not sampled from [1, 3]), hidden_units=16 (not in the space)"


def test_set_is_a_repeatable_sweep_flag_of_sweep_config() -> None:
    args = build_parser().parse_args(["sweep", "--learner", "sparse-mlp", "--set", "train_ep=1",
                                      "--set", "hidden_units=100"])
    cfg = sweep_config(args)
    assert cfg.fixed_params == ("train_ep=1", "hidden_units=100")
    assert sweep_config(build_parser().parse_args(["sweep"])).fixed_params == ()


def test_prepare_applies_set_and_the_settings_record_it(tmp_path: Path) -> None:
    prepared = prepare(_cfg(tmp_path, learner="naive", fixed_params=("epochs=1", "hidden_units=16"),
                            benchmark_params=BenchmarkParams(n_tasks=2)))
    assert "epochs" not in {d.name for d in prepared.space.dims}
    assert prepared.space.fixed["epochs"] == 1
    settings = sweep_settings(prepared)
    assert settings["fixed_by_set"] == "epochs=1 hidden_units=16"
    plain = sweep_settings(prepare(_cfg(tmp_path, learner="naive", benchmark_params=BenchmarkParams(n_tasks=2))))
    assert plain["fixed_by_set"] == "none"
    assert plain["space_sha256"] != settings["space_sha256"]


def test_resume_with_other_set_values_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = {"learner": "naive", "fixed_by_set": "epochs=1", "space_sha256": "aaaa"}

    class Store:
        def __init__(self, uri: str) -> None:
            pass

        def sweep_run(self, name: str, *, sweep_path: str) -> SimpleNamespace:
            return SimpleNamespace(data=SimpleNamespace(params=recorded))

    monkeypatch.setattr(sweep.store, "SweepStore", Store)
    cfg = _cfg(tmp_path, learner="naive", resume=True)
    with pytest.raises(ConfigError) as e:
        check_same_sweep(cfg, {"learner": "naive", "fixed_by_set": "epochs=2", "space_sha256": "bbbb"})
    assert str(e.value).startswith("--resume: --set differs from the sweep's: it ran with fixed_by_set = "
                                   "epochs=1, this command gives epochs=2."), str(e.value)
    check_same_sweep(cfg, {"learner": "naive", "fixed_by_set": "epochs=1", "space_sha256": "aaaa"})


def test_cli_sweep_with_an_unknown_set_name_exits_2_before_ray(synaptune, workdir: Path) -> None:  # noqa: ANN001
    msg = error_line(synaptune(*sweep_args(workdir, "--learner", "sparse-mlp", "--set", "nope=1")))
    assert msg.startswith("--set: `nope` is not a parameter of SparseMLPParams."), msg
    assert "Its parameters: percent_on_fc," in msg
    assert tree(workdir) == {}  # no results folder, no MLflow store: refused before Ray or MLflow


def test_cli_sweep_with_a_bad_set_value_exits_2(synaptune, workdir: Path) -> None:  # noqa: ANN001
    msg = error_line(synaptune(*sweep_args(workdir, "--learner", "sparse-mlp", "--set", "train_ep=-1")))
    assert msg.startswith("--set: `train_ep` must be in [1, inf), got -1."), msg
    assert error_line(synaptune(*sweep_args(workdir, "--set", "lr"))) == "--set expects NAME=VALUE, got 'lr'."
    assert tree(workdir) == {}


# ------------------------------------------------------------------ the trial-cost estimate


def test_task_epochs_reads_the_params_epoch_fields() -> None:
    sparse = load_space("sparse-mlp").build({"train_ep": 3, "train_ep_inc": 2})
    assert [cost.task_epochs(sparse, t) for t in range(3)] == [3, 2, 2]
    naive = load_space("naive").build({"epochs": 4})
    assert cost.task_epochs(naive, 0) == cost.task_epochs(naive, 3) == 4
    assert cost.task_epochs(SimpleNamespace(), 0) == 1


def test_cost_grows_with_hidden_units_and_epochs(stream) -> None:  # noqa: ANN001
    space = load_space("sparse-mlp")

    def trial(**values: int) -> cost.TrialCost:
        return cost.trial_cost("sparse-mlp", space.build(values), stream, timed=False)

    small, wide, long = trial(hidden_units=64, train_ep=1), trial(hidden_units=512, train_ep=1), \
        trial(hidden_units=64, train_ep=5)
    assert wide.weights > small.weights and wide.sample_epochs == small.sample_epochs
    assert long.sample_epochs > small.sample_epochs and long.weights == small.weights
    assert wide.madds > small.madds and long.madds > small.madds
    # train_ep passes over the first task, train_ep_inc over each later one
    assert trial(hidden_units=64, train_ep=2, train_ep_inc=3).sample_epochs == \
        2 * stream.tasks[0].size("train") + 3 * stream.tasks[1].size("train")
    assert cost.trial_cost("sparse-mlp", space.build({"train_ep": 1}), stream, runs=3,
                           timed=False).sample_epochs == 3 * trial(hidden_units=1024, train_ep=1).sample_epochs


def test_timed_cost_grows_with_hidden_units(stream) -> None:  # noqa: ANN001
    space = load_space("sparse-mlp").with_fixed({"train_ep": "2", "train_ep_inc": "2"})
    small = cost.trial_cost("sparse-mlp", space.build({"hidden_units": 32}), stream)
    big = cost.trial_cost("sparse-mlp", space.build({"hidden_units": 2048, "hidden_layers": 2}), stream)
    assert small.timing == big.timing == "timed"
    assert 0 < (small.seconds or 0) < (big.seconds or 0)


def test_estimate_covers_the_defaults_and_the_spaces_upper_corner(stream) -> None:  # noqa: ANN001
    space = load_space("sparse-mlp").with_fixed({"train_ep": "1", "hidden_units": "100"})
    corner = cost.upper_corner(space)
    assert corner["train_ep_inc"] == 30 and corner["hidden_layers"] == 2 and corner["sparsity_fc"] == 0.95
    assert "nesterov" not in corner  # a categorical of booleans keeps its default
    base, top = cost.estimate(space, stream, timed=False)
    assert (base.label, top.label) == ("defaults + fixed", "upper corner")
    assert base.params.hidden_units == top.params.hidden_units == 100  # --set values stay in the corner
    assert top.madds > base.madds


def test_estimate_without_a_corner_the_params_refuse(stream, monkeypatch) -> None:  # noqa: ANN001
    space = load_space("naive")
    monkeypatch.setattr(cost, "upper_corner", lambda s: {"hidden_units": -1})
    assert [c.label for c in cost.estimate(space, stream, timed=False)] == ["defaults + fixed"]


def _cost(seconds: float | None, label: str = "upper corner") -> cost.TrialCost:
    params = load_space("sparse-mlp").build({"train_ep": 30})
    return cost.TrialCost(label, params, weights=16_000_000, sample_epochs=40_000, batches=300, seconds=seconds,
                          timing="timed")


def test_cost_lines_state_the_basis_and_warn_above_the_budget() -> None:
    info, warnings = cost.cost_lines([_cost(100.0)], n_tasks=5, runs=2, threads=1, time_budget_s=60.0)
    assert info[0].startswith("trial cost estimate, training only, through all 5 tasks x 2 run(s) "
                              "(multiply-adds = weights x training samples x epochs;")
    assert info[1] == "  upper corner: 16M weights x 40k sample-epochs = 640G multiply-adds, about 1.7 min"
    assert len(warnings) == 1
    assert warnings[0].startswith("One trial (upper corner) may take about 1.7 min of training, more than "
                                  "--time-budget 60 s.")
    assert "--set train_ep=1 --set train_ep_inc=1" in warnings[0]
    assert cost.cost_lines([_cost(100.0)], n_tasks=5, runs=1, threads=1, time_budget_s=600.0)[1] == []
    assert cost.cost_lines([_cost(100.0)], n_tasks=5, runs=1, threads=1)[1] == []


def test_cost_lines_warn_for_a_trial_over_an_hour_without_a_budget() -> None:
    _, warnings = cost.cost_lines([_cost(10.0, "defaults + fixed"), _cost(7200.0)], n_tasks=5, runs=1, threads=1)
    assert len(warnings) == 1 and "about 2.0 h of training, more than an hour" in warnings[0]
    # A budget above an hour: the hour still warns.
    assert len(cost.cost_lines([_cost(7200.0)], n_tasks=5, runs=1, threads=1, time_budget_s=10_000.0)[1]) == 1
    # Trials on GPUs are not timed on the driver's CPU: no seconds, no warning.
    info, warnings = cost.cost_lines([dataclasses.replace(_cost(None), timing="")], n_tasks=5, runs=1, threads=1,
                                     gpus=True)
    assert "trials run on GPUs" in info[0] and "about" not in info[1] and warnings == []


def test_log_estimate_logs_and_warns(stream, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    space = load_space("sparse-mlp").with_fixed({"hidden_units": "64", "hidden_layers": "1"})
    with caplog.at_level(logging.INFO, logger="synaptune"):
        costs = cost.log_estimate(space, stream, runs=1, threads=1, time_budget_s=1e-6)
    assert len(costs) == 2 and all(c.seconds for c in costs)
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert infos[0].startswith("trial cost estimate") and len(infos) == 3
    assert len(warnings) == 1 and "more than --time-budget" in warnings[0]


def test_log_estimate_is_never_fatal(stream, caplog, monkeypatch) -> None:  # noqa: ANN001
    def broken(*a: object, **k: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(cost, "trial_cost", broken)
    with caplog.at_level(logging.DEBUG, logger="synaptune"):
        assert cost.log_estimate(load_space("naive"), stream, runs=1, threads=1) == []
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert "cost estimate skipped: RuntimeError: boom" in caplog.records[0].getMessage()


def test_a_learner_that_cannot_predict_untrained_is_timed_by_training(stream) -> None:  # noqa: ANN001
    # SatSOM has no labels to read out before it trained: its fit_task is timed instead.
    (c,) = cost.estimate(load_space("satsom").with_fixed({"grid": "20x20"}), stream)[:1]
    assert c.timing == "timed" and (c.seconds or 0) > 0

# SPDX-License-Identifier: MIT
"""Parameters with alternatives (a range chosen by a ``when``): parsing errors, random sampling,
Optuna sampling through DefineByRun, the config Ray's OptunaSearch hands a trial, and the helpers
the other readers of ``space.dims`` use (round trip, ``with_fixed``, ``overall``, report params)."""

from __future__ import annotations

import random

import pytest
import yaml

from synaptune.exceptions import ConfigError
from synaptune.learners import LEARNERS
from synaptune.searchspaces.space import FloatDim, parse_space

NAIVE = LEARNERS.get("naive").params_cls

SPACE = """
learner: naive
params:
  optimizer: {categorical: [sgd, adam]}
  lr:
    - {float: [0.01, 0.5], log: true, when: {optimizer: sgd}}
    - {float: [0.0001, 0.001], log: true, when: {optimizer: adam}}
  momentum: {float: [0.0, 0.9], when: {optimizer: sgd}}
  epochs: {int: [1, 3]}
fixed:
  arch: mlp
"""
SGD, ADAM = (0.01, 0.5), (0.0001, 0.001)


def parse(text: str):  # noqa: ANN201
    return parse_space(yaml.safe_load(text), NAIVE, learner="naive", source="s.yaml")


def error(lr_yaml: str, before: str = "  optimizer: {categorical: [sgd, adam]}\n  epochs: {int: [1, 3]}\n") -> str:
    with pytest.raises(ConfigError) as e:
        parse(f"params:\n{before}  lr:\n{lr_yaml}")
    msg = str(e.value)
    assert msg.startswith("s.yaml: `lr`") and "\n" not in msg, msg
    return msg


def check_point(point: dict) -> None:
    """``lr`` in the range its optimizer selects; momentum only with SGD; plain names only."""
    low, high = SGD if point["optimizer"] == "sgd" else ADAM
    assert low <= point["lr"] <= high, point
    assert ("momentum" in point) == (point["optimizer"] == "sgd"), point
    assert not any("|" in k for k in point), point


# ------------------------------------------------------------------ parsing

def test_alternatives_parse_with_their_own_optuna_names() -> None:
    space = parse(SPACE)
    assert space.names == ("optimizer", "lr", "momentum", "epochs")
    lrs = space.alternatives("lr")
    assert [(d.low, d.high) for d in lrs] == [SGD, ADAM]  # type: ignore[attr-defined]
    assert [d.optuna_name for d in lrs] == ["lr|optimizer=sgd", "lr|optimizer=adam"]
    assert space.alternatives("momentum")[0].optuna_name == "momentum"  # a single dimension keeps its name
    assert space.active_dim("lr", {"optimizer": "adam"}) is lrs[1]
    assert space.active_dim("momentum", {"optimizer": "adam"}) is None
    assert space.overall("lr") == FloatDim(name="lr", low=0.0001, high=0.5, log=True)


def test_round_trip_and_with_fixed() -> None:
    space = parse(SPACE)
    again = parse(space.to_yaml())
    assert again.dims == space.dims and again.fixed == space.fixed
    assert yaml.safe_load(space.to_yaml())["params"]["lr"][1] == {
        "float": [0.0001, 0.001], "log": True, "when": {"optimizer": "adam"}}
    fixed = space.with_fixed({"lr": "0.2"})  # --set lr=0.2 drops every alternative
    assert "lr" not in fixed.names and fixed.fixed["lr"] == 0.2
    assert fixed.alternatives("lr") == ()
    fixed = space.with_fixed({"optimizer": "adam"})  # the `when`s now read the fixed value
    assert fixed.sample(random.Random(0)).keys() == {"lr", "epochs"}


@pytest.mark.parametrize(("lr_yaml", "expected"), [
    ("    - {float: [0.01, 0.5], when: {optimizer: sgd}}\n    - {float: [0.0001, 0.001]}\n",
     "s.yaml: `lr` alternative 2 has no `when`; each alternative of a parameter says when it is sampled (e.g. "),
    ("    []\n", "s.yaml: `lr` is an empty list; give one dimension mapping, or a list of alternatives each "
               "with a `when`"),
    ("    - {float: [0.01, 0.5], when: {optimizer: sgd}}\n    - {float: [0.0001, 0.001], when: {optimizer: [adam, sgd]}}\n",
     "s.yaml: `lr` alternatives 1 and 2 can both hold (e.g. optimizer='sgd'), which would give `lr` two ranges; "
     "make their `when`s exclusive: name one parameter in both, with different values (e.g. {optimizer: sgd} "
     "and {optimizer: adam})."),
    ("    - {float: [0.01, 0.5], when: {optimizer: sgd}}\n    - {float: [0.0001, 0.001], when: {epochs: 1}}\n",
     "s.yaml: `lr` alternatives 1 and 2 can both hold (e.g. optimizer='sgd', epochs=1)"),
    ("    - {float: [0.01, 0.5], log: true, when: {optimizer: sgd}}\n    - {float: [0.0001, 0.001], when: {optimizer: adam}}\n",
     "s.yaml: `lr` alternatives mix `log: true` and a linear range; give every alternative of `lr` the same "
     "`log` (Optuna refuses one parameter on two scales)."),
    ("    - {float: [0.01, 0.5], when: {optimizer: sgd}}\n    - {categorical: [0.001], when: {optimizer: adam}}\n",
     "s.yaml: `lr` alternatives mix `float` and `categorical`; give every alternative of one parameter the "
     "same kind"),
    ("    - {float: [0.5, 0.01], when: {optimizer: sgd}}\n    - {float: [0.0001, 0.001], when: {optimizer: adam}}\n",
     "s.yaml: `lr` alternative 1: range [0.5, 0.01] is inverted"),
    ("    - {float: [0.01, 0.5], when: {optimizer: sgd}}\n    - {float: [0.0001, 0.001], when: {optimizer: rmsprop}}\n",
     "s.yaml: `lr` has `when: {optimizer: 'rmsprop'}`, but `optimizer` takes values in {sgd, adam}"),
])
def test_bad_alternatives_say_what_and_how(lr_yaml: str, expected: str) -> None:
    assert expected in error(lr_yaml)


def test_alternatives_need_their_condition_sampled_first() -> None:
    msg = error("    - {float: [0.01, 0.5], when: {optimizer: sgd}}\n"
                "    - {float: [0.0001, 0.001], when: {optimizer: adam}}\n"
                "  optimizer: {categorical: [sgd, adam]}\n", before="")
    assert "which is sampled after it; list `optimizer` before `lr` under params." in msg


def test_exclusive_on_one_of_several_conditions() -> None:
    """Two conditions each; exclusive because one parameter both name differs."""
    space = parse("params:\n  optimizer: {categorical: [sgd, adam]}\n  epochs: {int: [1, 3]}\n  lr:\n"
                  "    - {float: [0.01, 0.5], when: {optimizer: sgd, epochs: [1, 2]}}\n"
                  "    - {float: [0.001, 0.01], when: {optimizer: adam, epochs: [1, 2]}}\n")
    assert [d.optuna_name for d in space.alternatives("lr")] == ["lr|optimizer=sgd&epochs=1,2",
                                                                 "lr|optimizer=adam&epochs=1,2"]


# ------------------------------------------------------------------ sampling

def test_random_sampling_takes_the_selected_range() -> None:
    space, rng = parse(SPACE), random.Random(0)
    points = [space.sample(rng) for _ in range(200)]
    for point in points:
        check_point(point)
        space.build(point)
    assert {p["optimizer"] for p in points} == {"sgd", "adam"}


def test_optuna_tpe_through_define_by_run() -> None:
    """A real TPE study (past its random start-up trials): each alternative is its own Optuna
    parameter, and the point DefineByRun returns uses the plain names."""
    optuna = pytest.importorskip("optuna")
    pytest.importorskip("ray")
    from synaptune.hpo.raytune import DefineByRun, sample_configs

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = parse(SPACE)
    define = DefineByRun(space)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=5))
    for _ in range(25):
        trial = study.ask()
        point = define(trial)
        check_point(point)
        lr_name = f"lr|optimizer={point['optimizer']}"
        assert trial.params[lr_name] == point["lr"] and "lr" not in trial.params
        study.tell(trial, point["lr"])
    names = {k for t in study.trials for k in t.params}
    assert names == {"optimizer", "lr|optimizer=sgd", "lr|optimizer=adam", "momentum", "epochs"}
    for config in sample_configs(space, 30, seed=1):
        check_point(config)


def test_ray_optuna_search_hands_the_trial_plain_names() -> None:
    """The config Ray's OptunaSearch (the sweep's own searcher) gives each trial: Ray lays the dict
    DefineByRun returns over the values it captured, so no Optuna name of an alternative may be captured."""
    pytest.importorskip("ray")
    from synaptune.hpo.raytune import make_searcher

    space = parse(SPACE)
    searcher = make_searcher(space, metric="val/acc", mode="max", seed=0)
    seen = set()
    for i in range(14):  # past TPE's 10 random start-up trials
        config = searcher.suggest(f"t{i}")
        assert set(config) <= {"optimizer", "lr", "momentum", "epochs"}, config
        check_point(config)
        space.build(config)
        seen.add(config["optimizer"])
        searcher.on_trial_complete(f"t{i}", {"val/acc": config["lr"], "tasks_seen": 2, "n_tasks": 2})
    assert seen == {"sgd", "adam"}


def test_report_reads_a_trial_by_its_active_alternative() -> None:
    from types import SimpleNamespace

    from synaptune.hpo.report.figures import _trial_params

    space = parse(SPACE)
    trial = SimpleNamespace(params={"optimizer": "adam", "lr": "0.0005", "epochs": "2", "arch": "mlp"})
    assert _trial_params(space, trial) == {"optimizer": "adam", "lr": 0.0005, "epochs": 2}  # type: ignore[arg-type]


def test_upper_corner_spans_the_alternatives() -> None:
    from synaptune.hpo.cost import upper_corner

    assert upper_corner(parse(SPACE)) == {"lr": 0.5, "momentum": 0.9, "epochs": 3}

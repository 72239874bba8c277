# SPDX-License-Identifier: MIT
"""The defaults are always a contender: a sweep's first trial is the learner's defaults, and the pick's
margin over them is judged by the one noise rule (`best` shows it, `export` warns below it)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from synaptune.hpo.mlflow_trial_logger import pruned_name
from synaptune.hpo.records import TrialRecord, TrialStatus, is_defaults, margin_over_defaults
from synaptune.learners import params_of
from synaptune.searchspaces import load_space

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_point_is_the_learners_defaults_with_the_spaces_fixed_values() -> None:
    from synaptune.hpo.raytune import defaults_point

    space = load_space("naive", ROOT / "tests" / "integration" / "fast_naive.yaml")
    defaults = params_of("naive")(epochs=1, hidden_layers=1)  # the space's `fixed`
    assert defaults_point(space) == {"lr": defaults.lr, "hidden_units": defaults.hidden_units}


def test_defaults_point_follows_when_and_takes_one_value_per_name() -> None:
    """ewc's space samples momentum only for SGD and has an lr range per optimizer."""
    from synaptune.hpo.raytune import defaults_point

    space = load_space("ewc")
    point = defaults_point(space)
    defaults = space.build({})
    assert point == {name: getattr(defaults, name) for name in point}
    assert set(point) == {d.name for d in space.dims if d.active({**space.fixed, **point})}
    assert ("momentum" in point) == (defaults.optimizer == "sgd")


def test_the_searchers_first_trial_is_the_defaults_and_optuna_never_sees_it(tmp_path: Path) -> None:
    import optuna

    from synaptune.hpo.raytune import defaults_point, make_searcher

    space = load_space("naive", ROOT / "tests" / "integration" / "fast_naive.yaml")
    first = defaults_point(space)
    searcher = make_searcher(space, metric="val/acc_seen", seed=0, first=first)
    assert searcher.suggest("a") == first
    second = searcher.suggest("b")
    assert second != first and 0.001 <= second["lr"] <= 0.3
    for trial_id in ("a", "b"):
        searcher.on_trial_result(trial_id, {"val/acc_seen": 0.5, "tasks_seen": 3, "n_tasks": 3})
        searcher.on_trial_complete(trial_id, {"val/acc_seen": 0.5, "tasks_seen": 3, "n_tasks": 3})
    trials = searcher._ot_study.trials
    assert len(trials) == 1 and trials[0].state is optuna.trial.TrialState.COMPLETE
    # Saved and restored with Tune's state: a resumed sweep does not run the defaults again.
    searcher.save(str(tmp_path / "searcher.pkl"))
    resumed = make_searcher(space, metric="val/acc_seen", seed=0, first=first)
    resumed.restore(str(tmp_path / "searcher.pkl"))
    assert resumed.suggest("c") != first


def _trial(name: str, acc: float, *, status: TrialStatus = TrialStatus.COMPLETED, tasks: int = 3,
           samples: int = 400, reason: str | None = None) -> TrialRecord:
    """A record of ``learner x`` with val accuracy ``acc`` on each of 3 tasks of ``samples`` samples."""
    metrics = {"objective": acc, "val/acc": acc, **{f"val/acc_task_{j}": acc for j in range(3)}}
    return TrialRecord(f"run-{name}", f"t-{name}", name, status, reason, "exp", "x", {}, {}, metrics, tasks, 3,
                       val_samples=(samples,) * 3)


def test_margin_beyond_noise_beats_the_defaults() -> None:
    pick, defaults = _trial("x-4", 0.90), _trial("x-defaults", 0.70)
    assert is_defaults(defaults) and not is_defaults(pick)
    text, beats = margin_over_defaults(pick, [defaults, pick])
    assert beats
    assert text.startswith("+0.2000 ± ") and "over the defaults (x-defaults, 0.7000" in text
    assert text.endswith("beyond noise")


def test_margin_within_noise_does_not_beat_the_defaults() -> None:
    pick, defaults = _trial("x-4", 0.71, samples=50), _trial("x-defaults", 0.70, samples=50)
    text, beats = margin_over_defaults(pick, [defaults, pick])
    assert not beats
    assert "within noise: not better than the defaults" in text


@pytest.mark.parametrize("records, expected, beats", [
    ([], "the sweep has no defaults trial", False),
    (["defaults-is-pick"], "the pick is the learner's defaults (x-defaults): tuning found nothing better", False),
    ([_trial(pruned_name("x-defaults", {"tasks_seen": 1, "n_tasks": 3}), 0.5, status=TrialStatus.PRUNED, tasks=1)],
     "the defaults (x-defaults) did not complete (pruned after 1 of 3 tasks)", True),
    ([_trial("x-defaults", 0.5, status=TrialStatus.FAILED, reason="diverged")],
     "the defaults (x-defaults) did not complete (diverged after 3 of 3 tasks)", True),
])
def test_margin_when_there_is_no_measured_defaults(records: list, expected: str, beats: bool) -> None:
    pick = _trial("x-defaults", 0.8) if records == ["defaults-is-pick"] else _trial("x-2", 0.8)
    records = [pick] if records == ["defaults-is-pick"] else records
    text, got = margin_over_defaults(pick, [*records, pick])
    assert text.startswith(expected) and got is beats


def test_a_trial_named_like_the_defaults_of_another_learner_is_not_the_defaults() -> None:
    record = dataclasses.replace(_trial("x-defaults", 0.5), learner="y")
    assert not is_defaults(record)


@pytest.mark.parametrize("pick, defaults, ships", [
    ({"acc": 0.90, "acc_se": 0.01}, {"acc": 0.80, "acc_se": 0.01}, "pick"),
    ({"acc": 0.81, "acc_se": 0.01}, {"acc": 0.80, "acc_se": 0.01}, "defaults"),  # within noise: not better
    ({"acc": 0.70, "acc_se": 0.01}, {"acc": 0.80, "acc_se": 0.01}, "defaults"),
    ({"failed": "benchmark seed 1: diverged"}, {"acc": 0.80, "acc_se": 0.01}, "defaults"),
    ({"acc": 0.70, "acc_se": 0.01}, {"failed": "benchmark seed 2: diverged"}, "pick"),
])
def test_the_transfer_check_ships_the_pick_only_when_it_beats_the_defaults_beyond_noise(
        pick: dict, defaults: dict, ships: str) -> None:
    from synaptune.hpo.shipping import transfer_verdict

    verdict = transfer_verdict(pick, defaults)
    assert verdict["ships"] == ships
    if "margin" in verdict:
        assert verdict["margin"] == pytest.approx(pick["acc"] - defaults["acc"])
        assert verdict["noise"] == pytest.approx(0.02)
    assert ("tuning found nothing better" in verdict["why"]) == (ships == "defaults" and "failed" not in pick)


def test_the_defaults_preset_holds_the_defaults_a_sweep_starts_from() -> None:
    from synaptune.hpo.presets import load_preset, preset_path
    from synaptune.hpo.raytune import defaults_point
    from synaptune.hpo.shipping import defaults_preset

    preset = load_preset(preset_path("split-digits/ewc"))
    space = load_space("ewc").with_fixed({"epochs": "1"})
    defaults = defaults_preset(preset, space)
    assert defaults.params == space.build({}) and defaults.params.epochs == 1
    assert {k: getattr(defaults.params, k) for k in defaults_point(space)} == defaults_point(space)
    assert (defaults.benchmark, defaults.benchmark_params) == (preset.benchmark, preset.benchmark_params)
    assert not defaults.test and not defaults.transfer and not defaults.objective


def test_the_script_refuses_a_request_it_cannot_serve(capsys: pytest.CaptureFixture) -> None:
    from synaptune.hpo import shipping

    for argv, says in ((["--work", "w"], "give --learner and --benchmark"),
                       (["--baseline", "--from-preset", "x", "--work", "w"], "give one")):
        with pytest.raises(SystemExit) as e:
            shipping.main(argv)
        assert e.value.code == 2 and says in capsys.readouterr().err


def test_margin_follows_the_metrics_direction_and_says_when_it_cannot_judge() -> None:
    """A metric to minimise (state_bytes) has no standard error: a difference, no verdict."""
    pick, defaults = _trial("x-2", 0.8), _trial("x-defaults", 0.7)
    pick = dataclasses.replace(pick, metrics={**pick.metrics, "state_bytes": 100.0})
    defaults = dataclasses.replace(defaults, metrics={**defaults.metrics, "state_bytes": 400.0})
    text, beats = margin_over_defaults(pick, [defaults, pick], "state_bytes", "min")
    assert beats is None and text.startswith("-300 state_bytes over the defaults (x-defaults, 400)")


@pytest.mark.parametrize("tuning_seed, expected", [(0, (1, 2)), (1, (0, 2)), (2, (0, 1)), (7, (1, 2))])
def test_transfer_streams_are_never_the_tuning_stream(tuning_seed: int, expected: tuple) -> None:
    from synaptune.hpo.shipping import transfer_seeds

    assert transfer_seeds(tuning_seed) == expected

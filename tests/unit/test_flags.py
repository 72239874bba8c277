# SPDX-License-Identifier: MIT
"""`synaptune sweep`'s flags are generated from SweepConfig and BenchmarkParams: one source for each
setting's name, default, help and range."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

import pytest

from synaptune.benchmarks.params import BenchmarkParams
from synaptune.cli import build_parser, sweep_config
from synaptune.exceptions import ConfigError
from synaptune.flags import add_flags, check_numbers, field_default, flag_fields, flag_name, given, option
from synaptune.hpo.config import SweepConfig
from synaptune.hpo.store import DEFAULT_TRACKING_URI


def sweep_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["sweep"]


def actions_by_dest() -> dict[str, argparse.Action]:
    return {a.dest: a for a in sweep_parser()._actions}


@pytest.mark.parametrize(("cls", "prefix"), [(SweepConfig, ""), (BenchmarkParams, "benchmark_")])
def test_every_sweep_flag_has_its_dataclass_fields_default_name_and_help(cls: type, prefix: str) -> None:
    actions = actions_by_dest()
    fields = flag_fields(cls)
    assert len(fields) >= (25 if cls is SweepConfig else 7)
    for f in fields:
        action = actions[prefix + f.name]
        assert action.default == field_default(f), f.name
        assert action.option_strings == [flag_name(f)], f.name
        assert action.help.startswith(f.metadata["help"]), f.name


def test_the_sweep_flags_are_the_flag_fields_and_three_more() -> None:
    made = {a.dest for a in sweep_parser()._actions}
    fields = {f.name for f in flag_fields(SweepConfig)} | {"benchmark_" + f.name for f in flag_fields(BenchmarkParams)}
    assert made - fields == {"help", "objective", "tracking_uri"}
    assert fields <= made
    # the three SweepConfig fields without a flag of their own are made from the others
    assert {f.name for f in dataclasses.fields(SweepConfig)} - {f.name for f in flag_fields(SweepConfig)} == {
        "benchmark_params", "objectives", "tracking_uri"}


def test_a_sweep_without_flags_is_the_default_sweep_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    args = build_parser().parse_args(["sweep"])
    assert sweep_config(args) == SweepConfig()
    assert SweepConfig().tracking_uri == DEFAULT_TRACKING_URI


def test_each_flag_reaches_its_field() -> None:
    args = build_parser().parse_args([
        "sweep", "--learner", "satsom", "--trials", "5", "--cpus-per-trial", "0.5", "--time-budget", "60",
        "--scheduler", "none", "--resume", "--space", "s.yaml", "--benchmark-seed", "3", "--n-tasks", "2",
        "--scenario", "task-il", "--download", "--objective", "val/acc", "--objective", "state_bytes:min"])
    cfg = sweep_config(args)
    assert (cfg.learner, cfg.trials, cfg.cpus_per_trial, cfg.time_budget_s, cfg.scheduler, cfg.resume,
            cfg.space_file) == ("satsom", 5, 0.5, 60.0, "none", True, "s.yaml")
    assert cfg.benchmark_params == BenchmarkParams(seed=3, n_tasks=2, scenario="task-il", download=True)
    assert cfg.objectives == (("val/acc", "max"), ("state_bytes", "min"))


def test_run_takes_only_the_benchmark_flags_given() -> None:
    args = build_parser().parse_args(["run", "--learner", "naive", "--benchmark-seed", "4"])
    assert given(args, BenchmarkParams, dest_prefix="benchmark_") == {"seed": 4}


@dataclass(frozen=True)
class Example:
    count: int = option(3, low=1, help="how many")
    rate: float | None = option(None, low=0.0, low_open=True, help="per second")
    kind: str = option("a", choices=("a", "b"), help="which")


@pytest.mark.parametrize(("values", "message"), [
    ({"count": 0}, "--count must be at least 1, got 0."),
    ({"rate": 0.0}, "--rate must be > 0, got 0.0."),
    ({"rate": float("nan")}, "--rate must be a finite number, got nan."),
    ({"kind": "c"}, "--kind must be one of a, b, got 'c'."),
])
def test_check_numbers_refuses_values_outside_the_fields_range(values: dict, message: str) -> None:
    check_numbers(Example())  # the defaults pass
    with pytest.raises(ConfigError) as e:
        check_numbers(Example(**values))
    assert str(e.value) == message


def test_add_flags_parses_types_and_refuses_other_choices() -> None:
    p = argparse.ArgumentParser(exit_on_error=False)
    add_flags(p, Example)
    assert Example(**given(p.parse_args(["--count", "7", "--rate", "2.5"]), Example)) == Example(count=7, rate=2.5)
    with pytest.raises(argparse.ArgumentError):
        p.parse_args(["--kind", "c"])

# SPDX-License-Identifier: MIT
"""`synaptune sweep`'s flags are generated from SweepConfig and BenchmarkParams: one source for each
setting's name, default, help and range; every other command (and the shipping script) that has one of
the sweep's flags adds it from the same declaration."""

from __future__ import annotations

import argparse
import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from synaptune.benchmarks.params import BenchmarkParams
from synaptune.cli import build_parser, sweep_config
from synaptune.exceptions import ConfigError
import synaptune
from synaptune import flags
from synaptune.flags import add_flags, check_numbers, field_default, flag_fields, flag_name, given
from synaptune.hpo import shipping
from synaptune.hpo.config import RunFlags, SweepConfig, TrackingFlags
from synaptune.hpo.store import DEFAULT_TRACKING_URI
from synaptune.params import param


def subparsers() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def sweep_parser() -> argparse.ArgumentParser:
    return subparsers()["sweep"]


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
    count: int = param(3, low=1, help="how many")
    rate: float | None = param(None, low=0.0, low_open=True, help="per second")
    kind: str = param("a", choices=("a", "b"), help="which")
    share: float = param(0.5, low=0.0, high=1.0, high_open=True, help="a fraction")


@pytest.mark.parametrize(("values", "message"), [
    ({"count": 0}, "--count must be at least 1, got 0."),
    ({"rate": 0.0}, "--rate must be > 0, got 0.0."),
    ({"rate": float("nan")}, "--rate must be a finite number, got nan."),
    ({"kind": "c"}, "--kind must be one of a, b, got 'c'."),
    ({"share": 1.0}, "--share must be < 1, got 1.0."),
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


def test_add_flags_takes_named_fields_with_this_parsers_defaults_and_helps() -> None:
    p = argparse.ArgumentParser(exit_on_error=False)
    add_flags(p, Example, names=("rate", "count"), defaults={"count": 7}, helps={"count": "how many here"},
              required=("rate",))
    assert [a.dest for a in p._actions[1:]] == ["rate", "count"]  # the names' order; `kind` not added
    assert p.parse_args(["--rate", "2"]) == argparse.Namespace(rate=2.0, count=7)
    assert p._option_string_actions["--count"].help == "how many here (default: 7)"
    with pytest.raises(SystemExit):
        p.parse_args([])  # --rate is required here
    with pytest.raises(ValueError, match="Example has no flag field cuont"):
        add_flags(argparse.ArgumentParser(), Example, defaults={"cuont": 1})


# ------------------------------------------------------------------ one declaration per flag


def test_one_metadata_helper_remains() -> None:
    """Every field metadata of the package comes from ``synaptune.params.param``."""
    assert not hasattr(flags, "option")
    root = Path(synaptune.__file__).parent
    makers = [str(path.relative_to(root)) for path in sorted(root.rglob("*.py")) if "metadata=" in path.read_text()]
    assert makers == ["params.py"]
    made_by_param = set(dataclasses.fields(Example)[0].metadata)
    for cls in (SweepConfig, TrackingFlags, RunFlags, BenchmarkParams):
        for f in flag_fields(cls):
            assert set(f.metadata) == made_by_param, (cls.__name__, f.name)


def sweep_option_strings() -> set[str]:
    return set(sweep_parser()._option_string_actions) - {"-h", "--help"}


def other_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every command but ``sweep``, and the shipping script's parser."""
    return {**{n: p for n, p in subparsers().items() if n != "sweep"}, "shipping": shipping.build_parser()}


SAME = ("option_strings", "dest", "type", "choices", "metavar", "nargs", "const")


@pytest.mark.parametrize("command", sorted(other_parsers()))
def test_a_flag_another_command_shares_with_sweep_is_sweeps_flag(command: str) -> None:
    """Each flag of another command that sweep also has is the same flag: the same declaration (field
    of SweepConfig, BenchmarkParams or TrackingFlags), added by add_flags; only its default, help and
    whether it is required may differ."""
    sweep = sweep_parser()._option_string_actions
    parser = other_parsers()[command]
    shared = set(parser._option_string_actions) & sweep_option_strings()
    for option in shared:
        mine, theirs = parser._option_string_actions[option], sweep[option]
        # run and compare take benchmark flags as given only (merged over a preset's), dest and all the same
        assert {k: getattr(mine, k) for k in SAME} == {k: getattr(theirs, k) for k in SAME}, (command, option)
        assert type(mine) is type(theirs), (command, option)
    expected = {"run": 14, "compare": 14, "doctor": 4, "shipping": 15, "space": 1, "presets": 1, "best": 1,
                "export": 1, "report": 1}
    assert len(shared) == expected.get(command, 0), (command, sorted(shared))


#: The modules that build parsers besides sweep's own.
PARSER_MODULES = ("cli.py", "hpo/doctor.py", "hpo/shipping.py")


def test_no_flag_of_sweep_is_declared_by_hand_elsewhere() -> None:
    """``run``, ``compare``, ``doctor``, the shipping script (and the other commands) declare no flag that
    ``sweep`` has: no ``add_argument("--X"`` for one, in any module that builds a parser."""
    root = Path(synaptune.__file__).parent
    others = set().union(*(p._option_string_actions for p in other_parsers().values()))
    shared = sweep_option_strings() & others
    assert {"--learner", "--benchmark", "--seeds", "--set", "--storage", "--tracking-uri", "--n-tasks"} <= shared
    by_hand = {name: set(re.findall(r"""add_argument\(\s*(?:["'][^"']*["']\s*,\s*)?["'](--[\w-]+)["']""",
                                    (root / name).read_text())) for name in PARSER_MODULES}
    assert {"--preset", "--objective", "--work"} <= set().union(*by_hand.values())  # the pattern finds them
    assert {name: sorted(found & shared) for name, found in by_hand.items()} == {name: [] for name in PARSER_MODULES}


def test_shipping_passes_its_sweep_flags_on_with_its_own_defaults() -> None:
    args = shipping.build_parser().parse_args(["--learner", "naive", "--benchmark", "split-digits", "--work", "w",
                                               "--set", "epochs=1", "--scenario", "task-il"])
    assert (args.protocol, args.trials, args.concurrency, args.num_cpus) == ("first-tasks:3", 12, 2, 2)
    assert (args.seeds, args.aggregate) == (3, "mean-minus-std")
    assert shipping._sweep_command(args, "ship-x", Path("/w"), "sqlite:///m.db") == [
        "sweep", "--learner", "naive", "--benchmark", "split-digits", "--scenario", "task-il",
        "--protocol", "first-tasks:3", "--trials", "12", "--concurrency", "2", "--num-cpus", "2",
        "--seeds", "3", "--aggregate", "mean-minus-std", "--set", "epochs=1", "--name", "ship-x", "--storage", "/w/results", "--tracking-uri", "sqlite:///m.db"]

# SPDX-License-Identifier: MIT
"""The ``synaptune`` command: list, space, sweep, best, export, run, env.

Data goes to stdout, logs and progress to stderr. Bad input ends with one line
``synaptune: error: ...`` and exit code 2, before anything is started or written.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path
from collections.abc import Iterator, Sequence
from typing import Any

from synaptune import __version__
from synaptune.exceptions import ConfigError, SynaptuneError, Terminated
from synaptune.signals import EXIT_TERMINATED, restore_sigterm, stop_on_sigterm

logger = logging.getLogger("synaptune")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _add_benchmark_flags(p: argparse.ArgumentParser, *, only_given: bool) -> None:
    """One flag per :class:`BenchmarkParams` field (``args.benchmark_<field>``).

    ``only_given``: no defaults (``run`` merges the flags given over a preset's benchmark).
    """
    from synaptune.benchmarks.params import BenchmarkParams
    from synaptune.flags import add_flags

    add_flags(p.add_argument_group("benchmark options"), BenchmarkParams, dest_prefix="benchmark_",
              only_given=only_given)


def _benchmark_params(args: argparse.Namespace) -> Any:
    """The :class:`BenchmarkParams` of ``sweep``'s benchmark flags."""
    from synaptune.benchmarks import BenchmarkParams
    from synaptune.flags import given

    return BenchmarkParams(**given(args, BenchmarkParams, dest_prefix="benchmark_"))


def _sweep_flags(p: argparse.ArgumentParser, *names: str, defaults: dict[str, Any] | None = None,
                 helps: dict[str, str] | None = None) -> None:
    """The flags ``names`` of ``synaptune sweep`` (fields of SweepConfig), for another command: the same
    declaration, with this command's ``defaults`` and ``helps`` where they differ."""
    from synaptune.flags import add_flags
    from synaptune.hpo.config import SweepConfig

    add_flags(p, SweepConfig, names=names, defaults=defaults, helps=helps)


def _metric_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metric", default=None, metavar="NAME[:min|max]",
                   help="rank by this metric (default: the sweep's objective, val/acc aggregated per --aggregate); "
                        "built-in metrics know their direction (val/forgetting, state_bytes: min)")


def _tracking_flag(p: argparse.ArgumentParser) -> None:
    from synaptune.flags import add_flags
    from synaptune.hpo.config import TrackingFlags

    add_flags(p, TrackingFlags)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synaptune", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"synaptune {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings only")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="learners, benchmarks and search spaces")
    p.add_argument("what", nargs="?", choices=["learners", "benchmarks", "spaces"])

    p = sub.add_parser("space", help="print a learner's search space")
    p.add_argument("learner")
    _sweep_flags(p, "space_file", helps={"space_file": "a search-space YAML file to validate and print instead"})

    _add_sweep_parser(sub)
    _add_result_parsers(sub)
    _add_run_parser(sub)
    _add_compare_parser(sub)
    p = sub.add_parser("presets", help="the presets shipped with synaptune, with their test scores")
    _sweep_flags(p, "benchmark", defaults={"benchmark": None}, helps={"benchmark": "only those tuned on this benchmark"})
    p.add_argument("--format", choices=["table", "markdown"], default="table",
                   help="markdown: the README leaderboard")
    sub.add_parser("env", help="versions and devices")
    _add_doctor_parser(sub)
    return parser


def _add_sweep_parser(sub: Any) -> None:
    """``sweep``: its flags are the fields of SweepConfig and BenchmarkParams (see :mod:`synaptune.flags`)."""
    from synaptune.flags import add_flags
    from synaptune.hpo.config import SweepConfig

    p = sub.add_parser("sweep", help="tune a learner on a benchmark with Ray Tune + Optuna + ASHA")
    add_flags(p, SweepConfig)
    _add_benchmark_flags(p, only_given=False)
    p.add_argument("--objective", action="append", default=[], metavar="METRIC[:min|max]",
                   help="twice or more for a multi-objective sweep, e.g. --objective val/acc "
                        "--objective state_bytes:min (needs --scheduler none)")
    _tracking_flag(p)


def _add_result_parsers(sub: Any) -> None:
    """``best``, ``export`` and ``report``: they read a sweep's runs from MLflow."""
    p = sub.add_parser("best", help="best completed trials of a sweep, from MLflow")
    p.add_argument("--experiment", required=True)
    p.add_argument("--top", type=int, default=1)
    _metric_flag(p)
    p.add_argument("--format", choices=["table", "json"], default="table")
    _tracking_flag(p)

    p = sub.add_parser("export", help="write the best (or a given) trial as a preset YAML")
    p.add_argument("--experiment", required=True)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--run-id", help="export this trial run instead of the best")
    _metric_flag(p)
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.add_argument("--pareto", action="store_true",
                   help="multi-objective sweeps: one preset per Pareto front point, into the folder -o")
    _tracking_flag(p)

    p = sub.add_parser("report", help="a static HTML page with figures of a sweep (also logged to MLflow)")
    p.add_argument("--experiment", required=True)
    p.add_argument("-o", "--output", required=True, help="folder for index.html and the PNG figures")
    _metric_flag(p)
    _tracking_flag(p)


def _run_flags(p: argparse.ArgumentParser, *, experiment: str) -> None:
    """The flags ``run`` and ``compare`` share (:class:`~synaptune.hpo.config.RunFlags`), and ``--tracking-uri``."""
    from synaptune.flags import add_flags
    from synaptune.hpo.config import RunFlags

    add_flags(p, RunFlags, defaults={"experiment": experiment})
    _tracking_flag(p)


def _add_run_parser(sub: Any) -> None:
    """``run``: a preset (or a learner with --set) trained from scratch and reported on test data."""
    p = sub.add_parser("run", help="train from scratch on train+val and report test metrics")
    p.add_argument("--preset", help="preset YAML from `synaptune export`")
    _sweep_flags(p, "learner", "benchmark", defaults={"learner": None, "benchmark": None},
                 helps={"learner": "learner (when no --preset)",
                        "benchmark": "continual stream (default: the preset's, else split-digits)"})
    _add_benchmark_flags(p, only_given=True)
    _sweep_flags(p, "fixed_params", "seeds", helps={"fixed_params": "override a learner parameter",
                                                    "seeds": "seeds 0, 1, ..., each trained from scratch"})
    _sweep_flags(p, "resume", "resume_if_possible",
                 helps={"resume": "continue the newest stopped run of these settings in --experiment: only the "
                                  "seeds it lacks are trained",
                        "resume_if_possible": "continue such a run if there is one, else start it"})
    _run_flags(p, experiment="synaptune-run")


def _add_compare_parser(sub: Any) -> None:
    """``compare``: presets and/or learners trained the same way on one stream, over several seeds."""
    p = sub.add_parser("compare", help="presets and/or learners trained the same way on one stream, side by side")
    p.add_argument("entries", nargs="+", metavar="ENTRY",
                   help="a preset file, a shipped preset (BENCHMARK/LEARNER, see `synaptune presets`) or a "
                        "learner with its defaults and overrides: LEARNER[:NAME=VALUE,NAME=VALUE]")
    _sweep_flags(p, "benchmark", defaults={"benchmark": None},
                 helps={"benchmark": "the stream (default: the first preset's, else split-digits)"})
    _add_benchmark_flags(p, only_given=True)
    _sweep_flags(p, "fixed_params", "seeds", "task_orders", defaults={"seeds": 3},
                 helps={"fixed_params": "override a parameter in every entry whose learner has it",
                        "seeds": "seeds per entry and task order",
                        "task_orders": "class-to-task assignments (benchmark seeds S, S+1, ...), each with every "
                                       "seed"})
    _sweep_flags(p, "resume", "resume_if_possible",
                 helps={"resume": "continue the newest stopped comparison of these entries and settings in "
                                  "--experiment: only the runs it lacks are trained",
                        "resume_if_possible": "continue such a comparison if there is one, else start it"})
    p.add_argument("-o", "--output", help="folder for comparison.md, .json and .png "
                   "(default ./synaptune-compare/<parent run id>)")
    _run_flags(p, experiment="synaptune-compare")


def _add_doctor_parser(sub: Any) -> None:
    """``doctor``: checks what a sweep would use, for real (the sweep's own flags for them)."""
    p = sub.add_parser("doctor", help="check the tracking URI, Ray cluster, storage and GPUs for real")
    _tracking_flag(p)
    _sweep_flags(p, "address", "storage", "study_storage",
                 helps={"address": "Ray cluster to check (host:port, ray://..., auto)",
                        "storage": "results path or URI to check",
                        "study_storage": "Optuna study storage to check"})


# ---------------------------------------------------------------- handlers


def cmd_list(args: argparse.Namespace) -> int:
    from synaptune.benchmarks import BENCHMARKS
    from synaptune.learners import LEARNERS
    from synaptune.searchspaces import space_path

    if args.what in (None, "learners"):
        print("learners:")
        for name in LEARNERS.names():
            origin = f" (from {LEARNERS.plugins[name]})" if name in LEARNERS.plugins else ""
            print(f"  {name:<12} {LEARNERS.summary(name)}{origin}")
    if args.what in (None, "benchmarks"):
        print("benchmarks:")
        for name in BENCHMARKS.names():
            print(f"  {name}")
    if args.what in (None, "spaces"):
        print("spaces:")
        for name in LEARNERS.names():
            path = space_path(name)
            print(f"  {name:<12} {path if path.exists() else '(none)'}")
    return EXIT_OK


def cmd_space(args: argparse.Namespace) -> int:
    from synaptune.searchspaces import load_space

    from synaptune.params import describe

    space = load_space(args.learner, args.space_file)
    print(space.to_yaml(), end="")
    rows = describe(space.params_cls)
    width = max(len(name) for name, *_ in rows)
    print(f"# Every knob of {space.params_cls.__name__} (name, type, default, domain: what it does):")
    for name, kind, default, domain, text in rows:
        print(f"#   {name:<{width}}  {kind:<5}  {default!r}  {domain}: {text}".rstrip(": "))
    return EXIT_OK


def sweep_config(args: argparse.Namespace) -> Any:
    """The :class:`~synaptune.hpo.config.SweepConfig` of parsed ``synaptune sweep`` flags."""
    from synaptune.flags import given
    from synaptune.hpo import store
    from synaptune.hpo.config import SweepConfig
    from synaptune.hpo.pareto import parse_objectives

    return SweepConfig(**given(args, SweepConfig), benchmark_params=_benchmark_params(args),
                       objectives=parse_objectives(args.objective),
                       tracking_uri=store.resolve_tracking_uri(args.tracking_uri))


def cmd_sweep(args: argparse.Namespace) -> int:
    from synaptune.hpo.sweep import run_sweep

    cfg = sweep_config(args)
    summary = run_sweep(cfg)
    _record_sweep_origin(args, cfg, summary)
    counts = summary.counts
    if summary.interrupted:
        stopped = "terminated (SIGTERM)" if summary.terminated else "interrupted"
        print(f"sweep `{summary.experiment}` {stopped} after {summary.launched} of {summary.trials} "
              f"trials were launched: {counts['completed']} completed, {counts['pruned']} stopped early by ASHA, "
              f"{counts['failed']} failed, {counts['interrupted']} stopped mid-stream (their last finished task "
              f"is kept), {max(0, summary.launched - summary.recorded)} before their first task ended")
        print(f"continue it:  {_resume_command(args.argv)}")
        return EXIT_TERMINATED if summary.terminated else EXIT_INTERRUPTED
    more = [f"{counts[s]} {s}" for s in ("lost", "interrupted", "running") if counts.get(s)]
    print(f"sweep `{summary.experiment}`: {counts['completed']} completed, {counts['pruned']} stopped "
          f"early by ASHA, {counts['failed']} failed" + "".join(f", {m}" for m in more)
          + (f", {counts['not_launched']} not launched" + (" (budget spent)" if summary.budget else "")
             if counts["not_launched"] else ""))
    if summary.pareto is not None:
        _print_front(summary.pareto, cfg.objectives)
        print(f"export them:  synaptune export --experiment {summary.experiment} --pareto -o presets/")
        return EXIT_OK if summary.pareto else EXIT_FAILURE
    best = summary.best
    if best is None:
        print("no trial saw every task with a finite objective, so there is no comparable best configuration; "
              "try more --trials or --scheduler none")
        return EXIT_FAILURE
    print(f"best configuration ({_value_text(best, 'objective')}, {best.name}, run {best.run_id}, "
          f"trial {best.trial_id}):")
    _print_record(best)
    warning = _noise_warning(summary.ranked, "objective")
    if warning:
        print(f"warning: {warning}")
    uri = summary.tracking_uri
    print(f"look at it: mlflow ui --backend-store-uri {uri}" if not uri.startswith("http")
          else f"look at it: {uri}")
    print(f"export it:  synaptune export --experiment {summary.experiment} -o preset.yaml")
    return EXIT_OK


def _record_sweep_origin(args: argparse.Namespace, cfg: Any, summary: Any) -> None:
    """Tag the sweep's parent run with its command line (without machine paths or ``--resume``), the
    machine and synaptune's commit: what ``export`` puts in a preset's provenance."""
    import shlex

    from synaptune.hpo import store
    from synaptune.hpo.presets import machine_text, portable_command, source_commit

    argv = [a for a in args.argv if a not in ("--resume", "--resume-if-possible")]
    try:
        store.SweepStore(summary.tracking_uri).record_sweep_origin(
            summary.parent_run_id, command=shlex.join(portable_command(["synaptune", *argv])),
            machine=machine_text("cuda" if (cfg.gpus_per_trial or 0) > 0 else "cpu"), commit=source_commit())
    except Exception as e:  # noqa: BLE001 - the sweep itself is done and stored: never fail it for this
        logger.warning("could not tag the sweep's MLflow parent run %s with its command line (%s); `synaptune "
                       "export` rebuilds the command from the sweep's settings instead", summary.parent_run_id,
                       " ".join(str(e).split())[:300])


def _resume_command(given: Sequence[str]) -> str:
    """The command line that was run (``given``: its arguments), with ``--resume`` (for an interrupted sweep)."""
    import shlex

    argv = [a for a in given if a not in ("--resume", "--resume-if-possible")]
    return shlex.join(["synaptune", *argv, "--resume"])


#: Final metrics shown under each trial by ``best`` and ``sweep``.
SHOWN_METRICS = ("val/acc", "val/bwt", "val/forgetting", "state_bytes")


def _value_text(record: Any, metric: str) -> str:
    """``objective = 0.9286 ± 0.0211`` (4 significant digits; ± the standard error where known)."""
    value, se = record.value(metric), record.standard_error(metric)
    return f"{metric} = {value:.4g}" + (f" ± {se:.2g}" if se is not None else "")


def _print_record(record: Any) -> None:
    """A trial's final metrics and its learner's params, sorted (the sweep's settings apart)."""
    shown = [f"{m} {record.value(m):.4g}" for m in SHOWN_METRICS if record.value(m) is not None]
    print("  " + "   ".join(shown))
    print(f"  learner {record.learner}:")
    for key in sorted(record.params):
        print(f"    {key}: {record.params[key]}")


def _print_settings(record: Any) -> None:
    """The sweep's stream and settings, once (every trial of a sweep shares them)."""
    st = record.settings
    samples = [int(n) for n in st.get("stream/val_samples", "").split(",") if n]
    print(f"stream: {st.get('benchmark')}, {st.get('benchmark/n_tasks')} tasks x "
          f"{st.get('benchmark/classes_per_task')} classes ({st.get('benchmark/scenario')}, benchmark seed "
          f"{st.get('benchmark/seed')}), val_fraction {st.get('benchmark/val_fraction')}"
          + (f" ({min(samples)}{'' if min(samples) == max(samples) else f'-{max(samples)}'} validation samples "
             "per task)" if samples else ""))
    print(f"settings: protocol {st.get('protocol')}, seeds {st.get('seeds')}, task_orders "
          f"{st.get('task_orders', 1)}, aggregate {st.get('aggregate', 'mean')}")


def _noise_warning(ranked: Sequence[Any], metric: str) -> str | None:
    from synaptune.hpo.store import within_noise

    return within_noise(ranked, metric)


def _print_front(front: Sequence[Any], objectives: tuple[tuple[str, str], ...]) -> None:
    names = [m for m, _ in objectives]
    print(f"Pareto front ({len(front)} configurations no other beats on every objective: "
          + ", ".join(f"{m} {mode}" for m, mode in objectives) + "):")
    print("  " + "  ".join(f"{n:>14}" for n in names) + "  run")
    for record in front:
        print("  " + "  ".join(f"{record.value(n):>14.4g}" for n in names) + f"  {record.run_id} ({record.name})")


def _open_store(args: argparse.Namespace) -> Any:
    """The results store behind ``--tracking-uri``, checked (one real call)."""
    from synaptune.hpo import store

    uri = store.resolve_tracking_uri(args.tracking_uri)
    store.check_tracking_uri(uri)
    store.require_existing_store(uri)
    return store.SweepStore(uri)


def _ranked(results: Any, experiment: str, metric_flag: str | None) -> tuple[list[Any], list[Any], str, str]:
    """(all records, completed ones ranked, metric, mode) for ``--metric NAME[:min|max]`` (default objective)."""
    from synaptune.hpo import store

    text = metric_flag or "objective"
    records = results.records(experiment)
    results.check_metric(records, store.split_metric(text)[0], experiment)  # a typo first
    metric, mode = store.parse_metric(text)
    return records, store.rank(records, metric, mode), metric, mode


def cmd_best(args: argparse.Namespace) -> int:
    from synaptune.hpo.store import TrialStatus

    if args.top < 1:
        raise ConfigError(f"--top must be at least 1, got {args.top}.")
    results = _open_store(args)
    objectives = results.objectives(args.experiment) if args.metric is None else ()
    if objectives:  # a multi-objective sweep: its Pareto front, not a ranking by one metric
        front = results.pareto(args.experiment, objectives)
        if args.format == "json":
            print(json.dumps({"objectives": [list(o) for o in objectives],
                              "front": [r.as_dict() for r in front]}, indent=2))
        else:
            _print_front(front, objectives)
        return EXIT_OK if front else EXIT_FAILURE
    records, ranked, metric, mode = _ranked(results, args.experiment, args.metric)
    top = ranked[:args.top]
    if args.format == "json":
        print(json.dumps([r.as_dict() for r in top], indent=2))
        return EXIT_OK if top else EXIT_FAILURE
    if not top:
        print(f"no completed trial in `{args.experiment}` has a finite {metric}")
    else:
        _print_settings(top[0])
        print(f"ranked by {metric} ({mode}), {len(ranked)} completed trials:")
    for rank, record in enumerate(top, 1):
        print(f"#{rank}  {record.name}  {_value_text(record, metric)}  (run {record.run_id}, trial {record.trial_id})")
        _print_record(record)
    hidden = {s: sum(1 for r in records if r.status is s) for s in TrialStatus if s is not TrialStatus.COMPLETED}
    unranked = sum(1 for r in records if r.status is TrialStatus.COMPLETED) - len(ranked)
    diverged = sum(1 for r in records if r.reason == "diverged")
    parts = [f"{n} {s.value}" + (f" ({diverged} diverged)" if s is TrialStatus.FAILED and diverged else "")
             for s, n in hidden.items() if n]
    parts += [f"{unranked} completed without a finite {metric}"] if unranked else []
    if parts:
        print(f"not shown: {', '.join(parts)}")
    warning = _noise_warning(ranked, metric)
    if warning:
        print(f"warning: {warning}")
    if top:
        from synaptune.hpo.records import margin_over_defaults

        print(f"margin of #1: {margin_over_defaults(top[0], records, metric, mode)[0]}")
    return EXIT_OK if top else EXIT_FAILURE


def _with_sweep_provenance(results: Any, preset: Any, record: Any, picked: str) -> Any:
    """``preset`` with the provenance of the sweep ``record`` came from (as shipped presets carry it)."""
    from synaptune.hpo.presets import sweep_provenance

    sweep = results.sweep_of(record)
    trials = results.records(record.experiment, parent_id=sweep.run_id)
    return dataclasses.replace(preset, provenance={**preset.provenance,
                                                   **sweep_provenance(sweep, trials, picked=picked)})


def _data_dir_hint(record: Any, path: Path) -> str:
    """How to run an exported preset whose sweep read its data from a folder of its own (a preset does
    not hold the path, so ``run`` needs ``--data-dir`` again); "" when the sweep used the default."""
    import shlex

    from synaptune.benchmarks.params import BenchmarkParams

    data_dir = record.settings.get("benchmark/data_dir", BenchmarkParams().data_dir)
    if data_dir == BenchmarkParams().data_dir:
        return ""
    return f"run it:  {shlex.join(['synaptune', 'run', '--preset', str(path), '--data-dir', data_dir])}"


def cmd_export(args: argparse.Namespace) -> int:
    from synaptune.hpo.presets import check_output, preset_from_record, write_preset
    from synaptune.hpo.store import parse_metric

    if args.pareto:
        return _export_pareto(args)
    check_output(args.output, force=args.force)  # before any MLflow access
    results = _open_store(args)
    if args.run_id:
        metric, mode = parse_metric(args.metric or "objective")
        record = results.record(args.run_id, args.experiment)
        if not record.complete:
            raise ConfigError(f"run {args.run_id} did not see every task (status {record.status.value!r}"
                              + (f", {record.reason}" if record.reason else "") + "); only completed trials "
                              "are comparable. Pick one from `synaptune best --top N`.")
        if record.value(metric) is None:
            raise ConfigError(f"run {args.run_id} has no finite {metric}; nothing comparable to export.")
    else:
        _, ranked, metric, mode = _ranked(results, args.experiment, args.metric)
        if not ranked:
            raise ConfigError(f"no completed trial in `{args.experiment}` has a finite {metric}; nothing to export.")
        record = ranked[0]
    picked = (f"given by --run-id {record.run_id}" if args.run_id else
              f"the best {metric} ({mode}) of the completed trials, as `synaptune best` ranks them")
    preset = preset_from_record(record, tracking_uri=results.uri, metric=metric, mode=mode)
    preset = _with_sweep_provenance(results, preset, record, picked)
    path = write_preset(preset, args.output, force=args.force)
    print(f"wrote {path} ({preset.learner} on {preset.benchmark}, {_value_text(record, metric)}, "
          f"{record.name}, run {record.run_id})")
    hint = _data_dir_hint(record, path)
    if hint:
        print(hint)
    _warn_unless_beats_defaults(record, results.records(args.experiment), metric, mode)
    return EXIT_OK


def _warn_unless_beats_defaults(record: Any, records: Sequence[Any], metric: str, mode: str) -> None:
    """Print the exported trial's margin over the sweep's defaults trial; a warning on stderr when it
    does not beat them beyond noise (a preset no better than the defaults is no tuning result)."""
    from synaptune.hpo.records import margin_over_defaults

    text, beats = margin_over_defaults(record, records, metric, mode)
    if beats is None or beats:
        print(f"margin: {text}")
    else:
        print(f"warning: {text}; the exported preset may do no better than the learner's defaults on another "
              "stream: run both there (`synaptune compare`) before trusting it", file=sys.stderr)


def _export_pareto(args: argparse.Namespace) -> int:
    """``export --pareto -o DIR``: one preset per point of a multi-objective sweep's front."""
    from synaptune.hpo.presets import check_output, check_writable_folder, preset_from_record, write_preset

    if args.run_id or args.metric:
        raise ConfigError("--pareto exports the whole front; drop --run-id / --metric.")
    out = Path(args.output)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not args.force)):
        raise ConfigError(f"{out} exists and is not an empty folder; --pareto writes one preset per front "
                          "point into a folder. Choose another -o, or pass --force.")
    check_writable_folder(out)  # before any MLflow access
    results = _open_store(args)
    objectives = results.objectives(args.experiment)
    if not objectives:
        raise ConfigError(f"`{args.experiment}` is not a multi-objective sweep (one objective); export its best "
                          "with `synaptune export` without --pareto.")
    front = results.pareto(args.experiment, objectives)
    if not front:
        raise ConfigError(f"no completed trial in `{args.experiment}`; nothing to export.")
    for k, record in enumerate(front):
        metric, mode = objectives[0]
        preset = preset_from_record(record, tracking_uri=results.uri, metric=metric, mode=mode)
        preset = dataclasses.replace(preset, objective={
            **preset.objective, "pareto": {m: record.value(m) for m, _ in objectives}})
        preset = _with_sweep_provenance(results, preset, record, f"point {k} of the Pareto front of "
                                        + ", ".join(f"{m} ({mode})" for m, mode in objectives))
        path = out / f"{args.experiment}-pareto-{k}.yaml"
        check_output(path, force=args.force)
        write_preset(preset, path, force=args.force)
        print(f"wrote {path} (" + ", ".join(f"{m} = {record.value(m):.4g}" for m, _ in objectives) + ")")
    return EXIT_OK


#: float64 T x T matrix sizes ``run`` holds at its peak besides one matrix per seed, measured: their
#: mean (1), the mean as a JSON-ready list of lists (about 2.6), and ``json.dumps(..., indent=1)`` of it
#: when it is logged to MLflow (about 9.2 while it runs, 2 after).
_RUN_EXTRA_MATRICES = 13


def _stream_request(args: argparse.Namespace) -> Any:
    """What ``run`` / ``compare``'s flags ask of the stream (see :mod:`synaptune.hpo.preset_stream`)."""
    from synaptune.benchmarks.params import BenchmarkParams
    from synaptune.flags import given
    from synaptune.hpo.preset_stream import StreamRequest

    return StreamRequest(benchmark=args.benchmark, options=given(args, BenchmarkParams, dest_prefix="benchmark_"),
                         other_stream=args.other_stream, allow_tuning_stream=args.allow_tuning_stream)


def cmd_run(args: argparse.Namespace) -> int:
    from synaptune.benchmarks import build_stream, resolve_params
    from synaptune.benchmarks.streams import check_memory, outline
    from synaptune.hpo import store
    from synaptune.hpo.evaluate import run_preset
    from synaptune.hpo.presets import Preset
    from synaptune.learners import params_of
    from synaptune.params import from_dict
    from synaptune.runner import check_device

    from synaptune.threads import training_threads, use_threads

    for flag, value in (("--seeds", args.seeds), ("--threads", 1 if args.threads is None else args.threads)):
        if value < 1:
            raise ConfigError(f"{flag} must be at least 1, got {value}.")
    check_device(args.device)
    threads = training_threads(requested=args.threads)
    use_threads(threads)  # before the first torch operation of the training
    logger.debug("run: %d torch thread(s)", threads)
    if args.other_stream and not args.preset:
        raise ConfigError("--other-stream is for running a --preset on another stream; drop it, or give --preset.")
    overrides = _set_overrides(args.fixed_params)
    target = _run_target(args)
    params_cls = params_of(target.learner)
    params_obj = from_dict(params_cls, {**target.params, **overrides}, where="--set" if overrides else "")
    # Memory before anything is built: every seed fills a T x T accuracy matrix, kept to the end.
    check_memory(outline(target.bench_name, target.bench_params), matrices=args.seeds + _RUN_EXTRA_MATRICES,
                 matrices_note=f"{args.seeds} for the seeds, {_RUN_EXTRA_MATRICES} for their mean as JSON")
    uri = store.resolve_tracking_uri(args.tracking_uri)
    store.check_tracking_uri(uri)
    # Built once, now, so a dataset problem shows before any training; the training uses it, and MLflow
    # gets what ran (its task count, classes per task, scenario), not the placeholders.
    built = build_stream(target.bench_name, target.bench_params)
    resolved = resolve_params(target.bench_params, built)
    to_run = Preset(learner=target.learner, params=params_obj, benchmark=target.bench_name,
                    benchmark_params=target.bench_params, seeds=args.seeds, protocol=target.protocol)
    results_store = store.SweepStore(uri)
    run_id, done = _test_run(args, target, results_store, params_obj, resolved, threads)
    # Each seed is logged as it finishes; a stopped or failed run keeps those and is closed, never left RUNNING.
    with _closed_on_error(lambda status, reason: results_store.finish_test_run(run_id, status=status,
                                                                                reason=reason)):
        # Every seed still to run trains on each task the protocol reports on.
        with _Progress(total=(args.seeds - len(done)) * target.protocol.reporting_stream(built).n_tasks) as progress:
            result = run_preset(to_run, seeds=args.seeds, device=args.device, on_task=progress.update, stream=built,
                                on_seed=lambda seed, r: results_store.log_test_seed(run_id, seed, r), done=done)
        results_store.finish_test_run(run_id, metrics=result.metrics, matrix=result.matrix,
                                      tags={"reported_tasks": result.reported_tasks})
    _print_run(args, target, result, run_id, uri)
    return EXIT_OK


def _test_run(args: argparse.Namespace, target: _RunTarget, results_store: Any, params_obj: Any, resolved: Any,
              threads: int) -> tuple[str, dict[int, dict[str, Any]]]:
    """The MLflow run of ``synaptune run``, before anything trains: a stopped one of the same settings reopened
    (``--resume``, ``--resume-if-possible``) with the seeds it finished, else a new one (RUNNING) with none."""
    from synaptune.hpo import store

    tags = {"learner": target.learner, "benchmark": target.bench_name}
    if target.preset is not None:
        tags["preset"] = str(args.preset)
        tags.update({f"source.{k}": str(v) for k, v in target.preset.provenance.items()
                     if k in ("run_id", "experiment")})
    if target.tuned_elsewhere:
        tags.update({"other_stream": "true", "preset_tuned_on": target.tuned_elsewhere})
    # A readable name in the MLflow UI: `split-digits/ewc seeds 0-4`, `ewc seeds 0`.
    label = _preset_label(args.preset) if target.preset is not None else target.learner
    params = {**store.flat(store.LEARNER_PREFIX, dataclasses.asdict(params_obj)), "learner": target.learner,
              "benchmark": target.bench_name, "seeds": args.seeds, "threads": threads,
              **target.protocol.as_params(), **store.flat("benchmark/", dataclasses.asdict(resolved))}
    key = store.settings_key({"label": label, "params": params})
    if args.resume or args.resume_if_possible:
        run_id = results_store.reopen_stopped(args.experiment, "run", key)
        if run_id is not None:
            done = results_store.test_seeds(run_id)
            logger.info("resuming run %s: %d of %d seeds finished before and are kept; training the other %d",
                        run_id, len(done), args.seeds, args.seeds - len(done))
            return run_id, done
        if args.resume:
            raise ConfigError(f"nothing to resume: experiment `{args.experiment}` holds no stopped run of "
                              f"{label} with these settings (parameters, stream, seeds, protocol, threads); run "
                              "without --resume to start it.")
    return results_store.start_test_run(args.experiment, params=params, tags={**tags, store.RESUME_KEY: key},
                                        name=store.seeds_run_name([label], args.seeds)), {}


@contextlib.contextmanager
def _closed_on_error(close: Any) -> Iterator[None]:
    """Ends a run opened before the block if the block does not finish: ``close(status, reason)`` with KILLED
    and ``terminated`` (SIGTERM) or ``interrupted`` (Ctrl-C), or FAILED and the error's first line; re-raises."""
    try:
        yield
    except KeyboardInterrupt as e:
        close("KILLED", "terminated" if isinstance(e, Terminated) else "interrupted")
        raise
    except BaseException as e:
        close("FAILED", " ".join(str(e).split())[:500] or type(e).__name__)
        raise


def _preset_label(text: str) -> str:
    """How a run names a ``--preset``: a shipped preset by its name (``split-digits/ewc``), a file by its stem."""
    from synaptune.hpo.presets import shipped_presets

    return text if text in shipped_presets() else Path(text).stem


def _set_overrides(items: Sequence[str]) -> dict[str, str]:
    """``--set NAME=VALUE`` flags as ``{name: value}`` (strings; the Params class converts them).

    One parser for ``run --set`` and ``sweep --set`` (:func:`synaptune.flags.parse_assignments`).
    """
    from synaptune.flags import parse_assignments

    return parse_assignments(items, flag="--set")


@dataclasses.dataclass(frozen=True)
class _RunTarget:
    """What ``run`` trains and where: the learner and its parameters (from the preset, or none), the
    protocol and the stream. ``tuned_elsewhere`` describes the preset's own stream when it differs."""

    learner: str
    params: dict[str, Any]
    protocol: Any
    bench_name: str
    bench_params: Any
    preset: Any = None
    tuned_elsewhere: str = ""


def _run_target(args: argparse.Namespace) -> _RunTarget:
    """The target of ``run``: ``--preset`` (on the stream :mod:`synaptune.hpo.preset_stream` chooses) or
    ``--learner``."""
    from synaptune.hpo import preset_stream
    from synaptune.hpo.presets import load_preset, preset_path
    from synaptune.learners import LEARNERS
    from synaptune.protocols import Protocol

    request = _stream_request(args)
    if not args.preset:
        if not args.learner:
            raise ConfigError("give --preset FILE, or --learner NAME (with --benchmark and --set name=value).")
        LEARNERS.get(args.learner)
        chosen = preset_stream.learner_stream(request)
        return _RunTarget(args.learner, {}, Protocol(), chosen.benchmark, chosen.params)
    preset = load_preset(preset_path(args.preset))
    if args.learner and args.learner != preset.learner:
        raise ConfigError(f"--learner {args.learner} contradicts the preset's learner {preset.learner}.")
    chosen = preset_stream.preset_stream(preset, args.preset, request)
    return _RunTarget(preset.learner, dataclasses.asdict(preset.params), preset.protocol, chosen.benchmark,
                      chosen.params, preset=preset, tuned_elsewhere=chosen.tuned_elsewhere)


def _print_run(args: argparse.Namespace, target: _RunTarget, result: Any, run_id: str, uri: str) -> None:
    """The test metrics of ``run`` (a :class:`~synaptune.hpo.evaluate.PresetResult`), as JSON or as a table."""
    m, tuned_elsewhere = result.metrics, target.tuned_elsewhere
    if args.format == "json":
        print(json.dumps({"run_id": run_id, **m, "per_seed": result.per_seed, "threads": result.threads,
                          **({"preset_tuned_on_other_stream": tuned_elsewhere} if tuned_elsewhere else {})},
                         indent=2))
        return
    elsewhere = f" [preset tuned on another stream: {tuned_elsewhere}]" if tuned_elsewhere else ""
    print(f"{target.learner} on {target.bench_name}{elsewhere}, {args.seeds} seed(s), trained on train+val, "
          f"tested on test (protocol {target.protocol}, tasks {result.reported_tasks}):")
    for key in ("test/acc", "test/bwt", "test/forgetting"):
        print(f"  {key:<16} {m[key]:.4f} ± {m[key + '_std']:.4f}")
    print(f"trained with {result.threads} torch thread(s); the numbers depend on it: "
          f"--threads {result.threads} reproduces them")
    print(f"logged to MLflow run {run_id} (experiment `{args.experiment}`, {uri})")


class _Progress:
    """A tqdm bar over tasks on stderr (silent when stderr is not a terminal).

    ``total``: the tasks to train in all (e.g. seeds x tasks), so the bar shows an ETA.
    """

    def __init__(self, total: int | None = None) -> None:
        self.bar: Any = None
        self.total = total

    def __enter__(self) -> _Progress:
        return self

    def update(self, seed_index: int, tasks_done: int, *, label: str = "") -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(desc="tasks", unit="task", total=self.total, file=sys.stderr,
                            disable=not sys.stderr.isatty())
        if tasks_done == 1:
            self.bar.set_description(f"{label + ' ' if label else ''}seed {seed_index}")
        self.bar.update(1)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_env(args: argparse.Namespace) -> int:
    import importlib.metadata as md
    import platform

    import torch

    print(f"{'synaptune':<12} {__version__}")
    print(f"{'python':<12} {platform.python_version()}")
    for pkg in ("torch", "torchvision", "ray", "optuna", "mlflow", "numpy"):
        try:
            print(f"{pkg:<12} {md.version(pkg)}")
        except md.PackageNotFoundError:
            print(f"{pkg:<12} not installed")
    print(f"{'cuda':<12} {torch.version.cuda or 'none'} (available: {torch.cuda.is_available()})")
    for i in range(torch.cuda.device_count()):
        print(f"{f'gpu {i}':<12} {torch.cuda.get_device_name(i)}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from synaptune.hpo import store
    from synaptune.hpo.report import write_report

    index = write_report(store.resolve_tracking_uri(args.tracking_uri), args.experiment, args.output,
                         metric=args.metric)
    print(f"report of `{args.experiment}`: {index} (open it in a browser; no server needed)")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from synaptune.hpo import doctor, store

    checks = doctor.run_checks(tracking_uri=store.resolve_tracking_uri(args.tracking_uri),
                               address=args.address, storage=args.storage, study_storage=args.study_storage)
    for check in checks:
        print(f"{'ok' if check.ok else 'FAIL':<5} {check.name:<10} {check.detail}")
    failed = [c.name for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)} of {len(checks)} checks passed"
          + (f"; fix: {', '.join(failed)}" if failed else ""))
    return EXIT_FAILURE if failed else EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    import signal

    from synaptune.hpo import store

    plan = _compare_plan(args)
    results_store = store.SweepStore(plan.uri)
    # Ctrl-C and SIGTERM are held back while the parent run is created or reopened, then land inside the
    # try: a parent that exists is always closed (KILLED, FAILED or FINISHED), never left RUNNING.
    stops = {signal.SIGINT, signal.SIGTERM}
    held = hasattr(signal, "pthread_sigmask")
    if held:
        signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    try:
        parent_id, done = _comparison_parent(args, plan, results_store)
    except BaseException:
        if held:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
        raise
    try:
        if held:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
        rows, files, out, title = _run_comparison(args, plan, results_store, parent_id, done)
    except KeyboardInterrupt as e:
        results_store.finish_comparison(parent_id, status="KILLED", reason="terminated (SIGTERM)"
                                        if isinstance(e, Terminated) else "interrupted (Ctrl-C)")
        raise
    except BaseException as e:
        results_store.finish_comparison(parent_id, status="FAILED", reason=" ".join(str(e).split())[:500])
        raise
    results_store.finish_comparison(parent_id)
    if args.format == "json":
        print(json.dumps({"parent_run_id": parent_id, "rows": [dataclasses.asdict(r) for r in rows]}, indent=2))
        return EXIT_OK
    from synaptune.hpo import compare

    print(f"compared on {title}")
    print("test metrics: mean ± population std over runs; `vs best`: the ACC difference to the best entry, "
          "beyond the spread when larger than the sum of both stds")
    print(compare.format_table(rows))
    for label, described in plan.elsewhere.items():
        if described:
            print(f"note: {label} was tuned on another stream: {described}")
    print(f"figure and table: {files['png']} ({out}); MLflow: experiment `{args.experiment}`, run {parent_id} "
          f"({plan.uri})")
    return EXIT_OK


@dataclasses.dataclass(frozen=True)
class _ComparePlan:
    """What ``compare`` runs, checked before anything trains."""

    entries: list[Any]
    protocol: Any
    bench_name: str
    bench_params: Any
    elsewhere: dict[str, str]  # entry label -> the other stream it was tuned on ("" if its own)
    tasks: int  # tasks reported per run
    scenario: str  # the stream's: class-il, task-il or domain-il
    uri: str
    params: dict[str, Any]  # the parent run's MLflow params
    key: str  # what --resume matches: a digest of the params and every entry's learner, parameters and source


def _compare_plan(args: argparse.Namespace) -> _ComparePlan:
    """Every entry, override, stream, memory need and output folder of ``compare`` checked."""
    from synaptune.benchmarks import build_stream, resolve_params
    from synaptune.benchmarks.streams import check_memory, outline
    from synaptune.hpo import compare, preset_stream, store
    from synaptune.hpo.presets import check_writable_folder
    from synaptune.runner import check_device
    from synaptune.threads import training_threads, use_threads

    for flag, value in (("--seeds", args.seeds), ("--task-orders", args.task_orders),
                        ("--threads", 1 if args.threads is None else args.threads)):
        if value < 1:
            raise ConfigError(f"{flag} must be at least 1, got {value}.")
    check_device(args.device)
    entries = [compare.parse_entry(text) for text in args.entries]
    compare.check_labels(entries)
    overrides = _set_overrides(args.fixed_params)
    compare.check_overrides(entries, overrides)
    entries = [compare.with_overrides(e, overrides) for e in entries]
    protocol = compare.common_protocol(entries)
    chosen, elsewhere = preset_stream.comparison_stream(
        [(e.label, e.preset) for e in entries if e.preset is not None], _stream_request(args))
    bench_name, bench_params = chosen.benchmark, chosen.params
    runs = args.seeds * args.task_orders
    check_memory(outline(bench_name, bench_params), matrices=runs * len(entries) + _RUN_EXTRA_MATRICES,
                 matrices_note=f"{runs * len(entries)} for the runs, {_RUN_EXTRA_MATRICES} for JSON copies")
    uri = store.resolve_tracking_uri(args.tracking_uri)
    store.check_tracking_uri(uri)
    if args.output:
        check_writable_folder(args.output)
    stream = build_stream(bench_name, bench_params)  # a dataset problem shows before any training
    threads = training_threads(requested=args.threads)
    use_threads(threads)
    # MLflow gets the stream that runs (its task count, classes per task, scenario), not the placeholders;
    # task order o runs on benchmark seed S + o, S the one logged.
    params = {"benchmark": bench_name, "seeds": args.seeds, "task_orders": args.task_orders, "threads": threads,
              **protocol.as_params(), "entries": " | ".join(e.label for e in entries),
              **store.flat("benchmark/", dataclasses.asdict(resolve_params(bench_params, stream)))}
    return _ComparePlan(entries=entries, protocol=protocol, bench_name=bench_name, bench_params=bench_params,
                        elsewhere=elsewhere, tasks=protocol.reporting_stream(stream).n_tasks,
                        scenario=stream.scenario, uri=uri, params=params,
                        key=compare.comparison_key(params, entries))


def _comparison_parent(args: argparse.Namespace, plan: _ComparePlan,
                       results_store: Any) -> tuple[str, dict[tuple[str, int, int], dict[str, Any]]]:
    """The comparison's parent run: a stopped one reopened (``--resume``, ``--resume-if-possible``) with the
    runs it finished, else a new one with none."""
    from synaptune.hpo import store

    if args.resume or args.resume_if_possible:
        parent_id = results_store.reopen_stopped(args.experiment, "compare", plan.key)
        if parent_id is not None:
            done = results_store.comparison_runs(parent_id)
            total = len(plan.entries) * args.seeds * args.task_orders
            logger.info("resuming comparison run %s: %d of %d runs finished before and are kept; training the "
                        "other %d", parent_id, len(done), total, total - len(done))
            return parent_id, done
        if args.resume:
            raise ConfigError(f"nothing to resume: experiment `{args.experiment}` at {plan.uri} holds no stopped "
                              "comparison of these entries with these settings (stream, seeds, task orders, "
                              "protocol, threads); run without --resume to start it.")
    name = store.seeds_run_name([e.label for e in plan.entries], args.seeds, task_orders=args.task_orders)
    return results_store.start_comparison(args.experiment, params=plan.params, name=name, tags={
        "benchmark": plan.bench_name, store.RESUME_KEY: plan.key}), {}


def _run_comparison(args: argparse.Namespace, plan: _ComparePlan, results_store: Any, parent_id: str,
                    done: dict[tuple[str, int, int], dict[str, Any]]) -> tuple[list[Any], dict[str, Path], Path, str]:
    """Trains every entry (but the runs ``done`` before), logs a nested run per entry and seed as soon as it
    has finished, writes the table and figure."""
    from synaptune.hpo import compare, store

    def log(entry: Any, run: dict[str, Any]) -> None:
        other = plan.elsewhere.get(entry.label)
        results_store.log_comparison_run(
            args.experiment, parent_id, name=f"{entry.label} seed {run['seed']}"
            + (f" order {run['order']}" if args.task_orders > 1 else ""),
            params={**store.flat(store.LEARNER_PREFIX, dataclasses.asdict(entry.params)),
                    "learner": entry.learner, "entry": entry.label, "source": entry.source,
                    "seed": run["seed"], "task_order": run["order"], "benchmark": plan.bench_name},
            metrics={m: run[m] for m in compare.RUN_METRICS},
            acc_seen=compare.acc_seen(run["matrix"]), matrix=run["matrix"],
            tags={"entry": entry.label, **({"other_stream": "true", "preset_tuned_on": other} if other else {})})

    to_train = len(plan.entries) * args.seeds * args.task_orders - len(done)
    with _Progress(total=to_train * plan.tasks) as progress:
        results = compare.run_comparison(
            plan.entries, plan.bench_name, plan.bench_params, protocol=plan.protocol, seeds=args.seeds,
            task_orders=args.task_orders, device=args.device, on_run=log, done=done,
            on_task=lambda label, run, tasks: progress.update(run, tasks, label=label))
    rows = compare.table_rows(results)
    out = Path(args.output or Path("synaptune-compare") / parent_id)
    title = (f"{plan.bench_name} ({plan.scenario}), {plan.tasks} tasks, protocol {plan.protocol}, {args.seeds} seed(s) x "
             f"{args.task_orders} task order(s), {plan.params['threads']} torch thread(s); MLflow run {parent_id}")
    files = compare.write_outputs(results, rows, out, title=title)
    results_store.log_artifacts(parent_id, out)
    return rows, files, out, title


def cmd_presets(args: argparse.Namespace) -> int:
    from synaptune.hpo.leaderboard import leaderboard_markdown, presets_table

    if args.format == "markdown":
        print(leaderboard_markdown(), end="")
    else:
        print(presets_table(benchmark=args.benchmark), end="")
    return EXIT_OK


def check_experiment_name(args: argparse.Namespace) -> None:
    """Refuse an empty or blank ``--experiment`` (MLflow would fail on it, or no sweep has that name)."""
    name = getattr(args, "experiment", None)
    if name is None or name.strip():
        return
    fix = ("a sweep's name, as `synaptune sweep` printed it" if args.command in ("best", "export", "report")
           else f"a name for the MLflow experiment of the results, or leave --experiment out for synaptune-{args.command}")
    raise ConfigError(f"--experiment {name!r} is {'blank' if name else 'empty'}: give {fix}.")


HANDLERS = {"compare": cmd_compare, "presets": cmd_presets, "list": cmd_list, "space": cmd_space, "sweep": cmd_sweep, "best": cmd_best,
            "export": cmd_export, "run": cmd_run, "env": cmd_env, "report": cmd_report,
            "doctor": cmd_doctor}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # as given: an interrupted sweep prints it back with --resume
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr, format="%(message)s")
    for noisy in ("ray", "mlflow", "alembic", "optuna", "filelock", "urllib3"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # MLflow sets its own logger's level when it is first imported (later, lazily),
    # undoing the line above unless told through its environment variable.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", logging.getLevelName(max(level, logging.WARNING)))
    previous_sigterm = stop_on_sigterm()  # SIGTERM (a cluster's stop) ends a command as Ctrl-C does
    try:
        check_experiment_name(args)
        return HANDLERS[args.command](args)
    except SynaptuneError as e:
        if args.debug:
            raise
        # One line, even when the message quotes a multi-line one (e.g. a YAML parser's).
        message = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
        print(f"synaptune: error: {message}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        terminated = isinstance(e, Terminated)
        what = {"sweep": "; continue the sweep with the same command and --resume",
                "run": "; its MLflow run is marked KILLED and keeps the seeds that finished",
                "compare": "; its MLflow parent run is marked KILLED and keeps the runs that finished: the same "
                           "command with --resume runs only the rest",
                }.get(args.command, "")
        print(f"synaptune: {'terminated (SIGTERM)' if terminated else 'interrupted'}{what}", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    finally:
        restore_sigterm(previous_sigterm)


if __name__ == "__main__":
    sys.exit(main())

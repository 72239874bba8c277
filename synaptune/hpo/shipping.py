# SPDX-License-Identifier: MIT
"""Make a shipped preset: sweep, pick with cost in view, test over seeds, write it with its provenance.

::

    python -m synaptune.hpo.shipping --learner naive --benchmark split-fashion-mnist \\
        --data-dir /usr/share/datasets/fashion-mnist --protocol first-tasks:3 --trials 12 \\
        --work /tmp/ship

runs, through the real ``synaptune`` command (so it is tuned exactly as a user would tune it):

1. ``synaptune sweep`` with the given budget (results and MLflow in ``--work``);
2. the pick: of the completed trials whose objective is within the best one's standard
   error, the one with the fewest training seconds (on a Pareto front of objective vs
   cost, the cheapest point no worse than the best within its noise);
3. the transfer check: the pick and the learner's defaults (what a sweep starts from) both
   ``synaptune run`` on every task of streams of the same shape the sweep never saw
   (``--benchmark-seed`` 1 and 2: other class orders / permutations), 3 seeds each; the pick
   ships only if it beats the defaults there beyond noise, else the defaults ship, labelled
   "tuning found nothing better" (:func:`transfer_verdict`);
4. ``synaptune run --preset <the one that ships> --seeds 5 --threads 1`` on the test data;
5. ``synaptune/presets/<stream>/<learner>.yaml`` (``<stream>``: the benchmark, with
   ``-<scenario>`` when not its default scenario): the preset, its ``transfer`` and ``test``
   results and a ``provenance`` section (version, commit, sweep, space, trials by status,
   budget, how it was picked, the machine).

``--from-preset PRESET`` skips steps 1-2 (a pick made before: steps 3-5 check it);
``--baseline`` skips steps 1-3 and ships the learner's defaults as a baseline row (naive
fine-tuning, joint training), labelled so. Every run uses 1 torch thread (:data:`THREADS`).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import synaptune
from synaptune.benchmarks.params import BenchmarkParams
from synaptune.flags import add_flags, given
from synaptune.hpo import store
from synaptune.hpo.config import SweepConfig
from synaptune.hpo.presets import (DATA_DIR, SHIPPED_DIR, Preset, load_preset, machine_text, preset_from_record,
                                   portable_command, preset_path, source_commit, sweep_provenance,
                                   write_preset)
from synaptune.searchspaces.space import SearchSpace, load_space

#: Seeds of a shipped preset's test result.
TEST_SEEDS = 5
#: The transfer streams: the tuning stream's shape with other class orders / permutations
#: (``--benchmark-seed``; the sweep tunes on seed 0, else see :func:`transfer_seeds`), every task, test data ...
TRANSFER_BENCHMARK_SEEDS = (1, 2)
#: ... each run on this many seeds, by the pick and by the learner's defaults.
TRANSFER_SEEDS = 3
#: Torch threads of every shipping run (the numbers depend on them; 1 reproduces on any machine).
THREADS = 1


def pick_cheapest_within_noise(records: list[store.TrialRecord]) -> tuple[store.TrialRecord, store.TrialRecord]:
    """``(pick, best)``: the best completed trial by objective, and the completed trial with the fewest
    training seconds whose objective is at least the best's minus its standard error.

    Raises:
        ValueError: no completed trial with a finite objective.
    """
    ranked = store.rank(records, "objective", "max")
    if not ranked:
        raise ValueError("no completed trial with a finite objective")
    best = ranked[0]
    floor = best.value("objective") - (best.standard_error("objective") or 0.0)  # type: ignore[operator]
    near = [r for r in ranked if r.value("objective") >= floor]  # type: ignore[operator]
    pick = min(near, key=lambda r: (r.value("train_seconds") or float("inf"), -r.value("objective")))  # type: ignore[operator]
    return pick, best


def stream_folder(benchmark: str, scenario: str) -> str:
    """The folder name of a shipped preset's stream: the benchmark, ``-<scenario>`` unless its default."""
    from synaptune.benchmarks.streams import outline
    from synaptune.benchmarks import BenchmarkParams

    default = outline(benchmark, BenchmarkParams()).scenario
    return benchmark if not scenario or scenario == default else f"{benchmark}-{scenario}"


def _synaptune(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``synaptune ARGS`` in a subprocess (stdout captured; with ``check``, exit on failure)."""
    cmd = [sys.executable, "-m", "synaptune", *args]
    print("$ " + shlex.join(["synaptune", *args]), file=sys.stderr, flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None if check else subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise SystemExit(f"`synaptune {args[0]}` failed with exit {r.returncode}:\n{r.stdout[-3000:]}")
    return r


def defaults_preset(preset: Preset, space: SearchSpace) -> Preset:
    """``preset`` with the learner's defaults in place of its params: the values a sweep over ``space``
    starts from (the Params defaults, the space's ``fixed`` values and ``--set`` applied), same stream."""
    return dataclasses.replace(preset, params=space.build({}), objective={}, test={}, transfer={},
                               provenance={"experiment": preset.provenance.get("experiment"),
                                           "synaptune_version": preset.provenance.get("synaptune_version"),
                                           "params": "the learner's defaults (no tuning)"})


def _data_flags(data_dir: str | None) -> list[str]:
    """``--data-dir DIR`` for the runs (a preset holds no data_dir: where the data live is this machine's)."""
    return ["--data-dir", data_dir] if data_dir else []


def _accuracies(preset_path: Path, uri: str, experiment: str, *, benchmark_seed: int, seeds: int,
                data_dir: str | None = None) -> list[float] | str:
    """Test ACC of each seed of ``synaptune run`` on the stream of ``benchmark_seed``, or why it failed
    (a run that diverges ends with an error: the configuration failed there)."""
    r = _synaptune("run", "--preset", str(preset_path), "--benchmark-seed", str(benchmark_seed), "--seeds",
                   str(seeds), "--threads", str(THREADS), "--format", "json", "--tracking-uri", uri,
                   "--experiment", experiment, *_data_flags(data_dir), check=False)
    if r.returncode != 0:
        lines = (r.stderr or r.stdout).strip().splitlines() or [f"exit {r.returncode}"]
        return lines[-1]
    return [s["test/acc"] for s in json.loads(r.stdout)["per_seed"]]


def mean_and_standard_error(values: list[float]) -> tuple[float, float]:
    """The mean of ``values`` and its standard error (sample std / sqrt(n); 0 for one value)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def transfer_seeds(tuning_seed: int) -> tuple[int, ...]:
    """The benchmark seeds of the transfer streams: :data:`TRANSFER_BENCHMARK_SEEDS`, or as many others
    when the sweep tuned on one of them (a transfer stream is one the sweep never saw)."""
    n = len(TRANSFER_BENCHMARK_SEEDS)
    if tuning_seed not in TRANSFER_BENCHMARK_SEEDS:
        return TRANSFER_BENCHMARK_SEEDS
    return tuple(s for s in range(n + 2) if s != tuning_seed)[:n]


def transfer_check(pick: Path, defaults: Path, uri: str, name: str, *, data_dir: str | None = None,
                   benchmark_seeds: tuple[int, ...] = TRANSFER_BENCHMARK_SEEDS,
                   seeds: int = TRANSFER_SEEDS) -> dict[str, Any]:
    """Run the pick and the defaults on each transfer stream over ``seeds`` seeds; which of them ships.

    The pick ships only if its mean test ACC over every (stream, seed) beats the defaults' beyond noise
    (:func:`~synaptune.hpo.records.difference_within_noise`, each side's standard error); otherwise the
    defaults ship, labelled "tuning found nothing better". A configuration that fails on a stream
    (diverges) has no mean: a failed pick never ships, failed defaults lose to a pick that ran.
    """
    sides: dict[str, dict[str, Any]] = {}
    for side, path in (("pick", pick), ("defaults", defaults)):
        per_stream, failed = {}, None
        for b in benchmark_seeds:
            got = _accuracies(path, uri, f"{name}-transfer", benchmark_seed=b, seeds=seeds, data_dir=data_dir)
            if isinstance(got, str):
                failed = f"benchmark seed {b}: {got}"
                break
            per_stream[b] = [round(a, 5) for a in got]
        runs = [a for accs in per_stream.values() for a in accs]
        if failed is not None:
            sides[side] = {"failed": failed}
        else:
            mean, se = mean_and_standard_error(runs)
            sides[side] = {"acc": round(mean, 5), "acc_se": round(se, 5), "runs": len(runs),
                           "per_stream": per_stream}
    return {"streams": f"--benchmark-seed {', '.join(map(str, benchmark_seeds))} (class orders / permutations "
                       "the sweep never saw), every task, test data",
            "seeds": seeds, "threads": THREADS, "pick": sides["pick"], "defaults": sides["defaults"],
            **transfer_verdict(sides["pick"], sides["defaults"])}


def transfer_verdict(pick: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``{ships, why}`` (and ``margin``, ``noise`` when both ran) from each side's ``{acc, acc_se}`` or
    ``{failed}`` on the transfer streams: the pick ships only if it beats the defaults beyond noise."""
    from synaptune.hpo.records import difference_within_noise, noise_of_difference

    if "failed" in pick:
        return {"ships": "defaults", "why": "the pick failed on a transfer stream"}
    if "failed" in defaults:
        return {"ships": "pick", "why": "the defaults failed on a transfer stream"}
    margin = pick["acc"] - defaults["acc"]
    beats = margin > 0 and not difference_within_noise(margin, pick["acc_se"], defaults["acc_se"])
    return {"margin": round(margin, 5), "noise": round(noise_of_difference(pick["acc_se"], defaults["acc_se"]), 5),
            "ships": "pick" if beats else "defaults",
            "why": ("the pick beats the defaults beyond noise" if beats else
                    "tuning found nothing better: the pick does not beat the defaults beyond noise")}


def _bench(args: argparse.Namespace) -> dict[str, Any]:
    """The benchmark flags given (:class:`BenchmarkParams` fields)."""
    return given(args, BenchmarkParams, dest_prefix="benchmark_")


def _sweep_command(args: argparse.Namespace, name: str, work: Path, uri: str) -> list[str]:
    """The ``synaptune sweep`` arguments of step 1."""
    given_bench = _bench(args)
    bench = [*(["--scenario", given_bench["scenario"]] if given_bench.get("scenario") else []),
             *(["--n-tasks", str(given_bench["n_tasks"])] if given_bench.get("n_tasks") else []),
             *(["--data-dir", given_bench["data_dir"]] if given_bench.get("data_dir") else [])]
    sets = [x for item in args.fixed_params for x in ("--set", item)]
    sweep = ["sweep", "--learner", args.learner, "--benchmark", args.benchmark, *bench, "--protocol", args.protocol,
             "--trials", str(args.trials), "--concurrency", str(args.concurrency), "--num-cpus", str(args.num_cpus),
             "--seeds", str(args.seeds), "--aggregate", args.aggregate,
             *(["--space", args.space_file] if args.space_file else []), *sets,
             *(["--time-budget", str(args.time_budget_s)] if args.time_budget_s else []),
             "--name", name, "--storage", str(work / "results"), "--tracking-uri", uri,
             *(["--resume-if-possible"] if args.resume else [])]
    return sweep


def _test_result(candidate: Path, uri: str, name: str, *, shipped_name: str,
                 data_dir: str | None = None) -> dict[str, Any]:
    """Step 3: the preset's test section from ``synaptune run --seeds TEST_SEEDS``."""
    out = _synaptune("run", "--preset", str(candidate), "--seeds", str(TEST_SEEDS), "--threads", str(THREADS),
                     "--format", "json", "--tracking-uri", uri, "--experiment", f"{name}-test",
                     *_data_flags(data_dir))
    result = json.loads(out.stdout)
    per_seed = result["per_seed"]
    return {"seeds": TEST_SEEDS, "acc": result["test/acc"], "acc_std": result["test/acc_std"],
            "bwt": result["test/bwt"], "forgetting": result["test/forgetting"],
            "train_seconds": sum(s["train_seconds"] for s in per_seed) / len(per_seed),
            "state_bytes": per_seed[0]["state_bytes"], "threads": result["threads"],
            "command": f"synaptune run --preset {shipped_name} --seeds {TEST_SEEDS} --threads {result['threads']}"
                       + (f" --data-dir {DATA_DIR}" if data_dir else "")}


def _sweep_and_pick(args: argparse.Namespace, name: str, work: Path, uri: str) -> tuple[Preset, dict[str, Any]]:
    """Steps 1-2: the sweep, and its pick as a preset with the sweep's provenance (as ``export`` writes it)."""
    _synaptune(*_sweep_command(args, name, work, uri))
    results = store.SweepStore(uri)
    records = results.records(name)
    pick, best = pick_cheapest_within_noise(records)
    preset = preset_from_record(pick, tracking_uri=uri, metric="objective", mode="max")
    picked = (f"the fewest train_seconds among completed trials with objective >= best - its standard error "
              f"(best: {best.value('objective'):.4f} ± {best.standard_error('objective') or 0:.4f}, "
              f"run {best.run_id}; picked {pick.value('objective'):.4f}, run {pick.run_id})")
    sweep = results.sweep_of(pick)
    provenance = {**preset.provenance, "tracking_uri": "(the shipping machine's)",
                  **sweep_provenance(sweep, results.records(name, parent_id=sweep.run_id), picked=picked)}
    return preset, provenance


def baseline_preset(learner: str, benchmark: str, params: BenchmarkParams, space: SearchSpace) -> Preset:
    """The learner's defaults (``space``'s fixed values applied) on ``benchmark`` as a preset: a baseline
    row of the leaderboard (naive fine-tuning, joint training), with the stream's options resolved."""
    from synaptune.benchmarks.streams import outline

    shape = outline(benchmark, params)
    resolved = dataclasses.replace(params, n_tasks=shape.n_tasks, scenario=shape.scenario,
                                   classes_per_task=shape.classes_per_task)
    return Preset(learner=learner, params=space.build({}), benchmark=benchmark, benchmark_params=resolved)


def _given_data_dir(preset: Preset) -> str | None:
    """The data_dir a preset read from disk still names (older presets held one), unless the default."""
    default = BenchmarkParams().data_dir
    return preset.benchmark_params.data_dir if preset.benchmark_params.data_dir != default else None


def _candidate(args: argparse.Namespace, work: Path, uri: str) -> tuple[Preset, dict[str, Any], dict[str, str]]:
    """Steps 1-2 (or what stands for them): the candidate preset, its provenance and the ``--set`` values
    it was tuned with: a sweep's pick, a pick made before (``--from-preset``) or the defaults (``--baseline``)."""
    fixed = dict(item.split("=", 1) for item in args.fixed_params)  # --set NAME=VALUE
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    if args.from_preset:  # steps 1-2 were made before: check that pick
        preset = load_preset(preset_path(args.from_preset))
        provenance = {**preset.provenance, "checked": {
            "commit": source_commit(), "machine": machine_text(), "date": now,
            "how": "python -m synaptune.hpo.shipping --from-preset: the transfer check and the test, run again "
                   "on the pick of the sweep above"}}
        if "sweep_command" in provenance:  # a preset shipped before commands were made portable
            provenance["sweep_command"] = shlex.join(portable_command(shlex.split(provenance["sweep_command"])))
        return preset, provenance, {str(k): str(v) for k, v in (preset.provenance.get("fixed_by_set") or {}).items()}
    if args.baseline:  # no sweep: the learner's defaults are the row
        preset = baseline_preset(args.learner, args.benchmark, BenchmarkParams(**_bench(args)),
                                 load_space(args.learner, args.space_file).with_fixed(fixed))
        provenance = {"synaptune_version": synaptune.__version__, "commit": source_commit(), "date": now,
                      "params": "the learner's defaults, untuned: a baseline row (--baseline)",
                      "space": args.space_file or f"synaptune/searchspaces/{args.learner}.yaml (its `fixed` values)",
                      "fixed_by_set": fixed, "machine": machine_text()}
        return preset, provenance, fixed
    folder = stream_folder(args.benchmark, _bench(args).get("scenario", ""))
    preset, provenance = _sweep_and_pick(args, f"ship-{folder}-{args.learner}", work, uri)
    return preset, provenance, fixed


def ship(args: argparse.Namespace) -> Path:
    """Steps 1-5 of the module docstring; returns the written preset's path."""
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{work}/mlflow.db"
    preset, provenance, fixed = _candidate(args, work, uri)
    learner, folder = preset.learner, stream_folder(preset.benchmark, preset.benchmark_params.scenario)
    name = f"ship-{folder}-{learner}"
    data_dir = _bench(args).get("data_dir") or _given_data_dir(preset)
    candidate = work / f"{name}.yaml"
    write_preset(preset, candidate, force=True)
    if args.test_seeds == 0:  # the caller tests it (e.g. bench/claims, through `synaptune compare`)
        print(f"picked {candidate} (objective {preset.objective.get('value', float('nan')):.4f}); "
              "not tested (--test-seeds 0)")
        return candidate
    space = load_space(learner, args.space_file).with_fixed(fixed)
    defaults = defaults_preset(preset, space)
    defaults_path = write_preset(defaults, work / f"{name}-defaults.yaml", force=True)
    if args.baseline:
        transfer = {"ships": "defaults", "baseline": True, "why": "a baseline row: the learner's defaults, not tuned"}
    else:
        transfer = transfer_check(candidate, defaults_path, uri, name, data_dir=data_dir,
                                  benchmark_seeds=transfer_seeds(preset.benchmark_params.seed))
    winner, winner_path = (preset, candidate) if transfer["ships"] == "pick" else (defaults, defaults_path)
    test = _test_result(winner_path, uri, name, shipped_name=f"{folder}/{learner}", data_dir=data_dir)
    if transfer["ships"] == "defaults" and not args.baseline:
        provenance = {**provenance, "params": f"the learner's defaults: {transfer['why']} (see `transfer`)"}
    final = dataclasses.replace(winner, objective=preset.objective if winner is preset else {},
                                provenance=provenance, test=test, transfer=transfer)
    target = Path(args.out) / folder / f"{learner}.yaml"
    path = write_preset(final, target, force=True)
    load_preset(path)  # what was written reads back
    print(f"wrote {path} ({transfer['ships']} ships: {transfer['why']}): test ACC {test['acc']:.4f} ± "
          f"{test['acc_std']:.4f} over {TEST_SEEDS} seeds, {test['train_seconds']:.1f} s per seed")
    return path


#: The sweep's budget and protocol when shipping: the flags' defaults here, in place of ``synaptune sweep``'s.
#: Each trial runs 3 seeds and scores their mean minus their spread: a pick whose seeds disagree (EWC's
#: Adam corner: 0.94 on one seed, 0.51 on another) ranks below a steady one.
SHIPPING_DEFAULTS = {"protocol": "first-tasks:3", "trials": 12, "concurrency": 2, "num_cpus": 2, "seeds": 3,
                     "aggregate": "mean-minus-std"}


def build_parser() -> argparse.ArgumentParser:
    """The flags: the sweep's own (from :class:`SweepConfig` and :class:`BenchmarkParams`, with
    :data:`SHIPPING_DEFAULTS`), passed on to ``synaptune sweep``, and the shipping steps' own."""
    p = argparse.ArgumentParser(prog="python -m synaptune.hpo.shipping", description=__doc__.splitlines()[0])
    add_flags(p, SweepConfig, names=("learner", "benchmark"), defaults={"learner": None, "benchmark": None},
              helps={"learner": "learner to tune (with --benchmark; or give --from-preset)",
                     "benchmark": "the tuning stream (with --learner; or give --from-preset)"})
    add_flags(p.add_argument_group("benchmark options (passed on to the sweep)"), BenchmarkParams,
              names=("scenario", "n_tasks", "data_dir"), dest_prefix="benchmark_", only_given=True)
    add_flags(p, SweepConfig, names=("protocol", "trials", "concurrency", "num_cpus", "seeds", "aggregate",
                                     "time_budget_s", "space_file", "fixed_params", "resume"),
              defaults=SHIPPING_DEFAULTS, helps={"trials": "trials of the sweep", "num_cpus": "CPUs of the sweep's local Ray",
                                                 "resume": "continue an interrupted sweep in --work"})
    p.add_argument("--from-preset", metavar="PRESET",
                   help="skip the sweep: check this preset's pick (a file or a shipped name) against the "
                        "defaults, test and write the one that ships")
    p.add_argument("--baseline", action="store_true",
                   help="no sweep: ship the learner's defaults as a baseline row (naive, joint) of the stream")
    p.add_argument("--work", required=True, help="folder for the sweep's results and MLflow database")
    p.add_argument("--out", default=str(SHIPPED_DIR), help="presets folder (default: the package's)")
    p.add_argument("--test-seeds", type=int, default=TEST_SEEDS, choices=(0, TEST_SEEDS),
                   help=f"{TEST_SEEDS}: test the pick and write it with its result; 0: stop after the pick")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.from_preset and not (args.learner and args.benchmark):
        parser.error("give --learner and --benchmark (a sweep, or with --baseline its defaults), or --from-preset "
                     "PRESET")
    if args.from_preset and args.baseline:
        parser.error("--baseline ships a learner's defaults, --from-preset checks a pick made before: give one")
    ship(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

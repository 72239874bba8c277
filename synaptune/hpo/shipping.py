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
3. ``synaptune run --preset <pick> --seeds 5`` on the test data;
4. ``synaptune/presets/<stream>/<learner>.yaml`` (``<stream>``: the benchmark, with
   ``-<scenario>`` when not its default scenario): the preset, its ``test`` result and a
   ``provenance`` section (version, commit, sweep, space, trials by status, budget, how it
   was picked, the machine).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from synaptune.benchmarks.params import BenchmarkParams
from synaptune.flags import add_flags, given
from synaptune.hpo import store
from synaptune.hpo.config import SweepConfig
from synaptune.hpo.presets import SHIPPED_DIR, load_preset, preset_from_record, write_preset

#: Seeds of a shipped preset's test result.
TEST_SEEDS = 5


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


def _commit() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def _synaptune(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "synaptune", *args]
    print("$ " + shlex.join(["synaptune", *args]), file=sys.stderr, flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"`synaptune {args[0]}` failed with exit {r.returncode}:\n{r.stdout[-3000:]}")
    return r


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
             *(["--space", args.space_file] if args.space_file else []), *sets,
             *(["--time-budget", str(args.time_budget_s)] if args.time_budget_s else []),
             "--name", name, "--storage", str(work / "results"), "--tracking-uri", uri,
             *(["--resume-if-possible"] if args.resume else [])]
    return sweep


def _test_result(candidate: Path, uri: str, name: str, *, shipped_name: str) -> dict[str, Any]:
    """Step 3: the preset's test section from ``synaptune run --seeds TEST_SEEDS``."""
    out = _synaptune("run", "--preset", str(candidate), "--seeds", str(TEST_SEEDS), "--format", "json",
                     "--tracking-uri", uri, "--experiment", f"{name}-test")
    result = json.loads(out.stdout)
    per_seed = result["per_seed"]
    return {"seeds": TEST_SEEDS, "acc": result["test/acc"], "acc_std": result["test/acc_std"],
            "bwt": result["test/bwt"], "forgetting": result["test/forgetting"],
            "train_seconds": sum(s["train_seconds"] for s in per_seed) / len(per_seed),
            "state_bytes": per_seed[0]["state_bytes"], "threads": result["threads"],
            "command": f"synaptune run --preset {shipped_name} --seeds {TEST_SEEDS} --threads {result['threads']}"}


def ship(args: argparse.Namespace) -> Path:
    """Steps 1-4 of the module docstring; returns the written preset's path."""
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{work}/mlflow.db"
    folder = stream_folder(args.benchmark, _bench(args).get("scenario", ""))
    name = f"ship-{folder}-{args.learner}"
    sweep = _sweep_command(args, name, work, uri)
    start = time.perf_counter()
    _synaptune(*sweep)
    sweep_seconds = time.perf_counter() - start
    records = store.SweepStore(uri).records(name)
    pick, best = pick_cheapest_within_noise(records)
    preset = preset_from_record(pick, tracking_uri=uri, metric="objective", mode="max")
    candidate = work / f"{name}.yaml"
    write_preset(preset, candidate, force=True)
    if args.test_seeds == 0:  # the caller tests it (e.g. bench/claims, through `synaptune compare`)
        print(f"picked {candidate} (objective {pick.value('objective'):.4f}); not tested (--test-seeds 0)")
        return candidate
    test = _test_result(candidate, uri, name, shipped_name=f"{folder}/{args.learner}")
    statuses = [r.status.value for r in records]
    provenance = {
        **preset.provenance,
        "tracking_uri": "(the shipping machine's)", "commit": _commit(), "sweep": name,
        "sweep_command": shlex.join(["synaptune", *sweep]),
        "space": args.space_file or f"synaptune/searchspaces/{args.learner}.yaml (the default space)",
        "fixed_by_set": dict(item.split("=", 1) for item in args.fixed_params),
        "trials": {"asked": args.trials, **{s: statuses.count(s) for s in sorted(set(statuses))}},
        "budget": {"trials": args.trials, "sweep_seconds": round(sweep_seconds, 1),
                   "trial_train_seconds": round(sum(r.value("train_seconds") or 0.0 for r in records), 1),
                   "time_budget_s": args.time_budget_s},
        "picked": (f"the fewest train_seconds among completed trials with objective >= best - its standard error "
                   f"(best: {best.value('objective'):.4f} ± {best.standard_error('objective') or 0:.4f}, "
                   f"run {best.run_id}; picked {pick.value('objective'):.4f}, run {pick.run_id})"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}, device cpu",
    }
    final = dataclasses.replace(preset, provenance=provenance, test=test)
    target = Path(args.out) / folder / f"{args.learner}.yaml"
    path = write_preset(final, target, force=True)
    load_preset(path)  # what was written reads back
    print(f"wrote {path}: test ACC {test['acc']:.4f} ± {test['acc_std']:.4f} over {TEST_SEEDS} seeds, "
          f"{test['train_seconds']:.1f} s per seed; sweep {sweep_seconds:.0f} s")
    return path


#: The sweep's budget and protocol when shipping: the flags' defaults here, in place of ``synaptune sweep``'s.
SHIPPING_DEFAULTS = {"protocol": "first-tasks:3", "trials": 12, "concurrency": 2, "num_cpus": 2}


def build_parser() -> argparse.ArgumentParser:
    """The flags: the sweep's own (from :class:`SweepConfig` and :class:`BenchmarkParams`, with
    :data:`SHIPPING_DEFAULTS`), passed on to ``synaptune sweep``, and the shipping steps' own."""
    p = argparse.ArgumentParser(prog="python -m synaptune.hpo.shipping", description=__doc__.splitlines()[0])
    add_flags(p, SweepConfig, names=("learner", "benchmark"), required=("learner", "benchmark"))
    add_flags(p.add_argument_group("benchmark options (passed on to the sweep)"), BenchmarkParams,
              names=("scenario", "n_tasks", "data_dir"), dest_prefix="benchmark_", only_given=True)
    add_flags(p, SweepConfig, names=("protocol", "trials", "concurrency", "num_cpus", "time_budget_s", "space_file",
                                     "fixed_params", "resume"),
              defaults=SHIPPING_DEFAULTS, helps={"trials": "trials of the sweep", "num_cpus": "CPUs of the sweep's local Ray",
                                                 "resume": "continue an interrupted sweep in --work"})
    p.add_argument("--work", required=True, help="folder for the sweep's results and MLflow database")
    p.add_argument("--out", default=str(SHIPPED_DIR), help="presets folder (default: the package's)")
    p.add_argument("--test-seeds", type=int, default=TEST_SEEDS, choices=(0, TEST_SEEDS),
                   help=f"{TEST_SEEDS}: test the pick and write it with its result; 0: stop after the pick")
    return p


def main(argv: list[str] | None = None) -> int:
    ship(build_parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())

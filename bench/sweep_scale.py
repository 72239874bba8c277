# SPDX-License-Identifier: MIT
"""Driver cost of a sweep as trials grow: CPU seconds per trial, experiment-state snapshot times.

A sweep of ``--trials`` (default 1,000) near-trivial trials: ``naive`` on
``split-digits`` with the cost knobs fixed small (32 hidden units, one layer,
batches of 64, one epoch per task: about 0.1 s of training per trial), only
``lr`` sampled, ``--scheduler none``. It is :func:`synaptune.hpo.sweep.run_sweep`
itself, on local Ray (``--concurrency`` 2, ``--num-cpus`` 2) or on a cluster
(``--address``), with a SQLite MLflow store in a temporary folder.

Printed:
- driver CPU seconds per trial: this process's CPU time (all its threads: Tune's
  loop, the searcher, the MLflow logging, the snapshots) over the sweep, divided
  by the trials; and the part spent inside ``Tuner.fit`` (start-up left out, so
  that a small sweep does not look dearer for paying the imports). Baseline in the
  same run: the trials' own training time per trial, as logged (``train_seconds``);
- the targets, on the ``Tuner.fit`` figure: <= 0.1 s per trial at 1,000 trials, and
  at most 1.3x from the smallest to the largest ``--trials`` of the run;
- experiment-state snapshots: mean milliseconds of Tune's ``save_to_dir`` per
  tenth of the sweep (by trials created so far), so its growth with the trial
  count shows.

Run from the repository root, on an otherwise idle machine::

    .venv/bin/python bench/sweep_scale.py                  # 1,000 trials: about 5 minutes on 2 cores
    .venv/bin/python bench/sweep_scale.py --trials 200 1000 2000   # the growth, and the 1,000-trial target
    .venv/bin/python bench/sweep_scale.py --trials 20      # a quick look
    .venv/bin/python bench/sweep_scale.py --trials 100 --profile   # where the driver's time goes
    .venv/bin/python bench/sweep_scale.py --address HOST:6379 --concurrency 16
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

#: Issue 29's targets: driver CPU per trial in ``Tuner.fit`` at 1,000 trials, and its growth from the
#: smallest to the largest sweep of one run (200 and 2,000 trials).
TARGET_DRIVER_CPU_S = 0.1
TARGET_GROWTH = 1.3
SPACE = {"learner": "naive", "params": {"lr": {"float": [0.01, 0.5], "log": True}},
         "fixed": {"arch": "mlp", "hidden_units": 32, "hidden_layers": 1, "batch_size": 64, "epochs": 1,
                   "optimizer": "sgd"}}


def run(trials: int, concurrency: int, address: str | None, workdir: Path, profile: bool = False) -> dict[str, Any]:
    """Run the sweep in this process; returns its summary, driver CPU seconds and snapshot timings."""
    from ray.tune import Tuner
    from ray.tune.execution.tune_controller import TuneController

    from synaptune.hpo.config import SweepConfig
    from synaptune.hpo.sweep import run_sweep

    space = workdir / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE, sort_keys=False))
    cfg = SweepConfig(learner="naive", benchmark="split-digits", space_file=str(space), trials=trials,
                      concurrency=concurrency, cpus_per_trial=1.0, num_cpus=None if address else concurrency,
                      address=address, scheduler="none", storage=str(workdir / "results"), name="scale",
                      tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}", seed=0)
    snapshots: list[tuple[int, float]] = []  # (trials created so far, seconds)
    real_save, real_fit = TuneController.save_to_dir, Tuner.fit
    fit_cpu: list[float] = []

    def fit(self: Tuner) -> Any:
        cpu0 = time.process_time()
        try:
            return real_fit(self)
        finally:
            fit_cpu.append(time.process_time() - cpu0)

    def save_to_dir(self: TuneController) -> None:
        t0 = time.perf_counter()
        try:
            real_save(self)
        finally:
            snapshots.append((len(self.get_trials()), time.perf_counter() - t0))

    cwd = os.getcwd()
    os.chdir(workdir)  # MLflow puts a SQLite store's artifacts in ./mlruns
    profiler = cProfile.Profile() if profile else None
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        with mock.patch.object(TuneController, "save_to_dir", save_to_dir), \
                mock.patch.object(Tuner, "fit", fit):  # timing only
            if profiler is not None:
                profiler.enable()
            summary = run_sweep(cfg)
    finally:
        if profiler is not None:
            profiler.disable()
        os.chdir(cwd)
    if profiler is not None:  # the main thread only: Tune's loop, the searcher, the callbacks
        print("  driver profile (main thread), top 25 by cumulative time:")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return {"summary": summary, "driver_cpu_s": time.process_time() - cpu0,
            "fit_cpu_s": sum(fit_cpu), "wall_s": time.perf_counter() - wall0, "snapshots": snapshots}


def training_seconds(tracking_uri: str, experiment: str) -> list[float]:
    """Each trial's own training time (its ``train_seconds``), read back from MLflow."""
    from synaptune.hpo.store import SweepStore

    records = SweepStore(tracking_uri).records(experiment)
    return [t.metrics["train_seconds"] for t in records if "train_seconds" in t.metrics]


def report(trials: int, f: dict[str, Any], train: list[float]) -> float:
    """Print one sweep's figures; returns its driver CPU per trial inside ``Tuner.fit``."""
    counts = f["summary"].counts
    per_trial = f["driver_cpu_s"] / trials
    fit_per_trial = f["fit_cpu_s"] / trials
    print(f"  sweep: {f['wall_s']:.1f} s wall, {counts}")
    print(f"  driver CPU: {f['driver_cpu_s']:.1f} s = {per_trial:.3f} s per trial")
    print(f"    of which in Tuner.fit: {f['fit_cpu_s']:.1f} s = {fit_per_trial:.3f} s per trial (the rest: imports, "
          f"ray.init, MLflow set-up, the summary)")
    if train:
        mean_train = sum(train) / len(train)
        print(f"  trial training (baseline): {mean_train:.3f} s per trial (mean of {len(train)}): driver CPU per "
              f"trial = {per_trial / mean_train:.2f}x a trial's own training")
    snaps = f["snapshots"]
    print(f"  experiment-state snapshots: {len(snaps)}, {sum(s for _, s in snaps):.1f} s in all")
    for tenth in range(10):
        lo, hi = trials * tenth // 10, trials * (tenth + 1) // 10
        part = [s for n, s in snaps if lo < n <= hi]
        if part:
            print(f"    trials {lo + 1:>5}-{hi:<5}: {len(part):4d} snapshots, mean {1000 * sum(part) / len(part):6.1f} ms")
    return fit_per_trial


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, nargs="+", default=[1000],
                    help="one sweep per count, in this order (e.g. 200 2000: the growth between them is printed)")
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--address", default=None, help="a Ray cluster to run on (default: local Ray)")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the driver's main thread")
    args = ap.parse_args(argv)
    if min(args.trials) < 10:
        ap.error("--trials must be at least 10 (the snapshot table has ten rows)")
    per_trial: dict[int, float] = {}
    for trials in args.trials:
        print(f"sweep scale on {platform.node()}: {os.cpu_count()} CPUs, {trials} trials, "
              f"concurrency {args.concurrency}, {args.address or 'local Ray'}", flush=True)
        with tempfile.TemporaryDirectory(prefix="synaptune-scale-") as d:
            f = run(trials, args.concurrency, args.address, Path(d), args.profile)
            try:
                train = training_seconds(f"sqlite:///{d}/mlflow.db", "scale")
            except Exception as e:  # noqa: BLE001  (the baseline is optional; the driver figure stands)
                print(f"  (trial training times unreadable: {e})")
                train = []
        per_trial[trials] = report(trials, f, train)
    print("driver CPU per trial in Tuner.fit: " + ", ".join(f"{n} trials {s:.3f} s" for n, s in per_trial.items()))
    if 1000 in per_trial:
        verdict = "met" if per_trial[1000] <= TARGET_DRIVER_CPU_S else "NOT met"
        print(f"  at 1,000 trials: {per_trial[1000]:.3f} s, target <= {TARGET_DRIVER_CPU_S} s: {verdict}")
    if len(per_trial) > 1:
        small, large = min(per_trial), max(per_trial)
        growth = per_trial[large] / per_trial[small]
        verdict = "met" if growth <= TARGET_GROWTH else "NOT met"
        print(f"  growth {small} -> {large} trials: {growth:.2f}x, target <= {TARGET_GROWTH}x: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

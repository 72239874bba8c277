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

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/records.py, also when imported by a test
import records  # noqa: E402

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


def size_record(trials: int, f: dict[str, Any], train: list[float]) -> dict[str, Any]:
    """One sweep's figures, as printed and as stored by ``--record``."""
    snaps = f["snapshots"]
    tenths = []
    for tenth in range(10):
        lo, hi = trials * tenth // 10, trials * (tenth + 1) // 10
        part = [s for n, s in snaps if lo < n <= hi]
        tenths.append([lo + 1, hi, len(part), 1000 * sum(part) / len(part) if part else None])
    return {"trials": trials, "wall_s": f["wall_s"], "counts": dict(f["summary"].counts),
            "driver_cpu_s": f["driver_cpu_s"], "fit_cpu_s": f["fit_cpu_s"],
            "train_s_per_trial": sum(train) / len(train) if train else None, "trained": len(train),
            "snapshots": len(snaps), "snapshot_s": sum(s for _, s in snaps), "snapshot_tenths": tenths}


def size_lines(r: dict[str, Any]) -> list[str]:
    """The printed lines of one sweep (:func:`size_record`)."""
    n = r["trials"]
    per_trial, fit_per_trial = r["driver_cpu_s"] / n, r["fit_cpu_s"] / n
    lines = [f"  sweep: {r['wall_s']:.1f} s wall, {r['counts']}",
             f"  driver CPU: {r['driver_cpu_s']:.1f} s = {per_trial:.3f} s per trial",
             f"    of which in Tuner.fit: {r['fit_cpu_s']:.1f} s = {fit_per_trial:.3f} s per trial (the rest: "
             f"imports, ray.init, MLflow set-up, the summary)"]
    if r["train_s_per_trial"]:
        lines.append(f"  trial training (baseline): {r['train_s_per_trial']:.3f} s per trial (mean of {r['trained']}): "
                     f"driver CPU per trial = {per_trial / r['train_s_per_trial']:.2f}x a trial's own training")
    lines.append(f"  experiment-state snapshots: {r['snapshots']}, {r['snapshot_s']:.1f} s in all")
    lines += [f"    trials {lo:>5}-{hi:<5}: {k:4d} snapshots, mean {ms:6.1f} ms"
              for lo, hi, k, ms in r["snapshot_tenths"] if k]
    return lines


def verdict_lines(sizes: list[dict[str, Any]]) -> list[str]:
    """Driver CPU per trial in ``Tuner.fit`` per size, and the two targets where the sizes allow them."""
    per_trial = {r["trials"]: r["fit_cpu_s"] / r["trials"] for r in sizes}
    lines = ["driver CPU per trial in Tuner.fit: " + ", ".join(f"{n} trials {s:.3f} s" for n, s in per_trial.items())]
    if 1000 in per_trial:
        verdict = "met" if per_trial[1000] <= TARGET_DRIVER_CPU_S else "NOT met"
        lines.append(f"  at 1,000 trials: {per_trial[1000]:.3f} s, target <= {TARGET_DRIVER_CPU_S} s: {verdict}")
    if len(per_trial) > 1:
        small, large = min(per_trial), max(per_trial)
        growth = per_trial[large] / per_trial[small]
        verdict = "met" if growth <= TARGET_GROWTH else "NOT met"
        lines.append(f"  growth {small} -> {large} trials: {growth:.2f}x, target <= {TARGET_GROWTH}x: {verdict}")
    return lines


#: bench/README.md's block holding the recorded run (``--table-from FILE --readme bench/README.md``).
BLOCK = "sweep-scale"
TABLE_COMMAND = "python bench/sweep_scale.py --table-from bench/results/sweep_scale.json --readme bench/README.md"


def block_markers() -> tuple[str, str]:
    return records.markers(BLOCK, TABLE_COMMAND)


def recorded_block(record: dict[str, Any]) -> str:
    """The generated block of bench/README.md for a ``--record`` file: the command, when, where, its output."""
    start, end = block_markers()
    out = []
    for r in record["sizes"]:
        out += [f"sweep scale on {record['host']}: {record['cpus']} CPUs, {r['trials']} trials, "
                f"concurrency {record['concurrency']}, {record['where']}", *size_lines(r)]
    return "\n".join([start, "", f"`{record['command']}` on commit {record['commit']}, {record['started_utc']} to "
                       f"{record['ended_utc']} UTC:", "", "```", *out, *verdict_lines(record["sizes"]), "```", "",
                       end])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, nargs="+", default=[1000],
                    help="one sweep per count, in this order (e.g. 200 2000: the growth between them is printed)")
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--address", default=None, help="a Ray cluster to run on (default: local Ray)")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the driver's main thread")
    records.add_arguments(ap)
    args = ap.parse_args(argv)
    shown = records.table_from(ap, args, recorded_block, block_markers())
    if shown is not None:
        return shown
    if min(args.trials) < 10:
        ap.error("--trials must be at least 10 (the snapshot table has ten rows)")
    record = {**records.stamp("sweep_scale.py", sys.argv[1:] if argv is None else argv), "host": platform.node(),
              "concurrency": args.concurrency, "where": args.address or "local Ray", "sizes": []}
    for trials in args.trials:
        print(f"sweep scale on {record['host']}: {record['cpus']} CPUs, {trials} trials, "
              f"concurrency {args.concurrency}, {record['where']}", flush=True)
        with tempfile.TemporaryDirectory(prefix="synaptune-scale-") as d:
            f = run(trials, args.concurrency, args.address, Path(d), args.profile)
            try:
                train = training_seconds(f"sqlite:///{d}/mlflow.db", "scale")
            except Exception as e:  # noqa: BLE001  (the baseline is optional; the driver figure stands)
                print(f"  (trial training times unreadable: {e})")
                train = []
        record["sizes"].append(size_record(trials, f, train))
        print("\n".join(size_lines(record["sizes"][-1])), flush=True)
    print("\n".join(verdict_lines(record["sizes"])))
    if args.record is not None:
        record["ended_utc"] = records.utc()
        records.write(args.record, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())

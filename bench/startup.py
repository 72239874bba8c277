# SPDX-License-Identifier: MIT
"""Start-up: light commands, and the time from typing `synaptune sweep` to the first trial training.

1. Light commands: ``synaptune list``, ``--help``, ``sweep --help``, a usage
   error (``sweep --trials x``) and ``space naive``, each run as a user runs it
   (the installed console script, a new process). Best of ``--repeats``.
   Target: <= 0.5 s each. Baselines measured in the same run: the bare
   interpreter (``python -c pass``) and ``python -c "import torch"``.
2. Command to first trial: ``synaptune sweep`` of 2 ``naive`` trials on
   ``split-digits`` (``--concurrency 2 --num-cpus 2 --scheduler none``, a fresh
   SQLite store and results folder each time) started as a new process; the
   time until the first trial starts training, read from the trainable's event
   log (``SYNAPTUNE_TEST_EVENT_LOG``: one "start" line with a wall-clock time per
   trial, written after the trial's stream and learner are built). Target:
   <= 8 s on 2 cores. Baseline in the same run: ``python -c "import torch,
   ray.tune, mlflow"``, what a driver and a worker each import at least once.

Run from the repository root, on an otherwise idle machine::

    .venv/bin/python bench/startup.py                  # 3 sweeps, about 2 minutes
    .venv/bin/python bench/startup.py --record bench/results/startup.json   # the run bench/README.md shows
    .venv/bin/python bench/startup.py --smoke-test     # 1 sweep, 1 repeat
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/records.py, also when imported by a test
import records  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SYNAPTUNE = str(Path(sys.executable).with_name("synaptune"))
LIGHT = {"list": ["list"], "--help": ["--help"], "sweep --help": ["sweep", "--help"],
         "usage error": ["sweep", "--trials", "x"], "space naive": ["space", "naive"]}
TARGET_LIGHT_S, TARGET_FIRST_TRIAL_S = 0.5, 8.0


def wall(cmd: list[str], repeats: int) -> float:
    """Best wall time of ``repeats`` runs of ``cmd`` (seconds; the output is discarded)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        best = min(best, time.perf_counter() - t0)
    return best


def first_trial(workdir: Path) -> tuple[float, float]:
    """(seconds from launch to the first trial's "start" event, seconds of the whole command)."""
    events = workdir / "events.log"
    env = dict(os.environ, SYNAPTUNE_TEST_EVENT_LOG=str(events))
    cmd = [SYNAPTUNE, "sweep", "--learner", "naive", "--benchmark", "split-digits", "--trials", "2",
           "--concurrency", "2", "--num-cpus", "2", "--scheduler", "none", "--name", "startup",
           "--storage", str(workdir / "results"), "--tracking-uri", f"sqlite:///{workdir}/mlflow.db"]
    launched = time.time()
    done = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, check=False)
    total = time.time() - launched
    if done.returncode != 0:
        raise SystemExit(f"the sweep failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    starts = [float(line.split()[3]) for line in events.read_text().splitlines() if line.split()[1] == "start"]
    return min(starts) - launched, total


#: bench/README.md's block holding the recorded run (``--table-from FILE --readme bench/README.md``).
BLOCK = "startup"
TABLE_COMMAND = "python bench/startup.py --table-from bench/results/startup.json --readme bench/README.md"


def block_markers() -> tuple[str, str]:
    return records.markers(BLOCK, TABLE_COMMAND)


def recorded_block(record: dict) -> str:
    """The generated block of bench/README.md for a ``--record`` file: the command, when, its output."""
    return records.output_block(record, block_markers())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="runs of each light command (the best counts)")
    ap.add_argument("--sweeps", type=int, default=3, help="sweeps timed to their first trial (0: light commands only)")
    ap.add_argument("--smoke-test", action="store_true", help="1 repeat, 1 sweep: does it run?")
    records.add_arguments(ap)
    args = ap.parse_args(argv)
    shown = records.table_from(ap, args, recorded_block, block_markers())
    if shown is not None:
        return shown
    if args.smoke_test:
        args.repeats, args.sweeps = 1, 1
    record = {**records.stamp("startup.py", sys.argv[1:] if argv is None else argv), "output": []}

    def say(line: str) -> None:
        print(line, flush=True)
        record["output"].append(line)

    say(f"start-up on {platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}")
    bare = wall([sys.executable, "-c", "pass"], args.repeats)
    torch_only = wall([sys.executable, "-c", "import torch"], args.repeats)
    say(f"  baseline: python -c pass {bare:.2f} s; python -c 'import torch' {torch_only:.2f} s")
    for name, cmd in LIGHT.items():
        t = wall([SYNAPTUNE, *cmd], args.repeats)
        verdict = "met" if t <= TARGET_LIGHT_S else "NOT met"
        say(f"  synaptune {name:<12}: {t:5.2f} s = {t / bare:4.1f}x bare python, {t / torch_only:4.2f}x "
            f"import torch   target <= {TARGET_LIGHT_S} s: {verdict}")
    if args.sweeps > 0:
        heavy = wall([sys.executable, "-c", "import torch, ray.tune, mlflow"], args.repeats)
        firsts = []
        for i in range(args.sweeps):
            with tempfile.TemporaryDirectory(prefix="synaptune-startup-") as d:
                first, total = first_trial(Path(d))
            firsts.append(first)
            say(f"  sweep {i + 1}: first trial training after {first:.2f} s (whole 2-trial sweep {total:.1f} s)")
        median = statistics.median(firsts)
        verdict = "met" if median <= TARGET_FIRST_TRIAL_S else "NOT met"
        say(f"  command to first trial (median of {len(firsts)}): {median:.2f} s = {median / heavy:.2f}x "
            f"'import torch, ray.tune, mlflow' ({heavy:.2f} s)   target <= {TARGET_FIRST_TRIAL_S} s: {verdict}")
    if args.record is not None:
        record["ended_utc"] = records.utc()
        records.write(args.record, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())

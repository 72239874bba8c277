# SPDX-License-Identifier: MIT
"""Result queries on a large MLflow store: `best`, `export` and `report` over 10,000 trial runs.

1. Fill: one sweep's parent run and ``--runs`` trial runs of ``naive`` (five
   tasks each, random values), written by the sweep's own writer
   (:class:`synaptune.hpo.store.TrialLogger`: ``child_run``, ``on_result``,
   ``on_end``), so the layout is exactly a sweep's. The fill rate is printed:
   it is the driver's MLflow cost per trial as the store grows. ``--keep DIR``
   keeps the store, and a later run with the same ``--keep`` reuses it.
2. Queries, each as a user types it (the installed console script, a new
   process), best of ``--repeats``: ``synaptune best``, ``synaptune export``
   and ``synaptune report``. Targets: ``best`` <= 3 s, ``export`` and
   ``report`` <= 30 s. Baseline in the same run: ``synaptune best`` on a store
   of ``--small`` (default 60) runs, filled the same way.

Backends (``--backend``):

- ``sqlite`` (default): a SQLite file, the default local setup; the commands
  open the file themselves.
- ``postgresql``: what a cluster runs. A real PostgreSQL server on 127.0.0.1
  (started here as in the tests, ``tests/conftest.py:running_postgres``; needs
  Debian's ``postgresql`` package) holds the store, a real ``mlflow server``
  serves it, and the commands query that server over HTTP. The fill writes to
  the database directly (``postgresql://...``), which is faster than through
  the server and leaves the same rows. ``--keep`` does not apply: the database
  goes with the server at the end.

Run from the repository root, on an otherwise idle machine::

    .venv/bin/python bench/store_scale.py --keep /tmp/store10k   # the fill takes the longest
    .venv/bin/python bench/store_scale.py --repeats 3 --record bench/results/store_scale.json   # bench/README.md's run
    .venv/bin/python bench/store_scale.py --runs 200             # a quick look
    .venv/bin/python bench/store_scale.py --backend postgresql --runs 10000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/records.py, also when imported by a test
import records  # noqa: E402

SYNAPTUNE = str(Path(sys.executable).with_name("synaptune"))
EXPERIMENT, TASKS = "scale", 5
TARGETS = {"best": 3.0, "export": 30.0, "report": 30.0}


def fill(uri: str, runs: int, seed: int = 0) -> float:
    """Write a sweep of ``runs`` completed trials to ``uri``; returns the seconds it took."""
    from synaptune.hpo import store

    rng = random.Random(seed)
    results = store.SweepStore(uri)
    t0 = time.perf_counter()
    parent = results.start_sweep(EXPERIMENT, sweep_path=f"/bench/{EXPERIMENT}", settings={
        "learner": "naive", "benchmark": "split-digits", "metric": "objective", "mode": "max"},
        tags={}, space_yaml="learner: naive\nparams:\n  lr: {float: [0.001, 0.5], log: true}\n")
    writer = results.trial_logger(EXPERIMENT, parent, learner="naive", fixed={}, settings={"benchmark": "split-digits"})
    for i in range(runs):
        config = {"lr": 10 ** rng.uniform(-3, -0.3)}
        matrix: list[list[float | None]] = [[None] * TASKS for _ in range(TASKS)]
        history = []
        for task in range(TASKS):
            for seen in range(task + 1):
                matrix[task][seen] = rng.uniform(0.2, 1.0)
            accs = [a for a in matrix[task] if a is not None]
            values = {"tasks_seen": task + 1, "n_tasks": TASKS, "val/acc": sum(accs) / len(accs),
                      "objective": sum(accs) / len(accs), "train_seconds": rng.uniform(1, 5)}
            history.append(values)
        result = {**history[-1], "history": json.dumps(history[:-1]), "accuracy_matrix": json.dumps(matrix)}
        trial_id = f"t{i:06d}"
        writer.on_result(trial_id, config, result)
        writer.on_end(trial_id, config, result, error=False)
        if (i + 1) % max(1, runs // 10) == 0:
            rate = (time.perf_counter() - t0) / (i + 1)
            print(f"    filled {i + 1:>6} runs: {1000 * rate:.0f} ms per trial so far", flush=True)
    store.wait_for_logging()
    counts = {"completed": runs}
    results.finish_sweep(parent, results.best(EXPERIMENT)[0], counts)
    return time.perf_counter() - t0


def query_seconds(uri: str, workdir: Path, repeats: int) -> dict[str, float]:
    """Best wall seconds of ``best``, ``export`` and ``report`` on the store at ``uri``."""
    commands = {
        "best": ["best", "--experiment", EXPERIMENT, "--tracking-uri", uri],
        "export": ["export", "--experiment", EXPERIMENT, "--tracking-uri", uri, "-o", "{out}/preset.yaml"],
        "report": ["report", "--experiment", EXPERIMENT, "--tracking-uri", uri, "-o", "{out}/report"],
    }
    best: dict[str, float] = {}
    for name, args in commands.items():
        for r in range(repeats):
            out = workdir / f"{name}-{r}"
            out.mkdir()
            cmd = [SYNAPTUNE, *(a.format(out=out) for a in args)]
            t0 = time.perf_counter()
            done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, check=False)
            seconds = time.perf_counter() - t0
            if done.returncode != 0:
                raise SystemExit(f"`{' '.join(cmd)}` failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
            best[name] = min(best.get(name, float("inf")), seconds)
    return best


def _fill_in(folder: Path, uri: str, runs: int) -> None:
    """Fill ``uri`` with ``runs`` trials, from ``folder`` (where MLflow puts a local store's artifacts)."""
    folder.mkdir(parents=True, exist_ok=True)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        seconds = fill(uri, runs)
    finally:
        os.chdir(cwd)
    print(f"  filled {runs} runs in {seconds:.0f} s ({1000 * seconds / runs:.0f} ms per trial)")


def filled_store(folder: Path, runs: int) -> str:
    """The URI of a SQLite store of ``runs`` trials in ``folder``, filled now unless an earlier run left it."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    marker = folder / f"filled-{runs}"
    if marker.exists():
        print(f"  reusing the store of {runs} runs in {folder}")
        return uri
    _fill_in(folder, uri, runs)
    marker.touch()
    return uri


@contextlib.contextmanager
def postgres_servers(folder: Path, runs: int) -> Iterator[str]:
    """A PostgreSQL-backed ``mlflow server`` whose store holds ``runs`` trials; yields the server's URL."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import create_database, running_mlflow_server, running_postgres

    with running_postgres() as base:
        database = create_database(base, "mlflow")
        upgrade = subprocess.run([str(Path(sys.executable).with_name("mlflow")), "db", "upgrade", database],
                                 capture_output=True, text=True, check=False)
        if upgrade.returncode != 0:
            raise SystemExit(f"`mlflow db upgrade` failed:\n{upgrade.stderr[-3000:]}")
        _fill_in(folder, database, runs)  # makes ``folder``, where the server keeps its log
        with running_mlflow_server(database, folder) as url:
            yield url


#: bench/README.md's block holding the recorded run (``--table-from FILE --readme bench/README.md``).
BLOCK = "store-scale"
TABLE_COMMAND = "python bench/store_scale.py --table-from bench/results/store_scale.json --readme bench/README.md"


def block_markers() -> tuple[str, str]:
    return records.markers(BLOCK, TABLE_COMMAND)


def recorded_block(record: dict) -> str:
    """The generated block of bench/README.md for a ``--record`` file: the command, when, its output
    (the fill's progress lines left out)."""
    return records.output_block(record, block_markers())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--small", type=int, default=60, help="runs of the baseline store")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="keep (and reuse) the large SQLite store in this folder")
    ap.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    records.add_arguments(ap)
    args = ap.parse_args(argv)
    shown = records.table_from(ap, args, recorded_block, block_markers())
    if shown is not None:
        return shown
    record = {**records.stamp("store_scale.py", sys.argv[1:] if argv is None else argv), "output": []}

    def say(line: str) -> None:
        print(line, flush=True)
        record["output"].append(line)

    backend = "SQLite" if args.backend == "sqlite" else "PostgreSQL behind an mlflow server"
    say(f"store scale on {platform.node()}: {os.cpu_count()} CPUs; {backend}; {args.runs} runs vs {args.small}")
    with tempfile.TemporaryDirectory(prefix="synaptune-store-") as d:
        if args.backend == "sqlite":
            small = query_seconds(filled_store(Path(d) / "small", args.small), Path(d) / "small", args.repeats)
            large = query_seconds(filled_store(args.keep or Path(d) / "large", args.runs), Path(d), args.repeats)
        else:
            with postgres_servers(Path(d) / "small", args.small) as url:
                small = query_seconds(url, Path(d) / "small", args.repeats)
            with postgres_servers(Path(d) / "large", args.runs) as url:
                large = query_seconds(url, Path(d), args.repeats)
    for name, target in TARGETS.items():
        verdict = "met" if large[name] <= target else "NOT met"
        say(f"  synaptune {name:<7}: {large[name]:6.2f} s on {args.runs} runs, {small[name]:5.2f} s on {args.small} "
            f"({large[name] / small[name]:.1f}x)   target <= {target:g} s: {verdict}")
    if args.record is not None:
        record["ended_utc"] = records.utc()
        records.write(args.record, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())

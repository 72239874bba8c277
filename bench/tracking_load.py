# SPDX-License-Identifier: MIT
"""Driver-side MLflow logging cost per reported result: SQLite file vs PostgreSQL-backed server.

Every ``tune.report`` of every trial reaches the sweep driver, which logs it to
MLflow before Tune goes on (``MLflowTrialCallback`` -> ``TrialLogger``). This
times exactly that code, with ``--trials`` trials interleaved as Tune
interleaves concurrent trials, each reporting ``--tasks`` results and then
ending (its first result also creates the child run and logs its params).

Backends, all started here on 127.0.0.1 (nothing mocked):
  sqlite      a SQLite file, logged to directly by the driver (the default setup);
  server-pg   `mlflow server` over a PostgreSQL database, the shared setup
              (needs PostgreSQL's server programs: apt-get install postgresql).

Run from the repository root:

    .venv/bin/python bench/tracking_load.py

Prints, for 1 and 8 concurrent trials, the driver time blocked per reported
result (results go to MLflow through its background queue) and the total time
per result including each trial's end, which waits until its results are
stored (the throughput bound), with the ratio of each total to SQLite with 1
trial, measured in the same run. Target: < 25 ms of driver time per result on
the server.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_MS = 25.0


def time_logging(uri: str, *, trials: int, tasks: int, tag: str) -> tuple[float, float]:
    """``(blocking, total)`` ms per reported result for ``trials`` interleaved trials.

    ``blocking``: time the driver spends in ``on_result`` (what holds up Tune's
    event loop per result; results are queued to MLflow in the background).
    ``total``: wall time of the whole loop including each trial's end, which
    waits until the trial's results are stored: the throughput bound.
    """
    from synaptune.hpo import store

    results = store.SweepStore(uri)
    parent = results.start_sweep(f"bench-{tag}", sweep_path=f"/bench/{tag}", settings={"trials": trials}, tags={},
                                 space_yaml="learner: naive\n")
    logger = results.trial_logger(f"bench-{tag}", parent, learner="naive", fixed={"epochs": 1},
                                  settings={"benchmark": "split-digits", "benchmark/n_tasks": tasks, "seeds": 1})
    ids = [f"{tag}_{i:05d}" for i in range(trials)]
    config = {"lr": 0.01, "hidden_units": 32}
    blocking = 0.0
    start = time.perf_counter()
    for task in range(1, tasks + 1):
        for trial_id in ids:
            result = {"tasks_seen": task, "n_tasks": tasks, "val/acc_seen": 0.5, "state_bytes": 0,
                      **{f"val/acc_task_{j}": 0.5 for j in range(task)}, "node_id": "bench-node",
                      "accuracy_matrix": "[[0.5]]"}
            t0 = time.perf_counter()
            logger.on_result(trial_id, config, result)
            blocking += time.perf_counter() - t0
            if task == tasks:
                logger.on_end(trial_id, config, result, error=False)
    store.wait_for_logging()  # everything stored: what the sweep waits for before reading MLflow
    n = trials * tasks
    return blocking * 1000 / n, (time.perf_counter() - start) * 1000 / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5, help="results reported per trial")
    parser.add_argument("--repeats", type=int, default=3, help="take the best of this many runs")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

    from tests.conftest import create_database, running_mlflow_server, running_postgres

    rows: list[tuple[str, int, float, float]] = []
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)

        def measure(backend: str, uri: str) -> None:
            time_logging(uri, trials=1, tasks=1, tag=f"{backend}-warmup")  # first requests of a server
            for trials in (1, 8):
                runs = [time_logging(uri, trials=trials, tasks=args.tasks, tag=f"{backend}-{trials}-{r}")
                        for r in range(args.repeats)]
                rows.append((backend, trials, min(b for b, _ in runs), min(t for _, t in runs)))

        measure("sqlite", f"sqlite:///{folder}/mlflow.db")
        with running_postgres() as pg:
            with running_mlflow_server(create_database(pg, "mlflow"), folder) as server:
                measure("server-pg", server)

    baseline = rows[0][3]
    print(f"{'backend':<10} {'trials':>6} {'blocking ms/result':>19} {'total ms/result':>16} {'total vs sqlite x1':>19}")
    for backend, trials, blocking, total in rows:
        print(f"{backend:<10} {trials:>6} {blocking:>19.2f} {total:>16.1f} {total / baseline:>18.2f}x")
    worst = max(blocking for backend, _, blocking, _ in rows if backend == "server-pg")
    verdict = "met" if worst < TARGET_MS else "NOT met"
    print(f"target < {TARGET_MS:g} ms of driver time per result on the server: {verdict} (worst {worst:.2f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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

Prints ms per reported result for 1 and 8 concurrent trials and the ratio of
each to SQLite with 1 trial, measured in the same run. Target: < 25 ms per
result on the server.
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


def time_logging(uri: str, *, trials: int, tasks: int, tag: str) -> float:
    """Mean ms per reported result (trial ends included) for ``trials`` interleaved trials."""
    from synaptune.hpo import tracking

    parent = tracking.start_sweep_run(uri, f"bench-{tag}", sweep_path=f"/bench/{tag}", settings={"trials": trials},
                                      space_yaml="learner: naive\n")
    logger = tracking.TrialLogger(uri=uri, experiment_id=tracking.experiment_id(uri, f"bench-{tag}", create=True),
                                  parent_id=parent, learner="naive", benchmark="split-digits",
                                  benchmark_params={"n_tasks": tasks}, fixed={"epochs": 1}, seeds=1)
    ids = [f"{tag}_{i:05d}" for i in range(trials)]
    config = {"lr": 0.01, "hidden_units": 32}
    start = time.perf_counter()
    for task in range(1, tasks + 1):
        for trial_id in ids:
            result = {"tasks_seen": task, "n_tasks": tasks, "val/acc_seen": 0.5, "state_bytes": 0,
                      **{f"val/acc_task_{j}": 0.5 for j in range(task)}, "node_id": "bench-node",
                      "accuracy_matrix": "[[0.5]]"}
            logger.on_result(trial_id, config, result)
            if task == tasks:
                logger.on_end(trial_id, config, result, error=False)
    return (time.perf_counter() - start) * 1000 / (trials * tasks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5, help="results reported per trial")
    parser.add_argument("--repeats", type=int, default=3, help="take the best of this many runs")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

    from tests.conftest import create_database, running_mlflow_server, running_postgres

    rows: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)

        def measure(backend: str, uri: str) -> None:
            for trials in (1, 8):
                best = min(time_logging(uri, trials=trials, tasks=args.tasks, tag=f"{backend}-{trials}-{r}")
                           for r in range(args.repeats))
                rows.append((backend, trials, best))

        measure("sqlite", f"sqlite:///{folder}/mlflow.db")
        with running_postgres() as pg:
            with running_mlflow_server(create_database(pg, "mlflow"), folder) as server:
                measure("server-pg", server)

    baseline = rows[0][2]
    print(f"{'backend':<10} {'trials':>6} {'ms/result':>10} {'vs sqlite x1':>13}")
    for backend, trials, ms in rows:
        print(f"{backend:<10} {trials:>6} {ms:>10.1f} {ms / baseline:>12.2f}x")
    worst_server = max(ms for backend, _, ms in rows if backend == "server-pg")
    verdict = "met" if worst_server < TARGET_MS else "NOT met"
    print(f"target < {TARGET_MS:g} ms per result on the server: {verdict} (worst {worst_server:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: MIT
"""Is a trial's training slower inside a Ray worker? The same configuration, trained alone.

One configuration of ``sweep_overhead.py`` (``naive`` on split-digits, MLP 2x128,
100 epochs per task, SGD) is trained through the whole stream, one run at a time,
in turn in four places: this process's main thread, a thread of this process, a
Ray actor's method, and a thread of a Ray actor (where Tune's function trainable
runs the training). Each place gets ``--repeats`` runs; the medians are printed.
Nothing runs beside the measured run, so a difference is the place itself, not the
CPUs being shared (that is what ``sweep_overhead.py`` measures).

Run from the repository root on an idle machine (about 1.5 minutes)::

    .venv/bin/python bench/ray_worker_step.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import sweep_overhead  # noqa: E402  (a sibling script, found through the path above)


def in_thread(fn: Callable[..., float], *args: Any) -> float:
    """``fn(*args)`` run in a new thread; its result."""
    out: dict[str, float] = {}
    worker = threading.Thread(target=lambda: out.setdefault("value", fn(*args)))
    worker.start()
    worker.join()
    return out["value"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    import ray

    space_file = Path(tempfile.mkdtemp(prefix="synaptune-bench-")) / "space.yaml"
    space = sweep_overhead.bench_space(sweep_overhead.DEFAULT_EPOCHS, space_file)
    config = {**space.fixed, "lr": 0.05, "optimizer": "sgd", "momentum": 0.9, "dropout": 0.0}
    sweep_overhead._setup_worker(str(space_file))  # 1 torch thread, the stream, a warm-up trial
    ray.init(num_cpus=2, include_dashboard=False)

    @ray.remote(num_cpus=1)
    class Worker:
        def setup(self, space_path: str) -> None:
            sys.path.insert(0, str(BENCH))
            import sweep_overhead as bench

            bench._setup_worker(space_path)

        def trial(self, cfg: dict[str, Any], thread: bool) -> float:
            import sweep_overhead as bench

            return in_thread(bench._one_trial, cfg) if thread else bench._one_trial(cfg)

    worker = Worker.remote()  # type: ignore[attr-defined]
    ray.get(worker.setup.remote(str(space_file)))
    seconds: dict[str, list[float]] = {"main thread": [], "a thread": [], "Ray actor": [], "Ray actor thread": []}
    try:
        for _ in range(args.repeats):
            seconds["main thread"].append(sweep_overhead._one_trial(config))
            seconds["Ray actor"].append(ray.get(worker.trial.remote(config, False)))
            seconds["a thread"].append(in_thread(sweep_overhead._one_trial, config))
            seconds["Ray actor thread"].append(ray.get(worker.trial.remote(config, True)))
    finally:
        ray.shutdown()
    print(f"one trial ({sweep_overhead.LEARNER} on {sweep_overhead.BENCHMARK}, "
          f"{sweep_overhead.DEFAULT_EPOCHS} epochs/task), alone, {args.repeats} runs per place:")
    base = statistics.median(seconds["main thread"])
    for place, values in seconds.items():
        median = statistics.median(values)
        print(f"  {place:<17}: median {median:5.2f} s = {median / base:.2f}x the main thread   "
              f"({', '.join(f'{v:.2f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

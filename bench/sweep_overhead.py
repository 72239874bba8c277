# SPDX-License-Identifier: MIT
"""Overhead of a sweep: the same N configurations as a plain loop and as a 2-CPU sweep.

The N configurations of ``naive`` on ``split-digits`` are drawn once (seeded,
Optuna's RandomSampler over the shipped search space). The knobs that set a
trial's cost (network size, batch size, epochs) are fixed, so trials do similar
work (~4-6 s on one core; adam ones take longer); lr, optimizer, momentum and
dropout are sampled.

1. Plain loop: ``TrialRun(...).step()`` until finished, one configuration after
   the other, in this process with ``torch.set_num_threads(1)``. One untimed
   warm-up trial first (a process's first optimiser imports torch._dynamo, ~1.5 s),
   so the sum is steady-state training time.
2. No-Ray reference: the same trials on 2 plain processes (multiprocessing), each
   taking the next configuration when free. Shows what 2 concurrent trainings
   get from this machine, Ray aside.
3. Sweep: :func:`synaptune.hpo.sweep.run_sweep` itself (``--scheduler none``,
   ``--concurrency 2``, ``--cpus-per-trial 1``, ``--num-cpus 2``, a temporary
   ``--storage`` and sqlite tracking store): the real trainable, Tune loop,
   checkpoint per task, experiment-state snapshots and MLflow logging. The only
   change: the searcher is the sweep's own Optuna searcher with the N
   configurations enqueued (``points_to_evaluate``), so the sweep trains exactly
   the configurations of the plain loop (checked after the run). Timing-only
   wrappers: ``ray.init``, ``Tuner.fit``, Tune's callbacks, the experiment-state
   snapshot, and in each worker the trial, ``TrialRun.step``/``save`` and
   ``tune.report`` (with the worker's pid and torch thread count).

Printed: ratio = (wall time of ``Tuner.fit``) / (sum of plain trial times / 2).
Target: <= 1.25 on 2 cores. ``ray.init`` and the whole ``run_sweep`` call are
reported apart, with a breakdown of the fit per worker, the driver's callback
times, and CPU seconds per process from /proc (other processes on the machine
included: the figures are only meaningful on an otherwise idle machine, so each
phase first waits for one, and a warning is printed when others were busy).

Usage::

    .venv/bin/python bench/sweep_overhead.py              # N=8, the figure in bench/README.md
    .venv/bin/python bench/sweep_overhead.py --smoke-test # N=2, 1 epoch: does it run?
    .venv/bin/python bench/sweep_overhead.py --plain-from OLD.json --warm-workers   # an experiment
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

LEARNER = "naive"
BENCHMARK = "split-digits"
CONCURRENCY = 2
TARGET = 1.25
#: Knobs that set a trial's cost: fixed, so all trials do the same work.
COMPUTE_FIXED = {"arch": "mlp", "hidden_units": 128, "hidden_layers": 2, "batch_size": 32}
DEFAULT_EPOCHS = 100  # 4.4-5.8 s per trial (mean, 5 tasks) on one core of the reference machine


def bench_space(epochs: int, path: Path) -> Any:
    """The shipped ``naive`` space with the cost knobs moved to ``fixed``; written to ``path``."""
    from synaptune.searchspaces import load_space
    from synaptune.searchspaces.space import space_path

    doc = yaml.safe_load(space_path(LEARNER).read_text())
    fixed = {**doc.get("fixed", {}), **COMPUTE_FIXED, "epochs": epochs}
    doc["params"] = {k: v for k, v in doc["params"].items() if k not in fixed}
    doc["fixed"] = fixed
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_space(LEARNER, path)


def _setup_worker(space_file: str) -> None:
    """Process state for :func:`_one_trial`: 1 torch thread, the stream, the space, a warm-up trial."""
    import torch

    from synaptune.benchmarks import BenchmarkParams, build_stream
    from synaptune.searchspaces import load_space

    torch.set_num_threads(1)
    _STATE["stream"] = build_stream(BENCHMARK, BenchmarkParams())
    _STATE["space"] = space = load_space(LEARNER, space_file)
    _STATE["warmup_s"] = _one_trial({**space.fixed, "epochs": 1})


_STATE: dict[str, Any] = {}


def _one_trial(config: dict[str, Any]) -> float:
    """Seconds to train ``config`` through the whole stream, as the trainable does minus Tune."""
    from synaptune.hpo.trial import TrialRun

    t0 = time.perf_counter()
    run = TrialRun(LEARNER, _STATE["space"].build(config), _STATE["stream"])
    while not run.finished:
        run.step()
    return time.perf_counter() - t0


def plain_loop(space_file: Path, configs: list[dict[str, Any]]) -> dict[str, Any]:
    """Train every configuration in turn in this process; per-trial seconds."""
    import torch

    _setup_worker(str(space_file))
    with CpuMonitor() as cpu:
        times = [_one_trial(c) for c in configs]
    return {"warmup_s": _STATE["warmup_s"], "trial_s": times, "torch_threads": torch.get_num_threads(),
            "others_cpu_s": cpu.usage["others"]}


def parallel_plain(space_file: Path, configs: list[dict[str, Any]], workers: int) -> dict[str, Any]:
    """The same trials on ``workers`` plain processes (no Ray), each taking the next configuration
    when free, as Tune does. Measures what this machine gives for ``workers`` concurrent trainings."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=_setup_worker, initargs=(str(space_file),)) as pool:
        pool.map(time.sleep, [0.5] * workers, chunksize=1)  # every worker set up (and warmed up)
        with CpuMonitor() as cpu:
            t0 = time.perf_counter()
            times = pool.map(_one_trial, configs, chunksize=1)
            wall = time.perf_counter() - t0
    return {"wall_s": wall, "trial_s": times, "others_cpu_s": cpu.usage["others"]}


# ------------------------------------------------------------------ CPU accounting from /proc
_CLK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_name(pid: str, comm: str) -> str:
    if comm.startswith("python"):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return comm
        scripts = [Path(a.decode(errors="replace")).name for a in args if a.endswith(b".py")]
        if scripts:
            return scripts[-1]
    return comm


def cpu_snapshot() -> dict[str, Any]:
    """Busy CPU seconds of the machine and, per process, (ppid, name, CPU seconds)."""
    procs = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        procs[int(pid)] = (int(fields[1]), _proc_name(pid, comm), (int(fields[11]) + int(fields[12])) / _CLK)
    try:
        cpu = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
        busy = (sum(cpu) - cpu[3] - cpu[4]) / _CLK  # all but idle and iowait
    except (OSError, ValueError, IndexError):
        busy = float("nan")
    return {"busy": busy, "procs": procs}


class CpuMonitor:
    """CPU seconds used while the ``with`` block runs, by this process tree and by everything else.

    Samples /proc every ``period`` seconds, so processes that exit inside the
    block (Tune's trial actors end with ``fit``) are still counted.
    """

    def __init__(self, root: int | None = None, period: float = 0.5) -> None:
        import threading

        self.root = root or os.getpid()
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.usage: dict[str, Any] = {}

    def __enter__(self) -> CpuMonitor:
        self.first = cpu_snapshot()
        self.seen = dict(self.first["procs"])
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.seen.update(cpu_snapshot()["procs"])

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        last = cpu_snapshot()
        self.seen.update(last["procs"])
        self.usage = cpu_usage(self.first, {"busy": last["busy"], "procs": self.seen}, self.root)


def wait_for_quiet(max_wait_s: float, *, limit: float = 0.15, quiet_s: int = 5) -> float:
    """Wait (at most ``max_wait_s``) until other processes use under ``limit`` of a core for ``quiet_s``
    seconds in a row; returns the seconds waited. Other work on the machine spoils the figures."""
    t0, calm = time.perf_counter(), 0
    while calm < quiet_s and time.perf_counter() - t0 < max_wait_s:
        before = cpu_snapshot()
        time.sleep(1.0)
        calm = calm + 1 if cpu_usage(before, cpu_snapshot(), os.getpid())["others"] < limit else 0
    return time.perf_counter() - t0


def cpu_usage(before: dict[str, Any], after: dict[str, Any], root: int) -> dict[str, Any]:
    """CPU seconds between two snapshots: ``root``'s process tree by name, and everything else."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in after["procs"].items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += children.get(pid, [])
    by_name: dict[str, float] = {}
    for pid in tree:
        _, name, cpu = after["procs"][pid]
        old = before["procs"].get(pid)
        used = cpu - (old[2] if old else 0.0)
        name = "driver" if pid == root else name
        by_name[name] = by_name.get(name, 0.0) + used
    ours = sum(by_name.values())
    outside: dict[str, float] = {}
    for pid, (_, name, cpu) in after["procs"].items():
        old = before["procs"].get(pid)
        if pid not in tree:
            outside[f"{name}[{pid}]"] = cpu - (old[2] if old else 0.0)
    top = dict(sorted(((k, v) for k, v in outside.items() if v >= 0.5), key=lambda kv: -kv[1])[:5])
    return {"tree": dict(sorted(by_name.items(), key=lambda kv: -kv[1])), "ours": ours,
            "others": after["busy"] - before["busy"] - ours, "others_top": top}


def _process_start() -> float | None:
    """Wall-clock time (epoch seconds) at which this process started, from /proc."""
    try:
        stat = Path("/proc/self/stat").read_text()
        ticks = int(stat[stat.rindex(")") + 2:].split()[19])
        btime = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                     if line.startswith("btime"))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, StopIteration):
        return None


def _recording_trainable(real: Any, log_path: str) -> Any:
    """``real`` (the sweep's trainable) plus one JSON line per trial.

    The line holds the worker's pid and torch thread count, the trial's span, and
    the seconds spent in ``TrialRun.step`` (training + evaluation), ``TrialRun.save``
    (checkpoint to a temporary directory) and ``tune.report`` (copy of the
    checkpoint to storage, then waiting until the driver has handled the result
    and asks for the next one: function trainables report synchronously).
    """

    def train_trial(config: dict[str, Any], stream: Any, spec: Any, **more: Any) -> None:
        import json
        import os
        import time
        from unittest import mock

        import torch
        from ray import tune

        from synaptune.hpo.trial import TrialRun

        spent = {"step_s": 0.0, "save_s": 0.0, "report_s": 0.0}

        def timed(key: str, fn: Any) -> Any:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    spent[key] += time.perf_counter() - t0
            return wrapper

        t0, thread0, process0 = time.time(), time.thread_time(), time.process_time()
        try:
            with mock.patch.object(TrialRun, "step", timed("step_s", TrialRun.step)), \
                    mock.patch.object(TrialRun, "save", timed("save_s", TrialRun.save)), \
                    mock.patch.object(tune, "report", timed("report_s", tune.report)):
                real(config, stream, spec, **more)
        finally:
            with open(log_path, "a") as f:
                f.write(json.dumps({"trial_id": tune.get_context().get_trial_id(), "pid": os.getpid(),
                                    "torch_threads": torch.get_num_threads(),
                                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                                    "start": t0, "end": time.time(), **spent,
                                    "thread_cpu_s": time.thread_time() - thread0,
                                    "process_cpu_s": time.process_time() - process0,
                                    "process_start": _process_start(), "config": config}) + "\n")

    return train_trial


def _warm_worker() -> None:
    """Ray ``worker_process_setup_hook`` (``--warm-workers``): import what a trial imports and make one
    optimiser (the first one imports torch._dynamo) when the worker process starts.

    Sets OMP_NUM_THREADS=1 first: Ray sets it only when the worker gets its first task, and torch
    reads it once, at import; without it every trial runs 2 threads on 2 cores (10x slower here).
    """
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    import synaptune.hpo.raytune  # noqa: F401

    torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)


@contextlib.contextmanager
def _instrumented(configs: list[dict[str, Any]], timings: dict[str, Any], log_path: str,
                  warm_workers: bool = False) -> Iterator[None]:
    """Patch the sweep for this bench: enqueue ``configs``; time ray.init and Tuner.fit."""
    import optuna
    import ray
    from ray.tune import Tuner

    from ray.tune.callback import CallbackList
    from ray.tune.execution.tune_controller import TuneController

    from synaptune.hpo import raytune

    def make_searcher(space: Any, *, metric: str, seed: int, mode: str = "max", storage: Any = None,
                      study_name: str | None = None) -> raytune.StreamAwareOptunaSearch:
        # raytune.make_searcher plus points_to_evaluate.
        return raytune.StreamAwareOptunaSearch(
            space=raytune.DefineByRun(space), metric=metric, mode=mode,
            sampler=optuna.samplers.TPESampler(seed=seed), storage=storage,
            study_name=study_name if storage is not None else None,
            points_to_evaluate=[dict(c) for c in configs])

    real_init, real_fit = ray.init, Tuner.fit
    driver: dict[str, tuple[int, float]] = timings.setdefault("driver", {})

    def add(key: str, seconds: float) -> None:
        n, total = driver.get(key, (0, 0.0))
        driver[key] = (n + 1, total + seconds)

    def timed_callbacks(event: str) -> Any:
        def run(self: CallbackList, **info: Any) -> None:
            for callback in self._callbacks:
                t0 = time.perf_counter()
                getattr(callback, event)(**info)
                add(f"{type(callback).__name__}.{event}", time.perf_counter() - t0)
        return run

    real_save = TuneController.save_to_dir

    def save_to_dir(self: TuneController) -> None:
        t0 = time.perf_counter()
        try:
            real_save(self)
        finally:
            add("experiment state snapshot", time.perf_counter() - t0)

    def init(*args: Any, **kwargs: Any) -> Any:
        if warm_workers:
            kwargs["runtime_env"] = {**(kwargs.get("runtime_env") or {}),
                                     "worker_process_setup_hook": _warm_worker}
        t0 = time.perf_counter()
        try:
            return real_init(*args, **kwargs)
        finally:
            timings["ray_init_s"] = time.perf_counter() - t0

    def fit(self: Tuner) -> Any:
        with CpuMonitor() as cpu:
            timings["fit_start"] = time.time()
            t0 = time.perf_counter()
            try:
                timings["results"] = real_fit(self)
            finally:
                timings["fit_s"] = time.perf_counter() - t0
                timings["fit_end"] = time.time()
        timings["cpu"] = cpu.usage
        return timings["results"]

    with mock.patch.object(raytune, "make_searcher", make_searcher), \
            mock.patch.object(raytune, "train_trial", _recording_trainable(raytune.train_trial, log_path)), \
            mock.patch.object(ray, "init", init), mock.patch.object(Tuner, "fit", fit), \
            mock.patch.object(CallbackList, "on_trial_result", timed_callbacks("on_trial_result")), \
            mock.patch.object(CallbackList, "on_trial_complete", timed_callbacks("on_trial_complete")), \
            mock.patch.object(TuneController, "save_to_dir", save_to_dir):
        yield


def sweep(space_file: Path, configs: list[dict[str, Any]], workdir: Path, warm_workers: bool = False
          ) -> dict[str, Any]:
    from synaptune.hpo.sweep import SweepConfig, run_sweep

    cfg = SweepConfig(learner=LEARNER, benchmark=BENCHMARK, space_file=str(space_file), trials=len(configs),
                      concurrency=CONCURRENCY, cpus_per_trial=1.0, num_cpus=CONCURRENCY, scheduler="none",
                      storage=str(workdir / "results"), name="overhead",
                      tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}", seed=0)
    log_path = workdir / "trials.jsonl"
    timings: dict[str, Any] = {}
    cwd = os.getcwd()
    os.chdir(workdir)  # MLflow puts a sqlite store's artifacts in ./mlruns
    t0 = time.perf_counter()
    try:
        with _instrumented(configs, timings, str(log_path), warm_workers):
            summary = run_sweep(cfg)
    finally:
        timings["run_sweep_s"] = time.perf_counter() - t0
        os.chdir(cwd)
    timings["counts"] = summary.counts
    timings["workers"] = [json.loads(line) for line in log_path.read_text().splitlines()]
    timings.pop("results", None)
    return timings


def list_schedule(times: list[float], workers: int) -> float:
    """Makespan of running ``times`` in order, each on the first free worker, with no overhead."""
    free = [0.0] * workers
    for t in times:
        i = free.index(min(free))
        free[i] += t
    return max(free)


def report(f: dict[str, Any]) -> str:
    n, c = f["N"], f["concurrency"]
    plain, sw = f["plain_trial_s"], f["sweep_trials"]
    mean_w = {k: statistics.mean(w[k] for w in sw) for k in ("span_s", "step_s", "save_s", "report_s")}
    cpu = f["fit_cpu"]
    daemons = {k: v for k, v in cpu["tree"].items() if k != "driver" and not k.startswith("ray::ImplicitFu")}
    workers_cpu = sum(v for k, v in cpu["tree"].items() if k.startswith("ray::ImplicitFu"))
    lines = [
        f"sweep overhead: {n} configurations of {LEARNER} on {BENCHMARK} ({f['epochs']} epochs/task), "
        f"{f['cpus']} CPUs, concurrency {c}",
        f"  plain loop (1 torch thread)  : mean {f['plain_mean_s']:.2f} s/trial (min {min(plain):.2f}, "
        f"max {max(plain):.2f}), sum {f['plain_sum_s']:.2f} s",
        f"  ideal = sum / {c}              : {f['ideal_s']:.2f} s   (in-order schedule of these times on "
        f"{c} workers: {f['list_schedule_s']:.2f} s)",
    ]
    if f.get("parallel_wall_s") is not None:
        lines.append(f"  {c} plain processes, no Ray   : {f['parallel_wall_s']:.2f} s = "
                     f"{f['parallel_wall_s'] / f['ideal_s']:.3f} x ideal   (mean "
                     f"{statistics.mean(f['parallel_trial_s']):.2f} s/trial)")
    lines += [
        f"  sweep: Tuner.fit             : {f['fit_s']:.2f} s   (ray.init {f['ray_init_s']:.2f} s; whole "
        f"run_sweep {f['run_sweep_s']:.2f} s)",
        f"  ratio = fit / ideal          : {f['ratio']:.3f}   target <= {TARGET}: "
        f"{'met' if f['ratio'] <= TARGET else 'NOT met'}",
        f"    fit / in-order schedule    : {f['fit_s'] / f['list_schedule_s']:.3f}",
    ]
    if f.get("parallel_wall_s") is not None:
        lines.append(f"    fit / no-Ray processes     : {f['fit_s'] / f['parallel_wall_s']:.3f}")
    lines += [
        f"    (fit + ray.init) / ideal   : {(f['fit_s'] + f['ray_init_s']) / f['ideal_s']:.3f}",
        f"  in the sweep's workers       : {len(set(w['pid'] for w in sw))} processes "
        f"{sorted(set(w['pid'] for w in sw))}, torch threads "
        f"{sorted(set(w['torch_threads'] for w in sw))}, OMP_NUM_THREADS "
        f"{sorted(set(str(w['omp_num_threads']) for w in sw))}",
        f"    per trial (mean)           : {mean_w['span_s']:.2f} s = step {mean_w['step_s']:.2f} + save "
        f"{mean_w['save_s']:.2f} + report {mean_w['report_s']:.2f} + setup "
        f"{mean_w['span_s'] - mean_w['step_s'] - mean_w['save_s'] - mean_w['report_s']:.2f}",
        *([f"    worker processes started   : {f['fit_to_worker_process_s']:.2f} s after fit started (mean; "
           "/proc start times, 10 ms ticks)"] if f.get("fit_to_worker_process_s") is not None else []),
        f"    per worker (mean)          : before first trial {f['fit_to_first_trial_s']:.2f} + trials "
        f"{f['worker_trials_s']:.2f} (of which report {f['worker_report_s']:.2f}) + gaps "
        f"{f['worker_gaps_s']:.2f} + idle at the end {f['worker_idle_end_s']:.2f} = {f['fit_s']:.2f} s",
        "  driver, seconds (calls)      : " + ", ".join(
            f"{k} {v[1]:.2f} ({v[0]})" for k, v in sorted(f["driver"].items(), key=lambda kv: -kv[1][1])
            if v[1] >= 0.01),
        f"  CPU seconds during fit ({c} x {f['fit_s']:.1f} = {c * f['fit_s']:.1f} available): trial workers "
        f"{workers_cpu:.1f}, driver {cpu['tree'].get('driver', 0.0):.1f}, Ray daemons "
        f"{sum(daemons.values()):.1f}, other processes on the machine {cpu['others']:.1f}",
        "    Ray daemons: " + ", ".join(f"{k} {v:.1f}" for k, v in daemons.items() if v >= 0.05),
        f"  other processes' CPU seconds: plain loop {f['plain_others_cpu_s']:.1f}"
        + (f", no-Ray processes {f['parallel_others_cpu_s']:.1f}"
           if f.get("parallel_wall_s") is not None else "")
        + f", sweep {cpu['others']:.1f}   (load average at start: {f['loadavg_start']})",
    ]
    busy = {"plain loop": (f["plain_others_cpu_s"], f["plain_sum_s"]),
            "sweep": (cpu["others"], c * f["fit_s"])}
    if f.get("parallel_wall_s") is not None:
        busy["no-Ray processes"] = (f["parallel_others_cpu_s"], c * f["parallel_wall_s"])
    noisy = [k for k, (used, avail) in busy.items() if used > max(0.05 * avail, 0.5)]
    if noisy:
        lines.append(f"  WARNING: other processes used over 5% of the CPU during: {', '.join(noisy)}; "
                     "these figures are not reliable, run again on a quiet machine.")
        if cpu.get("others_top"):
            lines.append("    busiest others during the sweep: "
                         + ", ".join(f"{k} {v:.1f}" for k, v in cpu["others_top"].items()))
    if f["env"] or f["warm_workers"]:
        lines.insert(1, "  experiment: " + " ".join(f"{k}={v}" for k, v in f["env"].items())
                     + (" --warm-workers" if f["warm_workers"] else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=8, help="N, the number of configurations (default 8).")
    ap.add_argument("--epochs", type=int, default=None,
                    help=f"epochs per task; sets a trial's length (default {DEFAULT_EPOCHS}, ~5 s).")
    ap.add_argument("--seed", type=int, default=0, help="seed of the configuration draw.")
    ap.add_argument("--smoke-test", action="store_true", help="N=2, 1 epoch: check that the bench runs.")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the reference run on 2 plain processes without Ray.")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="set an environment variable for the sweep (e.g. TUNE_GLOBAL_CHECKPOINT_S=60); "
                         "repeatable. For profiling.")
    ap.add_argument("--warm-workers", action="store_true",
                    help="experiment: ray.init with a worker_process_setup_hook that imports torch and "
                         "synaptune and makes one optimiser as each worker process starts.")
    ap.add_argument("--plain-from", type=Path, default=None, metavar="JSON",
                    help="reuse the plain-loop and no-Ray figures of an earlier --json run with the same "
                         "--trials/--epochs/--seed (profiling the sweep alone).")
    ap.add_argument("--wait-quiet", type=float, default=None, metavar="S",
                    help="before each phase, wait up to S seconds for other processes to go quiet "
                         "(default 120; 0 with --smoke-test).")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this file.")
    ap.add_argument("--keep", action="store_true", help="keep the temporary storage and MLflow store.")
    args = ap.parse_args(argv)
    n = 2 if args.smoke_test else args.trials
    epochs = args.epochs if args.epochs is not None else (1 if args.smoke_test else DEFAULT_EPOCHS)
    if n < 1 or epochs < 1:
        ap.error("--trials and --epochs must be at least 1")
    env = dict(kv.split("=", 1) for kv in args.env)
    if args.wait_quiet is None:
        args.wait_quiet = 0.0 if args.smoke_test else 120.0

    loadavg = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    workdir = Path(tempfile.mkdtemp(prefix="synaptune-bench-"))
    space_file = workdir / "space.yaml"
    space = bench_space(epochs, space_file)
    from synaptune.hpo.raytune import sample_configs

    configs = sample_configs(space, n, args.seed)

    if args.plain_from:
        old = json.loads(args.plain_from.read_text())
        if old["configs"] != configs:
            ap.error(f"{args.plain_from} measured other configurations (check --trials/--epochs/--seed)")
        plain = {"trial_s": old["plain_trial_s"], "warmup_s": old["plain_warmup_s"],
                 "others_cpu_s": old["plain_others_cpu_s"]}
        parallel = None if old.get("parallel_wall_s") is None else {
            "wall_s": old["parallel_wall_s"], "trial_s": old["parallel_trial_s"],
            "others_cpu_s": old["parallel_others_cpu_s"]}
    else:
        wait_for_quiet(args.wait_quiet)
        plain = plain_loop(space_file, configs)
        if not args.no_baseline:
            wait_for_quiet(args.wait_quiet)
        parallel = None if args.no_baseline else parallel_plain(space_file, configs, CONCURRENCY)
    os.environ.update(env)
    wait_for_quiet(args.wait_quiet)
    swept = sweep(space_file, configs, workdir, args.warm_workers)

    # The sweep trained exactly the plain loop's configurations, each once, to the end.
    ran = sorted(json.dumps(w["config"], sort_keys=True) for w in swept["workers"])
    planned = sorted(json.dumps(c, sort_keys=True) for c in configs)
    if ran != planned or swept["counts"]["completed"] != n:
        print(f"error: the sweep did not train exactly the planned configurations: {swept['counts']}",
              file=sys.stderr)
        return 2

    sw = sorted(({**w, "span_s": w["end"] - w["start"]} for w in swept["workers"]), key=lambda w: w["start"])
    gaps = []
    for pid in {w["pid"] for w in sw}:
        mine = [w for w in sw if w["pid"] == pid]
        gaps += [b["start"] - a["end"] for a, b in zip(mine, mine[1:])]
    total = sum(plain["trial_s"])
    f = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": f"{platform.node()} {platform.machine()}",
        "cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_start": " ".join(loadavg),
        "env": env, "warm_workers": args.warm_workers, "N": n, "epochs": epochs, "seed": args.seed,
        "concurrency": CONCURRENCY, "configs": configs,
        "plain_warmup_s": plain["warmup_s"], "plain_trial_s": plain["trial_s"],
        "plain_mean_s": statistics.mean(plain["trial_s"]), "plain_sum_s": total,
        "plain_others_cpu_s": plain["others_cpu_s"], "ideal_s": total / CONCURRENCY,
        "list_schedule_s": list_schedule(plain["trial_s"], CONCURRENCY),
        "parallel_wall_s": parallel and parallel["wall_s"],
        "parallel_trial_s": parallel and parallel["trial_s"],
        "parallel_others_cpu_s": parallel and parallel["others_cpu_s"],
        "ray_init_s": swept["ray_init_s"], "fit_s": swept["fit_s"], "run_sweep_s": swept["run_sweep_s"],
        "ratio": swept["fit_s"] / (total / CONCURRENCY),
        "fit_cpu": swept["cpu"], "sweep_trials": sw,
        "last_trial_to_fit_end_s": swept["fit_end"] - max(w["end"] for w in sw),
        "gap_between_trials_s": statistics.mean(gaps) if gaps else 0.0,
        "driver": swept["driver"],
    }
    pids = sorted({w["pid"] for w in sw})
    f["worker_trials_s"] = sum(w["span_s"] for w in sw) / len(pids)
    f["worker_report_s"] = sum(w["report_s"] for w in sw) / len(pids)
    f["worker_gaps_s"] = sum(gaps) / len(pids)
    f["worker_idle_end_s"] = statistics.mean(swept["fit_end"] - max(w["end"] for w in sw if w["pid"] == pid)
                                             for pid in pids)
    starts = [w["process_start"] for w in sw if w.get("process_start")]
    f["fit_to_worker_process_s"] = statistics.mean(set(starts)) - swept["fit_start"] if starts else None
    f["fit_to_first_trial_s"] = statistics.mean(min(w["start"] for w in sw if w["pid"] == pid)
                                                for pid in pids) - swept["fit_start"]
    print(report(f))
    if args.json:
        args.json.write_text(json.dumps(f, indent=1))
    if args.keep:
        print(f"  kept: {workdir}")
    else:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

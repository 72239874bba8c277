# SPDX-License-Identifier: MIT
"""Everything that touches Ray Tune: the trainable, the searcher, the callback.

Imported only by :mod:`synaptune.hpo.sweep` when a sweep starts. Classes are
defined at module level so Tune can pickle them into its experiment state and
restore them on ``--resume``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import torch
from ray import tune
from ray.tune.search import ConcurrencyLimiter, Searcher
from ray.tune.search.optuna import OptunaSearch

from synaptune.benchmarks.base import Stream
from synaptune.hpo import storage
from synaptune.hpo.artifacts import log_prototypes_png, write_prototypes_png
from synaptune.hpo.store import TrialLogger, is_complete
from synaptune.hpo.trial import (CHECKPOINT_FILE, OBJECTIVE, TRIAL_METRIC, CheckpointError, TrialRun,
                                 checkpoint_task, resumed_from, skip_reason)
from synaptune.learners import LEARNERS
from synaptune.searchspaces import SearchSpace
from synaptune.threads import use_threads

logger = logging.getLogger(__name__)

#: Test-only fault switch: a trial raises once when it is about to train this task.
FAULT_AT_TASK_ENV = "SYNAPTUNE_TEST_FAULT_AT_TASK"
#: Where the fault switch remembers which trials already failed (one file per trial).
FAULT_DIR_ENV = "SYNAPTUNE_TEST_FAULT_DIR"
#: Test-only: append a line per trial start ("<trial_id> start <first task> <time> <node id>")
#: and per checkpointed task ("<trial_id> reported <tasks seen> <time> <node id>") to this file.
EVENT_LOG_ENV = "SYNAPTUNE_TEST_EVENT_LOG"


@dataclass(frozen=True)
class TrialSpec:
    """What every trial of a sweep shares (shipped once through the object store)."""

    learner: str
    fixed: dict[str, Any]
    seeds: tuple[int, ...]
    fault_at_task: int | None = None
    fault_dir: str | None = None
    event_log: str | None = None
    threads: int = 1
    #: The sweep's results folder when it is a file system path (None for object-store URIs).
    storage_dir: str | None = None
    #: ``--aggregate``: how the runs (task orders x seeds) make the objective.
    aggregate: str = "mean"

    @classmethod
    def from_env(cls, learner: str, fixed: dict[str, Any], seeds: tuple[int, ...], *,
                 threads: int = 1, storage_dir: str | None = None, aggregate: str = "mean") -> TrialSpec:
        fault = os.environ.get(FAULT_AT_TASK_ENV)
        return cls(learner, fixed, seeds, int(fault) if fault else None,
                   os.environ.get(FAULT_DIR_ENV), os.environ.get(EVENT_LOG_ENV), threads, storage_dir, aggregate)


def _log_event(spec: TrialSpec, trial_id: str, what: str, task: int) -> None:
    if spec.event_log:
        import ray

        node_id = ray.get_runtime_context().get_node_id()
        with open(spec.event_log, "a") as f:
            f.write(f"{trial_id} {what} {task} {time.time():.3f} {node_id}\n")


def _maybe_fail(spec: TrialSpec, trial_id: str, task: int) -> None:
    if spec.fault_at_task is None or task != spec.fault_at_task or not spec.fault_dir:
        return
    marker = Path(spec.fault_dir) / f"{trial_id}.failed"
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(task))
        raise RuntimeError(f"test fault: trial {trial_id} fails once before task {task}")


def _checkpoints_on_disk(spec: TrialSpec, trial_id: str) -> list[Path]:
    """The trial's checkpoint folders in the results folder (none for object-store URIs).

    Tune's experiment state is written every few seconds (:func:`paced_snapshots`), so a driver killed
    right after a report may restore a trial from an older checkpoint (or none)
    although a newer one reached storage; and the one Tune recorded may be the
    one that is damaged. Looking at the files themselves loses nothing.
    """
    if not spec.storage_dir:
        return []
    return sorted(p.parent for p in Path(spec.storage_dir).glob(f"train_trial_{trial_id}_*/checkpoint_*/{CHECKPOINT_FILE}"))


def _label(spec: TrialSpec, folder: Path) -> str:
    """``<trial folder>/<checkpoint folder>`` for messages (the whole path when it is elsewhere)."""
    return f"{folder.parent.name}/{folder.name}" if spec.storage_dir and \
        Path(spec.storage_dir) in folder.parents else str(folder)


def restore(run: TrialRun, spec: TrialSpec, trial_id: str, tune_checkpoint: Any) -> int | None:
    """Continue ``run`` from the newest checkpoint that loads and checks; returns Tune's task count.

    Checkpoints are tried, not trusted: every candidate (the one Tune recorded and
    those on disk) is read and checked (:meth:`TrialRun.read_checkpoint`); the one
    with the most tasks done wins (Tune's on a tie), and the trial starts from task
    0 when none is usable. What was skipped is named in one warning line (in the worker's log),
    and ``run.resumed`` says where the trial resumed and which newer checkpoints it skipped,
    for its first result (the driver prints it; see :class:`synaptune.hpo.trial.Resumed`).

    Returns the tasks done in Tune's checkpoint when it was the one restored (so
    Tune has seen its result), else None: the caller then reports the restored
    state again, since Tune's view of the trial lags it.
    """
    found: list[tuple[int, bool, str, dict[str, Any]]] = []  # (tasks done, is Tune's, label, state)
    skipped: list[str] = []
    unusable: list[tuple[int | None, str, str]] = []  # (tasks done by its note, folder name, why)

    def consider(folder: Path, label: str, is_tunes: bool) -> None:
        try:
            state = run.read_checkpoint(folder)
        except CheckpointError as e:
            skipped.append(f"{label} {e}")
            unusable.append((checkpoint_task(folder), folder.name, skip_reason(folder, e)))
        else:
            found.append((int(state["tasks_done"]), is_tunes, label, state))

    tunes_folder = None
    if tune_checkpoint is not None:
        with tune_checkpoint.as_directory() as d:
            tunes_folder = Path(d).resolve()
            consider(tunes_folder, _label(spec, tunes_folder), True)
    for folder in _checkpoints_on_disk(spec, trial_id):
        if folder.resolve() != tunes_folder:
            consider(folder, _label(spec, folder), False)
    if not found and not skipped:
        return None
    chosen = max(found, key=lambda c: (c[0], c[1])) if found else None
    if chosen is not None:
        run.apply_checkpoint(chosen[3])
    run.resumed = resumed_from((chosen[0], Path(chosen[2]).name) if chosen is not None else None, unusable)
    if skipped:
        outcome = (f"restored from {chosen[2]} ({chosen[0]} of {run.stream.n_tasks} tasks done)"
                   if chosen is not None else "no usable checkpoint: starting again from task 0")
        logger.warning("trial %s: skipped %d checkpoint(s) that do not load or check (%s); %s", trial_id,
                       len(skipped), "; ".join(skipped), outcome)
    return chosen[0] if chosen is not None and chosen[1] else None


def stream_key(stream: Stream) -> str:
    """A digest of everything that makes ``stream`` what it is, for :func:`_streams_on`'s cache.

    Its name, scenario, input shape and class count; per task its id, classes, train / val /
    test indices and permutation; and its pool's tensors (dtype, shape and bytes), once per pool.
    So streams of the same name and task count built with other settings (benchmark seed,
    classes per task, validation fraction, a data directory holding other files) differ, and
    two built alike (a trial's copy of the one shipped to every trial) are the same. Hashing
    reads every byte once per trial start: milliseconds for split-digits, a few tenths of a
    second for MNIST's pool, against the minutes of a trial on it.
    """
    digest = hashlib.blake2b(digest_size=20)

    def add(*parts: Any) -> None:
        digest.update(repr(parts).encode())

    def add_tensor(t: torch.Tensor | None) -> None:
        if t is None:
            add(None)
            return
        add(str(t.dtype), tuple(t.shape))
        digest.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())

    add(stream.name, stream.scenario, tuple(stream.input_shape), stream.n_classes, stream.n_tasks)
    pools: dict[int, int] = {}  # tasks share one pool: hash it once
    for task in stream.tasks:
        if id(task.pool) not in pools:
            pools[id(task.pool)] = len(pools)
            add("pool", len(pools) - 1)
            for f in dataclasses.fields(task.pool):
                add_tensor(getattr(task.pool, f.name))
        add("task", task.id, tuple(task.classes), pools[id(task.pool)])
        for t in (task.train_idx, task.val_idx, task.test_idx, task.permutation):
            add_tensor(t)
    return digest.hexdigest()


#: The last streams moved to a device in this process: ``(device, stream keys) -> streams on it``.
_DEVICE_STREAMS: dict[tuple[str, tuple[str, ...]], tuple[Stream, ...]] = {}


def _streams_on(streams: tuple[Stream, ...], device: str) -> tuple[Stream, ...]:
    """The streams on ``device``: as they are on the CPU (where streams are built), else :func:`_moved`."""
    if torch.device(device).type == "cpu":
        return streams  # nothing to move, nothing to hash
    return _moved(streams, device)


def _moved(streams: tuple[Stream, ...], device: str) -> tuple[Stream, ...]:
    """The streams moved to ``device``, once per worker process while its trials get the same streams.

    Keyed by :func:`stream_key` (content, not names): another stream of the same name and
    task count (a later sweep in this process, other settings) is moved anew, not mistaken
    for the cached one.
    """
    key = (str(device), tuple(stream_key(s) for s in streams))
    if key not in _DEVICE_STREAMS:
        _DEVICE_STREAMS.clear()
        _DEVICE_STREAMS[key] = tuple(s.to(device) for s in streams)
    return _DEVICE_STREAMS[key]


def train_trial(config: dict[str, Any], stream: Stream, spec: TrialSpec,
                more_orders: tuple[Stream, ...] = ()) -> None:
    """Tune function trainable: one configuration through the whole stream.

    After each task it saves a checkpoint and reports ``tasks_seen``,
    ``val/acc_seen``, the per-task accuracies and the accuracy matrix so far; a
    restarted trial continues from the last finished task.

    A run that diverges (NaN or infinite state, accuracy or objective; see
    :meth:`TrialRun.diverged`) reports that result and stops: later tasks cannot
    repair it, and its numbers are no answer. The searcher tells Optuna FAIL and
    the driver marks the trial failed (reason ``diverged``).
    """
    params = LEARNERS.get(spec.learner).params_cls(**{**spec.fixed, **config})
    # One torch thread per CPU of the trial, whatever OMP_NUM_THREADS the worker inherited:
    # two trials with two threads each on two cores run many times slower.
    use_threads(spec.threads)
    # Ray hides GPUs from trials that did not ask for one (CUDA_VISIBLE_DEVICES="").
    device = "cuda" if torch.cuda.is_available() else "cpu"
    first, *others = _streams_on((stream, *more_orders), device)
    run = TrialRun(spec.learner, params, first, seeds=spec.seeds, device=device, more_orders=tuple(others),
                   aggregate=spec.aggregate)
    trial_id = tune.get_context().get_trial_id()
    tunes_tasks = restore(run, spec, trial_id, tune.get_checkpoint())
    reported = False
    if run.tasks_done and tunes_tasks != run.tasks_done:
        # Tune has not seen this state's result (its record lags the files, or names a checkpoint that
        # did not load), or not the trial's end: report it again. The tracker keeps one value per step.
        _report(run)
        reported = True
    if run.tasks_done and run.diverged() is not None:
        # Restored from a checkpoint that had already diverged: training on is meaningless. Its result
        # goes (again, unless just sent) to Tune, so that the trial's last result says why it ends, even
        # when Tune's restored state lags the checkpoint or predates the divergence check.
        if not reported:
            _report(run)
        return
    _log_event(spec, trial_id, "start", run.tasks_done)
    while not run.finished:
        _maybe_fail(spec, trial_id, run.tasks_done)
        result = _report(run, run.step())
        _log_event(spec, trial_id, "reported", run.tasks_done)
        if result.get("diverged"):
            return  # further tasks are meaningless; the trial ends with this result


#: Metrics that choose (the searcher's and ASHA's per-task metric, the ranking objective): NaN in a
#: diverged trial's Tune result, whatever was measured.
_CHOOSING_METRICS = (TRIAL_METRIC, OBJECTIVE)


def _report(run: TrialRun, result: dict[str, Any] | None = None) -> dict[str, Any]:
    """``tune.report`` the metrics after the last finished task, with a checkpoint of ``run``.

    ``result`` is ``run.metrics()`` when the caller has it already. Returns what was reported.

    A diverged run's result keeps ``diverged``/``diverged_reason``, every key Tune
    needs (``tasks_seen``, ``n_tasks``, ``objective_seen``, ``<split>/acc_seen``,
    the multi-objective per-task names) and the measured per-task accuracies,
    but its choosing metrics (``objective_seen``, ``<split>/acc_seen`` and the
    final ``objective``, ``<split>/acc``) are NaN: NaN weights can still score a
    finite, plausible accuracy (argmax of NaN logits picks some class), and that
    score must count nowhere. NaN is safe where these metrics go (Ray 2.x):
    ASHA compares ``nan < cutoff`` (False: CONTINUE, and the trial returns
    anyway) and computes its rung cutoffs with ``np.nanpercentile``, so the
    diverged trial does not lower the bar for others, where a finite junk score
    would; ``StreamAwareOptunaSearch`` never hands a diverged result's values to
    Optuna (it skips the intermediate value and tells FAIL without values); Tune's
    best-result helpers filter NaN by default. ``state_bytes`` and
    ``train_seconds`` (finite, measured) are left as they are.
    """
    import ray

    result = dict(run.metrics() if result is None else result)
    result.update(run.resume_fields())  # the first result after a restore says where it resumed
    diverged = bool(result.get("diverged"))
    if diverged:
        sp = run.eval_split
        for name in (*_CHOOSING_METRICS, f"{sp}/acc_seen", f"{sp}/acc"):
            if name in result:
                result[name] = float("nan")
    # A JSON string, not a nested list: Tune's loggers only take scalars and strings.
    result["accuracy_matrix"] = json.dumps(run.accuracy_matrix())
    # Every earlier task's metrics: the tracker logs the steps it does not have yet (a driver killed
    # with results queued for MLflow loses them; the resumed trial's next report brings them back).
    result["history"] = json.dumps(run.history[:-1])
    result["node_id"] = ray.get_runtime_context().get_node_id()
    with tempfile.TemporaryDirectory() as d:
        run.save(d)
        if run.finished and not diverged:  # the prototype picture (first seed) goes with the last checkpoint
            write_prototypes_png(run.learners[0], d)
        tune.report(result, checkpoint=tune.Checkpoint.from_directory(d))
    return result


class StreamAwareOptunaSearch(OptunaSearch):  # type: ignore[misc]
    """``OptunaSearch`` that tells Optuna the truth about early-stopped trials.

    Ray Tune hands a trial stopped by ASHA to the searcher as *complete*, with
    its last (few-task) score, which is not comparable with full-stream scores.
    Here such a trial is told to Optuna as PRUNED; intermediate values are
    reported at step = tasks seen. A diverged trial (result with ``diverged``,
    see :meth:`TrialRun.diverged`) is told as FAIL, whatever Tune says: its
    numbers must not steer the sampler, and a failed configuration is what it is.

    ``first`` (the learner's defaults) is the config of the first trial, handed out
    before Optuna samples anything and never told to Optuna: its values may lie
    outside the space's ranges, where Optuna's distributions cannot hold them.
    """

    def __init__(self, *args: Any, first: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The config of the first trial (the learner's defaults), given before Optuna samples anything.
        self._first = None if first is None else dict(first)
        #: The trial that got it (not an Optuna trial: its values may lie outside the space's ranges).
        self._first_trial: str | None = None

    def suggest(self, trial_id: str) -> dict | None:
        if self._first is not None and trial_id not in self._ot_trials:
            config, self._first, self._first_trial = self._first, None, trial_id
            return dict(config)
        return super().suggest(trial_id)

    def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
        """Tune's ``Searcher.save_to_dir``, with the file fsynced before it replaces the old one
        (:func:`~synaptune.hpo.storage.atomic_write`): a failed write leaves the last good state."""
        storage.atomic_write(Path(checkpoint_dir) / self.CKPT_FILE_TMPL.format(session_str),
                             lambda tmp: self.save(str(tmp)))

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if isinstance(self.metric, list):
            return  # multi-objective studies take no intermediate values
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        if result.get("diverged"):
            return  # no intermediate value from a diverged trial (its metrics are NaN or junk)
        try:
            self._ot_trials[trial_id].report(result[self.metric], int(result["tasks_seen"]))
        except (NotImplementedError, ValueError, KeyError):
            pass  # e.g. a resumed trial re-reporting a step Optuna already has

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id == self._first_trial:
            return  # the defaults trial was never asked of Optuna
        if result and result.get("diverged"):
            # OptunaSearch tells FAIL only for no value and error=True (a value means COMPLETE,
            # no value without error PRUNED); a diverged trial ends normally in Tune's eyes.
            result, error = None, True
        elif result and not is_complete(result.get("tasks_seen"), result.get("n_tasks")):
            result = None  # Optuna state PRUNED, not COMPLETE
        super().on_trial_complete(trial_id, result, error)


class DefineByRun:
    """Samples a :class:`SearchSpace` with an Optuna trial, honouring ``when`` and alternatives.

    Bounds are inclusive (Optuna's own distributions, not Tune's exclusive
    ``randint``). Values from ``fixed`` are not suggested (the trainable adds them).

    Each alternative of a parameter (``lr`` with one range under SGD, another under Adam) is
    suggested under its own Optuna name (:attr:`Dim.optuna_name`, ``lr|optimizer=adam``): Optuna's
    storage refuses one name with another ``log`` or other choices across trials, and TPE would
    model values drawn from different ranges as one density. The trial's config must still hold the
    plain name ``lr`` (the learner's Params, MLflow and the progress lines read it), so:

    - a call returns the point keyed by plain names (Ray's ``OptunaSearch`` lays the returned dict
      over the values its wrapper of the trial captured, keyed by Optuna names), and
    - an alternative is suggested on the Optuna trial *under* that wrapper (its ``ot_trial``), so its
      Optuna name is never captured into the config. ``tests/unit/test_space_alternatives.py``
      checks the config ``OptunaSearch.suggest`` hands out.
    """

    def __init__(self, space: SearchSpace) -> None:
        self.dims = space.dims
        self.fixed = dict(space.fixed)

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        """Suggest the active dimensions on ``trial``; returns the point ``{parameter name: value}``."""
        values: dict[str, Any] = dict(self.fixed)
        point: dict[str, Any] = {}
        for d in self.dims:
            if not d.active(values):
                continue
            on = getattr(trial, "ot_trial", trial) if d.alternative else trial
            values[d.name] = point[d.name] = d.suggest(on)
        return point


def sample_configs(space: SearchSpace, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` configurations drawn at random from ``space`` (Optuna's RandomSampler through
    :class:`DefineByRun`, so ``when`` and alternatives are honoured as in a sweep; keyed by
    parameter name; ``fixed`` values left out)."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created in memory" line
    try:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        define = DefineByRun(space)
        return [define(study.ask()) for _ in range(n)]
    finally:
        optuna.logging.set_verbosity(verbosity)


def make_searcher(space: SearchSpace, *, metric: str | list[str], seed: int, mode: str | list[str] = "max",
                  storage: Any = None, study_name: str | None = None,
                  first: dict[str, Any] | None = None) -> StreamAwareOptunaSearch:
    """TPE (seeded) over ``space`` through Ray Tune; lists of metrics and modes make it multi-objective.

    With an Optuna ``storage`` the study ``study_name`` is created there or, if
    it exists, continued: the sampler starts from every trial it already holds.
    ``first``: the config of the first trial, before Optuna samples (the learner's defaults).
    """
    sampler = optuna.samplers.TPESampler(seed=seed)
    return StreamAwareOptunaSearch(space=DefineByRun(space), metric=metric, mode=mode, sampler=sampler,
                                   storage=storage, study_name=study_name if storage is not None else None,
                                   first=first)


def defaults_point(space: SearchSpace) -> dict[str, Any]:
    """The config of a sweep's first trial: each sampled dimension at the learner's default (the space's
    ``fixed`` values applied, ``when`` honoured), so every sweep measures the defaults it must beat.

    A default outside its dimension's range is kept: it is the learner's default, not a sample.
    """
    defaults = space.build({})
    values: dict[str, Any] = dict(space.fixed)
    point: dict[str, Any] = {}
    for d in space.dims:
        if d.name not in point and d.active(values):
            values[d.name] = point[d.name] = getattr(defaults, d.name)
    return point


class BudgetLimiter(ConcurrencyLimiter):  # type: ignore[misc]
    """At most ``max_concurrent`` trials at once, and no new trial once a budget is spent.

    ``time_budget_s`` is wall clock since the sweep started (a resumed sweep
    keeps its start); ``gpu_hours`` is GPUs x hours used by trials, finished
    and running. Running trials are never stopped: the sweep ends within one
    trial's length of the budget, every trial it launched complete.
    """

    def __init__(self, searcher: Any, *, max_concurrent: int, time_budget_s: float | None = None,
                 gpu_hours: float | None = None, gpus_per_trial: float = 0.0) -> None:
        super().__init__(searcher, max_concurrent=max_concurrent)
        self.time_budget_s, self.gpu_hours, self.gpus_per_trial = time_budget_s, gpu_hours, gpus_per_trial
        self.started_at = time.time()
        #: Test-only: driver-side events (budget clock start, each launch, budget spent) in the event log.
        self.event_log = os.environ.get(EVENT_LOG_ENV)
        self._event("-", "budget_started", self.started_at)
        self.trial_started: dict[str, float] = {}
        self.gpu_seconds_done = 0.0
        self.spent_reason: str | None = None

    def _event(self, trial_id: str, what: str, when: float) -> None:
        if self.event_log:
            with open(self.event_log, "a") as f:
                f.write(f"{trial_id} {what} 0 {when:.3f} driver\n")

    def budget_spent(self) -> str | None:
        """Why no new trial may start, or None."""
        now = time.time()
        if self.time_budget_s is not None and now - self.started_at >= self.time_budget_s:
            return f"time budget of {self.time_budget_s:g} s spent"
        if self.gpu_hours is not None:
            running = sum(now - t for t in self.trial_started.values())
            used_h = (self.gpu_seconds_done + running * self.gpus_per_trial) / 3600
            if used_h >= self.gpu_hours:
                return f"GPU budget of {self.gpu_hours:g} GPU hours spent ({used_h:.3g} used)"
        return None

    def suggest(self, trial_id: str) -> dict | None:
        reason = self.budget_spent()
        if reason is not None:
            if self.spent_reason is None:
                self.spent_reason = reason
                logger.warning("%s: no new trials; the running ones finish", reason)
                self._event("-", "budget_spent", time.time())
            return Searcher.FINISHED
        config = super().suggest(trial_id)
        if isinstance(config, dict):
            self.trial_started[trial_id] = time.time()
            self._event(trial_id, "launched", self.trial_started[trial_id])
        return config

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        started = self.trial_started.pop(trial_id, None)
        if started is not None:
            self.gpu_seconds_done += (time.time() - started) * self.gpus_per_trial
        super().on_trial_complete(trial_id, result=result, error=error)


class MLflowTrialCallback(tune.Callback):  # type: ignore[misc]
    """Runs on the driver: forwards trial events to a :class:`TrialLogger`."""

    def __init__(self, inner: TrialLogger) -> None:
        self.inner = inner

    def on_trial_result(self, iteration, trials, trial, result, **info):  # type: ignore[no-untyped-def]
        logger.debug("trial %s: task %d/%d, val/acc_seen %.4f", trial.trial_id, result["tasks_seen"],
                    result["n_tasks"], result["val/acc_seen"])
        self.inner.on_result(trial.trial_id, trial.config, result)

    def on_trial_complete(self, iteration, trials, trial, **info):  # type: ignore[no-untyped-def]
        log_prototypes_png(self.inner, trial)  # read from the checkpoint, logged to the child run
        self.inner.on_end(trial.trial_id, trial.config, trial.last_result, error=False)

    def on_experiment_end(self, trials, **info):  # type: ignore[no-untyped-def]
        self.inner.on_experiment_end({t.trial_id for t in trials})

    def on_trial_error(self, iteration, trials, trial, **info):  # type: ignore[no-untyped-def]
        logger.warning("trial %s failed for good (after retries); see its error.txt under the storage path",
                       trial.trial_id)
        self.inner.on_end(trial.trial_id, trial.config, trial.last_result, error=True)


class LastGoodState(tune.Callback):  # type: ignore[misc]
    """Runs on the driver: after each save of Tune's state, keeps a copy of it as one set in the results folder.

    Tune writes its state files (experiment state, searcher and search state) into
    Ray's staging folder between two of its steps, then copies them into the results
    folder in the background; a copy cut short (a full disk, a killed driver) leaves a
    damaged file there. After each step in which the staged files changed, they are
    copied into ``<experiment>/.synaptune-last-good`` (:func:`~synaptune.hpo.storage.save_last_good`),
    which ``--resume`` puts back when a file is damaged. Local results folders only.
    """

    #: Seconds between two listings of the staging folder.
    LIST_EVERY_S = 5.0

    def __init__(self) -> None:
        self._seen: tuple[tuple[str, int, int], ...] = ()
        self._names: tuple[str, ...] = ()  # Tune's files in the staging folder, as last listed
        self._listed_at = -float("inf")  # time.monotonic() of that listing

    def __getstate__(self) -> dict[str, Any]:
        return {"_seen": (), "_names": (), "_listed_at": -float("inf")}  # a restored sweep saves its first state again

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        if not trials or trials[0].storage.storage_filesystem.type_name != "local":
            return
        staging = Path(trials[0].storage.experiment_driver_staging_path)
        try:
            # The folder also holds a folder per trial, so listing it at every step would cost more
            # as the sweep grows: list it until Tune's files are there, then every few seconds (a
            # resumed sweep's files get new names), and look at the files found in between.
            if not self._names or time.monotonic() - self._listed_at > self.LIST_EVERY_S:
                self._names = tuple(p.name for p in storage.state_files(staging))
                self._listed_at = time.monotonic()
            seen = tuple((name, st.st_mtime_ns, st.st_size)
                         for name in self._names for st in [(staging / name).stat()])
        except OSError:  # a file of the set went away: list the folder again
            self._listed_at = -float("inf")
            return
        if seen and seen != self._seen and storage.save_last_good(staging, trials[0].storage.experiment_fs_path):
            self._seen = seen


#: Seconds between two of Tune's experiment-state snapshots per trial of the sweep (never under
#: ``MIN_SNAPSHOT_PERIOD_S``). A snapshot writes every trial created so far and the searcher's whole
#: study, so its cost grows with the sweep; a period that grows alike keeps the snapshots' share of
#: the driver flat (bench/sweep_scale.py) instead of growing with the square of the trial count.
SNAPSHOT_SECONDS_PER_TRIAL = 0.01
#: The shortest period: a sweep of up to 100 trials is snapshotted every second.
MIN_SNAPSHOT_PERIOD_S = 1.0
#: Tune's setting of the period; a value set before synaptune starts is kept.
SNAPSHOT_PERIOD_ENV = "TUNE_GLOBAL_CHECKPOINT_S"


def snapshot_period_s(trials: int) -> float:
    """Seconds between Tune's experiment-state snapshots in a sweep of ``trials`` trials."""
    return max(MIN_SNAPSHOT_PERIOD_S, SNAPSHOT_SECONDS_PER_TRIAL * trials)


@contextlib.contextmanager
def paced_snapshots(trials: int) -> Iterator[str]:
    """During ``Tuner.fit()``: Tune's experiment state saved every :func:`snapshot_period_s` seconds, and only then.

    Besides its period, Tune forces a snapshot whenever a trial has checkpointed
    ``num_to_keep`` times since the last one (so that its state never names a
    checkpoint it has deleted). With a checkpoint per task that is a snapshot of
    every trial so far for every two tasks of any trial: quadratic in the trial
    count (1.41 s of driver CPU per trial at 1,000 trials). synaptune does not
    need it: a resumed trial reads every checkpoint it has on disk
    (:func:`restore`), and ``--resume`` stands in for a named checkpoint that
    Tune had deleted (:func:`~synaptune.hpo.storage.stand_in_for_deleted_checkpoints`).
    So the forcing hook of Tune's ``_ExperimentCheckpointManager`` is a no-op
    inside this block (a Ray without it is left as it is), and the period is
    set unless the user set ``TUNE_GLOBAL_CHECKPOINT_S``. A SIGKILLed driver
    loses at most the trials started within the last period (their runs end
    ``lost`` and the searcher asks again); Ctrl-C and SIGTERM save the state.
    Yields the period Tune reads (seconds, or the user's value as given).
    """
    set_env = SNAPSHOT_PERIOD_ENV not in os.environ
    if set_env:
        os.environ[SNAPSHOT_PERIOD_ENV] = f"{snapshot_period_s(trials):g}"
    period = os.environ[SNAPSHOT_PERIOD_ENV]
    try:
        from ray.tune.execution.experiment_state import _ExperimentCheckpointManager as manager
    except ImportError:  # another Ray: its forced snapshots stay
        manager = None
    forcing = getattr(manager, "on_trial_checkpoint", None)
    if forcing is not None:
        manager.on_trial_checkpoint = _no_forced_snapshot
    try:
        yield period
    finally:
        if forcing is not None:
            manager.on_trial_checkpoint = forcing
        if set_env:
            os.environ.pop(SNAPSHOT_PERIOD_ENV, None)


def _no_forced_snapshot(self: Any, trial: Any) -> None:
    """Stands in for ``_ExperimentCheckpointManager.on_trial_checkpoint`` (see :func:`paced_snapshots`)."""


#: Configurations drawn at random by :func:`checkpoint_bytes` (plus the upper corner and the defaults).
CHECKPOINT_SIZE_SAMPLES = 8


def checkpoint_bytes(space: Any, stream: Any, *, seeds: int, orders: int, seed: int = 0) -> int:
    """The largest trial checkpoint among a few configurations of ``space`` (bytes, measured), for the room
    check of the results folder (:func:`synaptune.hpo.storage.needed_bytes`).

    ``CHECKPOINT_SIZE_SAMPLES`` configurations are drawn at random (Optuna's RandomSampler
    through the sweep's own space sampler), one more takes every numeric
    dimension at its upper bound, and one is the sweep's defaults trial; each is built as a :class:`TrialRun` (no
    training) and saved to memory. Configurations the learner refuses are skipped.
    """
    samples = sample_configs(space, CHECKPOINT_SIZE_SAMPLES, seed)
    upper = {name: space.overall(name).largest() for name in space.names}
    samples += [upper, defaults_point(space)]  # a default may lie above the space's ranges
    largest = 0
    for sample in samples:
        try:
            params = space.build(sample)
            run = TrialRun(space.learner, params, stream, seeds=tuple(range(seeds)), more_orders=(stream,) * (orders - 1))
        except (ValueError, TypeError):
            continue  # e.g. a combination the learner's Params refuse: never a trial
        buffer = io.BytesIO()
        torch.save({"learners": [lr.state_dict() for lr in run.learners],
                    "matrices": [R.tolist() for R in run.matrices]}, buffer)
        largest = max(largest, buffer.tell())
    return largest

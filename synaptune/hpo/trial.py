# SPDX-License-Identifier: MIT
"""One configuration trained through a whole stream, over one or more seeds.

:class:`TrialRun` is plain PyTorch (no Ray): the Tune trainable, the overhead
benchmark and ``synaptune run`` all drive it. Its whole state (every seed's
learner and the accuracy matrices so far) fits in one ``torch.save`` file, so a
trial resumes mid-stream from the last task it finished.
"""

from __future__ import annotations

import json
import math
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synaptune.benchmarks import metrics
from synaptune.benchmarks.base import Split, Stream
from synaptune.hpo.config import AGGREGATES
from synaptune.learners import LEARNERS
from synaptune.runner import evaluate_row, train_task

#: The note in an empty folder that stands in for a checkpoint Tune had deleted when the sweep
#: was killed (``hpo.storage.stand_in_for_deleted_checkpoints``).
STAND_IN_NOTE = "STAND-IN.txt"
CHECKPOINT_FILE = "trial.pt"
#: A note saved beside ``trial.pt``: its tasks done, so that a resumed trial can name the task of a
#: checkpoint that does not load ("its checkpoint after task 3 was skipped: trial.pt truncated").
TASKS_NOTE = "TASKS-DONE.txt"
#: Fields of the first result a restarted trial reports (see :class:`Resumed`): the tasks done in the
#: checkpoint it loaded (0: none was usable), and the newer checkpoints it skipped, with why (JSON).
RESUMED_FROM_TASK = "resumed_from_task"
SKIPPED_CHECKPOINTS = "skipped_checkpoints"
#: The metric every trial reports after each task (the ``--aggregate`` of the runs' mean
#: accuracy over the tasks seen); after the last task it equals ``objective``. The sweep
#: tunes on it (Optuna, ASHA); the progress lines name it.
TRIAL_METRIC = "objective_seen"
#: What completed trials are ranked by (``val/acc`` aggregated over seeds and task orders).
OBJECTIVE = "objective"


class CheckpointError(ValueError):
    """A trial checkpoint that does not load, or loads but does not fit this trial (see :meth:`TrialRun.read_checkpoint`)."""


class CheckpointLoadError(CheckpointError):
    """A trial checkpoint file that is there but does not load (truncated, empty, not a torch file)."""


def checkpoint_task(directory: str | Path) -> int | None:
    """The tasks done in the checkpoint in ``directory`` by its :data:`TASKS_NOTE`, or None (no note, unreadable)."""
    try:
        return int((Path(directory) / TASKS_NOTE).read_text().strip())
    except (OSError, ValueError):
        return None


def skip_reason(directory: str | Path, error: CheckpointError) -> str:
    """Why the checkpoint in ``directory`` was skipped, in short, naming the file.

    ``trial.pt missing`` (``(Tune had deleted it)`` for a stand-in), ``trial.pt empty``,
    ``trial.pt truncated`` (a zip archive, as ``torch.save`` writes, without its end),
    ``trial.pt unreadable`` (any other file that does not load), else ``trial.pt`` and what
    does not fit this trial (``error``'s text, e.g. ``trial.pt has seeds [1], this trial [0]``).
    """
    path = Path(directory) / CHECKPOINT_FILE
    if not path.is_file():
        deleted = (Path(directory) / STAND_IN_NOTE).is_file()
        return f"{CHECKPOINT_FILE} missing" + (" (Tune had deleted it)" if deleted else "")
    if not isinstance(error, CheckpointLoadError):
        return f"{CHECKPOINT_FILE} {error}"
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(4)
        whole_zip = zipfile.is_zipfile(path)
    except OSError:
        return f"{CHECKPOINT_FILE} unreadable"
    if size == 0:
        return f"{CHECKPOINT_FILE} empty"
    if head == b"PK\x03\x04" and not whole_zip:
        return f"{CHECKPOINT_FILE} truncated"
    return f"{CHECKPOINT_FILE} unreadable"


@dataclass(frozen=True)
class Resumed:
    """Where a restarted trial resumed, and which newer checkpoints it skipped and why.

    The trial tells the driver in its first result (:meth:`fields`), and the driver
    prints it (``hpo.progress``): Tune's record names the checkpoint Tune saw last,
    which may be the one that did not load.

    Args:
        after_task: tasks done in the checkpoint loaded; 0 when none was usable.
        skipped: ``(where, why)`` per skipped checkpoint newer than the one loaded
            (every one when none was usable), newest first: ``("after task 3",
            "trial.pt truncated")``; ``where`` is the folder's name when its task is unknown.
    """

    after_task: int
    skipped: tuple[tuple[str, str], ...] = ()

    def fields(self) -> dict[str, Any]:
        """The result fields: :data:`RESUMED_FROM_TASK` and :data:`SKIPPED_CHECKPOINTS` (a JSON list of pairs)."""
        return {RESUMED_FROM_TASK: self.after_task, SKIPPED_CHECKPOINTS: json.dumps([list(s) for s in self.skipped])}


def resumed_from(chosen: tuple[int, str] | None, skipped: list[tuple[int | None, str, str]]) -> Resumed:
    """What a restore did, for the driver.

    ``chosen`` is ``(tasks done, folder name)`` of the checkpoint loaded, None when none was
    usable; ``skipped`` has ``(tasks done by its note or None, folder name, why)`` per checkpoint
    that was not. Only skipped checkpoints newer than the one loaded are kept (a later task, or,
    when the task is unknown, a later folder: Tune numbers them in order); older ones changed nothing.
    """
    after, name = chosen if chosen is not None else (0, "")
    newer = [s for s in skipped if chosen is None or (s[1] > name if s[0] is None else s[0] > after)]
    newer.sort(key=lambda s: s[1], reverse=True)
    return Resumed(after, tuple((f"after task {task}" if task is not None else folder, why)
                                for task, folder, why in newer))


def aggregate(values: list[float], how: str) -> float:
    """``mean``, ``mean-minus-std`` (population std) or ``worst`` (minimum) of ``values``.

    ``mean-minus-std`` and ``worst`` keep a configuration that wins by the luck
    of one seed or one task order from becoming a preset.
    """
    if how == "mean":
        return float(np.mean(values))
    if how == "mean-minus-std":
        return float(np.mean(values) - np.std(values))
    if how == "worst":
        return float(np.min(values))
    raise ValueError(f"aggregate must be one of {AGGREGATES}, got {how!r}")


@dataclass
class TrialRun:
    """A learner configuration trained on ``stream`` with ``len(seeds)`` seeds.

    Args:
        learner: registered learner name.
        params: the learner's Params instance.
        stream: the continual stream (already on ``device``).
        seeds: one learner per seed; reported numbers are means over seeds.
        device: torch device for the learners.
        train_split / eval_split: ``train``/``val`` in sweeps, ``trainval``/``test`` in ``run``.
        more_orders: the same stream with other class-to-task assignments
            (``--task-orders``); every seed also runs on each of them.
        aggregate: how the runs (orders x seeds) make the ``objective``: ``mean``,
            ``mean-minus-std`` or ``worst`` (see :func:`aggregate`).
    """

    learner: str
    params: Any
    stream: Stream
    seeds: tuple[int, ...] = (0,)
    device: str = "cpu"
    train_split: Split = "train"
    eval_split: Split = "val"
    more_orders: tuple[Stream, ...] = ()
    aggregate: str = "mean"
    tasks_done: int = 0
    #: One T x T accuracy matrix per run (order-major, then seed); NaN where not measured yet.
    matrices: list[np.ndarray] = field(default_factory=list)
    #: Seconds spent in training (not evaluation), summed over runs.
    train_seconds: float = 0.0
    #: The numeric metrics of every finished task (``history[t - 1]`` after task ``t``): they travel
    #: with each result and checkpoint, so the tracker can fill in steps a killed driver never logged.
    history: list[dict[str, float]] = field(default_factory=list)
    #: Set by a restore (``hpo.raytune.restore``); its fields go with the next result (:meth:`resume_fields`).
    resumed: Resumed | None = None

    def __post_init__(self) -> None:
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}, got {self.aggregate!r}")
        cls = LEARNERS.get(self.learner)
        s = self.stream
        #: (stream, learner) per run: every seed on every task order.
        self.runs = [
            (order, cls(self.params, input_shape=s.input_shape, n_classes=s.n_classes, n_tasks=s.n_tasks,
                        scenario=s.scenario, device=self.device, seed=seed))
            for order in (self.stream, *self.more_orders) for seed in self.seeds
        ]
        self.learners = [learner for _, learner in self.runs]
        if not self.matrices:
            self.matrices = [np.full((s.n_tasks, s.n_tasks), np.nan) for _ in self.runs]

    @property
    def finished(self) -> bool:
        return self.tasks_done == self.stream.n_tasks

    def step(self) -> dict[str, Any]:
        """Train every seed on the next task and return its metrics.

        Returns ``tasks_seen``, ``<split>/acc_seen`` (mean accuracy over the tasks
        seen so far, averaged over seeds), ``<split>/acc_task_<j>``, and after the
        last task ``<split>/acc``, ``<split>/bwt``, ``<split>/forgetting`` (with
        ``_std`` over seeds).
        """
        t = self.tasks_done
        for (stream, learner), R in zip(self.runs, self.matrices):
            start = time.perf_counter()
            train_task(learner, stream, t, split=self.train_split)
            self.train_seconds += time.perf_counter() - start
            R[t] = evaluate_row(learner, stream, t, split=self.eval_split)
        self.tasks_done = t + 1
        result = self.metrics()
        self.history.append({k: float(v) for k, v in result.items()
                             if isinstance(v, (int, float)) and not isinstance(v, bool)})
        return result

    def _run_name(self, k: int) -> str:
        """``seed S`` (``, task order O`` with several orders) of run ``k`` (order-major, then seed)."""
        n = len(self.seeds)
        return f"seed {self.seeds[k % n]}" + (f", task order {k // n}" if self.more_orders else "")

    def diverged(self) -> str | None:
        """Why this trial's numbers are no answer (something non-finite), or None.

        A configuration that blows up (say lr=10, momentum 0.99) can leave NaN
        weights behind while its accuracies stay finite (argmax of NaN logits
        picks some class), so it would otherwise finish with a plausible score
        and be ranked. Checked, in this order: every run's learner state (the
        floating tensors of its ``state_dict``), the measured entries of every
        accuracy matrix, and the objective (and ``objective_seen``) so far.

        Cheap enough to run after each task: one device-to-host sync per run
        unless something is wrong, and only then a search for the tensor to name.
        """
        for k, learner in enumerate(self.learners):
            tensors = [(name, t) for name, t in learner.state_dict().items()
                       if isinstance(t, torch.Tensor) and t.is_floating_point() and t.numel()]
            if not tensors:
                continue
            finite = torch.stack([torch.isfinite(t).all() for _, t in tensors])
            if not bool(finite.all()):
                name = next(n for (n, _), ok in zip(tensors, finite.tolist()) if not ok)
                return f"learner state has non-finite values ({self._run_name(k)}, {name})"
        t = self.tasks_done
        sp = self.eval_split
        for k, R in enumerate(self.matrices):
            measured = np.tril(np.ones((t, t), dtype=bool))  # R[i, j] for j <= i < tasks_done
            bad = np.argwhere(measured & ~np.isfinite(R[:t, :t]))
            if len(bad):
                i, j = (int(v) for v in bad[0])
                return f"{sp}/acc_task_{j} is {R[i, j]} ({self._run_name(k)}, after task {i})"
        if t == 0:
            return None
        seen = aggregate([float(np.mean(R[t - 1, :t])) for R in self.matrices], self.aggregate)
        if not math.isfinite(seen):
            return f"{TRIAL_METRIC} is {seen}"
        if self.finished:
            objective = aggregate([float(metrics.average_accuracy(R)) for R in self.matrices], self.aggregate)
            if not math.isfinite(objective):
                return f"{OBJECTIVE} is {objective}"
        return None

    def metrics(self) -> dict[str, Any]:
        """The metrics after the last finished task (see :meth:`step`).

        A diverged run (see :meth:`diverged`) also gets ``diverged: 1`` and
        ``diverged_reason``, so whoever reads the result (the searcher, the
        MLflow logger) marks the trial failed instead of ranking it.
        """
        t = self.tasks_done
        sp = self.eval_split
        mean_row = np.mean([R[t - 1] for R in self.matrices], axis=0)
        seen_per_run = [float(np.mean(R[t - 1, :t])) for R in self.matrices]
        out: dict[str, Any] = {
            "tasks_seen": t,
            "n_tasks": self.stream.n_tasks,
            f"{sp}/acc_seen": float(np.mean(mean_row[:t])),
            TRIAL_METRIC: aggregate(seen_per_run, self.aggregate),
            "state_bytes": self.learners[0].state_bytes(),
            "train_seconds": self.train_seconds,
        }
        for j in range(t):
            out[f"{sp}/acc_task_{j}"] = float(mean_row[j])
        if self.finished:
            out.update(metrics.summarize_runs(self.matrices, sp))
            per_run = [metrics.average_accuracy(R) for R in self.matrices]
            out[f"{sp}/acc_worst"] = float(np.min(per_run))
            out[OBJECTIVE] = aggregate(per_run, self.aggregate)
        reason = self.diverged()
        if reason is not None:
            out["diverged"] = 1
            out["diverged_reason"] = reason
        return out

    def accuracy_matrix(self) -> list[list[float | None]]:
        """Mean accuracy matrix over seeds, JSON-ready (``None`` where not measured)."""
        mean = np.mean(self.matrices, axis=0)
        return [[None if math.isnan(v) else float(v) for v in row] for row in mean]

    def resume_fields(self) -> dict[str, Any]:
        """The restore's :meth:`Resumed.fields` once, for the first result after it; ``{}`` afterwards and if none."""
        note, self.resumed = self.resumed, None
        return note.fields() if note is not None else {}

    def save(self, directory: str | Path) -> Path:
        """Write ``trial.pt`` (the whole state) and its :data:`TASKS_NOTE` into ``directory``; returns the file."""
        (Path(directory) / TASKS_NOTE).write_text(f"{self.tasks_done}\n")
        path = Path(directory) / CHECKPOINT_FILE
        torch.save({"tasks_done": self.tasks_done, "seeds": list(self.seeds),
                    "orders": 1 + len(self.more_orders), "train_seconds": self.train_seconds,
                    "matrices": [R.tolist() for R in self.matrices], "history": self.history,
                    "learners": [lr.state_dict() for lr in self.learners]}, path)
        return path

    def read_checkpoint(self, directory: str | Path) -> dict[str, Any]:
        """The checkpoint in ``directory``, checked against this trial; nothing of ``self`` changes.

        Raises :class:`CheckpointError` (one line: what is wrong) when the file is
        missing, does not load (truncated, not a torch file) or does not fit: other
        seeds or task orders, a task index outside ``0..n_tasks``, accuracy
        matrices of another shape or with measured entries that are not finite
        accuracies in [0, 1], learner states with other keys or tensor shapes.
        A learner state with NaN or inf is *not* refused: it is what a diverged
        trial saved, and restoring it ends the trial as diverged (see :meth:`diverged`).
        """
        path = Path(directory) / CHECKPOINT_FILE
        if not path.is_file():
            stand_in = (Path(directory) / STAND_IN_NOTE).is_file()
            raise CheckpointError("is an empty stand-in for a checkpoint Tune had deleted" if stand_in
                                  else f"no {CHECKPOINT_FILE}")
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as e:  # noqa: BLE001 - truncated, zeroed, not a torch file: all mean "unusable"
            raise CheckpointLoadError(f"does not load ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})")
        if not isinstance(state, dict) or not {"tasks_done", "seeds", "matrices", "learners"} <= state.keys():
            raise CheckpointError("is not a synaptune trial checkpoint")
        if list(state["seeds"]) != list(self.seeds):
            raise CheckpointError(f"has seeds {list(state['seeds'])}, this trial {list(self.seeds)}")
        if int(state.get("orders", 1)) != 1 + len(self.more_orders):
            raise CheckpointError(f"has {state.get('orders', 1)} task orders, this trial {1 + len(self.more_orders)}")
        t, n = state["tasks_done"], self.stream.n_tasks
        if not isinstance(t, int) or not 0 <= t <= n:
            raise CheckpointError(f"says {t!r} tasks done, the stream has {n}")
        matrices = [np.asarray(R, dtype=float) for R in state["matrices"]]
        if len(matrices) != len(self.runs) or any(R.shape != (n, n) for R in matrices):
            raise CheckpointError(f"has accuracy matrices {[R.shape for R in matrices]}, "
                                  f"this trial {len(self.runs)} of {(n, n)}")
        measured = np.tril(np.ones((t, t), dtype=bool))
        for R in matrices:
            values = R[:t, :t][measured]
            if not (np.isfinite(values).all() and ((values >= 0) & (values <= 1)).all()):
                raise CheckpointError("has accuracies that are not finite numbers in [0, 1]")
        if len(state["learners"]) != len(self.learners):
            raise CheckpointError(f"has {len(state['learners'])} learner states, this trial {len(self.learners)}")
        for learner, sd in zip(self.learners, state["learners"]):
            own = learner.state_dict()
            if not isinstance(sd, dict) or sd.keys() != own.keys():
                raise CheckpointError("has learner states with other entries than this learner's")
            for name, value in own.items():
                if isinstance(value, torch.Tensor) and (not isinstance(sd[name], torch.Tensor)
                                                        or sd[name].shape != value.shape):
                    shape = tuple(sd[name].shape) if isinstance(sd[name], torch.Tensor) else type(sd[name]).__name__
                    raise CheckpointError(f"has {name} of shape {shape}, this learner {tuple(value.shape)}")
        seconds = float(state.get("train_seconds", 0.0))
        if not (math.isfinite(seconds) and seconds >= 0):
            raise CheckpointError(f"has train_seconds {seconds}")
        history = state.get("history")
        if history is not None and (not isinstance(history, list) or len(history) != t):
            raise CheckpointError(f"has a history of {len(history) if isinstance(history, list) else '?'} "
                                  f"tasks for {t} tasks done")
        return {**state, "matrices": matrices, "train_seconds": seconds}

    def apply_checkpoint(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (as returned by :meth:`read_checkpoint`)."""
        self.tasks_done = int(state["tasks_done"])
        self.train_seconds = float(state["train_seconds"])
        self.matrices = [np.array(R, dtype=float) for R in state["matrices"]]
        for learner, sd in zip(self.learners, state["learners"]):
            learner.load_state_dict(sd)
        history = state.get("history")
        # Checkpoints from before the history was kept: rebuild it from the matrices (the accuracies
        # and objectives of each task are all there; train_seconds and state_bytes are not).
        self.history = list(history) if history is not None else [self._measured_at(t) for t in
                                                                  range(1, self.tasks_done + 1)]

    def _measured_at(self, t: int) -> dict[str, float]:
        sp = self.eval_split
        mean_row = np.mean([R[t - 1] for R in self.matrices], axis=0)
        out = {"tasks_seen": float(t), "n_tasks": float(self.stream.n_tasks),
               f"{sp}/acc_seen": float(np.mean(mean_row[:t])),
               TRIAL_METRIC: aggregate([float(np.mean(R[t - 1, :t])) for R in self.matrices], self.aggregate)}
        out.update({f"{sp}/acc_task_{j}": float(mean_row[j]) for j in range(t)})
        return out

    def load(self, directory: str | Path) -> None:
        """Continue from the checkpoint in ``directory``; raises :class:`CheckpointError` if it is unusable."""
        self.apply_checkpoint(self.read_checkpoint(directory))

# SPDX-License-Identifier: MIT
"""One configuration trained through a whole stream, over one or more seeds.

:class:`TrialRun` is plain PyTorch (no Ray): the Tune trainable, the overhead
benchmark and ``synaptune run`` all drive it. Its whole state (every seed's
learner and the accuracy matrices so far) fits in one ``torch.save`` file, so a
trial resumes mid-stream from the last task it finished.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synaptune.benchmarks import metrics
from synaptune.benchmarks.base import Split, Stream
from synaptune.learners import LEARNERS
from synaptune.runner import evaluate_row, train_task

CHECKPOINT_FILE = "trial.pt"


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
    """

    learner: str
    params: Any
    stream: Stream
    seeds: tuple[int, ...] = (0,)
    device: str = "cpu"
    train_split: Split = "train"
    eval_split: Split = "val"
    tasks_done: int = 0
    #: One T x T accuracy matrix per seed; NaN where not measured yet.
    matrices: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        cls = LEARNERS.get(self.learner)
        s = self.stream
        self.learners = [
            cls(self.params, input_shape=s.input_shape, n_classes=s.n_classes, n_tasks=s.n_tasks,
                scenario=s.scenario, device=self.device, seed=seed)
            for seed in self.seeds
        ]
        if not self.matrices:
            self.matrices = [np.full((s.n_tasks, s.n_tasks), np.nan) for _ in self.seeds]

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
        for learner, R in zip(self.learners, self.matrices):
            train_task(learner, self.stream, t, split=self.train_split)
            R[t] = evaluate_row(learner, self.stream, t, split=self.eval_split)
        self.tasks_done = t + 1
        return self.metrics()

    def metrics(self) -> dict[str, Any]:
        t = self.tasks_done
        sp = self.eval_split
        mean_row = np.mean([R[t - 1] for R in self.matrices], axis=0)
        out: dict[str, Any] = {
            "tasks_seen": t,
            "n_tasks": self.stream.n_tasks,
            f"{sp}/acc_seen": float(np.mean(mean_row[:t])),
            "state_bytes": self.learners[0].state_bytes(),
        }
        for j in range(t):
            out[f"{sp}/acc_task_{j}"] = float(mean_row[j])
        if self.finished:
            for name, fn in (("acc", metrics.average_accuracy), ("bwt", metrics.backward_transfer),
                             ("forgetting", metrics.forgetting)):
                values = [float(fn(R)) for R in self.matrices]
                out[f"{sp}/{name}"] = float(np.mean(values))
                out[f"{sp}/{name}_std"] = float(np.std(values))
        return out

    def accuracy_matrix(self) -> list[list[float | None]]:
        """Mean accuracy matrix over seeds, JSON-ready (``None`` where not measured)."""
        mean = np.mean(self.matrices, axis=0)
        return [[None if math.isnan(v) else float(v) for v in row] for row in mean]

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / CHECKPOINT_FILE
        torch.save({"tasks_done": self.tasks_done, "seeds": list(self.seeds),
                    "matrices": [R.tolist() for R in self.matrices],
                    "learners": [lr.state_dict() for lr in self.learners]}, path)
        return path

    def load(self, directory: str | Path) -> None:
        state = torch.load(Path(directory) / CHECKPOINT_FILE, map_location=self.device, weights_only=True)
        if list(state["seeds"]) != list(self.seeds):
            raise ValueError(f"checkpoint seeds {state['seeds']} differ from {list(self.seeds)}")
        self.tasks_done = int(state["tasks_done"])
        self.matrices = [np.asarray(R, dtype=float) for R in state["matrices"]]
        for learner, sd in zip(self.learners, state["learners"]):
            learner.load_state_dict(sd)

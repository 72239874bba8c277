# SPDX-License-Identifier: MIT
"""Train a learner through a stream, task by task, and fill the accuracy matrix.

No Ray and no MLflow here: the HPO trainable and ``synaptune run`` both call
:func:`train_task` / :func:`evaluate_row`, and push the numbers wherever they go.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from synaptune.benchmarks.base import Split, Stream, Task
    from synaptune.learners.base import Learner

#: Inputs per forward pass when evaluating (memory, not accuracy, depends on it).
EVAL_BATCH = 1024


@torch.no_grad()
def accuracy(learner: Learner, task: Task, split: Split, *, task_il: bool) -> float:
    """Fraction of ``task``'s ``split`` that ``learner`` labels correctly, in [0, 1].

    The task id is passed to ``predict`` only in the task-il scenario.
    """
    n = task.size(split)
    if n == 0:
        return float("nan")
    correct = 0
    for x, y in task.batches(split, EVAL_BATCH):
        pred = learner.predict(x, task_id=task.id if task_il else None)
        correct += int((pred == y).sum())
    return correct / n


def train_task(learner: Learner, stream: Stream, t: int, *, split: Split = "train") -> dict[str, float]:
    """Train ``learner`` on task ``t`` of ``stream`` (with earlier tasks only for joint)."""
    seen = stream.tasks[:t] if learner.trains_on_seen_tasks else ()
    learner.train()
    out = learner.fit_task(stream.tasks[t], split=split, seen=seen)
    learner.eval()
    return out


def evaluate_row(learner: Learner, stream: Stream, t: int, *, split: Split = "val") -> list[float]:
    """Row ``t`` of the accuracy matrix R, after training task ``t``.

    ``row[j]`` is the accuracy on task ``j`` for ``j <= t``; later tasks are not
    measured (NaN), since no metric uses them.
    """
    task_il = stream.scenario == "task-il"
    return [accuracy(learner, task, split, task_il=task_il) if j <= t else float("nan")
            for j, task in enumerate(stream.tasks)]


#: Device types ``synaptune run --device`` accepts.
DEVICE_TYPES = ("cpu", "cuda", "mps")


def check_device(spec: str) -> str:
    """``spec`` if it names a device this machine has, else a one-line :class:`ConfigError`.

    Accepts ``cpu``, ``cuda``, ``cuda:N`` (N below ``torch.cuda.device_count()``)
    and ``mps`` where available; checked before any data is loaded or trained.
    """
    from synaptune.exceptions import ConfigError

    fix = "use --device cpu, cuda or cuda:N (see `synaptune env` for this machine's devices)"
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError):
        raise ConfigError(f"--device {spec!r} is not a device name; {fix}.") from None
    if device.type not in DEVICE_TYPES:
        raise ConfigError(f"--device {spec}: synaptune runs on {', '.join(DEVICE_TYPES)}, not {device.type}; {fix}.")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {spec}: no CUDA device here (torch.cuda.is_available() is False); "
                              "use --device cpu.")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            have = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
            raise ConfigError(f"--device {spec}: there is no CUDA device {device.index}; this machine has {count} "
                              f"({have}). Use one of them, or --device cpu.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"--device {spec}: no MPS device here (torch.backends.mps.is_available() is False); "
                          "use --device cpu.")
    return spec

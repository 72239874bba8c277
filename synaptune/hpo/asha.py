# SPDX-License-Identifier: MIT
"""Settings that let ASHA and the validation split carry signal.

Pure functions of a :class:`~synaptune.benchmarks.base.Stream` and the sweep's
numbers (no Ray import): the sweep driver calls them before Ray starts, to
refuse a stream that leaves a task without validation samples and to warn
about rungs or validation splits too small to tell configurations apart.

ASHA here is :class:`ray.tune.schedulers.ASHAScheduler` with
``time_attr="tasks_seen"``: its time unit is *tasks trained on*, its
``max_t`` the number of tasks of the tuning stream.
"""

from __future__ import annotations

import numpy as np
import torch

from synaptune.benchmarks.base import Split, Stream
from synaptune.exceptions import ConfigError

#: Grace period (tasks) on split streams: after one task of two classes nearly
#: every configuration is near 100 % accurate, so a rung there prunes at random.
SPLIT_GRACE_TASKS = 2
#: Grace period (tasks) on permuted / domain-il streams: the first task already
#: holds every class, so configurations differ after it.
PERMUTED_GRACE_TASKS = 1

_SPLIT_WORDS = {"train": "training", "val": "validation", "test": "test", "trainval": "training"}


def is_permuted(stream: Stream) -> bool:
    """Whether ``stream`` is a permuted / domain-il stream (any task carries a pixel permutation)."""
    return stream.scenario == "domain-il" or any(t.permutation is not None for t in stream.tasks)


def default_grace_period(stream: Stream) -> int:
    """The first task count (in tasks) at which configurations can differ.

    2 on split streams (``class-il``, ``task-il``): after one 2-class task
    every configuration is near perfect, so a rung at 1 task prunes at random.
    1 on permuted / domain-il streams. Never more than ``stream.n_tasks``.
    """
    grace = PERMUTED_GRACE_TASKS if is_permuted(stream) else SPLIT_GRACE_TASKS
    return max(1, min(grace, stream.n_tasks))


def rung_milestones(grace_period: int, reduction_factor: float, max_t: int) -> list[int]:
    """The task counts at which ASHA may stop a trial, ascending (all below ``max_t``).

    Mirrors Ray's ``_Bracket`` (one bracket): rungs sit at
    ``grace_period * reduction_factor**k`` for ``k < int(log(max_t / grace) / log(rf) + 1)``;
    a rung at ``max_t`` or beyond stops nothing, since a trial that reached
    ``max_t`` has seen every task (ASHA stops it there as finished).

    Args:
        grace_period: tasks before a trial may stop (clamped to ``max_t``).
        reduction_factor: ASHA's ``reduction_factor`` (keeps about 1/rf per rung).
        max_t: the number of tasks of the tuning stream.
    """
    grace = min(grace_period, max_t)
    n_rungs = int(np.log(max_t / grace) / np.log(reduction_factor) + 1)
    milestones = (grace * reduction_factor**k for k in range(n_rungs))
    return sorted(int(m) for m in milestones if m < max_t)


def too_small_warning(trials: int, grace_period: int, reduction_factor: int, max_t: int) -> str | None:
    """A warning when too few trials would reach the last task under ASHA, else ``None``.

    ASHA keeps about ``1 / reduction_factor`` of the trials at each rung, so
    with ``R`` rungs before the last task about ``trials / reduction_factor**R``
    trials see every task. Below ``reduction_factor`` of them the sweep's best
    configuration is chosen among too few (often one or none).

    Args:
        trials: ``--trials``, the number of configurations.
        grace_period: ``--grace-period``, in tasks.
        reduction_factor: ``--reduction-factor``.
        max_t: the number of tasks of the tuning stream (ASHA's ``max_t``).

    Returns:
        One line saying how many trials would finish and what to change
        (``--trials >= N``, ``--grace-period G``, ``--scheduler none``).
    """
    rungs = rung_milestones(grace_period, reduction_factor, max_t)
    if not rungs:
        return None
    needed = reduction_factor ** (len(rungs) + 1)
    if trials >= needed:
        return None
    expected = trials / reduction_factor ** len(rungs)
    fixes = [f"--trials >= {needed}"]
    for grace in range(min(grace_period, max_t) + 1, max_t):
        fewer = rung_milestones(grace, reduction_factor, max_t)
        if fewer and trials >= reduction_factor ** (len(fewer) + 1):
            fixes.append(f"--grace-period {grace}")
            break
    fixes.append("--scheduler none")
    at = ", ".join(str(m) for m in rungs)
    return (f"ASHA stops trials after task{'s' if len(rungs) > 1 else ''} {at} of {max_t} and keeps "
            f"about 1 in {reduction_factor} at each: of {trials} trials about {expected:.1f} would see every "
            f"task, fewer than {reduction_factor}, so the best configuration is chosen among too few. "
            f"Use {', or '.join(fixes)}.")


def _class_counts(stream: Stream) -> list[list[int]]:
    """Per task, the number of training-pool examples of each of its classes (train + val)."""
    counts = []
    for task in stream.tasks:
        _, ys, idx = task.indices("trainval")
        counts.append(torch.unique(ys[idx], return_counts=True)[1].tolist())
    return counts


def _val_fraction_for(stream: Stream, samples: int) -> float | None:
    """The smallest ``--val-fraction`` (in hundredths) giving every task ``samples`` or more
    validation samples, or ``None`` if none below 1 does.

    Mirrors :func:`synaptune.benchmarks.streams.carve_val`: each class gives
    ``floor(val_fraction * n_c)`` of its ``n_c`` examples.
    """
    counts = _class_counts(stream)
    for hundredths in range(1, 100):
        fraction = hundredths / 100
        if all(sum(int(fraction * n) for n in task) >= samples for task in counts):
            return fraction
    return None


def check_eval_samples(stream: Stream, split: Split, *, val_fraction: float | None = None) -> None:
    """Refuse a stream with a task that has no samples in ``split``.

    Args:
        stream: the stream trials are evaluated on.
        split: ``train``, ``val``, ``test`` or ``trainval``.
        val_fraction: the ``--val-fraction`` that cut the stream, named in the message if given.

    Raises:
        ConfigError: one line naming the first empty task and how to fix it.
    """
    for task in stream.tasks:
        if task.size(split) > 0:
            continue
        what = f"no {_SPLIT_WORDS.get(split, split)} samples"
        if split == "val":
            fraction = max(0.1, _val_fraction_for(stream, 1) or 0.1)
            given = f"--val-fraction {val_fraction:g} leaves " if val_fraction is not None else ""
            subject = f"task {task.id} of {stream.name} with {what}" if given else \
                f"task {task.id} of {stream.name} has {what}"
            raise ConfigError(f"{given}{subject}; trials could not be compared. "
                              f"Use --val-fraction {fraction:g} or more.")
        raise ConfigError(f"task {task.id} of {stream.name} has {what}; check --n-tasks / --classes-per-task "
                          "and the dataset.")


def few_samples_warning(stream: Stream, split: Split = "val", minimum: int = 100) -> str | None:
    """A warning when the smallest task has fewer than ``minimum`` samples in ``split``, else ``None``.

    A task's accuracy on ``n`` samples moves in steps of ``1 / n``, so trials
    closer than that cannot be told apart.

    Args:
        stream: the tuning stream.
        split: the split trials are ranked on (``val``).
        minimum: the fewest samples per task that do not warn.
    """
    sizes = [t.size(split) for t in stream.tasks]
    n = min(sizes)
    if n >= minimum or n == 0:
        return None
    task = sizes.index(n)
    helps = []
    if split == "val":
        fraction = _val_fraction_for(stream, minimum)
        helps.append(f"a larger --val-fraction ({fraction:g} gives every task {minimum} or more)"
                     if fraction is not None else "a larger --val-fraction")
    helps.append("--seeds N (averages the training noise out)")
    words = _SPLIT_WORDS.get(split, split)
    helped = " or ".join(helps)
    return (f"task {task} of {stream.name} has only {n} {words} samples: its {words} accuracy moves in "
            f"steps of 1/{n} ({100 / n:.1f} points), so trials closer than that cannot be told apart. "
            f"{helped[0].upper()}{helped[1:]} would help.")


__all__ = ["check_eval_samples", "default_grace_period", "few_samples_warning", "is_permuted",
           "rung_milestones", "too_small_warning"]

# SPDX-License-Identifier: MIT
"""What one trial of a sweep costs, estimated at the sweep's start and logged (never fatal).

Basis. A trial trains each of its runs (seeds x task orders) through every task of
the tuning stream. Training on task t costs about::

    multiply-adds = weights x samples_t x epochs_t      (forward pass; backward is ~2x more)

where ``weights`` counts the learner's parameters (a learner without any, a
SOM, counts its floating buffers, lattice tables included), ``samples_t`` the training samples
of task t (of every task seen so far for a learner that trains on them, such as
``joint``) and ``epochs_t`` its passes over them, read from the Params' epoch
fields (:data:`EPOCH_FIELDS`, :data:`FIRST_LATER_EPOCH_FIELDS`; 1 if it has
none). Evaluation is left out.

Seconds come from a measurement, not a guess: the learner is built once on the
CPU and its own ``predict`` timed on a batch of the first task's training
samples (the trial's torch threads, after a warm-up on fewer), a training pass
over a sample taken as :data:`TRAIN_PER_FORWARD` forward passes (forward,
backward, update), scaled to the trial's sample-epochs, plus
:data:`STEP_OVERHEAD_S` per mini-batch (the Params' ``batch_size``), which is
what a small network's trial mostly spends. Timing ``fit_task``
itself would be closer, but a learner's first optimizer imports
``torch._dynamo`` (seconds); it is timed only for a learner that cannot predict
untrained (a SOM). Per-task extras (an EWC Fisher estimate) are left out. The
build is most of the cost: about a second for sparse-mlp's 16M-weight corner
on a busy 2-core machine, milliseconds for most spaces. Trials on GPUs get no
seconds (a CPU timing says nothing of them).

Two configurations are estimated: the defaults with the space's fixed values
(``--set`` included), and the space's upper corner, every numeric dimension at
its high end (a categorical of numbers at its largest choice), which is the
biggest and longest trial where size and epoch knobs grow with their values. A
corner the Params refuse is left out (the defaults stand alone).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

#: Params fields that count passes over a task's training samples; a learner with several (hebbian:
#: unsupervised and supervised passes) makes that many passes in all.
EPOCH_FIELDS = ("epochs", "hebb_epochs")
#: ``(first task, each later task)`` epoch fields of learners that count them apart (sparse).
FIRST_LATER_EPOCH_FIELDS = (("train_ep", "train_ep_inc"),)
#: A trial estimated to take longer than this (seconds) gets a warning line, with or without --time-budget.
LONG_TRIAL_S = 3600.0
#: Seconds of training one sample, over seconds of predicting it: forward, backward (about twice the
#: forward) and the update.
TRAIN_PER_FORWARD = 3.0
#: Forward multiply-adds the timed batch should cost: its samples are this over the weights, within
#: :data:`TIMING_SAMPLES`.
TIMING_MADDS = 1e8
#: Fewest and most samples in the timed batch. At least 32: a batch of 8 ran a 16M-weight network 3x
#: slower per sample than training's batches of 128 do; 32 samples of it are timed in about 0.1 s.
TIMING_SAMPLES = (32, 256)
#: Seconds each training mini-batch costs beyond its multiply-adds on a CPU (backward bookkeeping, the
#: optimizer's step; about 1.3 ms measured for naive's 6 tensors on split-digits): what a small network's
#: trial mostly spends.
STEP_OVERHEAD_S = 1e-3
#: Samples of the untimed warm-up batch (first-call costs: allocations, kernel choice).
WARMUP_SAMPLES = 2


@dataclass(frozen=True)
class TrialCost:
    """The estimated cost of one trial of one configuration.

    Attributes:
        label: which configuration, for the log (``defaults + fixed``, ``upper corner``).
        params: the learner's Params instance estimated.
        weights: parameters of one learner (count; see :func:`weight_count`).
        sample_epochs: training samples x epochs, summed over the tasks and over the trial's runs (count).
        batches: training mini-batches of the trial (sample-epochs over the Params' ``batch_size``; 0 for a
            learner without one).
        seconds: estimated training time of the whole trial (seconds), or ``None`` when not estimated.
        timing: how ``seconds`` was had: ``timed`` (this configuration, here), ``scaled from <label>`` (the
            per-multiply-add rate of a timed one) or ``scaled from a matrix product`` (a lower bound).
    """

    label: str
    params: Any
    weights: int
    sample_epochs: int
    batches: int = 0
    seconds: float | None = None
    timing: str = ""

    @property
    def madds(self) -> float:
        """Forward multiply-adds of the trial's training: ``weights x sample_epochs``."""
        return float(self.weights) * self.sample_epochs


def task_epochs(params: Any, t: int) -> int:
    """Passes over task ``t``'s training samples (``t`` from 0) that ``params`` ask for (1 if none is named)."""
    for first, later in FIRST_LATER_EPOCH_FIELDS:
        if hasattr(params, first) and hasattr(params, later):
            return int(getattr(params, first if t == 0 else later))
    named = [int(getattr(params, name)) for name in EPOCH_FIELDS if hasattr(params, name)]
    return sum(named) if named else 1


def one_epoch(params: Any) -> Any:
    """``params`` with every epoch field at 1 (what a timed ``fit_task`` trains)."""
    fields = (*EPOCH_FIELDS, *(n for pair in FIRST_LATER_EPOCH_FIELDS for n in pair))
    names = [n for n in fields if hasattr(params, n)]
    return dataclasses.replace(params, **{n: 1 for n in names}) if names else params


def weight_count(learner: Any) -> int:
    """A learner's parameters; for a learner without any (a SOM keeps its prototypes as buffers), its
    floating buffers (count)."""
    params = sum(t.numel() for t in learner.parameters())
    return int(params or sum(b.numel() for b in learner.buffers() if b.is_floating_point()))


def sample_epochs(params: Any, stream: Any, *, seen_tasks: bool = False) -> int:
    """Training samples x epochs of one run through ``stream``, summed over its tasks.

    ``seen_tasks``: the learner trains on every task seen so far (``trains_on_seen_tasks``).
    """
    total, seen = 0, 0
    for t, task in enumerate(stream.tasks):
        n = task.size("train")
        seen += n
        total += (seen if seen_tasks else n) * task_epochs(params, t)
    return total


def upper_corner(space: Any) -> dict[str, Any]:
    """The space's upper corner: each int / float dimension at its high end, each categorical of numbers
    at its largest choice (other categoricals keep their default or fixed value); a parameter with
    alternatives at the top of all of them."""
    from synaptune.searchspaces.space import CategoricalDim

    corner = {}
    for d in map(space.overall, space.names):
        if isinstance(d, CategoricalDim):
            numbers = [c for c in d.choices if isinstance(c, (int, float)) and not isinstance(c, bool)]
            if len(numbers) == len(d.choices):
                corner[d.name] = max(numbers)
        else:
            corner[d.name] = d.largest()
    return corner


def _build(learner_name: str, params: Any, stream: Any) -> Any:
    """The learner at ``params`` for ``stream``, on the CPU (seed 0)."""
    from synaptune.learners import LEARNERS

    return LEARNERS.get(learner_name)(params, input_shape=stream.input_shape, n_classes=stream.n_classes,
                                      n_tasks=stream.n_tasks, scenario=stream.scenario, device="cpu", seed=0)


def trial_cost(learner_name: str, params: Any, stream: Any, *, runs: int = 1, threads: int = 1, label: str = "",
               timed: bool = True) -> TrialCost:
    """One trial of ``runs`` runs through ``stream`` at ``params``: the learner is built once (CPU; with its
    epoch fields at 1, which changes no weight) to count its weights and, with ``timed``, to time it
    (:func:`train_seconds_per_sample`; a failed timing leaves ``seconds`` None). Torch's random state is
    restored."""
    import torch

    from synaptune.learners import LEARNERS

    seen = bool(getattr(LEARNERS.get(learner_name), "trains_on_seen_tasks", False))
    work = sample_epochs(params, stream, seen_tasks=seen) * runs
    batch = getattr(params, "batch_size", None)
    batches = -(-work // batch) if isinstance(batch, int) and batch > 0 else 0
    with torch.random.fork_rng(devices=[]):
        learner = _build(learner_name, one_epoch(params), stream)
        weights = weight_count(learner)
        if not (timed and work):
            return TrialCost(label, params, weights, work, batches)
        try:
            per_sample = train_seconds_per_sample(learner, stream, threads=threads)
        except Exception as e:  # noqa: BLE001 - the estimate then scales another configuration's timing
            logger.debug("cost estimate: timing %s failed: %s: %s", label or params, type(e).__name__, e)
            return TrialCost(label, params, weights, work, batches)
    seconds = per_sample * work + STEP_OVERHEAD_S * batches
    return TrialCost(label, params, weights, work, batches, seconds, "timed")


def train_seconds_per_sample(learner: Any, stream: Any, *, threads: int = 1) -> float:
    """Seconds to train one sample for one epoch, measured here on ``threads`` torch threads (the caller's
    threads are restored).

    :data:`TRAIN_PER_FORWARD` x ``learner.predict`` timed on a batch of the first task's training samples
    (:data:`TIMING_MADDS` over the weights, within :data:`TIMING_SAMPLES`); a learner that cannot predict
    before training (a SOM without labels yet) has one epoch of its ``fit_task`` on that batch timed instead
    (its mini-batch overhead then counts twice: a little high), so it must be built with :func:`one_epoch`
    params.
    """
    import torch

    task = stream.tasks[0]
    low, high = TIMING_SAMPLES
    n = max(low, min(high, int(TIMING_MADDS // max(weight_count(learner), 1))))
    x, _ = next(task.batches("train", n))
    tid = task.id if stream.scenario == "task-il" else None
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        learner.eval()
        with torch.no_grad():
            try:
                learner.predict(x[:WARMUP_SAMPLES], task_id=tid)
            except Exception:  # noqa: BLE001 - e.g. a SOM has no labels to read out before training
                return _fit_seconds_per_sample(learner, task, len(x))
            start = time.perf_counter()
            learner.predict(x, task_id=tid)
            return TRAIN_PER_FORWARD * (time.perf_counter() - start) / len(x)
    finally:
        torch.set_num_threads(before)


def _fit_seconds_per_sample(learner: Any, task: Any, n: int) -> float:
    """Seconds of one ``fit_task`` epoch per sample on the first ``n`` training samples of ``task`` (after a
    warm-up epoch on fewer); ``learner`` is built with :func:`one_epoch` params."""
    import torch

    with torch.enable_grad():
        learner.train()
        learner.fit_task(dataclasses.replace(task, train_idx=task.train_idx[:WARMUP_SAMPLES]))
        start = time.perf_counter()
        learner.fit_task(dataclasses.replace(task, train_idx=task.train_idx[:n]))
        return (time.perf_counter() - start) / min(n, task.size("train"))


def matmul_seconds_per_madd(*, threads: int = 1) -> float:
    """Seconds per multiply-add of a plain float32 matrix product here, on ``threads`` torch threads: what a
    learner reaches at best, so a time scaled by it is a lower bound."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        a, b = torch.ones(256, 512), torch.ones(512, 512)
        a @ b  # warm-up
        start = time.perf_counter()
        a @ b
        return (time.perf_counter() - start) / (256 * 512 * 512)
    finally:
        torch.set_num_threads(before)


def estimate(space: Any, stream: Any, *, runs: int = 1, threads: int = 1, timed: bool = True) -> list[TrialCost]:
    """Trial costs of the defaults with the space's fixed values and, when the Params accept it and it differs,
    of the space's upper corner (:func:`upper_corner`), each timed (``timed``) by :func:`trial_cost`.

    A configuration whose timing failed is scaled from the per-multiply-add rate of one that was timed,
    else from a matrix product's (:func:`matmul_seconds_per_madd`: a lower bound).
    """
    base = space.build({})
    costs = [trial_cost(space.learner, base, stream, runs=runs, threads=threads, label="defaults + fixed",
                        timed=timed)]
    try:
        top = space.build(upper_corner(space))
    except (ValueError, TypeError) as e:  # ConfigError is a ValueError: a corner the Params refuse
        logger.debug("cost estimate: the space's upper corner is refused (%s); defaults only", e)
        top = base
    if top != base:
        costs.append(trial_cost(space.learner, top, stream, runs=runs, threads=threads, label="upper corner",
                                timed=timed))
    untimed = [c for c in costs if c.seconds is None and c.madds]
    if not (timed and untimed):
        return costs
    ref = next((c for c in costs if c.seconds is not None and c.madds), None)
    if ref is not None:
        rate = ((ref.seconds or 0.0) - STEP_OVERHEAD_S * ref.batches) / ref.madds
        how = f"scaled from {ref.label}"
    else:
        rate = TRAIN_PER_FORWARD * matmul_seconds_per_madd(threads=threads)
        how = "at least: scaled from a matrix product"
    return [dataclasses.replace(c, seconds=rate * c.madds + STEP_OVERHEAD_S * c.batches, timing=how)
            if c in untimed else c for c in costs]


def _count(n: float) -> str:
    """``1.2k``, ``16.4M``, ``3.1G``, ``2.2T`` (3 significant digits)."""
    for value, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= value:
            return f"{n / value:.3g}{suffix}"
    return f"{n:.3g}"


def duration(seconds: float) -> str:
    """``0.25 s``, ``45 s``, ``1.7 min``, ``12 min``, ``3.4 h`` (two significant digits below 10)."""
    if seconds < 90:
        return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 5400:
        minutes = seconds / 60
        return f"{minutes:.2g} min" if minutes < 10 else f"{minutes:.0f} min"
    return f"{seconds / 3600:.1f} h"


def cost_lines(costs: list[TrialCost], *, n_tasks: int, runs: int, threads: int, gpus: bool = False,
               time_budget_s: float | None = None) -> tuple[list[str], list[str]]:
    """``(info lines, warning lines)`` describing ``costs``: the basis, one line per configuration, and a
    warning for a trial longer than ``time_budget_s`` or :data:`LONG_TRIAL_S`."""
    timed = any(c.seconds is not None for c in costs)
    how = ("trials run on GPUs, so not timed on this CPU" if gpus else
           f"seconds: training a sample = {TRAIN_PER_FORWARD:g} forward passes of the learner, timed here on "
           f"{threads} torch thread(s), + {STEP_OVERHEAD_S * 1e3:g} ms a mini-batch" if timed else "not timed")
    info = [f"trial cost estimate, training only, through all {n_tasks} tasks x {runs} run(s) "
            f"(multiply-adds = weights x training samples x epochs; {how}):"]
    for c in costs:
        line = (f"  {c.label}: {_count(c.weights)} weights x {_count(c.sample_epochs)} sample-epochs = "
                f"{_count(c.madds)} multiply-adds")
        if c.seconds is not None:
            line += f", about {duration(c.seconds)}"
            if c.timing and c.timing != "timed":
                line += f" ({c.timing})"
        info.append(line)
    warnings = []
    timed_costs = [c for c in costs if c.seconds is not None]
    if timed_costs:
        worst = max(timed_costs, key=lambda c: c.seconds or 0.0)
        limit, what = LONG_TRIAL_S, "an hour"
        if time_budget_s is not None and time_budget_s < LONG_TRIAL_S:
            limit, what = time_budget_s, f"--time-budget {duration(time_budget_s)}"
        if (worst.seconds or 0.0) > limit:
            warnings.append(f"One trial ({worst.label}) may take about {duration(worst.seconds or 0.0)} of "
                            f"training, more than {what}. Hold the knobs that size or lengthen it with --set "
                            f"(e.g. {_hint(worst.params)}), or narrow their ranges in a --space file.")
    return info, warnings


def _hint(params: Any) -> str:
    """A ``--set`` example that shortens a trial of ``params``: its epoch fields above 1 held at 1."""
    names = [n for n in (*(n for pair in FIRST_LATER_EPOCH_FIELDS for n in pair), *EPOCH_FIELDS)
             if isinstance(getattr(params, n, None), int) and getattr(params, n) > 1]
    return " ".join(f"--set {n}=1" for n in names) or "--set NAME=VALUE"


def log_estimate(space: Any, stream: Any, *, runs: int, threads: int, gpus: bool = False,
                 time_budget_s: float | None = None) -> list[TrialCost]:
    """Estimate and log a trial's cost (info; warnings for a long trial). Never raises: a failure is logged
    at debug level and the sweep goes on. Returns the costs (empty after a failure)."""
    try:
        start = time.perf_counter()
        costs = estimate(space, stream, runs=runs, threads=threads, timed=not gpus)
        info, warnings = cost_lines(costs, n_tasks=stream.n_tasks, runs=runs, threads=threads, gpus=gpus,
                                    time_budget_s=time_budget_s)
    except Exception as e:  # noqa: BLE001 - an estimate must never stop a sweep
        logger.debug("cost estimate skipped: %s: %s", type(e).__name__, e, exc_info=True)
        return []
    for line in info:
        logger.info("%s", line)
    for line in warnings:
        logger.warning("%s", line)
    logger.debug("cost estimate took %.2f s", time.perf_counter() - start)
    return costs

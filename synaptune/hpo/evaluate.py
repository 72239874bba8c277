# SPDX-License-Identifier: MIT
"""``synaptune run``: train a configuration from scratch and measure it on the test split."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from synaptune.benchmarks import build_stream
from synaptune.benchmarks.metrics import summarize_runs
from synaptune.exceptions import DivergedError
from synaptune.hpo.presets import Preset
from synaptune.hpo.trial import TrialRun

if TYPE_CHECKING:
    from synaptune.benchmarks.base import Stream


@dataclass(frozen=True)
class PresetResult:
    """What :func:`run_preset` measured on the test data.

    Attributes:
        metrics: ``{"test/acc": mean, "test/acc_std": std, "test/bwt": ..., ...}`` over the seeds.
        matrix: the seeds' mean accuracy matrix R, as rows (``None`` where not measured).
        per_seed: one ``{"test/acc", "test/bwt", "test/forgetting", "train_seconds", "state_bytes",
            "matrix"}`` per seed, in seed order.
        reported_tasks: the stream's tasks trained and tested, ``"FIRST-LAST"`` (e.g. ``"0-4"``).
        params: the learner's parameters, as a dict.
        threads: the torch thread count the numbers came from (they depend on it: the order of float
            sums differs, and training amplifies it), for the caller to record beside them.
    """

    metrics: dict[str, float]
    matrix: list[list[float | None]]
    per_seed: list[dict[str, Any]]
    reported_tasks: str
    params: dict[str, Any]
    threads: int


def run_preset(preset: Preset, *, seeds: int, device: str = "cpu",
               on_task: Callable[[int, int], None] | None = None, stream: Stream | None = None,
               on_seed: Callable[[int, dict[str, Any]], None] | None = None,
               done: dict[int, dict[str, Any]] | None = None) -> PresetResult:
    """Train on train+val of every reported task, in order, and evaluate on test.

    The reported tasks are the whole stream ``preset.benchmark``, except under
    ``validation-tasks:N``: there the first N tasks were for tuning only, and
    the learner is trained and tested on tasks N..T-1 alone (a T-N column matrix).

    Args:
        preset: what to run (its benchmark is the stream to report on).
        seeds: independent runs with seeds 0..seeds-1.
        device: torch device.
        on_task: called as ``on_task(seed_index, tasks_done)`` after each task
            (the CLI's progress bar).
        stream: the stream of ``preset.benchmark`` and ``preset.benchmark_params`` where the caller
            has built it already (``synaptune run`` builds it to check the data first); else built here.
        on_seed: called as ``on_seed(seed_index, result)`` when a seed has finished, with the dict
            :attr:`PresetResult.per_seed` will hold for it (the CLI logs it at once, so a stopped run
            keeps the seeds that finished).
        done: seeds that finished before (``--resume``), by seed, as :attr:`PresetResult.per_seed`
            holds them: not trained again, and part of the result.

    Raises:
        DivergedError: a seed's run went non-finite (see :meth:`TrialRun.diverged`).
    """
    import torch

    built = stream if stream is not None else build_stream(preset.benchmark, preset.benchmark_params)
    stream = preset.protocol.reporting_stream(built).to(device)
    full_tasks = stream.n_tasks + (preset.protocol.n if preset.protocol.kind == "validation-tasks" else 0)
    first = full_tasks - stream.n_tasks
    per_seed = []
    for i in range(seeds):
        if done and i in done:
            per_seed.append(done[i])
            continue
        per_seed.append(_test_seed(preset, stream, i, device=device, first_task=first, on_task=on_task))
        if on_seed is not None:
            on_seed(i, per_seed[-1])
    matrices = [np.array([[np.nan if v is None else v for v in row] for row in r["matrix"]], dtype=np.float64)
                for r in per_seed]
    metrics = summarize_runs(matrices, "test")
    return PresetResult(metrics=metrics, matrix=_json_matrix(np.mean(matrices, axis=0)), per_seed=per_seed,
                        reported_tasks=f"{first}-{full_tasks - 1}", params=dataclasses.asdict(preset.params),
                        threads=torch.get_num_threads())


def _test_seed(preset: Preset, stream: Stream, seed: int, *, device: str, first_task: int,
               on_task: Callable[[int, int], None] | None) -> dict[str, Any]:
    """One seed trained on train+val of every task of ``stream`` and tested on test after each: its
    ``test/acc``, ``test/bwt``, ``test/forgetting``, ``train_seconds``, ``state_bytes`` and ``matrix``."""
    run = TrialRun(preset.learner, preset.params, stream, seeds=(seed,), device=device,
                   train_split="trainval", eval_split="test")
    while not run.finished:
        result = run.step()
        if "diverged" in result:
            # Later tasks cannot repair a broken model, and its numbers are no answer.
            raise DivergedError(
                f"seed {seed} diverged at task {first_task + run.tasks_done - 1} of {preset.benchmark}: "
                f"{result['diverged_reason']}; lower the learning rate (lr, or momentum) and run again.")
        if on_task is not None:
            on_task(seed, run.tasks_done)
    return {**{k: result[k] for k in ("test/acc", "test/bwt", "test/forgetting")},
            "train_seconds": run.train_seconds, "state_bytes": result["state_bytes"],
            "matrix": _json_matrix(run.matrices[0])}


def _json_matrix(R: np.ndarray) -> list[list[float | None]]:
    """An accuracy matrix as JSON-ready rows (``None`` for NaN: not measured)."""
    return [[None if np.isnan(v) else float(v) for v in row] for row in R]

# SPDX-License-Identifier: MIT
"""Continual-learning metrics: pure functions of the accuracy matrix ``R``.

``R[i][j]`` is the accuracy (a fraction in [0, 1]) on task ``j`` after training
on task ``i``; ``T`` is the number of rows (tasks trained so far). Only the
lower triangle ``j <= i`` is read: entries ``j > i`` may be absent (ragged
rows), ``NaN`` or anything else, and columns ``>= T`` are ignored, so a
partially filled T_total x T_total matrix with ``T`` filled rows works.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MatrixLike = Sequence[Sequence[float]] | np.ndarray


def _lower(R: MatrixLike) -> np.ndarray:
    """``R`` as a float64 (T, T) array, NaN above the diagonal."""
    rows = [np.asarray(r, dtype=np.float64).ravel() for r in R]
    T = len(rows)
    if T == 0:
        raise ValueError("the accuracy matrix is empty; train on at least one task first.")
    out = np.full((T, T), np.nan)
    for i, r in enumerate(rows):
        if r.size < i + 1:
            raise ValueError(f"row {i} of the accuracy matrix has {r.size} entries, needs at least {i + 1}.")
        out[i, : i + 1] = r[: i + 1]
    return out


def average_accuracy(R: MatrixLike) -> float:
    """ACC = (1/T) * sum_j R[T-1][j]: mean accuracy over all tasks after the last one."""
    M = _lower(R)
    return float(M[-1].mean())


def backward_transfer(R: MatrixLike) -> float:
    """BWT = 1/(T-1) * sum_{j<T-1} (R[T-1][j] - R[j][j]); 0.0 when T == 1.

    Negative values mean that later tasks hurt earlier ones.
    """
    M = _lower(R)
    T = M.shape[0]
    if T == 1:
        return 0.0
    return float(np.mean(M[-1, : T - 1] - np.diag(M)[: T - 1]))


def forgetting_per_task(R: MatrixLike) -> list[float]:
    """f_j = max_{j <= i < T-1} R[i][j] - R[T-1][j] for each j < T-1 (length T-1)."""
    M = _lower(R)
    T = M.shape[0]
    return [float(np.max(M[j : T - 1, j]) - M[-1, j]) for j in range(T - 1)]


def forgetting(R: MatrixLike) -> float:
    """F = 1/(T-1) * sum_{j<T-1} f_j (see :func:`forgetting_per_task`); 0.0 when T == 1."""
    per_task = forgetting_per_task(R)
    return float(np.mean(per_task)) if per_task else 0.0


def accuracy_seen(row: Sequence[float] | np.ndarray, t: int) -> float:
    """(1/(t+1)) * sum_{j<=t} row[j]: mean accuracy over the tasks seen after training task ``t``."""
    values = np.asarray(row, dtype=np.float64).ravel()
    if not 0 <= t < values.size:
        raise ValueError(f"t={t} is outside the row of {values.size} accuracies.")
    return float(values[: t + 1].mean())


def summarize(R: MatrixLike, prefix: str) -> dict[str, float]:
    """The `/`-namespaced metrics of a matrix, e.g. ``val/acc``, ``val/bwt``.

    Returns:
        ``{prefix}/acc``, ``/bwt``, ``/forgetting``, ``/acc_seen`` (equal to
        ``acc`` for a matrix of T rows) and ``/acc_task_{j}`` for each j < T.
    """
    M = _lower(R)
    T = M.shape[0]
    out = {
        f"{prefix}/acc": average_accuracy(M),
        f"{prefix}/bwt": backward_transfer(M),
        f"{prefix}/forgetting": forgetting(M),
        f"{prefix}/acc_seen": accuracy_seen(M[-1], T - 1),
    }
    out.update({f"{prefix}/acc_task_{j}": float(M[-1, j]) for j in range(T)})
    return out


def summarize_runs(matrices: Sequence[MatrixLike], prefix: str) -> dict[str, float]:
    """``{prefix}/acc``, ``/bwt`` and ``/forgetting`` of each run's matrix (the runs of one configuration:
    its seeds, or seeds x task orders), as the mean over runs and ``_std``, their population standard
    deviation."""
    out = {}
    for name, fn in (("acc", average_accuracy), ("bwt", backward_transfer), ("forgetting", forgetting)):
        values = [float(fn(R)) for R in matrices]
        out[f"{prefix}/{name}"] = float(np.mean(values))
        out[f"{prefix}/{name}_std"] = float(np.std(values))
    return out

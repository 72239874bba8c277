# SPDX-License-Identifier: MIT
"""The report's figures: PNG files drawn with matplotlib on an Agg canvas (no display needed).

:func:`_draw_figures` draws every figure of a sweep into the report folder and
returns one :class:`Section` per figure, or a sentence saying why it could not
be drawn; :func:`param_importances` computes the fANOVA importances with Optuna.
matplotlib, numpy and Optuna are imported inside the functions that use them.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synaptune.hpo.report.data import SweepData, _download_json, _first_line
from synaptune.hpo.mlflow_sweeps import SweepStore
from synaptune.hpo.records import TrialRecord, TrialStatus

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from synaptune.searchspaces.space import SearchSpace

logger = logging.getLogger(__name__)

#: How many of the best completed trials the parallel-coordinates plot shows.
TOP_TRIALS = 10
DPI = 100


@dataclass
class Section:
    """One block of the page: a title, a figure file (or why there is none) and a caption."""

    title: str
    image: str | None
    caption: str
    missing: str | None = None


def _draw_figures(data: SweepData, out: Path) -> list[Section]:
    client = SweepStore(data.tracking_uri)
    best = data.completed[0]
    sections = [_history(data, out), _importance(data, out), _parallel(data, out)]
    doc = _download_json(client, best.run_id, "accuracy_matrix.json")
    matrix = _matrix(doc)
    if matrix is None:
        why = f"the best trial's run {best.run_id} has no readable accuracy_matrix.json."
        sections.append(Section("Accuracy matrix of the best trial", None, "", missing=why))
        sections.append(Section("Per-task accuracy of the best trial", None, "", missing=why))
    else:
        sections += [_heatmap(matrix, best, out), _curves(matrix, best, out)]
    proto = _prototypes(client, best, out)
    if proto is not None:
        sections.append(proto)
    return sections

def _describe(metric: str) -> str:
    """A few words on what a metric is, for captions."""
    return {"objective": "the sweep's objective: validation accuracy over all tasks after the last one, "
                         "aggregated over seeds and task orders",
            "val/acc": "mean validation accuracy over all tasks after the last one"}.get(metric, "its final value")



def _new_figure(width: float = 7.0, height: float = 4.0) -> Figure:
    """A matplotlib Figure on an Agg canvas (no pyplot, no global backend change)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=DPI)
    return path.name


def _history(data: SweepData, out: Path) -> Section:
    fig = _new_figure()
    ax = fig.add_subplot()
    done = sorted(data.completed, key=data.number)
    xs, ys = [data.number(t) for t in done], [data.value(t) for t in done]
    ax.scatter(xs, ys, color="tab:blue", zorder=3, label=f"completed: {data.metric}")
    pick = max if data.mode == "max" else min
    best_so_far = [pick(ys[: i + 1]) for i in range(len(ys))]
    ax.step(xs, best_so_far, where="post", color="tab:red", label="best so far")
    pruned = [t for t in data.trials if t.status is TrialStatus.PRUNED and "val/acc_seen" in t.metrics]
    if pruned:
        ax.scatter([data.number(t) for t in pruned], [t.metrics["val/acc_seen"] for t in pruned], marker="x",
                   color="tab:gray", zorder=3, label="pruned: val/acc_seen when stopped")
    ax.set_xlabel("trial (in start order)")
    ax.set_ylabel(data.metric)
    ax.set_title(f"Optimization history of {data.experiment}")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    name = _save(fig, out / "history.png")
    return Section("Optimization history", name,
                   f"{data.metric} ({_describe(data.metric)}) of each completed "
                   "trial in the order trials started, and the best so far. Pruned trials (stopped by ASHA "
                   "after fewer tasks) are shown at their val/acc_seen when stopped; they saw fewer tasks, "
                   "so they are not comparable with completed ones.")


def _trial_params(space: SearchSpace, trial: TrialRecord) -> dict[str, Any]:
    """The sampled (active) params of a trial, typed; ValueError when they do not fit the space.
    A parameter with alternatives is read by the one its ``when`` selects."""
    values: dict[str, Any] = dict(space.fixed)
    params: dict[str, Any] = {}
    for name in space.names:
        dim = space.active_dim(name, values)
        if dim is None:
            continue
        raw = trial.params.get(dim.name)
        if raw is None:
            raise ValueError(f"`{dim.name}` was not logged")
        value = dim.parse_logged(raw)
        if not dim.contains(value):  # e.g. the sweep's defaults trial: a default outside the range
            raise ValueError(f"`{dim.name}` = {value!r} lies outside {dim.values_text()}")
        values[dim.name] = params[dim.name] = value
    return params


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Silence Optuna's INFO lines ("A new study created in memory") for a moment, then restore."""
    optuna_logger = logging.getLogger("optuna")
    level = optuna_logger.level
    optuna_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        optuna_logger.setLevel(level)


def param_importances(data: SweepData) -> tuple[dict[str, float] | None, str]:
    """fANOVA importances of the sampled params over the completed trials.

    Returns:
        ({param: importance in [0, 1], summing to 1}, note) or (None, why not).
    """
    if data.space is None:
        return None, f"Parameter importances need the search space, but {data.space_problem}."
    if len(data.space.names) < 2:
        names = ", ".join(data.space.names) or "none"
        return None, (f"The search space samples a single parameter ({names}); importances compare "
                      "two or more.")
    import optuna

    # One distribution per parameter, spanning its alternatives: Optuna keeps one per name in a study.
    dists = {name: data.space.overall(name).to_optuna() for name in data.space.names}
    trials, skipped = [], 0
    for t in data.completed:
        try:
            params = _trial_params(data.space, t)
            trials.append(optuna.trial.create_trial(params=params, value=data.value(t),
                                                    distributions={k: dists[k] for k in params}))
        except ValueError as e:  # params outside the space (e.g. a resumed sweep with another space)
            logger.warning("report: trial %s left out of importances: %s", t.trial_id, e)
            skipped += 1
    note = f" {skipped} completed trial(s) did not fit the search space and were left out." if skipped else ""
    if len(trials) < 2:
        return None, (f"Parameter importances need at least 2 completed trials; this sweep has "
                      f"{len(trials)}.{note}")
    with _quiet_optuna():
        study = optuna.create_study(direction="maximize")
        study.add_trials(trials)
        try:
            importances = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
        except Exception as e:  # noqa: BLE001 - e.g. all trials identical; say so on the page
            return None, f"Parameter importances could not be computed: {_first_line(e)}.{note}"
    if len(importances) < 2:
        return None, (f"Only {len(importances)} parameter was sampled in every completed trial; "
                      f"importances compare two or more.{note}")
    return dict(importances), f"fANOVA over {len(trials)} completed trials (Optuna, seed 0).{note}"


def _importance(data: SweepData, out: Path) -> Section:
    title = "Parameter importances"
    importances, note = param_importances(data)
    if importances is None:
        return Section(title, None, "", missing=note)
    names = list(importances)[::-1]  # most important on top
    fig = _new_figure(7.0, 0.5 + 0.45 * len(names) + 0.8)
    ax = fig.add_subplot()
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    for i, n in enumerate(names):
        ax.text(importances[n], i, f" {importances[n]:.2f}", va="center", fontsize="small")
    ax.set_xlim(0, max(1.0, max(importances.values()) * 1.15))
    ax.set_xlabel(f"importance for {data.metric} (fraction of variance, sums to 1)")
    ax.set_title("fANOVA parameter importances")
    name = _save(fig, out / "importance.png")
    return Section(title, name, note + " Importance is the share of the objective's variance a parameter "
                   "explains, estimated from a random forest fitted to the trials.")


def _parallel(data: SweepData, out: Path) -> Section:
    title = "Best trials: parallel coordinates"
    if data.space is None:
        return Section(title, None, "", missing=f"This plot needs the search space, but {data.space_problem}.")
    dims = [data.space.overall(name) for name in data.space.names]  # one axis per parameter
    rows = []
    for t in data.completed:
        try:
            rows.append((t, _trial_params(data.space, t)))
        except ValueError:
            continue
        if len(rows) == TOP_TRIALS:
            break
    if not rows or not dims:
        return Section(title, None, "", missing="No completed trial fits the sweep's search space.")
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    values = [data.value(t) for t, _ in rows]
    vlow, vhigh = min(values), max(values)
    if vhigh - vlow < 1e-9:
        vlow, vhigh = vlow - 0.01, vhigh + 0.01
    norm, cmap = Normalize(vlow, vhigh), colormaps["viridis"]
    fig = _new_figure(max(6.0, 1.6 * (len(dims) + 1)), 4.5)
    ax = fig.add_subplot()
    xs = list(range(len(dims) + 1))
    for t, params in reversed(rows):  # best drawn last, on top
        ys = [d.position(params[d.name]) if d.name in params else math.nan for d in dims]
        ys.append(norm(data.value(t)))
        best = t is rows[0][0]
        ax.plot(xs, ys, color=cmap(norm(data.value(t))), linewidth=3.0 if best else 1.4,
                marker="o", markersize=4, zorder=3 if best else 2)
    for x, d in enumerate(dims):
        ax.axvline(x, color="black", linewidth=0.8, zorder=1)
        for position, label in d.ticks():
            ax.text(x + 0.05, position, label, fontsize="small", va="center",
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1}, zorder=1.5)
    ax.axvline(len(dims), color="black", linewidth=0.8, zorder=1)
    ax.text(len(dims), -0.06, f"{vlow:.3f}", fontsize="small", ha="center", va="top")
    ax.text(len(dims), 1.06, f"{vhigh:.3f}", fontsize="small", ha="center", va="bottom")
    ax.set_xticks(xs, [d.name + (" (log)" if d.log else "") for d in dims] + [data.metric])
    ax.set_yticks([])
    ax.set_ylim(-0.15, 1.15)
    ax.set_xlim(-0.3, len(dims) + 0.3)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    fig.colorbar(_scalar_mappable(norm, cmap), ax=ax, label=data.metric)
    ax.set_title(f"The {len(rows)} best completed trials (thick line: the best)")
    name = _save(fig, out / "parallel.png")
    return Section(title, name, "Each line is one completed trial, through its sampled parameters (each axis "
                   "spans the search range, log-scaled where the space samples on a log scale) to its "
                   f"{data.metric}. A gap means the parameter was not active for that trial (a `when` condition).")


def _scalar_mappable(norm: Any, cmap: Any) -> Any:
    from matplotlib.cm import ScalarMappable

    return ScalarMappable(norm=norm, cmap=cmap)


def _matrix(doc: Any) -> list[list[float]] | None:
    """R (T x T, NaN where not measured) from an ``accuracy_matrix.json`` document, or None."""
    if not isinstance(doc, dict) or not isinstance(doc.get("R"), list) or not doc["R"]:
        return None
    rows = doc["R"]
    try:
        return [[math.nan if v is None else float(v) for v in row] for row in rows]
    except (TypeError, ValueError):
        return None


def _heatmap(R: list[list[float]], best: TrialRecord, out: Path) -> Section:
    import numpy as np
    from matplotlib import colormaps

    M = np.ma.masked_invalid(np.array(R, dtype=float))
    n_rows, n_cols = M.shape
    cmap = colormaps["viridis"].with_extremes(bad="#eeeeee")
    side = min(9.0, 2.5 + 0.7 * max(n_rows, n_cols))
    fig = _new_figure(side + 1.2, side)
    ax = fig.add_subplot()
    im = ax.imshow(M, cmap=cmap, vmin=0.0, vmax=1.0)
    if n_rows * n_cols <= 400:  # numbers stay legible up to 20 x 20
        for i in range(n_rows):
            for j in range(n_cols):
                if not np.ma.is_masked(M[i, j]):
                    ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize="small",
                            color="white" if M[i, j] < 0.5 else "black")
    ax.set_xticks(range(n_cols))
    ax.set_yticks(range(n_rows))
    ax.set_xlabel("task j (evaluated)")
    ax.set_ylabel("after training task i")
    ax.set_title(f"Validation accuracy matrix R of trial {best.trial_id}")
    fig.colorbar(im, ax=ax, label="validation accuracy")
    name = _save(fig, out / "matrix.png")
    return Section("Accuracy matrix of the best trial", name,
                   "R[i][j] = validation accuracy on task j after training on tasks 0..i (tasks numbered "
                   "from 0). The diagonal is accuracy just after learning a task; the last row gives "
                   "val/acc; grey cells were not measured.")


def _curves(R: list[list[float]], best: TrialRecord, out: Path) -> Section:
    T = len(R)
    fig = _new_figure()
    ax = fig.add_subplot()
    for j in range(min(T, len(R[0]) if R else 0)):
        points = [(i, R[i][j]) for i in range(j, T) if j < len(R[i]) and not math.isnan(R[i][j])]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=f"task {j}")
    ax.set_xticks(range(T))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("after training task i")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"Accuracy of each task as later tasks are learned (trial {best.trial_id})")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small", ncol=2 if T > 6 else 1)
    name = _save(fig, out / "curves.png")
    return Section("Per-task accuracy of the best trial", name,
                   "One line per task j: its validation accuracy after training each task i >= j (a column "
                   "of R from the diagonal down). A falling line is forgetting.")


def _prototypes(client: SweepStore, best: TrialRecord, out: Path) -> Section | None:
    """The best trial's prototype picture copied into ``out``, or None when its run has none."""
    from synaptune.hpo.artifacts import PROTOTYPES_PNG

    try:
        names = client.artifact_names(best.run_id)
    except Exception as e:  # noqa: BLE001 - the report does without the picture
        logger.warning("report: could not list the artifacts of run %s: %s", best.run_id, e)
        return None
    if PROTOTYPES_PNG not in names:
        return None
    if not client.download_artifact(best.run_id, PROTOTYPES_PNG, out / "prototypes.png"):
        return None
    return Section("Prototypes of the best trial", "prototypes.png",
                   f"What the best trial's learner stores (its {PROTOTYPES_PNG} artifact), laid out as its map "
                   "after the last task.")

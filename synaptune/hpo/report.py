# SPDX-License-Identifier: MIT
"""A static HTML report of one sweep, read back from MLflow (``synaptune report``).

:func:`write_report` reads the sweep's parent run and its trial runs (layout in
and ranking in :mod:`synaptune.hpo.store`), draws PNG figures with matplotlib (Agg canvas,
no display needed) and writes ``index.html`` beside them. The page uses
relative image paths, inline CSS and one inline script, so it opens from the
file system with no server and no network. The same files are logged as
artifacts of the sweep's parent run under ``report/``.

Figures (each replaced by a sentence saying why when it cannot be drawn):

- ``history.png``: ``val/acc`` of completed trials in start order, the best so
  far, and pruned trials at the ``val/acc_seen`` they had when stopped;
- ``importance.png``: fANOVA parameter importances over the completed trials
  (Optuna's ``FanovaImportanceEvaluator`` on an in-memory study rebuilt from the
  runs' params and the distributions of the sweep's ``search_space.yaml``);
- ``parallel.png``: parallel coordinates of the top trials;
- ``matrix.png`` and ``curves.png``: the best trial's validation accuracy
  matrix R and the accuracy of each task j after training task i >= j;
- ``prototypes.png``: the best trial's prototype picture, when its run has one
  (SOM-based learners, :mod:`synaptune.hpo.artifacts`).
"""

from __future__ import annotations

import contextlib
import datetime
import html
import json
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synaptune.exceptions import ConfigError
from synaptune.hpo.store import (ROLE, SweepStore, TrialRecord, TrialStatus, check_tracking_uri, parse_metric, rank, split_metric,
                                 require_existing_store)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from synaptune.searchspaces.space import SearchSpace

logger = logging.getLogger(__name__)

#: Marks an index.html written by :func:`write_report`; such a folder may be overwritten.
GENERATOR = "synaptune report"
#: Artifact folder of the report on the sweep's parent run.
ARTIFACT_DIR = "report"
#: Every file name the report may write; a new report removes them first (nothing else).
FILES = ("index.html", "history.png", "importance.png", "parallel.png", "matrix.png", "curves.png",
         "prototypes.png")
#: How many of the best completed trials the parallel-coordinates plot shows.
TOP_TRIALS = 10
DPI = 100


@dataclass
class SweepData:
    """What the report shows: the sweep's parent run and its trial records, in start order."""

    experiment: str
    tracking_uri: str
    parent_id: str
    settings: dict[str, str]
    space_yaml: str | None
    space: SearchSpace | None
    space_problem: str | None
    trials: list[TrialRecord]
    #: What the trials are ranked by, and its direction (``--metric``; default ``objective``, max).
    metric: str = "objective"
    mode: str = "max"
    other_sweeps: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def completed(self) -> list[TrialRecord]:
        """Completed trials with a finite metric, best first: :func:`store.rank`, as ``synaptune best`` ranks."""
        return rank(self.trials, self.metric, self.mode)

    def number(self, trial: TrialRecord) -> int:
        """Position of ``trial`` in start order (0-based)."""
        return self.trials.index(trial)

    def value(self, trial: TrialRecord) -> float:
        """The ranked metric of a completed trial."""
        return float(trial.value(self.metric))  # type: ignore[arg-type]

    def counts(self) -> dict[str, int]:
        """Number of trial runs per status (every status, zeros kept)."""
        out = {s.value: 0 for s in TrialStatus}
        for t in self.trials:
            out[t.status.value] += 1
        return out


# --------------------------------------------------------------------------- reading MLflow


def write_report(tracking_uri: str, experiment: str, out_dir: str | Path, *, metric: str | None = None) -> Path:
    """Write the HTML report of sweep ``experiment`` into ``out_dir`` and log it to MLflow.

    Args:
        tracking_uri: the MLflow tracking URI the sweep logged to.
        experiment: the sweep's name (= its MLflow experiment).
        metric: ``NAME[:min|max]`` to rank by (default: the sweep's ``objective``).
        out_dir: folder for ``index.html`` and the PNG figures; created if missing.
            It must be empty, missing, or hold an earlier report (whose files
            are replaced; other files are left alone).

    Returns:
        The path of ``index.html``.

    Raises:
        ConfigError: ``out_dir`` is a file or a non-empty folder without an
            earlier report; no such experiment; no sweep run in it; no completed
            trial yet. Nothing is written then.
        UnreachableError: the tracking store does not answer.
    """
    out = Path(out_dir)
    _check_out_dir(out)  # before any MLflow access, like `export`
    with _no_progress_bars():
        data = load_sweep(tracking_uri, experiment, metric=metric)
        out.mkdir(parents=True, exist_ok=True)
        for name in FILES:  # an earlier report's figures must not outlive it
            (out / name).unlink(missing_ok=True)
        sections = _draw_figures(data, out)
    index = out / "index.html"
    index.write_text(_page(data, sections), encoding="utf-8")
    SweepStore(tracking_uri).log_artifacts(data.parent_id, out, artifact_path=ARTIFACT_DIR)
    logger.info("report of %s written to %s and logged to run %s under %s/", experiment, index,
                data.parent_id, ARTIFACT_DIR)
    return index


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    """No "Downloading artifacts" bar per artifact on stderr (unless the user set the variable)."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    if key in os.environ:
        yield
        return
    os.environ[key] = "false"
    try:
        yield
    finally:
        os.environ.pop(key, None)


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"report folder {out} is a file; give a folder path to -o (it is created if missing).")
    if out.is_dir() and any(out.iterdir()):
        index = out / "index.html"
        head = index.read_text(encoding="utf-8", errors="replace")[:2000] if index.is_file() else ""
        if f'content="{GENERATOR}"' not in head:
            raise ConfigError(f"report folder {out} is not empty and holds no earlier synaptune report; "
                              "refusing to write into it. Give a new or empty folder to -o (it is created "
                              "if missing), or move its files away first.")


# --------------------------------------------------------------------------- reading MLflow


def load_sweep(tracking_uri: str, experiment: str, *, metric: str | None = None) -> SweepData:
    """Read a sweep's parent run, search space and trial records through the :class:`SweepStore`.

    With several sweeps under one experiment name (same name, other results
    paths), the most recently started one is read.

    Raises:
        ConfigError: no store / experiment / sweep run, an unknown metric, or no completed trial.
    """
    check_tracking_uri(tracking_uri)
    require_existing_store(tracking_uri)
    results = SweepStore(tracking_uri)
    results.experiment_id(experiment)  # names the known experiments when it does not exist
    parent = results.sweep_run(experiment)
    if parent is None:
        raise ConfigError(f"MLflow experiment `{experiment}` holds no sweep run (tag {ROLE}=sweep); "
                          "a report needs an experiment made by `synaptune sweep --name NAME`.")
    trials = results.records(experiment, parent_id=parent.info.run_id)
    text = metric or "objective"
    results.check_metric(trials, split_metric(text)[0], experiment)  # a typo first
    name, mode = parse_metric(text)
    settings = dict(parent.data.params)
    data = SweepData(experiment=experiment, tracking_uri=tracking_uri, parent_id=parent.info.run_id,
                     settings=settings, space_yaml=None, space=None, space_problem=None, trials=trials,
                     metric=name, mode=mode, other_sweeps=results.sweep_count(experiment) - 1)
    if not data.completed:
        counts = ", ".join(f"{n} {s}" for s, n in data.counts().items() if n) or "no trial runs"
        raise ConfigError(f"sweep `{experiment}` has no completed trial with a finite {name} yet ({counts}); only "
                          "trials that saw every task are comparable. Let the sweep finish a trial "
                          "(or resume it with `synaptune sweep ... --resume`), then run the report again.")
    data.space_yaml, data.space, data.space_problem = _read_space(results, parent.info.run_id,
                                                                  settings.get("learner"))
    return data


def _read_space(results: SweepStore, run_id: str, learner: str | None) -> tuple[str | None, SearchSpace | None,
                                                                                str | None]:
    """(YAML text, parsed space, why it could not be used) of the parent run's ``search_space.yaml``."""
    text = results.read_artifact(run_id, "search_space.yaml")
    if text is None:
        return None, None, "the sweep run has no readable search_space.yaml"
    try:
        import yaml

        from synaptune.learners import LEARNERS
        from synaptune.searchspaces.space import parse_space

        params_cls = LEARNERS.get(str(learner)).params_cls
        space = parse_space(yaml.safe_load(text), params_cls, learner=str(learner),
                            source=f"search_space.yaml of run {run_id}")
    except Exception as e:  # noqa: BLE001 - a report still shows what it can
        return text, None, f"its search_space.yaml could not be read back: {_first_line(e)}"
    return text, space, None


def _describe(metric: str) -> str:
    """A few words on what a metric is, for captions."""
    return {"objective": "the sweep's objective: validation accuracy over all tasks after the last one, "
                         "aggregated over seeds and task orders",
            "val/acc": "mean validation accuracy over all tasks after the last one"}.get(metric, "its final value")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__


def _download_json(results: SweepStore, run_id: str, path: str) -> Any | None:
    text = results.read_artifact(run_id, path)
    try:
        return json.loads(text) if text is not None else None
    except ValueError:  # unreadable: the caller says so on the page
        return None


# --------------------------------------------------------------------------- figures


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
    """The sampled (active) params of a trial, typed; ValueError when they do not fit the space."""
    values: dict[str, Any] = dict(space.fixed)
    params: dict[str, Any] = {}
    for dim in space.dims:
        if not dim.active(values):
            continue
        raw = trial.params.get(dim.name)
        if raw is None:
            raise ValueError(f"`{dim.name}` was not logged")
        value = dim.parse_logged(raw)
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
    if len(data.space.dims) < 2:
        names = ", ".join(d.name for d in data.space.dims) or "none"
        return None, (f"The search space samples a single parameter ({names}); importances compare "
                      "two or more.")
    import optuna

    dists = {d.name: d.to_optuna() for d in data.space.dims}
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
    dims = list(data.space.dims)
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


# --------------------------------------------------------------------------- the page

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 980px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.meta { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.7em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.tables { display: flex; flex-wrap: wrap; gap: 2em; }
figure { margin: 0.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, .missing { color: #555; font-size: 0.9em; max-width: 800px; }
.missing { font-style: italic; }
pre { background: #f8f8f8; padding: 0.7em; overflow-x: auto; font-size: 0.85em; }
"""

# Counts the images that loaded (naturalWidth > 0) into body attributes once the page has loaded,
# so a headless browser (and the tests) can check the page without a server.
_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (im) { return im.complete && im.naturalWidth > 0; });
  document.body.setAttribute("data-images-total", String(images.length));
  document.body.setAttribute("data-images-loaded", String(loaded.length));
});
"""


def _table(rows: list[tuple[str, str]], header: tuple[str, str] | None = None) -> str:
    e = html.escape
    head = f"<tr><th>{e(header[0])}</th><th>{e(header[1])}</th></tr>" if header else ""
    body = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{head}{body}</table>"


def _best_rows(data: SweepData, best: TrialRecord) -> list[tuple[str, str]]:
    """Rows of the "Best trial" table: its ids, its metrics and the standard error of the sweep's metric."""
    e = html.escape
    rows = [("run", e(best.run_id)), ("trial", e(best.trial_id))]
    rows += [(e(k), f"{best.value(k):.4g}") for k in ("objective", "val/acc", "val/bwt", "val/forgetting",
                                                     "state_bytes") if best.value(k) is not None]
    se = best.standard_error(data.metric)
    rows += [(f"standard error of {e(data.metric)}", f"{se:.2g}")] if se is not None else []
    return rows


def _param_rows(data: SweepData, best: TrialRecord) -> list[tuple[str, str]]:
    """Rows of the "Best parameters" table: sampled parameters first and in bold, then the others."""
    e = html.escape
    sampled = {d.name for d in data.space.dims} if data.space is not None else set()
    params = sorted(best.params, key=lambda k: (k not in sampled, k))
    return [(f"<b>{e(k)}</b>" if k in sampled else e(k), e(best.params[k])) for k in params]


def _notes(data: SweepData) -> list[str]:
    """The notes shown under the page's title, with one about other sweeps of the experiment if any."""
    notes = list(data.notes)
    if data.other_sweeps:
        notes.append(f"This experiment holds {data.other_sweeps + 1} sweeps (the same name with other results "
                     "paths); this page shows the most recently started one.")
    return notes


def _section_html(s: Section) -> str:
    """One figure's block: its heading, then its image and caption, or why it is missing."""
    e = html.escape
    if s.image is None:
        return f"<h2>{e(s.title)}</h2>\n<p class=\"missing\">{e(s.missing or '')}</p>"
    return (f"<h2>{e(s.title)}</h2>\n<figure><img src=\"{e(s.image)}\" alt=\"{e(s.title)}\">"
            f"<figcaption>{e(s.caption)}</figcaption></figure>")


def _page(data: SweepData, sections: list[Section]) -> str:
    """index.html: tables of settings, counts and the best trial, then one block per figure."""
    from synaptune import __version__

    e = html.escape
    best = data.completed[0]
    learner, benchmark = data.settings.get("learner", "?"), data.settings.get("benchmark", "?")
    counts = data.counts()
    count_rows = [(e(s), str(n)) for s, n in counts.items()] + [("<b>all</b>", f"<b>{len(data.trials)}</b>")]
    best_rows = _best_rows(data, best)
    param_rows = _param_rows(data, best)
    setting_rows = [(e(k), e(v)) for k, v in sorted(data.settings.items())]
    notes = _notes(data)
    blocks = [_section_html(s) for s in sections]
    space = (f"<h2>Search space</h2>\n<pre>{e(data.space_yaml)}</pre>" if data.space_yaml else "")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="{GENERATOR}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>synaptune report: {e(data.experiment)}</title>
<style>{_CSS}</style>
<script>{_SCRIPT}</script>
</head>
<body>
<h1>Sweep <code>{e(data.experiment)}</code>: {e(learner)} on {e(benchmark)}</h1>
<p class="meta">MLflow {e(data.tracking_uri)}, sweep run {e(data.parent_id)}; generated {when} by
synaptune {e(__version__)}. Best of {len(data.completed)} completed trial(s) by {e(data.metric)} ({data.mode}): {e(data.metric)} =
{data.value(best):.4g} ({e(best.name)}, trial {e(best.trial_id)}).</p>
{"".join(f'<p class="meta">{e(n)}</p>' for n in notes)}
<div class="tables">
<div><h2>Trials by status</h2>{_table(count_rows, ("status", "trials"))}</div>
<div><h2>Best trial</h2>{_table(best_rows)}</div>
</div>
<h2>Best parameters</h2>
<p class="meta">Sampled parameters in bold; the others were fixed or kept their defaults.</p>
{_table(param_rows, ("parameter", "value"))}
{chr(10).join(blocks)}
<h2>Sweep settings</h2>
{_table(setting_rows, ("setting", "value"))}
{space}
</body>
</html>
"""

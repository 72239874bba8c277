# SPDX-License-Identifier: MIT
"""A static HTML report of one sweep, read back from MLflow (``synaptune report``).

:func:`write_report` reads the sweep's parent run and its trial runs (layout in
:mod:`synaptune.hpo.mlflow_layout`, ranking in :mod:`synaptune.hpo.records`),
draws PNG figures with matplotlib (Agg canvas, no display needed) and writes
``index.html`` beside them. The page uses relative image paths, inline CSS and
one inline script, so it opens from the file system with no server and no
network. The same files are logged as
artifacts of the sweep's parent run under ``report/``.

The work is split over three submodules:

- :mod:`.data`: reading the sweep from MLflow (:class:`SweepData`, :func:`load_sweep`);
- :mod:`.figures`: the PNG figures and the fANOVA importances (:func:`param_importances`);
- :mod:`.page`: the HTML page.

This module checks the output folder and ties them together (:func:`write_report`).

Figures (drawn by :mod:`.figures`; each replaced by a sentence saying why when it cannot be drawn):

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
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from synaptune.exceptions import ConfigError
from synaptune.hpo.report.data import SweepData, load_sweep
from synaptune.hpo.report.figures import DPI, TOP_TRIALS, Section, _draw_figures, param_importances
from synaptune.hpo.report.page import GENERATOR, _page
from synaptune.hpo.mlflow_sweeps import SweepStore

__all__ = ["ARTIFACT_DIR", "DPI", "FILES", "GENERATOR", "TOP_TRIALS", "Section", "SweepData", "load_sweep",
           "param_importances", "write_report"]

logger = logging.getLogger(__name__)

#: Artifact folder of the report on the sweep's parent run.
ARTIFACT_DIR = "report"
#: Every file name the report may write; a new report removes them first (nothing else).
FILES = ("index.html", "history.png", "importance.png", "parallel.png", "matrix.png", "curves.png",
         "prototypes.png")


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
    _check_writable(out)


def _check_writable(out: Path) -> None:
    """Refuse (one line) a report folder that cannot be created or written, before MLflow is read.

    The folders it creates to find out are removed again, so a refused report leaves nothing behind.
    """
    import tempfile

    created = []  # out and its missing parents, deepest first
    p = out.absolute()
    while not p.exists() and p != p.parent:
        created.append(p)
        p = p.parent
    try:
        out.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out).close()
    except OSError as e:
        raise ConfigError(f"report folder {out} cannot be {'created' if created else 'written'} "
                          f"({e.strerror or e}); give -o a folder you can write to.") from None
    finally:
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()

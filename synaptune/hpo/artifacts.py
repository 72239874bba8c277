# SPDX-License-Identifier: MIT
"""Figures logged as MLflow artifacts of a trial's child run.

The picture is drawn where the learner is, on the worker, into the trial's
last checkpoint (:func:`write_prototypes_png`); the driver, which alone talks
to MLflow, copies it from there to the child run (:func:`log_prototypes_png`).
So workers still need no access to the tracking store, and the file travels
with the checkpoint to any storage (local path, shared file system, object store).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from synaptune.hpo.mlflow_trial_logger import TrialLogger
    from synaptune.learners.base import Learner

logger = logging.getLogger(__name__)

#: Name of the prototype picture, in the checkpoint folder and among the run's artifacts.
PROTOTYPES_PNG = "prototypes.png"


def write_prototypes_png(learner: Learner, directory: str | Path) -> Path | None:
    """Write ``learner.prototype_images()`` as a PNG grid into ``directory``.

    Returns the file, or ``None`` when the learner has no prototype picture.
    """
    images = learner.prototype_images()
    if images is None:
        return None
    from synaptune.figures import save_png

    return save_png(images, Path(directory) / PROTOTYPES_PNG)


def log_prototypes_png(trial_logger: TrialLogger, trial: Any) -> bool:
    """Copy ``prototypes.png`` from a finished Tune ``trial``'s checkpoint to its MLflow child run.

    Runs on the driver. Returns whether a picture was logged; a trial without
    one (a learner without prototypes, a pruned trial) logs nothing. A failure
    is logged as a warning and never stops the sweep.
    """
    checkpoint = getattr(trial, "checkpoint", None)
    if checkpoint is None:
        return False
    try:
        from pyarrow.fs import FileType

        src = f"{checkpoint.path.rstrip('/')}/{PROTOTYPES_PNG}"
        if checkpoint.filesystem.get_file_info(src).type == FileType.NotFound:
            return False
        run_id = trial_logger.child_run(trial.trial_id, trial.config)
        with tempfile.TemporaryDirectory() as d:
            local = Path(d) / PROTOTYPES_PNG
            with checkpoint.filesystem.open_input_stream(src) as f:
                local.write_bytes(f.read())
            trial_logger.store.log_artifact(run_id, local)
    except Exception as e:  # noqa: BLE001 - a missing figure must not fail the sweep
        logger.warning("trial %s: could not log %s to MLflow: %s", trial.trial_id, PROTOTYPES_PNG, e)
        return False
    return True

# SPDX-License-Identifier: MIT
"""The results store: one import path for the pure records and the MLflow adapter behind them.

Split as Optuna splits ``trial/_frozen.py`` from ``storages/``:

- :mod:`synaptune.hpo.records` (no MLflow): :class:`TrialRecord`,
  :class:`TrialStatus`, :class:`PresetTestRun`, the completion rule, metric
  directions, :func:`rank`, :func:`pareto_front` and the one noise rule
  (:func:`difference_within_noise`, :func:`within_noise`);
- the MLflow adapter, the only modules that hold an MLflow client:
  :mod:`synaptune.hpo.mlflow_layout` (the layout of a sweep's runs, decoding a
  run into a record), :mod:`synaptune.hpo.mlflow_connection` (tracking URI,
  checks, one connection per URI per process with its logging queue),
  :mod:`synaptune.hpo.mlflow_sweeps` (:class:`SweepStore`, the reader and the
  writer of sweeps) and :mod:`synaptune.hpo.mlflow_trial_logger`
  (:class:`TrialLogger`, the writer of trial runs).

This module only re-exports them, so ``from synaptune.hpo import store`` /
``store.SweepStore`` keep working; importing it opens nothing and sets nothing.
"""

from __future__ import annotations

from synaptune.hpo.mlflow_connection import (DEFAULT_TRACKING_URI, MLFLOW_DEFAULTS, check_tracking_uri,
                                             require_existing_store, resolve_tracking_uri, wait_for_logging)
from synaptune.hpo.mlflow_layout import (ERROR, LEARNER_PREFIX, LOGGED_METRICS, REASON, RESUME_KEY, ROLE, STATUS,
                                         SWEEP_PATH, TRIAL_ID, TRIAL_NUMBER, flat, record_from_run, seeds_run_name,
                                         settings_key)
from synaptune.hpo.mlflow_sweeps import PAGE_SIZE, SweepStore
from synaptune.hpo.mlflow_trial_logger import TrialLogger
from synaptune.hpo.records import (DIRECTIONS, PresetTestRun, TrialRecord, TrialStatus, difference_within_noise,
                                   dominates, is_complete, metric_direction, noise_of_difference, pareto_front,
                                   parse_metric, rank, split_metric, within_noise)

__all__ = [
    "DEFAULT_TRACKING_URI", "DIRECTIONS", "MLFLOW_DEFAULTS", "ERROR", "LEARNER_PREFIX", "LOGGED_METRICS", "PAGE_SIZE",
    "REASON", "RESUME_KEY", "settings_key",
    "ROLE", "STATUS", "SWEEP_PATH", "TRIAL_ID", "TRIAL_NUMBER", "PresetTestRun", "SweepStore", "TrialLogger",
    "TrialRecord", "TrialStatus", "check_tracking_uri", "difference_within_noise", "dominates", "flat",
    "is_complete", "metric_direction", "noise_of_difference", "pareto_front", "parse_metric", "rank",
    "record_from_run", "require_existing_store", "seeds_run_name", "resolve_tracking_uri", "split_metric", "wait_for_logging",
    "within_noise",
]

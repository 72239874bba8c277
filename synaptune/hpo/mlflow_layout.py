# SPDX-License-Identifier: MIT
"""synaptune's layout of a sweep in MLflow: the names of its tags and params, and how a run is decoded.

Part of the MLflow adapter of the results store (with
:mod:`synaptune.hpo.mlflow_connection`, :mod:`synaptune.hpo.mlflow_sweeps` and
:mod:`synaptune.hpo.mlflow_trial_logger`); this module imports no MLflow and
holds no client, so the writer and the reader share one description.

Layout: experiment = sweep name. One parent run per sweep (tag
``synaptune.role=sweep``): the sweep's settings as params, the stream that ran
(``benchmark/*`` resolved, never the defaults' placeholders, ``stream/*``), the
search space as ``search_space.yaml`` and its hash as ``space_sha256``; at the
end tag ``best_run_id``, metrics ``best/objective`` and ``trials/<status>``;
``synaptune sweep`` adds tags ``synaptune.command`` (its command line, without
machine paths), ``synaptune.machine`` and ``synaptune.commit``.
One nested child run per Tune trial (``synaptune.role=trial``), named
``<learner>-<trial number>``, tags ``trial_id`` (Tune's id, how a resumed
sweep finds the run again), ``synaptune.trial_number``, ``synaptune.status``
(a :class:`~synaptune.hpo.records.TrialStatus`; a pruned run is renamed
``<learner>-<n> (pruned after k of T tasks)``, so the UI's list tells it
from a completed one, both being MLflow-FINISHED) and, for failed trials,
``synaptune.reason``; params: the learner's under ``learner/<field>`` and the
sweep's and stream's settings unprefixed / ``benchmark/*`` / ``stream/*`` /
``protocol/*``; metrics ``val/...`` with step = tasks seen, ``objective``,
``tasks_seen``, ``state_bytes``, ``train_seconds``; artifact
``accuracy_matrix.json``.

Beside sweeps: a ``synaptune run`` result is a run tagged
``synaptune.role=run``, named ``<preset or learner> seeds 0-4``
(:func:`seeds_run_name`; tags ``source.experiment`` / ``source.run_id`` name
the sweep and trial its preset was exported from); a ``synaptune compare`` is
a parent run tagged ``synaptune.role=compare`` (named ``<entry> vs <entry>
seeds 0-4``) with one nested
``synaptune.role=compare-run`` per entry and seed.
"""

from __future__ import annotations

from typing import Any

from synaptune.hpo.records import SweepRun, TrialRecord, TrialStatus

#: Metrics of a trial's results logged besides every ``val/...`` one.
LOGGED_METRICS = ("tasks_seen", "state_bytes", "train_seconds", "objective", "objective_seen")
ROLE, STATUS, REASON, TRIAL_ID, TRIAL_NUMBER, SWEEP_PATH = (
    "synaptune.role", "synaptune.status", "synaptune.reason", "trial_id", "synaptune.trial_number",
    "synaptune.sweep_path")
#: Tag of a failed sweep's parent run: why it stopped (one line).
ERROR = "synaptune.error"
#: Tags of a sweep's parent run written by ``synaptune sweep``: its command line (machine paths replaced by
#: placeholders, :func:`synaptune.hpo.presets.portable_command`), the machine it ran on, synaptune's commit.
COMMAND, MACHINE, COMMIT = "synaptune.command", "synaptune.machine", "synaptune.commit"
#: Tag of a sweep's parent run: the trials it was asked for.
TRIALS_ASKED = "synaptune.trials"
#: Prefix of the learner's Params fields among a trial run's params.
LEARNER_PREFIX = "learner/"
#: Tag of a ``run``'s run and a comparison's parent run: a digest of what it runs (:func:`settings_key`);
#: ``run --resume`` / ``compare --resume`` continue the newest unfinished one with the same digest.
RESUME_KEY = "synaptune.resume_key"
#: Tags of a ``synaptune run`` result: the sweep and the trial run its preset was exported from.
SOURCE_EXPERIMENT, SOURCE_RUN_ID = "source.experiment", "source.run_id"


def flat(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    """``{"<prefix><key>": value}``: how grouped settings are logged as MLflow params."""
    return {f"{prefix}{k}": v for k, v in values.items()}


def parse_int(text: Any) -> int | None:
    """An integer logged as a param or tag (``"3"``, ``"3.0"``), or None when it is not one."""
    try:
        return int(float(text))
    except (TypeError, ValueError):
        return None


def record_from_run(run: Any, experiment: str) -> TrialRecord:
    """A :class:`TrialRecord` from an MLflow ``Run`` of a trial (the one place the layout is decoded)."""
    tags, metrics, logged = dict(run.data.tags), dict(run.data.metrics), dict(run.data.params)
    params = {k[len(LEARNER_PREFIX):]: v for k, v in logged.items() if k.startswith(LEARNER_PREFIX)}
    settings = {k: v for k, v in logged.items() if not k.startswith(LEARNER_PREFIX)}
    try:
        status = TrialStatus(tags.get(STATUS, "running"))
    except ValueError:
        status = TrialStatus.FAILED
    samples = tuple(int(n) for n in settings.get("stream/val_samples", "").split(",") if n.strip())
    runs = (parse_int(settings.get("seeds")) or 1) * (parse_int(settings.get("task_orders")) or 1)
    return TrialRecord(
        run_id=run.info.run_id, trial_id=tags.get(TRIAL_ID, "?"), name=run.info.run_name or "",
        status=status, reason=tags.get(REASON), experiment=experiment, learner=settings.get("learner", ""),
        params=params, settings=settings, metrics=metrics,
        tasks_seen=parse_int(metrics.get("tasks_seen", tags.get("tasks_seen"))),
        n_tasks=parse_int(settings.get("stream/tuned_tasks")), val_samples=samples, runs=runs,
        start_time_ms=int(run.info.start_time or 0), tags=tags)


def sweep_from_run(run: Any, experiment: str) -> SweepRun:
    """A :class:`SweepRun` from an MLflow ``Run`` of a sweep's parent."""
    return SweepRun(run_id=run.info.run_id, experiment=experiment, params=dict(run.data.params),
                    tags=dict(run.data.tags), metrics=dict(run.data.metrics),
                    start_time_ms=int(run.info.start_time or 0), end_time_ms=int(run.info.end_time or 0))


def seeds_text(seeds: int) -> str:
    """``seeds 0-4`` for 5 seeds, ``seeds 0`` for one: the seeds 0..seeds-1 that ``run`` and ``compare`` train."""
    return f"seeds 0-{seeds - 1}" if seeds > 1 else "seeds 0"


def seeds_run_name(labels: list[str] | tuple[str, ...], seeds: int, *, task_orders: int = 1) -> str:
    """The MLflow run name of a ``synaptune run`` (one label) or ``compare`` (its entries' labels) result.

    ``split-fashion-mnist/ewc seeds 0-4``; ``split-digits/naive vs ewc seeds 0-2``; with several task
    orders ``..., 3 task orders``. Readable in the MLflow UI's list, where runs would otherwise get
    MLflow's random names. Labels past the fourth are counted, not listed (a run name is kept short).
    """
    shown = list(labels[:4]) + ([f"{len(labels) - 4} more"] if len(labels) > 4 else [])
    name = f"{' vs '.join(shown)} {seeds_text(seeds)}"
    return name + (f", {task_orders} task orders" if task_orders > 1 else "")


def settings_key(settings: Any) -> str:
    """A digest of ``settings`` (JSON-able; values compared as text) that names what a run computes, for
    :data:`RESUME_KEY`: equal settings, equal key."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:20]

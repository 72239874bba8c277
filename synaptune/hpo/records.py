# SPDX-License-Identifier: MIT
"""Trials as read back, and the one ranking, Pareto front and noise rule over them (no MLflow).

The pure half of the results store, as Optuna keeps ``FrozenTrial`` apart from
its storages: :class:`TrialRecord` is one trial (immutable), :class:`TrialStatus`
how it ended, :func:`is_complete` the completion rule, :func:`rank` and
:func:`pareto_front` the only rankings, :func:`difference_within_noise` the one
rule that says whether two numbers differ by more than their noise, and
:class:`PresetTestRun` one ``synaptune run --preset`` result. Nothing here
imports MLflow or knows how records are stored: the MLflow adapter
(:mod:`synaptune.hpo.mlflow_layout` and the ``mlflow_*`` modules beside it)
decodes its runs into these records.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from synaptune.exceptions import ConfigError


class TrialStatus(str, enum.Enum):
    """How a trial ended (tag ``synaptune.status``)."""

    RUNNING = "running"
    #: Saw every task of the tuning stream: the only comparable trials.
    COMPLETED = "completed"
    #: Stopped early by ASHA (fewer tasks seen: not comparable).
    PRUNED = "pruned"
    #: Raised an error for good (after retries), or diverged (NaN / inf; ``synaptune.reason=diverged``).
    FAILED = "failed"
    #: Started less than a second before the driver was killed; replaced by a new trial.
    LOST = "lost"
    #: Stopped by the user (Ctrl-C) before it saw every task.
    INTERRUPTED = "interrupted"


def is_complete(tasks_seen: Any, n_tasks: Any) -> bool:
    """The completion rule: a trial is comparable only when it saw every task of its tuning stream."""
    try:
        return tasks_seen is not None and n_tasks is not None and int(tasks_seen) == int(n_tasks) > 0
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- metrics and direction

#: Direction of the metrics every trial logs (``val/`` or ``test/`` stripped).
DIRECTIONS = {"objective": "max", "objective_seen": "max", "acc": "max", "acc_seen": "max", "acc_worst": "max",
              "bwt": "max", "forgetting": "min", "state_bytes": "min", "train_seconds": "min",
              "tasks_seen": "max"}


def metric_direction(name: str) -> str | None:
    """``"max"`` / ``"min"`` for a built-in metric (``val/acc_task_3``: max; ``..._std``: min), else None."""
    base = name.split("/", 1)[1] if name.startswith(("val/", "test/")) else name
    if base.endswith("_std"):
        return "min"
    if base.startswith("acc_task_"):
        return "max"
    return DIRECTIONS.get(base)


def split_metric(text: str) -> tuple[str, str | None]:
    """``"x:min"`` -> ``("x", "min")``, ``"x"`` -> ``("x", None)``; ConfigError for another suffix."""
    name, sep, mode = text.rpartition(":")
    if not sep:
        return text, None
    if mode not in ("min", "max"):
        raise ConfigError(f"--metric {text}: the direction after ':' must be min or max, got {mode!r}.")
    return name, mode


def parse_metric(text: str) -> tuple[str, str]:
    """``"val/forgetting"`` -> ``("val/forgetting", "min")``; ``"x:max"`` -> ``("x", "max")``.

    Raises ConfigError when no direction is given and the metric's is not known.
    """
    name, given = split_metric(text)
    mode = given or metric_direction(name) or ""
    if not mode:
        raise ConfigError(f"--metric {text}: the direction of {name} is not known; write {name}:max or "
                          f"{name}:min.")
    return name, mode


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class TrialRecord:
    """One trial's child run, as read back from the tracking store (immutable).

    Attributes:
        run_id, trial_id: the MLflow run and the Tune trial it logs.
        name: ``<learner>-<trial number>``.
        status: how the trial ended; ``reason`` says why it failed (``diverged``, ``error``).
        learner: the learner's registered name.
        params: the learner's Params fields, strings as logged (``learner/`` prefix removed).
        settings: the sweep's and the stream's settings (every other param), strings.
        metrics: latest value of every metric.
        tasks_seen / n_tasks: tasks trained of the tuning stream's tasks.
        val_samples: validation samples of each tuned task (empty when not recorded).
        runs: runs behind each number (seeds x task orders).
        start_time_ms: when the run was created (Unix ms).
    """

    run_id: str
    trial_id: str
    name: str
    status: TrialStatus
    reason: str | None
    experiment: str
    learner: str
    params: dict[str, str]
    settings: dict[str, str]
    metrics: dict[str, float]
    tasks_seen: int | None
    n_tasks: int | None
    val_samples: tuple[int, ...] = ()
    runs: int = 1
    start_time_ms: int = 0
    tags: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Status completed and every task seen (:func:`is_complete`).

        Runs logged before ``stream/tuned_tasks`` was recorded carry only the
        status, which the same rule set when the trial ended.
        """
        if self.status is not TrialStatus.COMPLETED:
            return False
        return self.n_tasks is None or is_complete(self.tasks_seen, self.n_tasks)

    def value(self, metric: str) -> float | None:
        """``metrics[metric]`` if present and finite, else None."""
        v = self.metrics.get(metric)
        return float(v) if v is not None and math.isfinite(v) else None

    def standard_error(self, metric: str = "objective") -> float | None:
        """Standard error of the trial's final validation accuracy (``objective``, ``val/acc``).

        Binomial over the validation samples of each task (task j's accuracy
        p_j over n_j samples has variance p_j (1 - p_j) / n_j; the mean over T
        tasks has the sum of those over T^2), combined with the spread over
        its runs (seeds x task orders: sample variance / runs) when there are
        several. None for other metrics or when the sample counts were not
        recorded.
        """
        if metric not in ("objective", "val/acc") or not self.val_samples or self.n_tasks is None:
            return None
        T = len(self.val_samples)
        accs = [self.metrics.get(f"val/acc_task_{j}") for j in range(T)]
        if any(a is None for a in accs) or min(self.val_samples) <= 0:
            return None
        var = sum(p * (1 - p) / n for p, n in zip(accs, self.val_samples)) / T**2  # type: ignore[operator]
        std = self.metrics.get("val/acc_std")
        if self.runs > 1 and std is not None and math.isfinite(std):
            var += std**2 / (self.runs - 1)  # population std -> sample variance / runs
        return math.sqrt(var)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``synaptune best --format json``)."""
        return {"run_id": self.run_id, "trial_id": self.trial_id, "name": self.name, "status": self.status.value,
                "reason": self.reason, "experiment": self.experiment, "learner": self.learner,
                "params": self.params, "settings": self.settings, "metrics": self.metrics,
                "tasks_seen": self.tasks_seen, "n_tasks": self.n_tasks, "val_samples": list(self.val_samples),
                "standard_error": self.standard_error()}


@dataclass(frozen=True)
class PresetTestRun:
    """One ``synaptune run --preset`` result of a preset exported from a sweep (immutable).

    Attributes:
        run_id: the MLflow run that holds the result (tag ``synaptune.role=run``).
        experiment: the experiment it was logged to (any experiment of the store).
        trial_run_id: the run of the sweep's trial the preset was exported from ("" when not recorded).
        metrics: the result's metrics (``test/acc``, ``test/acc_std``, ``test/forgetting``, ...).
        tags: the run's tags (``reported_tasks``, ``preset_tuned_on``, ...).
    """

    run_id: str
    experiment: str
    trial_run_id: str
    metrics: dict[str, float]
    tags: dict[str, str]


@dataclass(frozen=True)
class SweepRun:
    """A sweep's parent run, as read back (immutable): what the sweep recorded about itself.

    Attributes:
        run_id, experiment: the parent run and its experiment (the sweep's name).
        params: the sweep's settings, strings as logged (``learner``, ``benchmark/*``, ``fixed_by_set``,
            ``space_sha256``, ``time_budget_s``, ...).
        tags: its tags (``synaptune.trials``: trials asked; ``synaptune.command``, ``synaptune.machine``,
            ``synaptune.commit``: where the sweep was run from, when the CLI recorded them).
        metrics: ``trials/<status>`` and ``best/*`` once it ended.
        start_time_ms, end_time_ms: when it started and ended (Unix ms; end 0 while running).
    """

    run_id: str
    experiment: str
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, float]
    start_time_ms: int = 0
    end_time_ms: int = 0

    @property
    def seconds(self) -> float | None:
        """Wall-clock seconds from the parent run's first start to its last end (a resumed sweep's include
        the pause between), or None while it has not ended."""
        if not self.end_time_ms or not self.start_time_ms:
            return None
        return max(0.0, (self.end_time_ms - self.start_time_ms) / 1000)


# --------------------------------------------------------------------------- ranking


def rank(records: Iterable[TrialRecord], metric: str = "objective", mode: str = "max") -> list[TrialRecord]:
    """Completed trials with a finite ``metric``, best first (ties: earlier first).

    The one ranking of synaptune: ``best``, ``export``, ``report`` and the
    sweep's summary all call it. Pruned, failed, lost, interrupted and running
    trials, and NaN / infinite values, are never ranked.
    """
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be max or min, got {mode!r}")
    usable = [r for r in records if r.complete and r.value(metric) is not None]
    sign = -1.0 if mode == "max" else 1.0
    return sorted(usable, key=lambda r: (sign * r.value(metric), r.start_time_ms, r.run_id))  # type: ignore[operator]


def dominates(a: Sequence[float], b: Sequence[float], modes: Sequence[str]) -> bool:
    """Whether point ``a`` is at least as good as ``b`` everywhere and better somewhere."""
    better = False
    for x, y, mode in zip(a, b, modes):
        if mode == "min":
            x, y = -x, -y
        if x < y:
            return False
        better = better or x > y
    return better


def pareto_front(records: Iterable[TrialRecord], objectives: Sequence[tuple[str, str]]) -> list[TrialRecord]:
    """The completed trials (finite on every objective) that no other dominates, by the first objective."""
    names, modes = [m for m, _ in objectives], [mode for _, mode in objectives]
    usable = [r for r in records if r.complete and all(r.value(n) is not None for n in names)]
    points = [[r.value(n) for n in names] for r in usable]
    front = [r for r, p in zip(usable, points)
             if not any(dominates(q, p, modes) for q in points)]  # type: ignore[arg-type]
    return rank(front, names[0], modes[0])


# --------------------------------------------------------------------------- the noise rule


def noise_of_difference(error_a: float, error_b: float) -> float:
    """The noise allowed to ``a - b``: ``error_a + error_b``.

    The sum, not ``sqrt(error_a² + error_b²)`` (the standard error of the difference of
    independent numbers, which is never larger): on the 1-5 seeds a sweep or a comparison
    has, the errors themselves are rough, so a difference is called real only when it
    is larger than both added.
    """
    return error_a + error_b


def difference_within_noise(difference: float, error_a: float, error_b: float) -> bool:
    """The one noise rule of synaptune: is ``|difference|`` no larger than ``error_a + error_b``?

    ``error_a`` and ``error_b`` are the uncertainties of the two numbers (a
    trial's standard error in ``synaptune best``; an entry's spread over its
    runs in ``synaptune compare``), combined by :func:`noise_of_difference`.
    A zero difference is always within noise.
    """
    return abs(difference) <= noise_of_difference(error_a, error_b)


def within_noise(ranked: Sequence[TrialRecord], metric: str = "objective") -> str | None:
    """A warning when the top two of ``ranked`` differ within noise (:func:`difference_within_noise`).

    The noise of each trial is its standard error (:meth:`TrialRecord.standard_error`);
    None when there are fewer than two trials, a standard error is unknown, or they differ by more.
    """
    if len(ranked) < 2:
        return None
    a, b = ranked[0], ranked[1]
    se_a, se_b = a.standard_error(metric), b.standard_error(metric)
    if se_a is None or se_b is None:
        return None
    gap = abs(a.value(metric) - b.value(metric))  # type: ignore[operator]
    if not difference_within_noise(gap, se_a, se_b):
        return None
    se = noise_of_difference(se_a, se_b)
    n = min(a.val_samples)
    return (f"#1 and #2 differ by {gap:.4g}, {'less than' if gap < se else 'as much as'} the sum of their "
            f"standard errors ({se:.4g}): this ranking is within noise. More validation samples per task "
            f"(--val-fraction, now {a.settings.get('benchmark/val_fraction', '?')}: as few as {n} per task) or "
            f"more --seeds (now {a.settings.get('seeds', '1')}) would separate them.")


# --------------------------------------------------------------------------- the defaults as a contender


def is_defaults(record: TrialRecord) -> bool:
    """Whether ``record`` is a sweep's defaults trial (its first: the run ``<learner>-defaults``, with
    `` (pruned after k of T tasks)`` after it when ASHA stopped it)."""
    return record.name.split(" (", 1)[0] == f"{record.learner}-defaults"


def margin_over_defaults(pick: TrialRecord, records: Sequence[TrialRecord], metric: str = "objective",
                         mode: str = "max") -> tuple[str, bool | None]:
    """``(text, beats)``: how ``pick`` compares with the sweep's defaults trial on ``metric`` (``mode``: which
    way is better), in words, and whether it beats them beyond noise (:func:`difference_within_noise`,
    each side's standard error).

    ``beats`` is False when the pick is the defaults, the defaults are within noise of it, or the sweep
    has no defaults trial (a sweep from before synaptune ran one); True when the defaults trial ended
    without reaching every task (pruned by ASHA below the others, or failed) and the pick did; None when
    ``metric`` has no standard error to judge a difference by (only a difference is given).
    """
    defaults = [r for r in records if is_defaults(r)]
    if not defaults:
        return "the sweep has no defaults trial to compare with (run before synaptune ran one)", False
    sign = 1.0 if mode == "max" else -1.0
    d = max(defaults, key=lambda r: sign * r.value(metric) if r.complete and r.value(metric) is not None
            else -math.inf)
    if d.run_id == pick.run_id:
        return f"the pick is the learner's defaults ({d.name}): tuning found nothing better", False
    p_value, d_value = pick.value(metric), d.value(metric)
    if not d.complete or d_value is None:
        how = d.reason or d.status.value
        return (f"the defaults ({d.name.split(' (', 1)[0]}) did not complete ({how} after {d.tasks_seen or 0} of "
                f"{d.n_tasks or '?'} tasks); no margin measured", True)
    p_se, d_se = pick.standard_error(metric), d.standard_error(metric)
    margin = p_value - d_value  # type: ignore[operator]
    if p_se is None or d_se is None:
        return f"{margin:+.4g} {metric} over the defaults ({d.name}, {d_value:.4g}); no standard error to judge it", None
    beats = sign * margin > 0 and not difference_within_noise(margin, p_se, d_se)
    verdict = "beyond noise" if beats else "within noise: not better than the defaults"
    return (f"{margin:+.4f} ± {noise_of_difference(p_se, d_se):.4f} over the defaults ({d.name}, "
            f"{d_value:.4f} ± {d_se:.4f}): {verdict}", beats)

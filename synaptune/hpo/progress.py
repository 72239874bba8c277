# SPDX-License-Identifier: MIT
"""Progress lines of a running sweep, and the start-up noise of Ray and Optuna kept out of them.

While ``synaptune sweep`` runs, the driver logs one line (logger
``synaptune.hpo.progress``, level INFO, which the CLI shows unless ``--quiet``)
when a trial starts, is stopped early, completes, or fails::

    trial 3/9 started: lr=0.0123 hidden_units=48
    trial 3/9 stopped by ASHA after task 2 of 5: objective_seen 0.4100 (best so far 0.6300); 4 of 9 done, ETA ~1m20s
    trial 3/9 completed: objective 0.6200; best so far 0.6300 (trial 1); 4 of 9 done, ETA ~1m20s
    trial 3/9 failed after task 2 of 5: RuntimeError: ...; 4 of 9 done, ETA ~1m20s

A trial restored from a checkpoint (``--resume``, or a retry after an error)
says where it resumed once its first result arrives: the trial tells (result
fields ``resumed_from_task`` and ``skipped_checkpoints``, see
:class:`synaptune.hpo.trial.Resumed`), not Tune's record, which names the
checkpoint Tune saw last even when it did not load. A line that names skipped
checkpoints is a WARNING (shown under ``--quiet`` too)::

    trial 2/4 resumed after task 3: lr=0.0123 hidden_units=48
    trial 2/4 resumed after task 1 (its checkpoint after task 3 was skipped: trial.pt truncated): lr=0.0123 ...
    trial 2/4 restarted from task 0 (every checkpoint was unusable: after task 3, trial.pt truncated; ...): ...

``3/9`` is the trial's number in launch order (Tune's counter, also in the
name of its results folder ``train_trial_<id>_3_...``) out of the trials the
sweep asks for. A trial that saw every task of the tuning stream is completed
(:func:`synaptune.hpo.store.is_complete`, the rule of the MLflow tags); one
that ended with fewer tasks was stopped early; a diverged one failed.

The lines are made by plain functions (no Ray objects), which the unit tests
call; :class:`TrialProgress` is the Ray Tune callback that calls them on the
driver. :func:`quiet_start_up` keeps Ray's and Optuna's start-up lines (token
authentication, "A new study created in memory") off the screen unless the
``synaptune`` logger shows DEBUG (``synaptune -v``).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ray import tune

from synaptune.hpo.store import is_complete
from synaptune.hpo.trial import OBJECTIVE, RESUMED_FROM_TASK, SKIPPED_CHECKPOINTS, TRIAL_METRIC

logger = logging.getLogger(__name__)

#: Sampled parameters a start line names; more are cut to ``...``.
MAX_PARAMS_SHOWN = 6


def format_value(value: Any) -> str:
    """A parameter value in short: floats with 3 significant digits (``0.0123``, ``1e-05``), others as ``str``."""
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def format_params(config: Mapping[str, Any], limit: int = MAX_PARAMS_SHOWN) -> str:
    """``name=value`` pairs in the config's order, at most ``limit`` of them, then ``...`` if more."""
    items = [f"{name}={format_value(value)}" for name, value in config.items()]
    return " ".join(items[:limit] + (["..."] if len(items) > limit else []))


def format_duration(seconds: float) -> str:
    """A duration in seconds, rounded to the second: ``45s``, ``1m20s``, ``2h05m`` (minutes from one hour on)."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    m = int(round(s / 60))
    return f"{m // 60}h{m % 60:02d}m"


def eta_seconds(durations: Iterable[float], remaining: int, concurrency: int) -> float | None:
    """Seconds until the sweep ends: the mean wall time of the finished trials (seconds each) times
    ``remaining`` trials (running or not yet launched), run ``concurrency`` at a time.

    None when no trial has finished (nothing to measure from); 0.0 when none remains.
    """
    durations = list(durations)
    if remaining <= 0:
        return 0.0
    if not durations:
        return None
    mean = sum(durations) / len(durations)
    return mean * remaining / max(1, min(concurrency, remaining))


def format_done(done: int, total: int, eta_s: float | None) -> str:
    """``4 of 9 done, ETA ~1m20s``; ``ETA unknown`` before any trial finished; no ETA once all are done."""
    if done >= total:
        return f"{done} of {total} done"
    eta = "ETA unknown" if eta_s is None else f"ETA ~{format_duration(eta_s)}"
    return f"{done} of {total} done, {eta}"


def format_best(best: tuple[float, int] | None, *, with_trial: bool = True) -> str:
    """``best so far 0.6300 (trial 1)`` for ``(objective, trial number)``; ``no trial completed yet`` for None."""
    if best is None:
        return "no trial completed yet"
    return f"best so far {best[0]:.4f}" + (f" (trial {best[1]})" if with_trial else "")


def started_line(number: int, total: int, config: Mapping[str, Any], *, resumed_after: int = 0) -> str:
    """``trial 3/9 started: lr=0.05 hidden=128 ...``; a trial restored mid-stream says after which task."""
    how = f"resumed after task {resumed_after}" if resumed_after else "started"
    params = format_params(config)
    return f"trial {number}/{total} {how}" + (f": {params}" if params else "")


def skipped_checkpoints(text: Any) -> list[tuple[str, str]]:
    """The ``(where, why)`` pairs of a result's ``skipped_checkpoints`` (a JSON list); ``[]`` if none or unreadable."""
    try:
        pairs = json.loads(text) if isinstance(text, str) and text else []
    except ValueError:
        return []
    if not isinstance(pairs, list):
        return []
    return [(str(p[0]), str(p[1])) for p in pairs if isinstance(p, list) and len(p) == 2]


def resumed_note(after_task: int, skipped: list[tuple[str, str]], *, found: bool = True) -> str:
    """Why a restored trial did not resume where Tune's record says, or ``""`` when nothing was skipped.

    ``its checkpoint after task 3 was skipped: trial.pt truncated``; ``its 2 newer checkpoints were
    skipped: after task 4, trial.pt truncated; after task 3, trial.pt empty``; ``every checkpoint was
    unusable: ...``; ``no checkpoint of it was found`` (``found`` False: the trial reported no restore).
    """
    if not found:
        return "no checkpoint of it was found"
    if not skipped:
        return ""
    pairs = "; ".join(f"{where}, {why}" for where, why in skipped)
    if not after_task:
        return f"every checkpoint was unusable: {pairs}"
    if len(skipped) == 1:
        return f"its checkpoint {skipped[0][0]} was skipped: {skipped[0][1]}"
    return f"its {len(skipped)} newer checkpoints were skipped: {pairs}"


def resumed_line(number: int, total: int, config: Mapping[str, Any], *, after_task: int,
                 skipped: list[tuple[str, str]], found: bool = True) -> str:
    """Where a restored trial resumed, by its own report (see :func:`resumed_note`).

    ``trial 2/4 resumed after task 1 (its checkpoint after task 3 was skipped: trial.pt truncated): lr=0.05``;
    ``trial 2/4 restarted from task 0 (every checkpoint was unusable: ...)``.
    """
    how = f"resumed after task {after_task}" if after_task else "restarted from task 0"
    note = resumed_note(after_task, skipped, found=found)
    params = format_params(config)
    return f"trial {number}/{total} {how}" + (f" ({note})" if note else "") + (f": {params}" if params else "")


def stopped_line(number: int, total: int, *, tasks_seen: int | None, n_tasks: int | None, score: float | None,
                 best: tuple[float, int] | None, done: str, by: str | None = "ASHA") -> str:
    """A trial stopped before it saw every task: where, its ``objective_seen`` there, the best complete one.

    ``done`` is :func:`format_done`'s text; ``by`` names the scheduler (None: ``stopped early``).
    """
    how = f"stopped by {by}" if by else "stopped early"
    if not tasks_seen:
        where = "before its first task"
    else:
        where = f"after task {tasks_seen}" + (f" of {n_tasks}" if n_tasks else "")
    measured = f": {TRIAL_METRIC} {score:.4f}" if score is not None and math.isfinite(score) else ""
    return f"trial {number}/{total} {how} {where}{measured} ({format_best(best, with_trial=False)}); {done}"


def completed_line(number: int, total: int, *, objective: float, best: tuple[float, int] | None, done: str) -> str:
    """``trial 3/9 completed: objective 0.6200; best so far 0.6300 (trial 1); 4 of 9 done, ETA ~1m20s``."""
    return f"trial {number}/{total} completed: {OBJECTIVE} {objective:.4f}; {format_best(best)}; {done}"


def failed_line(number: int, total: int, *, reason: str, tasks_seen: int | None, n_tasks: int | None,
                done: str) -> str:
    """``trial 3/9 failed after task 2 of 5: <reason>; 4 of 9 done, ETA ~1m20s``."""
    where = f" after task {tasks_seen}" + (f" of {n_tasks}" if n_tasks else "") if tasks_seen else ""
    return f"trial {number}/{total} failed{where}: {reason}; {done}"


def retrying_line(number: int, total: int, *, tasks_seen: int | None, failures: int) -> str:
    """A trial that raised and that Tune starts again from its last checkpoint."""
    where = f" after task {tasks_seen}" if tasks_seen else ""
    return (f"trial {number}/{total} raised an error{where} (failure {failures}); "
            "retrying from its last checkpoint")


def error_reason(text: str | None, limit: int = 200) -> str:
    """The last line of a trial's error text (Tune's ``error.txt``: a traceback), at most ``limit`` characters."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return "error (see error.txt in its results folder)"
    last = lines[-1]
    return last if len(last) <= limit else last[:limit - 3] + "..."


def launch_number(experiment_tag: str | None) -> int | None:
    """The trial's number in launch order from Tune's ``experiment_tag`` (``"3_lr=0.05,..."`` -> 3), or None."""
    head = (experiment_tag or "").split("_", 1)[0]
    return int(head) if head.isdigit() else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class TrialProgress(tune.Callback):  # type: ignore[misc]
    """Runs on the driver: logs one progress line per trial start, early stop, completion and failure.

    Args:
        total: trials the sweep asks for (replaced by Tune's own count at ``setup``, which a
            ``--resume --trials N`` has extended).
        concurrency: trials running at once (``--concurrency``), for the ETA.
        stopped_by: the scheduler that stops trials early, named in the lines (``"ASHA"``),
            or None (a trial that ends early is then ``stopped early``).

    Everything a line needs besides wall times is read from Tune's trials
    (their last result, their status), so a resumed sweep counts the trials
    that ended before it stopped. Wall times are measured here, from a trial's
    first start on this driver to its end (seconds); a trial that ended in an
    earlier run of the driver counts with Tune's ``time_total_s``.

    Where a restored trial resumed is the exception: the trial itself says, in
    its first result (:meth:`on_trial_result`), so its line waits for that result.
    """

    def __init__(self, total: int, *, concurrency: int, stopped_by: str | None = "ASHA") -> None:
        self.total, self.concurrency, self.stopped_by = total, concurrency, stopped_by
        self._started: dict[str, float] = {}
        self._seconds: dict[str, float] = {}
        self._numbers: dict[str, int] = {}
        #: Trials restored from a checkpoint (Tune's record has tasks, or a retry) whose line waits for
        #: their first result: ``trial_id -> tasks_seen in Tune's record``.
        self._awaiting: dict[str, int] = {}
        #: The skipped checkpoints last told per trial (a retry that skips the same ones does not warn again).
        self._told: dict[str, list[tuple[str, str]]] = {}

    def setup(self, stop: Any = None, num_samples: int | None = None, total_num_samples: int | None = None,
              **info: Any) -> None:
        if total_num_samples and total_num_samples > 0:
            self.total = int(total_num_samples)
        # Clocks of an earlier driver (restored with Tune's state) mean nothing here.
        self._started, self._seconds, self._awaiting = {}, {}, {}

    # -- what the lines need, from Tune's trials

    def _number(self, trial: Any) -> int:
        if trial.trial_id not in self._numbers:
            self._numbers[trial.trial_id] = (launch_number(getattr(trial, "experiment_tag", None))
                                             or len(self._numbers) + 1)
        return self._numbers[trial.trial_id]

    @staticmethod
    def _ended(trials: Iterable[Any], trial: Any) -> list[Any]:
        """The trials that ended, for good (terminated or errored), ``trial`` among them."""
        ended = [t for t in trials if t.status in ("TERMINATED", "ERROR") and t.trial_id != trial.trial_id]
        return [*ended, trial]

    def _best(self, ended: list[Any]) -> tuple[float, int] | None:
        best: tuple[float, int] | None = None
        for t in ended:
            result = t.last_result or {}
            if t.status == "ERROR" or result.get("diverged") or \
                    not is_complete(result.get("tasks_seen"), result.get("n_tasks")):
                continue
            value = _float(result.get(OBJECTIVE))
            if value is not None and (best is None or value > best[0]):
                best = (value, self._number(t))
        return best

    def _done(self, ended: list[Any]) -> str:
        durations = []
        for t in ended:
            seconds = self._seconds.get(t.trial_id)
            if seconds is None:
                seconds = _float((t.last_result or {}).get("time_total_s"))
            if seconds is not None:
                durations.append(seconds)
        remaining = self.total - len(ended)
        return format_done(len(ended), self.total, eta_seconds(durations, remaining, self.concurrency))

    def _finish_clock(self, trial: Any) -> None:
        start = self._started.get(trial.trial_id)
        if start is not None:
            self._seconds[trial.trial_id] = time.monotonic() - start

    # -- Tune's hooks

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        again = trial.trial_id in self._started  # a retry after an error: its start was logged then
        self._started.setdefault(trial.trial_id, time.monotonic())
        tunes_tasks = _int((trial.last_result or {}).get("tasks_seen")) or 0
        if again or tunes_tasks:
            # Restored from a checkpoint: which one, the trial says in its first result (Tune's record
            # names the checkpoint Tune saw last, which may not load).
            self._awaiting[trial.trial_id] = tunes_tasks
            return
        logger.info("%s", started_line(self._number(trial), self.total, trial.config))

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict, **info: Any) -> None:
        """The first result after a restore: where the trial resumed and what it skipped, by its own report."""
        tunes_tasks = self._awaiting.pop(trial.trial_id, None)
        found = RESUMED_FROM_TASK in result
        if tunes_tasks is None and not found:
            return
        after_task = _int(result.get(RESUMED_FROM_TASK)) or 0
        skipped = skipped_checkpoints(result.get(SKIPPED_CHECKPOINTS))
        if tunes_tasks is None and not after_task and not skipped:
            return  # its "started" line stands: nothing was restored
        self._log_resumed(trial, after_task=after_task, skipped=skipped, found=found, tunes_tasks=tunes_tasks or 0)

    def _log_resumed(self, trial: Any, *, after_task: int, skipped: list[tuple[str, str]], found: bool,
                     tunes_tasks: int) -> None:
        """One line per restore. A WARNING when it names skipped checkpoints not told before for this
        trial, or when Tune's record has tasks and the trial found no checkpoint at all."""
        new = bool(skipped) and self._told.get(trial.trial_id) != skipped
        if skipped:
            self._told[trial.trial_id] = skipped
        line = resumed_line(self._number(trial), self.total, trial.config, after_task=after_task,
                            skipped=skipped if new else [], found=found)
        logger.log(logging.WARNING if new or (not found and tunes_tasks) else logging.INFO, "%s", line)

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        result = trial.last_result or {}
        logger.info("%s", retrying_line(self._number(trial), self.total, tasks_seen=_int(result.get("tasks_seen")),
                                        failures=int(getattr(trial, "num_failures", 0) or 0)))

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._finish_clock(trial)
        result = trial.last_result or {}
        tunes_tasks = self._awaiting.pop(trial.trial_id, None)
        if tunes_tasks is not None:
            # Ended without a result: the trial restored the state whose result Tune has (it reports
            # again whenever it resumed elsewhere), so Tune's record is the truth here.
            self._log_resumed(trial, after_task=tunes_tasks, skipped=[], found=True, tunes_tasks=tunes_tasks)
        ended = self._ended(trials, trial)
        number, done = self._number(trial), self._done(ended)
        tasks_seen, n_tasks = _int(result.get("tasks_seen")), _int(result.get("n_tasks"))
        if result.get("diverged"):
            line = failed_line(number, self.total, reason=f"diverged ({result.get('diverged_reason', 'non-finite')})",
                               tasks_seen=tasks_seen, n_tasks=n_tasks, done=done)
        elif is_complete(tasks_seen, n_tasks):
            line = completed_line(number, self.total, objective=_float(result.get(OBJECTIVE)) or float("nan"),
                                  best=self._best(ended), done=done)
        else:
            line = stopped_line(number, self.total, tasks_seen=tasks_seen, n_tasks=n_tasks,
                                score=_float(result.get(TRIAL_METRIC)), best=self._best(ended), done=done,
                                by=self.stopped_by)
        logger.info("%s", line)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._finish_clock(trial)
        self._awaiting.pop(trial.trial_id, None)  # failed before it said where it resumed: its failed line tells
        result = trial.last_result or {}
        try:
            text = trial.get_error()
        except Exception:  # noqa: BLE001 - the line must not fail the sweep; the file stays for the user
            text = None
        logger.info("%s", failed_line(self._number(trial), self.total, reason=error_reason(text),
                                      tasks_seen=_int(result.get("tasks_seen")), n_tasks=_int(result.get("n_tasks")),
                                      done=self._done(self._ended(trials, trial))))


#: Ray's line when it turns on token authentication for a local cluster (a default, nothing to act on).
RAY_TOKEN_LINE = "Token authentication is enabled for this Ray cluster"


def _not_token_line(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(RAY_TOKEN_LINE)


def quiet_start_up() -> None:
    """Keep Ray's and Optuna's start-up lines off stderr unless the ``synaptune`` logger shows DEBUG (``-v``).

    Both libraries set their loggers' levels when first imported (Ray: ``ray`` at
    INFO with its own handler; Optuna: ``optuna`` at INFO, "A new study created in
    memory ..."), undoing what the CLI set before; this runs after the imports.
    Warnings from Ray still show, except its note that a local cluster uses token
    authentication. Idempotent.
    """
    import optuna
    import ray  # noqa: F401 - its import configures the `ray` logger, which is set after it

    if logging.getLogger("synaptune").isEnabledFor(logging.DEBUG):
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("ray").setLevel(logging.WARNING)
    token_logger = logging.getLogger("ray._private.authentication.authentication_token_setup")
    if _not_token_line not in token_logger.filters:
        token_logger.addFilter(_not_token_line)

# SPDX-License-Identifier: MIT
"""The one owner of a sweep's results in MLflow: layout, completion rule, ranking, Pareto front.

Everything that writes or reads a sweep's MLflow runs goes through this module
(the shape follows Optuna's ``FrozenTrial`` / ``BaseStorage`` / ``get_storage``):
:class:`TrialRecord` is one trial as read back, :class:`SweepStore` is the
tracking store behind a URI, and :func:`rank` / :func:`pareto_front` are the
only rankings. ``best``, ``export``, ``report``, presets and artifacts read
through it; no other module holds an MLflow client.

Layout: experiment = sweep name. One parent run per sweep (tag
``synaptune.role=sweep``): the sweep's settings as params, the stream that ran
(``benchmark/*`` resolved, never the defaults' placeholders, ``stream/*``), the
search space as ``search_space.yaml`` and its hash as ``space_sha256``; at the
end tag ``best_run_id``, metrics ``best/objective`` and ``trials/<status>``.
One nested child run per Tune trial (``synaptune.role=trial``), named
``<learner>-<trial number>``, tags ``trial_id`` (Tune's id, how a resumed
sweep finds the run again), ``synaptune.trial_number``, ``synaptune.status``
(a :class:`TrialStatus`) and, for failed trials, ``synaptune.reason``; params:
the learner's under ``learner/<field>`` and the sweep's and stream's settings
unprefixed / ``benchmark/*`` / ``stream/*`` / ``protocol/*``; metrics
``val/...`` with step = tasks seen, ``objective``, ``tasks_seen``, ``state_bytes``,
``train_seconds``; artifact ``accuracy_matrix.json``.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import logging
import math
import os
import socket
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from synaptune._registry import did_you_mean
from synaptune.exceptions import ConfigError, UnreachableError

logger = logging.getLogger(__name__)
# MLflow's client prints a "View run ... at: URL" line per finished run of a server; a sweep has hundreds.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
# Results are logged through MLflow's background queue by one thread, so a run's batches are
# stored in the order they were queued (its status after its metrics) and a SQLite file is
# never written by several threads at once.
os.environ.setdefault("MLFLOW_ASYNC_LOGGING_THREADPOOL_SIZE", "1")

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
#: Metrics of a trial's results logged besides every ``val/...`` one.
LOGGED_METRICS = ("tasks_seen", "state_bytes", "train_seconds", "objective", "objective_seen")
ROLE, STATUS, REASON, TRIAL_ID, TRIAL_NUMBER, SWEEP_PATH = (
    "synaptune.role", "synaptune.status", "synaptune.reason", "trial_id", "synaptune.trial_number",
    "synaptune.sweep_path")
#: Tag of a failed sweep's parent run: why it stopped (one line).
ERROR = "synaptune.error"
#: Prefix of the learner's Params fields among a trial run's params.
LEARNER_PREFIX = "learner/"
#: What MLflow returns per search page (its servers cap a page at 50,000).
PAGE_SIZE = 1000


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
    """One trial's child run, as read back from MLflow (immutable).

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


def _int(text: Any) -> int | None:
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
    runs = (_int(settings.get("seeds")) or 1) * (_int(settings.get("task_orders")) or 1)
    return TrialRecord(
        run_id=run.info.run_id, trial_id=tags.get(TRIAL_ID, "?"), name=run.info.run_name or "",
        status=status, reason=tags.get(REASON), experiment=experiment, learner=settings.get("learner", ""),
        params=params, settings=settings, metrics=metrics,
        tasks_seen=_int(metrics.get("tasks_seen", tags.get("tasks_seen"))),
        n_tasks=_int(settings.get("stream/tuned_tasks")), val_samples=samples, runs=runs,
        start_time_ms=int(run.info.start_time or 0), tags=tags)


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
    front = [r for r, p in zip(usable, points) if not any(dominates(q, p, modes) for q in points)]  # type: ignore[arg-type]
    return rank(front, names[0], modes[0])


def within_noise(ranked: Sequence[TrialRecord], metric: str = "objective") -> str | None:
    """A warning when the top two of ``ranked`` differ by less than one standard error of their difference."""
    if len(ranked) < 2:
        return None
    a, b = ranked[0], ranked[1]
    se_a, se_b = a.standard_error(metric), b.standard_error(metric)
    if se_a is None or se_b is None:
        return None
    gap, se = abs(a.value(metric) - b.value(metric)), math.sqrt(se_a**2 + se_b**2)  # type: ignore[operator]
    if gap >= se:
        return None
    n = min(a.val_samples)
    return (f"#1 and #2 differ by {gap:.4g}, less than one standard error of their difference ({se:.4g}): "
            f"this ranking is within noise. More validation samples per task (--val-fraction, now "
            f"{a.settings.get('benchmark/val_fraction', '?')}: as few as {n} per task) or more --seeds "
            f"(now {a.settings.get('seeds', '1')}) would separate them.")


# --------------------------------------------------------------------------- the tracking URI


def resolve_tracking_uri(flag: str | None) -> str:
    """``--tracking-uri`` if given, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``."""
    return flag or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def check_tracking_uri(uri: str, *, timeout_s: float = 5.0) -> None:
    """Make one real call to the tracking store; raise :class:`UnreachableError` if it fails.

    For an HTTP server this also catches MLflow's 403 "Invalid Host header"
    (a server started without ``--allowed-hosts`` for this host name). A SQLite
    file that does not exist yet is not created here (only its folder is
    checked), so a command refused later leaves nothing behind.
    """
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        db = Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None
        if db is not None and not db.exists():
            folder = db.parent if str(db.parent) else Path(".")
            if not folder.is_dir() or not os.access(folder, os.W_OK):
                raise UnreachableError(f"MLflow tracking URI {uri}: folder {folder} does not exist or is "
                                       "not writable. Create it or pass another --tracking-uri.")
            return
    if parsed.scheme in ("http", "https"):
        host, port = parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
        except OSError as e:
            raise UnreachableError(
                f"MLflow tracking server {uri} is unreachable ({e.strerror or e}). Start it "
                f"(mlflow server --host {host} --port {port}) or pass another --tracking-uri."
            ) from None
    from mlflow.tracking import MlflowClient

    # Fail fast here, but only here: the sweep's own logging keeps MLflow's retries.
    quick = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(timeout_s))}
    saved = {k: os.environ.get(k) for k in quick}
    os.environ.update({k: v for k, v in quick.items() if saved[k] is None})
    try:
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as e:  # noqa: BLE001 - any failure means "cannot use this store"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "Invalid Host header" in str(e):
            raise UnreachableError(
                f"MLflow server {uri} refused this host name (403 Invalid Host header). Start it with "
                f"--allowed-hosts listing {parsed.netloc} (e.g. --allowed-hosts '{parsed.hostname},"
                f"{parsed.netloc}'), or reach it by a host name it allows.") from None
        raise UnreachableError(f"MLflow tracking URI {uri} does not answer: {first[:300]}") from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)


def require_existing_store(uri: str) -> None:
    """Refuse a SQLite URI whose file does not exist (MLflow would create an empty store)."""
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).exists():
        raise ConfigError(f"no MLflow store at {uri} (file {uri[len('sqlite:///'):]} does not exist). Pass the "
                          "--tracking-uri the sweep logged to.")


def flat(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    """``{"<prefix><key>": value}``: how grouped settings are logged as MLflow params."""
    return {f"{prefix}{k}": v for k, v in values.items()}


@functools.lru_cache(maxsize=8)
def _client(uri: str) -> Any:
    """One MLflow client per tracking URI per process (each result is logged on Tune's report path)."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


#: Results queued for MLflow, per run id, not yet known to be stored (module level: not pickled).
_PENDING: dict[str, list[Any]] = {}


def wait_for_logging(run_id: str | None = None) -> None:
    """Block until the queued results of ``run_id`` (of every run if None) are stored."""
    for rid in [run_id] if run_id is not None else list(_PENDING):
        for pending in _PENDING.pop(rid, []):
            if pending is not None:
                pending.wait()


def _terminate(client: Any, run_id: str, status: str) -> None:
    """``client.set_terminated`` without its flush of MLflow's whole logging queue (about a second).

    ``set_terminated`` shuts the background queue down and restarts it, which
    blocks the driver at every trial's end; the run's status and end time are
    all that is needed here (its queued results still follow, in order).
    """
    from mlflow.entities import RunStatus
    from mlflow.utils.time import get_current_time_millis

    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    if store is None:  # another MLflow layout: the public, slower call
        client.set_terminated(run_id, status)
        return
    store.update_run_info(run_id, run_status=RunStatus.from_string(status),
                          end_time=get_current_time_millis(), run_name=None)


# --------------------------------------------------------------------------- the store


@dataclass(frozen=True)
class SweepStore:
    """The MLflow tracking store at ``uri``, in synaptune's layout (module docstring).

    Plain data (it pickles into Tune's experiment state); the MLflow client is
    made on demand, one per URI per process.
    """

    uri: str

    @property
    def _mlflow(self) -> Any:
        return _client(self.uri)

    # ---- experiments and the sweep's parent run

    def experiment_id(self, name: str, *, create: bool = False) -> str:
        """Id of experiment ``name``; created if ``create``, else a ConfigError naming the known ones."""
        exp = self._mlflow.get_experiment_by_name(name)
        if exp is not None:
            return str(exp.experiment_id)
        if create:
            return str(self._mlflow.create_experiment(name))
        names = [e.name for e in self._mlflow.search_experiments()]
        raise ConfigError(f"no MLflow experiment `{name}` at {self.uri}.{did_you_mean(name, names)} "
                          f"Known experiments: {', '.join(names) or 'none'}.")

    def _search(self, experiment_id: str, filter_string: str, order_by: list[str] | None = None) -> list[Any]:
        """Every run matching ``filter_string``, page after page (no cap)."""
        runs: list[Any] = []
        token = None
        while True:
            page = self._mlflow.search_runs([experiment_id], filter_string=filter_string, order_by=order_by,
                                            max_results=PAGE_SIZE, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def sweep_run(self, experiment: str, *, sweep_path: str | None = None) -> Any | None:
        """The sweep's parent run (the one logged from ``sweep_path`` if given, else the latest), or None."""
        exp = self._mlflow.get_experiment_by_name(experiment)
        if exp is None:
            return None
        where = f"tags.`{ROLE}` = 'sweep'" + (f" and tags.`{SWEEP_PATH}` = '{sweep_path}'" if sweep_path else "")
        found = self._mlflow.search_runs([exp.experiment_id], filter_string=where,
                                         order_by=["attributes.start_time DESC"], max_results=1)
        return found[0] if found else None

    def sweep_count(self, experiment: str) -> int:
        """How many sweeps (parent runs) the experiment holds."""
        return len(self._search(self.experiment_id(experiment), f"tags.`{ROLE}` = 'sweep'"))

    def start_sweep(self, experiment: str, *, sweep_path: str, settings: dict[str, Any], tags: dict[str, str],
                    space_yaml: str) -> str:
        """The sweep's parent run: found again by its results path (set RUNNING), else created. Returns its id."""
        found = self.sweep_run(experiment, sweep_path=sweep_path)
        if found is not None:
            run_id = str(found.info.run_id)
            self._mlflow.update_run(run_id, status="RUNNING")
            for key, value in {**tags, STATUS: TrialStatus.RUNNING.value}.items():
                self._mlflow.set_tag(run_id, key, value)
            return run_id
        exp_id = self.experiment_id(experiment, create=True)
        run = self._mlflow.create_run(exp_id, run_name=experiment, tags={
            ROLE: "sweep", SWEEP_PATH: sweep_path, STATUS: TrialStatus.RUNNING.value, **tags})
        from mlflow.entities import Param

        self._mlflow.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in settings.items()])
        self._mlflow.log_text(run.info.run_id, space_yaml, "search_space.yaml")
        return str(run.info.run_id)

    def finish_sweep(self, parent_id: str, best: TrialRecord | None, counts: dict[str, int],
                     status: str = "FINISHED") -> None:
        """Counts per status, the best trial (tag and ``best/objective``), and the parent's end."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(f"trials/{s}", n, now, 0) for s, n in counts.items()]
        if best is not None:
            self._mlflow.set_tag(parent_id, "best_run_id", best.run_id)
            metrics += [Metric(f"best/{m}", best.metrics[m], now, 0) for m in ("objective", "val/acc")
                        if best.value(m) is not None]
        self._mlflow.log_batch(parent_id, metrics=metrics)
        self._mlflow.set_tag(parent_id, STATUS, TrialStatus.INTERRUPTED.value if status == "KILLED" else "finished")
        self._mlflow.set_terminated(parent_id, status)

    def fail_sweep(self, parent_id: str, reason: str) -> None:
        """End the sweep's parent run FAILED, with ``reason`` (one line) in tag ``synaptune.error``."""
        self._mlflow.set_tag(parent_id, STATUS, TrialStatus.FAILED.value)
        self._mlflow.set_tag(parent_id, ERROR, reason[:5000])
        self._mlflow.set_terminated(parent_id, "FAILED")

    def abandon_sweep(self, experiment: str, sweep_path: str, reason: str) -> int:
        """A sweep that cannot go on (its saved state is damaged): close what it left open.

        If its parent run had not finished (RUNNING after a killed driver, KILLED
        after Ctrl-C), it ends FAILED with ``reason``; child runs still ``running``
        end ``lost`` (KILLED): nothing will continue them. A finished sweep is left
        as it is. Returns how many child runs were closed.
        """
        parent = self.sweep_run(experiment, sweep_path=sweep_path)
        if parent is None or parent.info.status not in ("RUNNING", "KILLED"):
            return 0
        parent_id = str(parent.info.run_id)
        children = self._search(str(parent.info.experiment_id), f"tags.`mlflow.parentRunId` = '{parent_id}' and "
                                f"tags.`{STATUS}` = '{TrialStatus.RUNNING.value}'")
        for run in children:
            self._mlflow.set_tag(run.info.run_id, STATUS, TrialStatus.LOST.value)
            self._mlflow.set_terminated(run.info.run_id, "KILLED")
        self.fail_sweep(parent_id, reason)
        return len(children)

    def trial_logger(self, experiment: str, parent_id: str, *, learner: str, fixed: dict[str, Any],
                     settings: dict[str, Any]) -> TrialLogger:
        """The writer of the sweep's child runs (handed to Tune's callback)."""
        return TrialLogger(store=self, experiment_id=self.experiment_id(experiment, create=True),
                           parent_id=parent_id, learner=learner, fixed=dict(fixed), settings=dict(settings))

    # ---- reading trials

    def records(self, experiment: str, *, parent_id: str | None = None) -> list[TrialRecord]:
        """Every trial run of the experiment (of one sweep if ``parent_id``), in start order; paged, no cap."""
        exp_id = self.experiment_id(experiment)
        where = f"tags.`{ROLE}` = 'trial'" + (f" and tags.`mlflow.parentRunId` = '{parent_id}'" if parent_id else "")
        records = [record_from_run(run, experiment) for run in self._search(exp_id, where)]
        return sorted(records, key=lambda r: (r.start_time_ms, r.run_id))

    def record(self, run_id: str, experiment: str | None = None) -> TrialRecord:
        """One trial run by id; ConfigError if there is none (or it is not a trial)."""
        try:
            run = self._mlflow.get_run(run_id)
        except Exception:  # noqa: BLE001 - MLflow raises its own RestException / MlflowException
            raise ConfigError(f"no MLflow run with id {run_id} at {self.uri}.") from None
        if run.data.tags.get(ROLE) != "trial":
            raise ConfigError(f"MLflow run {run_id} is not a synaptune trial run (tag {ROLE}="
                              f"{run.data.tags.get(ROLE)!r}).")
        if experiment is not None and str(run.info.experiment_id) != self.experiment_id(experiment):
            raise ConfigError(f"MLflow run {run_id} is not in experiment `{experiment}`.")
        return record_from_run(run, experiment or "")

    def objectives(self, experiment: str) -> tuple[tuple[str, str], ...]:
        """The ``--objective`` list of the experiment's latest sweep; () for a single-objective sweep."""
        parent = self.sweep_run(experiment)
        logged = parent.data.params.get("objectives", "") if parent is not None else ""
        objectives = tuple((m, mode) for m, _, mode in (o.rpartition(":") for o in logged.split(",") if o))
        return objectives if len(objectives) > 1 else ()

    def best(self, experiment: str, *, metric: str = "objective", mode: str = "max",
             top: int = 1) -> list[TrialRecord]:
        """The ``top`` completed trials by ``metric`` (:func:`rank`)."""
        return rank(self.records(experiment), metric, mode)[:top]

    def pareto(self, experiment: str, objectives: Sequence[tuple[str, str]]) -> list[TrialRecord]:
        return pareto_front(self.records(experiment), objectives)

    def check_metric(self, records: Sequence[TrialRecord], metric: str, experiment: str) -> None:
        """ConfigError naming the experiment's metrics when no trial logged ``metric`` (a typo).

        A built-in metric (its direction known) is never a typo: a sweep whose
        trials have not finished yet lacks it, and says so elsewhere.
        """
        names = sorted({m for r in records for m in r.metrics})
        if metric in names or not records or metric_direction(metric) is not None:
            return
        shown = [n for n in names if "acc_task_" not in n] + (["val/acc_task_<j>"] if any(
            "acc_task_" in n for n in names) else [])
        raise ConfigError(f"no trial of `{experiment}` has metric {metric}.{did_you_mean(metric, names)} "
                          f"Its metrics: {', '.join(shown)}.")

    # ---- artifacts

    def log_artifacts(self, run_id: str, folder: str | Path, artifact_path: str | None = None) -> None:
        self._mlflow.log_artifacts(run_id, str(folder), artifact_path=artifact_path)

    def log_artifact(self, run_id: str, path: str | Path) -> None:
        self._mlflow.log_artifact(run_id, str(path))

    def artifact_names(self, run_id: str) -> set[str]:
        """Paths of a run's top-level artifacts."""
        return {a.path for a in self._mlflow.list_artifacts(run_id)}

    def download_artifact(self, run_id: str, path: str, dst: str | Path) -> bool:
        """Copy a run's artifact to the file ``dst``; False when it is absent or unreadable."""
        with tempfile.TemporaryDirectory() as tmp:
            try:
                Path(dst).write_bytes(Path(self._mlflow.download_artifacts(run_id, path, tmp)).read_bytes())
            except Exception:  # noqa: BLE001 - MLflow raises several types for a missing artifact
                return False
        return True

    def read_artifact(self, run_id: str, path: str) -> str | None:
        """The text of a run's artifact, or None when it is absent or unreadable."""
        with tempfile.TemporaryDirectory() as tmp:
            try:
                return Path(self._mlflow.download_artifacts(run_id, path, tmp)).read_text()
            except Exception:  # noqa: BLE001 - MLflow raises several types for a missing artifact
                return None

    # ---- synaptune run

    def log_test_run(self, experiment: str, *, params: dict[str, Any], metrics: dict[str, float],
                     tags: dict[str, str], matrix: list[list[float | None]]) -> str:
        """Log one ``synaptune run`` result as its own run (tag ``synaptune.role=run``); returns its id."""
        exp_id = self.experiment_id(experiment, create=True)
        run = self._mlflow.create_run(exp_id, tags={ROLE: "run", **tags})
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        self._mlflow.log_batch(run.info.run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
                               params=[Param(k, str(v)) for k, v in params.items()])
        self._mlflow.log_text(run.info.run_id, json.dumps({"split": "test", "R": matrix}, indent=1),
                              "accuracy_matrix.json")
        self._mlflow.set_terminated(run.info.run_id, "FINISHED")
        return str(run.info.run_id)

    def test_runs_of(self, experiment: str) -> list[tuple[str, str, str, dict[str, float], dict[str, str]]]:
        """``synaptune run`` results of presets exported from sweep ``experiment``, in every experiment of
        the store (``run`` tags them ``source.experiment``): ``(run id, experiment name, source trial run id,
        metrics, tags)``, newest first."""
        if "'" in experiment:  # sweep names are plain (check_sweep_name); nothing could match
            return []
        names = {e.experiment_id: e.name for e in self._mlflow.search_experiments()}
        where = f"tags.`{ROLE}` = 'run' and tags.`source.experiment` = '{experiment}'"
        runs = [run for exp_id in names for run in self._search(exp_id, where)]
        runs.sort(key=lambda r: -r.info.start_time)
        return [(r.info.run_id, names[r.info.experiment_id], r.data.tags.get("source.run_id", ""),
                 dict(r.data.metrics), dict(r.data.tags)) for r in runs]

    # ---- synaptune compare

    def start_comparison(self, experiment: str, *, params: dict[str, Any], tags: dict[str, str]) -> str:
        """The parent run of a ``synaptune compare`` (tag ``synaptune.role=compare``), RUNNING; its id."""
        from mlflow.entities import Param

        run = self._mlflow.create_run(self.experiment_id(experiment, create=True), tags={ROLE: "compare", **tags})
        self._mlflow.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
        return str(run.info.run_id)

    def log_comparison_run(self, experiment: str, parent_id: str, *, name: str, params: dict[str, Any],
                           metrics: dict[str, float], acc_seen: Sequence[float], tags: dict[str, str],
                           matrix: list[list[float | None]]) -> str:
        """One entry x seed (x task order) of a comparison, nested under ``parent_id``; its id.

        ``acc_seen[t]`` (ACC over the tasks seen after task t) is logged as ``test/acc_seen`` at step t.
        """
        from mlflow.entities import Metric, Param

        run = self._mlflow.create_run(self.experiment_id(experiment), run_name=name, tags={
            ROLE: "compare-run", "mlflow.parentRunId": parent_id, **tags})
        now = int(time.time() * 1000)
        self._mlflow.log_batch(
            run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()],
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()]
            + [Metric("test/acc_seen", float(v), now, t) for t, v in enumerate(acc_seen)])
        self._mlflow.log_text(run.info.run_id, json.dumps({"split": "test", "R": matrix}, indent=1),
                              "accuracy_matrix.json")
        self._mlflow.set_terminated(run.info.run_id, "FINISHED")
        return str(run.info.run_id)

    def finish_comparison(self, parent_id: str, *, status: str = "FINISHED", reason: str | None = None) -> None:
        """End a comparison's parent run (FINISHED, FAILED or KILLED, with the reason as a tag)."""
        if reason:
            self._mlflow.set_tag(parent_id, ERROR, reason)
        self._mlflow.set_terminated(parent_id, status)

    def comparison_runs(self, experiment: str, parent_id: str) -> list[Any]:
        """The nested runs of a comparison (MLflow ``Run`` objects), in start order."""
        where = f"tags.`{ROLE}` = 'compare-run' and tags.`mlflow.parentRunId` = '{parent_id}'"
        return sorted(self._search(self.experiment_id(experiment), where), key=lambda r: r.info.start_time)


@dataclass
class TrialLogger:
    """Logs each Tune trial as a child run (wrapped by ``raytune.MLflowTrialCallback``).

    Plain data so it pickles into Tune's experiment state. ``settings`` are the
    sweep's and the stream's params of every child run; the learner's Params
    fields are logged under ``learner/``.
    """

    store: SweepStore
    experiment_id: str
    parent_id: str
    learner: str
    fixed: dict[str, Any]
    settings: dict[str, Any]
    run_ids: dict[str, str] = dataclasses.field(default_factory=dict)
    #: The next child run's number (counted from MLflow once per process: not pickled).
    _next_number: int | None = None
    #: Steps (tasks seen) each child run has logged or queued, read from MLflow the first time this
    #: process meets the run (not pickled: a killed driver's queue may never have reached MLflow).
    _steps: dict[str, set[int]] = dataclasses.field(default_factory=dict)

    #: The sweep's child runs already in MLflow, by trial id: searched once per process (a resumed
    #: driver finds its earlier runs there; runs this process creates are remembered in ``run_ids``).
    _found: dict[str, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_next_number": None, "_steps": {}, "_found": None}

    def _logged_steps(self, run_id: str) -> set[int]:
        if run_id not in self._steps:
            history = self.store._mlflow.get_metric_history(run_id, "tasks_seen")
            self._steps[run_id] = {int(m.step) for m in history}
        return self._steps[run_id]

    def _children(self) -> dict[str, Any]:
        """The child runs found in MLflow by trial id; one search per process, not one per trial (a
        search per new trial made the driver's cost grow with the sweep: 10,000 runs, 10,000 searches)."""
        if self._found is None:
            children = self.store._search(self.experiment_id, f"tags.`mlflow.parentRunId` = '{self.parent_id}'")
            self._found = {str(r.data.tags.get(TRIAL_ID)): r for r in children}
            self._next_number = 1 + max([_int(r.data.tags.get(TRIAL_NUMBER)) or 0 for r in children], default=0)
        return self._found

    def _number(self) -> int:
        self._children()
        assert self._next_number is not None
        number, self._next_number = self._next_number, self._next_number + 1
        return number

    def child_run(self, trial_id: str, config: dict[str, Any]) -> str:
        if trial_id in self.run_ids:
            return self.run_ids[trial_id]
        client = self.store._mlflow
        found = self._children().get(trial_id)
        if found is not None:
            run_id = found.info.run_id
            if found.data.tags.get(STATUS) == TrialStatus.INTERRUPTED.value:  # resumed: it runs again
                client.set_tag(run_id, STATUS, TrialStatus.RUNNING.value)
                client.update_run(run_id, status="RUNNING")
        else:
            number = self._number()
            run = client.create_run(self.experiment_id, run_name=f"{self.learner}-{number}", tags={
                "mlflow.parentRunId": self.parent_id, ROLE: "trial", TRIAL_ID: trial_id,
                TRIAL_NUMBER: str(number), STATUS: TrialStatus.RUNNING.value})
            run_id = run.info.run_id
            self._steps[run_id] = set()
            from synaptune.learners import params_of

            params = params_of(self.learner)(**{**self.fixed, **config})
            logged = {**flat(LEARNER_PREFIX, dataclasses.asdict(params)), "learner": self.learner, **self.settings}
            from mlflow.entities import Param

            _PENDING.setdefault(run_id, []).append(client.log_batch(
                run_id, params=[Param(k, str(v)) for k, v in logged.items()], synchronous=False))
        self.run_ids[trial_id] = run_id
        return run_id

    def on_result(self, trial_id: str, config: dict[str, Any], result: dict[str, Any]) -> None:
        """Log the result's metrics at step ``tasks_seen``, and earlier steps the run lacks.

        Each step is logged once: a result carries every earlier task's metrics
        (``history``, a JSON list), so steps whose results were queued in a killed
        driver are filled in by the resumed trial's next report, and a step reported
        again (a trial restored from an older checkpoint) is not logged twice.
        """
        from mlflow.entities import Metric, RunTag

        run_id = self.child_run(trial_id, config)
        logged = self._logged_steps(run_id)
        now = int(time.time() * 1000)
        steps = [*json.loads(result.get("history") or "[]"), result]
        metrics = []
        for values in steps:
            step = int(values["tasks_seen"])
            if step in logged:
                continue
            logged.add(step)
            # NaN / inf are not logged: a diverged trial ends failed and has no value to rank.
            metrics += [Metric(k, float(v), now, step) for k, v in values.items()
                        if (k.startswith("val/") or k in LOGGED_METRICS) and isinstance(v, (int, float))
                        and not isinstance(v, bool) and math.isfinite(v)]
        # The node the trial (last) ran on, in the same request: one call per result. Sent by
        # MLflow's background queue, so the driver (and every trial) does not wait for a server
        # round trip per result; a trial's end waits for its results to be stored first.
        tags = [RunTag("ray.node_id", str(result["node_id"]))] if "node_id" in result else []
        if metrics or tags:
            pending = self.store._mlflow.log_batch(run_id, metrics=metrics, tags=tags, synchronous=False)
            _PENDING.setdefault(run_id, []).append(pending)

    def on_end(self, trial_id: str, config: dict[str, Any], result: dict[str, Any] | None, *,
               error: bool, interrupted: bool = False) -> TrialStatus:
        """Close the trial's run with its :class:`TrialStatus` (pruned runs end FINISHED, not KILLED)."""
        run_id = self.child_run(trial_id, config)
        client = self.store._mlflow
        reason = None
        if error:
            status, mlflow_status, reason = TrialStatus.FAILED, "FAILED", "error"
        elif result and result.get("diverged"):
            status, mlflow_status, reason = TrialStatus.FAILED, "FAILED", "diverged"
        elif result and is_complete(result.get("tasks_seen"), result.get("n_tasks")):
            status, mlflow_status = TrialStatus.COMPLETED, "FINISHED"
        elif interrupted:
            status, mlflow_status = TrialStatus.INTERRUPTED, "KILLED"
        else:
            status, mlflow_status = TrialStatus.PRUNED, "FINISHED"
        from mlflow.entities import RunTag

        tags = [RunTag(STATUS, status.value)]
        if reason is not None:
            tags.append(RunTag(REASON, reason))
            if result and result.get("diverged_reason"):
                tags.append(RunTag("synaptune.diverged", str(result["diverged_reason"])[:5000]))
        if result:
            tags.append(RunTag("tasks_seen", str(result.get("tasks_seen"))))
        # Queued behind the trial's results (one logging thread keeps the order); the sweep waits
        # for the queue before it reads the statuses back (:func:`wait_for_logging`).
        _PENDING.setdefault(run_id, []).append(client.log_batch(run_id, tags=tags, synchronous=False))
        if result and "accuracy_matrix" in result:  # a JSON string: R so far, null where not measured
            matrix = json.loads(result["accuracy_matrix"])
            client.log_text(run_id, json.dumps({"split": "val", "R": matrix}, indent=1), "accuracy_matrix.json")
        _terminate(client, run_id, mlflow_status)
        return status

    def close_running(self, status: TrialStatus, reason: str | None = None) -> int:
        """Close every child run still ``running`` with ``status`` (and tag ``synaptune.reason``); returns how many.

        MLflow status KILLED for interrupted and lost runs, FAILED for failed ones.
        """
        client = self.store._mlflow
        runs = self._running()
        for run in runs:
            client.set_tag(run.info.run_id, STATUS, status.value)
            if reason is not None:
                client.set_tag(run.info.run_id, REASON, reason)
            client.set_terminated(run.info.run_id, "FAILED" if status is TrialStatus.FAILED else "KILLED")
        return len(runs)

    def on_experiment_end(self, trial_ids: set[str]) -> None:
        """Close child runs of trials that Tune no longer knows (status ``lost``).

        A driver killed within a second of starting a trial may restart without
        it (Tune's experiment state predates it); its run would stay RUNNING
        forever. At most a second of work is lost with it.
        """
        for run in self._running():
            if run.data.tags.get(TRIAL_ID) not in trial_ids:
                self.store._mlflow.set_tag(run.info.run_id, STATUS, TrialStatus.LOST.value)
                self.store._mlflow.set_terminated(run.info.run_id, "KILLED")

    def close_ended(self, ended: dict[str, tuple[dict[str, Any], dict[str, Any], bool]]) -> int:
        """Log the end of trials Tune has ended whose runs are still open; returns how many.

        ``ended``: trial id -> ``(config, last result, errored)`` for every trial of
        a sweep that ran to its end (not interrupted). A run still open then had
        its last results and end queued for MLflow in a driver that was killed
        (Tune's state already had the trial ended, so nothing reports it again):
        they are logged now, the earlier steps from the result's ``history``.
        """
        closed = 0
        for run in self._running():
            trial_id = run.data.tags.get(TRIAL_ID)
            if trial_id not in ended:
                continue
            config, result, errored = ended[trial_id]
            self.run_ids.setdefault(trial_id, run.info.run_id)
            if result and "tasks_seen" in result:
                self.on_result(trial_id, config, result)
            self.on_end(trial_id, config, result or None, error=errored)
            closed += 1
        return closed

    def _running(self) -> list[Any]:
        wait_for_logging()
        return self.store._search(self.experiment_id, f"tags.`mlflow.parentRunId` = '{self.parent_id}' and "
                                  f"tags.`{STATUS}` = '{TrialStatus.RUNNING.value}'")

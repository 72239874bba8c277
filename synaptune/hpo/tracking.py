# SPDX-License-Identifier: MIT
"""MLflow tracking, done from the sweep driver only (workers need no access).

Layout in MLflow: experiment = sweep name; one parent run per sweep
(tag ``synaptune.role=sweep``) and one nested child run per Tune trial
(``synaptune.role=trial``, ``trial_id=<Tune trial id>``). A child run is found
again by its ``trial_id`` tag after any restart, so a resumed sweep never
duplicates it. ``synaptune.status`` is ``running``, ``completed`` (saw every
task), ``pruned`` (stopped early by ASHA), ``failed``, or ``lost`` (a trial started
less than a second before the driver was killed, which the resumed sweep no
longer knows; it is replaced by a new trial).

Only completed runs carry a comparable ``val/acc``: a pruned trial saw fewer
tasks, and accuracy usually falls as tasks are added. :func:`best_runs` reads
completed runs only.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import socket
import time
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
ROLE, STATUS, TRIAL_ID, SWEEP_PATH = "synaptune.role", "synaptune.status", "trial_id", "synaptune.sweep_path"


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


def benchmark_params_flat(benchmark_params: dict[str, Any]) -> dict[str, Any]:
    """``{"benchmark/<field>": value}``: how benchmark options are logged as MLflow params."""
    return {f"benchmark/{k}": v for k, v in benchmark_params.items()}


@functools.lru_cache(maxsize=8)
def _client(uri: str) -> Any:
    """One MLflow client per tracking URI per process (each result is logged on Tune's report path)."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def experiment_id(uri: str, name: str, *, create: bool) -> str:
    """Id of experiment ``name``; created if ``create``, else a ConfigError naming the known ones."""
    client = _client(uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    if create:
        return str(client.create_experiment(name))
    names = [e.name for e in client.search_experiments()]
    raise ConfigError(f"no MLflow experiment `{name}` at {uri}.{did_you_mean(name, names)} "
                      f"Known experiments: {', '.join(names) or 'none'}.")


def start_sweep_run(uri: str, experiment: str, *, sweep_path: str, settings: dict[str, Any],
                    space_yaml: str) -> str:
    """The sweep's parent run: found again by its results path, else created. Returns its id."""
    client = _client(uri)
    exp_id = experiment_id(uri, experiment, create=True)
    found = client.search_runs([exp_id], filter_string=f"tags.`{ROLE}` = 'sweep' and "
                               f"tags.`{SWEEP_PATH}` = '{sweep_path}'", max_results=1)
    if found:
        client.update_run(found[0].info.run_id, status="RUNNING")
        return str(found[0].info.run_id)
    run = client.create_run(exp_id, run_name=experiment, tags={ROLE: "sweep", SWEEP_PATH: sweep_path})
    run_id = run.info.run_id
    for key, value in settings.items():
        client.log_param(run_id, key, value)
    client.log_text(run_id, space_yaml, "search_space.yaml")
    return str(run_id)


def finish_sweep_run(uri: str, parent_id: str, best: dict[str, Any] | None, counts: dict[str, int]) -> None:
    client = _client(uri)
    for status, n in counts.items():
        client.log_metric(parent_id, f"trials/{status}", n)
    if best is not None:
        client.set_tag(parent_id, "best_run_id", best["run_id"])
        client.log_metric(parent_id, "best/val/acc", best["metrics"]["val/acc"])
        client.log_metric(parent_id, "best/objective", best["metrics"]["objective"])
        for key, value in best["params"].items():
            client.log_param(parent_id, f"best/{key}", value)
    client.set_terminated(parent_id, "FINISHED")


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


#: Results queued for MLflow, per run id, not yet known to be stored (module level: not pickled).
_PENDING: dict[str, list[Any]] = {}


def wait_for_logging(run_id: str | None = None) -> None:
    """Block until the queued results of ``run_id`` (of every run if None) are stored."""
    for rid in [run_id] if run_id is not None else list(_PENDING):
        for pending in _PENDING.pop(rid, []):
            if pending is not None:
                pending.wait()


@dataclass
class TrialLogger:
    """Logs each Tune trial as a child run (wrapped by ``raytune.MLflowTrialCallback``).

    Plain data so it pickles into Tune's experiment state; the MLflow client is
    made on demand.
    """

    uri: str
    experiment_id: str
    parent_id: str
    learner: str
    benchmark: str
    benchmark_params: dict[str, Any]
    fixed: dict[str, Any]
    seeds: int
    #: More params of every child run (the protocol, task orders, aggregate).
    extra_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    run_ids: dict[str, str] = dataclasses.field(default_factory=dict)

    def child_run(self, trial_id: str, config: dict[str, Any]) -> str:
        if trial_id in self.run_ids:
            return self.run_ids[trial_id]
        client = _client(self.uri)
        found = client.search_runs([self.experiment_id], filter_string=(
            f"tags.`{TRIAL_ID}` = '{trial_id}' and tags.`mlflow.parentRunId` = '{self.parent_id}'"),
            max_results=1)
        if found:
            run_id = found[0].info.run_id
        else:
            run = client.create_run(self.experiment_id, run_name=trial_id, tags={
                "mlflow.parentRunId": self.parent_id, ROLE: "trial", TRIAL_ID: trial_id, STATUS: "running"})
            run_id = run.info.run_id
            from synaptune.learners import LEARNERS

            params = LEARNERS.get(self.learner).params_cls(**{**self.fixed, **config})
            logged = {**dataclasses.asdict(params), "learner": self.learner, "benchmark": self.benchmark,
                      "seeds": self.seeds, **self.extra_params, **benchmark_params_flat(self.benchmark_params)}
            from mlflow.entities import Param

            _PENDING.setdefault(run_id, []).append(client.log_batch(
                run_id, params=[Param(k, str(v)) for k, v in logged.items()], synchronous=False))
        self.run_ids[trial_id] = run_id
        return run_id

    def on_result(self, trial_id: str, config: dict[str, Any], result: dict[str, Any]) -> None:
        from mlflow.entities import Metric, RunTag

        run_id = self.child_run(trial_id, config)
        step = int(result["tasks_seen"])
        now = int(time.time() * 1000)
        names = [k for k in result if k.startswith("val/") or k in LOGGED_METRICS]
        metrics = [Metric(k, float(result[k]), now, step) for k in names
                   if isinstance(result[k], (int, float)) and not isinstance(result[k], bool)]
        # The node the trial (last) ran on, in the same request: one call per result. Sent by
        # MLflow's background queue, so the driver (and every trial) does not wait for a server
        # round trip per result; a trial's end waits for its results to be stored first.
        tags = [RunTag("ray.node_id", str(result["node_id"]))] if "node_id" in result else []
        pending = _client(self.uri).log_batch(run_id, metrics=metrics, tags=tags, synchronous=False)
        _PENDING.setdefault(run_id, []).append(pending)

    def on_end(self, trial_id: str, config: dict[str, Any], result: dict[str, Any] | None, *,
               error: bool) -> None:
        run_id = self.child_run(trial_id, config)
        client = _client(self.uri)
        if error:
            status, mlflow_status = "failed", "FAILED"
        elif result and result.get("tasks_seen") == result.get("n_tasks"):
            status, mlflow_status = "completed", "FINISHED"
        else:
            status, mlflow_status = "pruned", "KILLED"
        from mlflow.entities import RunTag

        tags = [RunTag(STATUS, status)]
        if result:
            tags.append(RunTag("tasks_seen", str(result.get("tasks_seen"))))
        # Queued behind the trial's results (one logging thread keeps the order); the sweep waits
        # for the queue before it reads the statuses back (:func:`wait_for_logging`).
        _PENDING.setdefault(run_id, []).append(client.log_batch(run_id, tags=tags, synchronous=False))
        if result:
            if "accuracy_matrix" in result:  # a JSON string: R so far, null where not measured
                matrix = json.loads(result["accuracy_matrix"])
                client.log_text(run_id, json.dumps({"split": "val", "R": matrix}, indent=1),
                                "accuracy_matrix.json")
        _terminate(client, run_id, mlflow_status)

    def on_experiment_end(self, trial_ids: set[str]) -> None:
        """Close child runs of trials that Tune no longer knows (status ``lost``).

        A driver killed within a second of starting a trial may restart without
        it (Tune's experiment state predates it); its run would stay RUNNING
        forever. At most a second of work is lost with it.
        """
        wait_for_logging()
        client = _client(self.uri)
        runs = client.search_runs([self.experiment_id], filter_string=(
            f"tags.`mlflow.parentRunId` = '{self.parent_id}' and tags.`{STATUS}` = 'running'"))
        for run in runs:
            if run.data.tags.get(TRIAL_ID) not in trial_ids:
                client.set_tag(run.info.run_id, STATUS, "lost")
                client.set_terminated(run.info.run_id, "KILLED")


def best_runs(uri: str, experiment: str, *, top: int = 1, metric: str = "objective") -> list[dict[str, Any]]:
    """The ``top`` completed trials of a sweep, best first, read from MLflow.

    Returns dicts with ``run_id``, ``trial_id``, ``metrics``, ``params`` (strings as
    logged). Pruned, failed and running trials are never returned.
    """
    exp_id = experiment_id(uri, experiment, create=False)
    runs = _client(uri).search_runs(
        [exp_id],
        filter_string=f"tags.`{ROLE}` = 'trial' and tags.`{STATUS}` = 'completed'",
        order_by=[f"metrics.`{metric}` DESC"],
        max_results=max(top, 1) * 5 + 50,
    )
    out = []
    for run in runs:
        if metric not in run.data.metrics:
            continue
        out.append({"run_id": run.info.run_id, "trial_id": run.data.tags.get(TRIAL_ID),
                    "metrics": dict(run.data.metrics), "params": dict(run.data.params),
                    "experiment": experiment})
    out.sort(key=lambda r: -r["metrics"][metric])
    return out[:top]


def completed_runs(uri: str, experiment: str) -> list[dict[str, Any]]:
    """Every completed trial of a sweep, as :func:`best_runs` gives them (unordered)."""
    exp_id = experiment_id(uri, experiment, create=False)
    runs = _client(uri).search_runs(
        [exp_id], filter_string=f"tags.`{ROLE}` = 'trial' and tags.`{STATUS}` = 'completed'", max_results=50000)
    return [{"run_id": run.info.run_id, "trial_id": run.data.tags.get(TRIAL_ID), "metrics": dict(run.data.metrics),
             "params": dict(run.data.params), "experiment": experiment} for run in runs]


def sweep_objectives(uri: str, experiment: str) -> tuple[tuple[str, str], ...]:
    """The ``--objective`` list of the sweep logged as ``experiment`` (its latest parent run); () if single."""
    from synaptune.hpo.pareto import parse_objectives

    exp_id = experiment_id(uri, experiment, create=False)
    parents = _client(uri).search_runs([exp_id], filter_string=f"tags.`{ROLE}` = 'sweep'",
                                       order_by=["attributes.start_time DESC"], max_results=1)
    logged = parents[0].data.params.get("objectives", "") if parents else ""
    objectives = parse_objectives([o for o in logged.split(",") if o])
    return objectives if len(objectives) > 1 else ()


def pareto_runs(uri: str, experiment: str, objectives: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    """The completed trials on the Pareto front of ``objectives``, best first objective first."""
    from synaptune.hpo.pareto import pareto_front

    return pareto_front(completed_runs(uri, experiment), objectives)


def get_run(uri: str, run_id: str) -> dict[str, Any]:
    """One run as a dict like :func:`best_runs` gives (any role)."""
    try:
        run = _client(uri).get_run(run_id)
    except Exception:  # noqa: BLE001 - MLflow raises its own RestException / MlflowException
        raise ConfigError(f"no MLflow run with id {run_id} at {uri}.") from None
    return {"run_id": run.info.run_id, "trial_id": run.data.tags.get(TRIAL_ID),
            "metrics": dict(run.data.metrics), "params": dict(run.data.params),
            "tags": dict(run.data.tags)}


def log_test_run(uri: str, experiment: str, *, params: dict[str, Any], metrics: dict[str, float],
                 tags: dict[str, str], matrix: list[list[float | None]]) -> str:
    """Log one ``synaptune run`` result as its own run; returns its id."""
    client = _client(uri)
    exp_id = experiment_id(uri, experiment, create=True)
    run = client.create_run(exp_id, tags={ROLE: "run", **tags})
    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    client.log_batch(run.info.run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
                     params=[Param(k, str(v)) for k, v in params.items()])
    client.log_text(run.info.run_id, json.dumps({"split": "test", "R": matrix}, indent=1),
                    "accuracy_matrix.json")
    client.set_terminated(run.info.run_id, "FINISHED")
    return str(run.info.run_id)

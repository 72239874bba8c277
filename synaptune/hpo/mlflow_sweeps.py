# SPDX-License-Identifier: MIT
"""The sweeps of an MLflow tracking store: :class:`SweepStore` reads and writes them in synaptune's layout.

Part of the MLflow adapter of the results store, shaped as Optuna's storages
(``BaseStorage`` / ``get_storage``): :class:`SweepStore` is the tracking store
behind a URI, in the layout of :mod:`synaptune.hpo.mlflow_layout`. It writes a
sweep's parent run, ``synaptune run`` results and comparisons; it reads trials
back as :class:`~synaptune.hpo.records.TrialRecord` and ranks them with
:func:`~synaptune.hpo.records.rank`. Each trial's child run is written by its
:class:`~synaptune.hpo.mlflow_trial_logger.TrialLogger` (:meth:`SweepStore.trial_logger`).
``best``, ``export``, ``report``, presets and artifacts read through it; no
module outside the adapter holds an MLflow client.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synaptune._registry import did_you_mean
from synaptune.exceptions import ConfigError
from synaptune.hpo.mlflow_connection import MlflowConnection, open_connection
from synaptune.hpo.mlflow_layout import (COMMAND, COMMIT, ERROR, MACHINE, REASON, RESUME_KEY, ROLE,
                                         SOURCE_EXPERIMENT, SOURCE_RUN_ID, STATUS, SWEEP_PATH, record_from_run,
                                         sweep_from_run)
from synaptune.hpo.mlflow_trial_logger import TrialLogger
from synaptune.hpo.records import PresetTestRun, SweepRun, TrialRecord, TrialStatus, metric_direction, pareto_front, rank

#: What MLflow returns per search page (its servers cap a page at 50,000).
PAGE_SIZE = 1000


@dataclass(frozen=True)
class SweepStore:
    """The MLflow tracking store at ``uri``, in synaptune's layout (module docstring).

    Plain data (it pickles into Tune's experiment state); the MLflow client is
    made on demand, one per URI per process (:func:`~synaptune.hpo.mlflow_connection.open_connection`).
    """

    uri: str

    @property
    def connection(self) -> MlflowConnection:
        """This process's connection to the store (for the adapter's writers, such as :class:`TrialLogger`)."""
        return open_connection(self.uri)

    @property
    def _client(self) -> Any:
        return self.connection.client

    def wait_for_logging(self, run_id: str | None = None) -> None:
        """Block until the results queued for ``run_id`` (for every run if None) are stored."""
        self.connection.wait_for_logging(run_id)

    # ---- experiments and the sweep's parent run

    def experiment_id(self, name: str, *, create: bool = False) -> str:
        """Id of experiment ``name``; created if ``create``, else a ConfigError naming the known ones."""
        exp = self._client.get_experiment_by_name(name)
        if exp is not None:
            return str(exp.experiment_id)
        if create:
            return str(self._client.create_experiment(name))
        names = [e.name for e in self._client.search_experiments()]
        raise ConfigError(f"no MLflow experiment `{name}` at {self.uri}.{did_you_mean(name, names)} "
                          f"Known experiments: {', '.join(names) or 'none'}.")

    def search(self, experiment_id: str, filter_string: str, order_by: list[str] | None = None) -> list[Any]:
        """Every run (MLflow ``Run``) of the experiment matching ``filter_string``, page after page (no cap)."""
        runs: list[Any] = []
        token = None
        while True:
            page = self._client.search_runs([experiment_id], filter_string=filter_string, order_by=order_by,
                                            max_results=PAGE_SIZE, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def sweep_run(self, experiment: str, *, sweep_path: str | None = None) -> Any | None:
        """The sweep's parent run (the one logged from ``sweep_path`` if given, else the latest), or None."""
        exp = self._client.get_experiment_by_name(experiment)
        if exp is None:
            return None
        where = f"tags.`{ROLE}` = 'sweep'" + (f" and tags.`{SWEEP_PATH}` = '{sweep_path}'" if sweep_path else "")
        found = self._client.search_runs([exp.experiment_id], filter_string=where,
                                         order_by=["attributes.start_time DESC"], max_results=1)
        return found[0] if found else None

    def sweep_count(self, experiment: str) -> int:
        """How many sweeps (parent runs) the experiment holds."""
        return len(self.search(self.experiment_id(experiment), f"tags.`{ROLE}` = 'sweep'"))

    def start_sweep(self, experiment: str, *, sweep_path: str, settings: dict[str, Any], tags: dict[str, str],
                    space_yaml: str) -> str:
        """The sweep's parent run: found again by its results path (set RUNNING), else created. Returns its id."""
        found = self.sweep_run(experiment, sweep_path=sweep_path)
        if found is not None:
            run_id = str(found.info.run_id)
            self._client.update_run(run_id, status="RUNNING")
            for key, value in {**tags, STATUS: TrialStatus.RUNNING.value}.items():
                self._client.set_tag(run_id, key, value)
            return run_id
        exp_id = self.experiment_id(experiment, create=True)
        run = self._client.create_run(exp_id, run_name=experiment, tags={
            ROLE: "sweep", SWEEP_PATH: sweep_path, STATUS: TrialStatus.RUNNING.value, **tags})
        from mlflow.entities import Param

        self._client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in settings.items()])
        self._client.log_text(run.info.run_id, space_yaml, "search_space.yaml")
        return str(run.info.run_id)

    def finish_sweep(self, parent_id: str, best: TrialRecord | None, counts: dict[str, int],
                     status: str = "FINISHED", reason: str | None = None) -> None:
        """Counts per status, the best trial (tag and ``best/objective``), and the parent's end
        (``reason``, e.g. ``terminated``, tagged ``synaptune.reason`` on a stopped sweep)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(f"trials/{s}", n, now, 0) for s, n in counts.items()]
        if best is not None:
            self._client.set_tag(parent_id, "best_run_id", best.run_id)
            metrics += [Metric(f"best/{m}", best.metrics[m], now, 0) for m in ("objective", "val/acc")
                        if best.value(m) is not None]
        self._client.log_batch(parent_id, metrics=metrics)
        self._client.set_tag(parent_id, STATUS, TrialStatus.INTERRUPTED.value if status == "KILLED" else "finished")
        if reason:
            self._client.set_tag(parent_id, REASON, reason)
        self._client.set_terminated(parent_id, status)

    def record_sweep_origin(self, parent_id: str, *, command: str, machine: str, commit: str) -> None:
        """Tag the sweep's parent run with where it was run from: ``command`` (its command line, machine
        paths already replaced), ``machine`` and synaptune's ``commit``; read back by :meth:`sweep_of` into
        a preset's provenance. A resumed sweep's later command replaces the earlier one."""
        for key, value in ((COMMAND, command), (MACHINE, machine), (COMMIT, commit)):
            self._client.set_tag(parent_id, key, value[:5000])

    def sweep_of(self, record: TrialRecord) -> SweepRun:
        """The parent run of the sweep ``record``'s trial belongs to.

        Raises:
            ConfigError: the trial names no parent run, or the store has no such run.
        """
        parent_id = record.tags.get("mlflow.parentRunId")
        if not parent_id:
            raise ConfigError(f"MLflow run {record.run_id} names no sweep (no tag mlflow.parentRunId); it was not "
                              "logged by `synaptune sweep`.")
        return sweep_from_run(self.run(parent_id), record.experiment)

    def fail_sweep(self, parent_id: str, reason: str) -> None:
        """End the sweep's parent run FAILED, with ``reason`` (one line) in tag ``synaptune.error``."""
        self._client.set_tag(parent_id, STATUS, TrialStatus.FAILED.value)
        self._client.set_tag(parent_id, ERROR, reason[:5000])
        self._client.set_terminated(parent_id, "FAILED")

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
        children = self.search(str(parent.info.experiment_id), f"tags.`mlflow.parentRunId` = '{parent_id}' and "
                                f"tags.`{STATUS}` = '{TrialStatus.RUNNING.value}'")
        for run in children:
            self._client.set_tag(run.info.run_id, STATUS, TrialStatus.LOST.value)
            self._client.set_terminated(run.info.run_id, "KILLED")
        self.fail_sweep(parent_id, reason)
        return len(children)

    def trial_logger(self, experiment: str, parent_id: str, *, learner: str, fixed: dict[str, Any],
                     settings: dict[str, Any], defaults: dict[str, Any] | None = None) -> TrialLogger:
        """The writer of the sweep's child runs (handed to Tune's callback); ``defaults``: the config of
        the sweep's defaults trial (its run is named ``<learner>-defaults``)."""
        return TrialLogger(store=self, experiment_id=self.experiment_id(experiment, create=True),
                           parent_id=parent_id, learner=learner, fixed=dict(fixed), settings=dict(settings),
                           defaults=None if defaults is None else dict(defaults))

    # ---- reading trials

    def records(self, experiment: str, *, parent_id: str | None = None) -> list[TrialRecord]:
        """Every trial run of the experiment (of one sweep if ``parent_id``), in start order; paged, no cap."""
        exp_id = self.experiment_id(experiment)
        where = f"tags.`{ROLE}` = 'trial'" + (f" and tags.`mlflow.parentRunId` = '{parent_id}'" if parent_id else "")
        records = [record_from_run(run, experiment) for run in self.search(exp_id, where)]
        return sorted(records, key=lambda r: (r.start_time_ms, r.run_id))

    def run(self, run_id: str) -> Any:
        """One run by id, whatever its role (an MLflow ``Run``: ``info.status``, ``data.tags``, ...).

        Raises:
            ConfigError: the store has no run with that id.
        """
        try:
            return self._client.get_run(run_id)
        except Exception:  # noqa: BLE001 - MLflow raises its own RestException / MlflowException
            raise ConfigError(f"no MLflow run with id {run_id} at {self.uri}.") from None

    def metric_history(self, run_id: str, metric: str) -> list[tuple[int, float]]:
        """Every ``(step, value)`` logged for ``metric`` of a run, in the order MLflow returns them
        (a step logged twice appears twice)."""
        return [(int(m.step), float(m.value)) for m in self._client.get_metric_history(run_id, metric)]

    def record(self, run_id: str, experiment: str | None = None) -> TrialRecord:
        """One trial run by id; ConfigError if there is none (or it is not a trial)."""
        run = self.run(run_id)
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
        self._client.log_artifacts(run_id, str(folder), artifact_path=artifact_path)

    def log_artifact(self, run_id: str, path: str | Path) -> None:
        self._client.log_artifact(run_id, str(path))

    def artifact_names(self, run_id: str) -> set[str]:
        """Paths of a run's top-level artifacts."""
        return {a.path for a in self._client.list_artifacts(run_id)}

    def download_artifact(self, run_id: str, path: str, dst: str | Path) -> bool:
        """Copy a run's artifact to the file ``dst``; False when it is absent or unreadable."""
        with tempfile.TemporaryDirectory() as tmp:
            try:
                Path(dst).write_bytes(Path(self._client.download_artifacts(run_id, path, tmp)).read_bytes())
            except Exception:  # noqa: BLE001 - MLflow raises several types for a missing artifact
                return False
        return True

    def read_artifact(self, run_id: str, path: str) -> str | None:
        """The text of a run's artifact, or None when it is absent or unreadable."""
        with tempfile.TemporaryDirectory() as tmp:
            try:
                return Path(self._client.download_artifacts(run_id, path, tmp)).read_text()
            except Exception:  # noqa: BLE001 - MLflow raises several types for a missing artifact
                return None

    # ---- synaptune run

    def start_test_run(self, experiment: str, *, params: dict[str, Any], tags: dict[str, str],
                       name: str | None = None) -> str:
        """The run of one ``synaptune run`` (tag ``synaptune.role=run``), RUNNING, named ``name``
        (:func:`~synaptune.hpo.mlflow_layout.seeds_run_name`; MLflow picks a random one if None); its id.

        Each seed is logged by :meth:`log_test_seed` as it finishes; :meth:`finish_test_run` ends it.
        """
        from mlflow.entities import Param

        run = self._client.create_run(self.experiment_id(experiment, create=True), run_name=name,
                                      tags={ROLE: "run", **tags})
        self._client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
        return str(run.info.run_id)

    def log_test_seed(self, run_id: str, seed: int, result: dict[str, Any]) -> None:
        """One finished seed of a ``synaptune run``: its numbers as ``seed/<metric>`` at step ``seed``,
        ``seeds_done``, and its accuracy matrix as ``seeds/seed-<seed>.json`` (kept if the run is stopped)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(f"seed/{k}", float(v), now, seed) for k, v in result.items() if k != "matrix"]
        self._client.log_batch(run_id, metrics=[*metrics, Metric("seeds_done", seed + 1, now, seed)])
        self._client.log_text(run_id, json.dumps({"split": "test", "seed": seed, "result": result}, indent=1),
                              f"seeds/seed-{seed}.json")

    def test_seeds(self, run_id: str) -> dict[int, dict[str, Any]]:
        """The seeds a ``synaptune run`` logged with :meth:`log_test_seed`, by seed: what it was given."""
        found = {}
        for item in self._client.list_artifacts(run_id, "seeds"):
            text = self.read_artifact(run_id, item.path)
            if text is not None:
                doc = json.loads(text)
                found[int(doc["seed"])] = doc["result"]
        return found

    def finish_test_run(self, run_id: str, *, metrics: dict[str, float] | None = None,
                        matrix: list[list[float | None]] | None = None, status: str = "FINISHED",
                        reason: str | None = None, tags: dict[str, str] | None = None) -> None:
        """End a ``synaptune run``: its summary ``metrics`` and mean ``matrix`` when every seed finished
        (FINISHED), or KILLED / FAILED with ``reason`` (tag ``synaptune.reason``) and the seeds it logged."""
        from mlflow.entities import Metric

        if metrics:
            now = int(time.time() * 1000)
            self._client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])
        if matrix is not None:
            self._client.log_text(run_id, json.dumps({"split": "test", "R": matrix}, indent=1),
                                  "accuracy_matrix.json")
        for key, value in {**(tags or {}), **({REASON: reason} if reason else {})}.items():
            self._client.set_tag(run_id, key, value)
        self._client.set_terminated(run_id, status)

    def test_runs_of(self, experiment: str) -> list[PresetTestRun]:
        """``synaptune run`` results of presets exported from sweep ``experiment``, in every experiment of
        the store (``run`` tags them ``source.experiment``), newest first."""
        if "'" in experiment:  # sweep names are plain (check_sweep_name); nothing could match
            return []
        names = {e.experiment_id: e.name for e in self._client.search_experiments()}
        where = (f"tags.`{ROLE}` = 'run' and tags.`{SOURCE_EXPERIMENT}` = '{experiment}' "
                 "and attributes.status = 'FINISHED'")  # a stopped run has some seeds, not the result
        runs = [run for exp_id in names for run in self.search(exp_id, where)]
        runs.sort(key=lambda r: -r.info.start_time)
        return [PresetTestRun(run_id=r.info.run_id, experiment=names[r.info.experiment_id],
                              trial_run_id=r.data.tags.get(SOURCE_RUN_ID, ""), metrics=dict(r.data.metrics),
                              tags=dict(r.data.tags)) for r in runs]

    # ---- synaptune compare

    def start_comparison(self, experiment: str, *, params: dict[str, Any], tags: dict[str, str],
                         name: str | None = None) -> str:
        """The parent run of a ``synaptune compare`` (tag ``synaptune.role=compare``), RUNNING, named ``name``
        (:func:`~synaptune.hpo.mlflow_layout.seeds_run_name`; random if None); its id."""
        from mlflow.entities import Param

        run = self._client.create_run(self.experiment_id(experiment, create=True), run_name=name,
                                      tags={ROLE: "compare", **tags})
        self._client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
        return str(run.info.run_id)

    def log_comparison_run(self, experiment: str, parent_id: str, *, name: str, params: dict[str, Any],
                           metrics: dict[str, float], acc_seen: Sequence[float], tags: dict[str, str],
                           matrix: list[list[float | None]]) -> str:
        """One entry x seed (x task order) of a comparison, nested under ``parent_id``; its id.

        ``acc_seen[t]`` (ACC over the tasks seen after task t) is logged as ``test/acc_seen`` at step t.
        """
        from mlflow.entities import Metric, Param

        run = self._client.create_run(self.experiment_id(experiment), run_name=name, tags={
            ROLE: "compare-run", "mlflow.parentRunId": parent_id, **tags})
        now = int(time.time() * 1000)
        self._client.log_batch(
            run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()],
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()]
            + [Metric("test/acc_seen", float(v), now, t) for t, v in enumerate(acc_seen)])
        self._client.log_text(run.info.run_id, json.dumps({"split": "test", "R": matrix}, indent=1),
                              "accuracy_matrix.json")
        self._client.set_terminated(run.info.run_id, "FINISHED")
        return str(run.info.run_id)

    def reopen_stopped(self, experiment: str, role: str, key: str) -> str | None:
        """The newest run of ``experiment`` with role ``role`` (``run``, ``compare``) and resume key ``key``
        (tag ``synaptune.resume_key``) that did not finish (KILLED, FAILED, or RUNNING: its process was
        killed), reopened RUNNING without its old reason; its id, or None."""
        exp = self._client.get_experiment_by_name(experiment)
        if exp is None:
            return None
        where = (f"tags.`{ROLE}` = '{role}' and tags.`{RESUME_KEY}` = '{key}' "
                 "and attributes.status != 'FINISHED'")
        found = self._client.search_runs([exp.experiment_id], filter_string=where,
                                         order_by=["attributes.start_time DESC"], max_results=1)
        if not found:
            return None
        run_id = str(found[0].info.run_id)
        self._client.update_run(run_id, status="RUNNING")
        for tag in (ERROR, REASON):
            if tag in found[0].data.tags:
                self._client.delete_tag(run_id, tag)
        return run_id

    def comparison_runs(self, parent_id: str) -> dict[tuple[str, int, int], dict[str, Any]]:
        """The finished runs of a comparison by ``(entry, task order, seed)``: their metrics and ``matrix``.

        A run that was stopped while it was being logged holds no whole result: it is deleted, so that
        the run trained again in its place is the only one.
        """
        parent = self._client.get_run(parent_id)
        where = f"tags.`mlflow.parentRunId` = '{parent_id}' and tags.`{ROLE}` = 'compare-run'"
        found: dict[tuple[str, int, int], dict[str, Any]] = {}
        for run in self.search(parent.info.experiment_id, where):
            matrix = self.read_artifact(run.info.run_id, "accuracy_matrix.json")
            key = (run.data.params.get("entry", ""), int(run.data.params.get("task_order", 0)),
                   int(run.data.params.get("seed", 0)))
            if run.info.status != "FINISHED" or matrix is None or key in found:
                self._client.delete_run(run.info.run_id)
                continue
            found[key] = {**run.data.metrics, "matrix": json.loads(matrix)["R"], "order": key[1], "seed": key[2]}
        return found

    def finish_comparison(self, parent_id: str, *, status: str = "FINISHED", reason: str | None = None) -> None:
        """End a comparison's parent run (FINISHED, FAILED or KILLED, with the reason as a tag)."""
        if reason:
            self._client.set_tag(parent_id, ERROR, reason)
        self._client.set_terminated(parent_id, status)

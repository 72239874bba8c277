# SPDX-License-Identifier: MIT
"""The writer of a sweep's trial runs: :class:`TrialLogger` logs each Tune trial as an MLflow child run.

Part of the MLflow adapter of the results store (layout:
:mod:`synaptune.hpo.mlflow_layout`); made by
:meth:`synaptune.hpo.mlflow_sweeps.SweepStore.trial_logger` and wrapped by
``raytune.MLflowTrialCallback``. Results go through MLflow's background queue
(:meth:`~synaptune.hpo.mlflow_connection.MlflowConnection.log_batch_queued`),
so the driver does not wait for a server round trip per result; a trial's end
is queued behind its results.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from synaptune.hpo.mlflow_layout import (LEARNER_PREFIX, LOGGED_METRICS, REASON, ROLE, STATUS, TRIAL_ID,
                                         TRIAL_NUMBER, flat, parse_int)
from synaptune.hpo.records import TrialStatus, is_complete

if TYPE_CHECKING:
    from synaptune.hpo.mlflow_sweeps import SweepStore


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
    #: The sweep's first trial, the learner's defaults (:func:`synaptune.hpo.raytune.defaults_point`): a
    #: trial with exactly this config is named ``<learner>-defaults``, not ``<learner>-<n>``.
    defaults: dict[str, Any] | None = None
    run_ids: dict[str, str] = dataclasses.field(default_factory=dict)
    #: The next child run's number (counted from MLflow once per process: not pickled).
    _next_number: int | None = None
    #: Steps (tasks seen) each child run has logged or queued, read from MLflow the first time this
    #: process meets the run (not pickled: a killed driver's queue may never have reached MLflow).
    _steps: dict[str, set[int]] = dataclasses.field(default_factory=dict)

    #: The sweep's child runs already in MLflow, by trial id: searched once per process (a resumed
    #: driver finds its earlier runs there; runs this process creates are remembered in ``run_ids``).
    _found: dict[str, Any] | None = None
    #: Each child run's name as created (``<learner>-<n>``), by run id (not pickled: read again from
    #: MLflow when missing), so a pruned run's new name is made from it, never from a renamed one.
    _names: dict[str, str] = dataclasses.field(default_factory=dict)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_next_number": None, "_steps": {}, "_found": None, "_names": {}}

    def _logged_steps(self, run_id: str) -> set[int]:
        if run_id not in self._steps:
            self._steps[run_id] = {step for step, _ in self.store.metric_history(run_id, "tasks_seen")}
        return self._steps[run_id]

    def _children(self) -> dict[str, Any]:
        """The child runs found in MLflow by trial id; one search per process, not one per trial (a
        search per new trial made the driver's cost grow with the sweep: 10,000 runs, 10,000 searches)."""
        if self._found is None:
            children = self.store.search(self.experiment_id, f"tags.`mlflow.parentRunId` = '{self.parent_id}'")
            self._found = {str(r.data.tags.get(TRIAL_ID)): r for r in children}
            numbers = [parse_int(r.data.tags.get(TRIAL_NUMBER)) or 0 for r in children]
            self._next_number = 1 + max(numbers, default=0)
        return self._found

    def _number(self) -> int:
        self._children()
        assert self._next_number is not None
        number, self._next_number = self._next_number, self._next_number + 1
        return number

    def _defaults_named(self) -> bool:
        """Whether the sweep has its ``<learner>-defaults`` run already (TPE may sample the same config
        again later, in a small discrete space: that trial is an Optuna trial, numbered as any other)."""
        return any(str(r.data.tags.get(TRIAL_NUMBER)) == "0" for r in self._children().values()) or \
            any(name.startswith(f"{self.learner}-defaults") for name in self._names.values())

    def child_run(self, trial_id: str, config: dict[str, Any]) -> str:
        if trial_id in self.run_ids:
            return self.run_ids[trial_id]
        connection = self.store.connection
        client = connection.client
        found = self._children().get(trial_id)
        if found is not None:
            run_id = found.info.run_id
            self._names[run_id] = self._created_name(found)
            if found.data.tags.get(STATUS) == TrialStatus.INTERRUPTED.value:  # resumed: it runs again
                client.set_tag(run_id, STATUS, TrialStatus.RUNNING.value)
                client.update_run(run_id, status="RUNNING")
        else:
            is_defaults = self.defaults is not None and config == self.defaults and not self._defaults_named()
            number = 0 if is_defaults else self._number()
            name = f"{self.learner}-defaults" if is_defaults else f"{self.learner}-{number}"
            run = client.create_run(self.experiment_id, run_name=name, tags={
                "mlflow.parentRunId": self.parent_id, ROLE: "trial", TRIAL_ID: trial_id,
                TRIAL_NUMBER: str(number), STATUS: TrialStatus.RUNNING.value})
            run_id = run.info.run_id
            self._names[run_id] = name
            self._steps[run_id] = set()
            from synaptune.learners import params_of

            params = params_of(self.learner)(**{**self.fixed, **config})
            logged = {**flat(LEARNER_PREFIX, dataclasses.asdict(params)), "learner": self.learner, **self.settings}
            from mlflow.entities import Param

            connection.log_batch_queued(run_id, params=[Param(k, str(v)) for k, v in logged.items()])
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
            self.store.connection.log_batch_queued(run_id, metrics=metrics, tags=tags)

    def on_end(self, trial_id: str, config: dict[str, Any], result: dict[str, Any] | None, *,
               error: bool, interrupted: bool = False) -> TrialStatus:
        """Close the trial's run with its :class:`TrialStatus`.

        Pruned runs end MLflow-FINISHED (ASHA ended them normally; KILLED is what an interrupted or
        lost run shows) and are renamed ``<learner>-<n> (pruned after k of T tasks)``: the MLflow UI's
        list shows names and MLflow statuses, and a pruned run would otherwise look completed there.
        Readers go by tag ``synaptune.status``, never by the name or the MLflow status.
        """
        run_id = self.child_run(trial_id, config)
        connection = self.store.connection
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
        # for the queue before it reads the statuses back (``wait_for_logging``).
        connection.log_batch_queued(run_id, tags=tags)
        if result and "accuracy_matrix" in result:  # a JSON string: R so far, null where not measured
            matrix = json.loads(result["accuracy_matrix"])
            connection.client.log_text(run_id, json.dumps({"split": "val", "R": matrix}, indent=1),
                                       "accuracy_matrix.json")
        # A pruned run is renamed in the same update as its status (see MlflowConnection.terminate).
        name = pruned_name(self._created_name(run_id), result) if status is TrialStatus.PRUNED else None
        connection.terminate(run_id, mlflow_status, name=name)
        return status

    def _created_name(self, run: Any) -> str:
        """A child run's name as created (``<learner>-<n>``), from a run id or an MLflow ``Run``; a run
        met for the first time in this process is read from MLflow (its name, less a pruned suffix)."""
        run_id = run if isinstance(run, str) else run.info.run_id
        if run_id not in self._names:
            found = self.store.run(run_id) if isinstance(run, str) else run
            self._names[run_id] = str(found.info.run_name or run_id).split(PRUNED_SUFFIX, 1)[0]
        return self._names[run_id]

    def close_running(self, status: TrialStatus, reason: str | None = None) -> int:
        """Close every child run still ``running`` with ``status`` (and tag ``synaptune.reason``); returns how many.

        MLflow status KILLED for interrupted and lost runs, FAILED for failed ones.
        """
        client = self.store.connection.client
        runs = self._running()
        for run in runs:
            client.set_tag(run.info.run_id, STATUS, status.value)
            if reason is not None:
                client.set_tag(run.info.run_id, REASON, reason)
            client.set_terminated(run.info.run_id, "FAILED" if status is TrialStatus.FAILED else "KILLED")
        return len(runs)

    def on_experiment_end(self, trial_ids: set[str]) -> None:
        """Close child runs of trials that Tune no longer knows (status ``lost``).

        A driver killed within a snapshot period of starting a trial (a second up
        to 100 trials; see ``hpo.raytune.paced_snapshots``) may restart without
        it (Tune's experiment state predates it); its run would stay RUNNING
        forever. At most that period of the trial's work is lost with it.
        """
        client = self.store.connection.client
        for run in self._running():
            if run.data.tags.get(TRIAL_ID) not in trial_ids:
                client.set_tag(run.info.run_id, STATUS, TrialStatus.LOST.value)
                client.set_terminated(run.info.run_id, "KILLED")

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
        self.store.wait_for_logging()
        return self.store.search(self.experiment_id, f"tags.`mlflow.parentRunId` = '{self.parent_id}' and "
                                  f"tags.`{STATUS}` = '{TrialStatus.RUNNING.value}'")


#: What a pruned run's name adds to its name as created (:func:`pruned_name`).
PRUNED_SUFFIX = " (pruned"


def pruned_name(name: str, result: dict[str, Any] | None) -> str:
    """``naive-3 (pruned after 2 of 5 tasks)``: a pruned trial's run name, from its name as created and
    its last result (``tasks_seen``, ``n_tasks``; ``(pruned)`` alone when they are unknown)."""
    seen, total = (parse_int((result or {}).get(k)) for k in ("tasks_seen", "n_tasks"))
    if seen is None:
        return f"{name}{PRUNED_SUFFIX})"
    return f"{name}{PRUNED_SUFFIX} after {seen}{f' of {total}' if total else ''} task{'s' if (total or seen) != 1 else ''})"

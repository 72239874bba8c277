# SPDX-License-Identifier: MIT
"""Reading a sweep back from MLflow for the report: :class:`SweepData` and :func:`load_sweep`.

The sweep's parent run, its search space (``search_space.yaml``) and its trial
records are read through :class:`synaptune.hpo.mlflow_sweeps.SweepStore`; the figures
(:mod:`.figures`) and the page (:mod:`.page`) only use what is read here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from synaptune.exceptions import ConfigError
from synaptune.hpo.mlflow_connection import check_tracking_uri, require_existing_store
from synaptune.hpo.mlflow_layout import ROLE
from synaptune.hpo.mlflow_sweeps import SweepStore
from synaptune.hpo.records import PresetTestRun, TrialRecord, TrialStatus, parse_metric, rank, split_metric

if TYPE_CHECKING:
    from synaptune.searchspaces.space import SearchSpace

@dataclass
class SweepData:
    """What the report shows: the sweep's parent run and its trial records, in start order."""

    experiment: str
    tracking_uri: str
    parent_id: str
    settings: dict[str, str]
    space_yaml: str | None
    space: SearchSpace | None
    space_problem: str | None
    trials: list[TrialRecord]
    #: What the trials are ranked by, and its direction (``--metric``; default ``objective``, max).
    metric: str = "objective"
    mode: str = "max"
    other_sweeps: int = 0
    notes: list[str] = field(default_factory=list)
    #: ``synaptune run --preset`` results of presets exported from this sweep, in any experiment of the
    #: store, newest first.
    test_runs: list[PresetTestRun] = field(default_factory=list)
    _numbers: dict[int, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def completed(self) -> list[TrialRecord]:
        """Completed trials with a finite metric, best first: :func:`~synaptune.hpo.records.rank`, as
        ``synaptune best`` ranks."""
        return rank(self.trials, self.metric, self.mode)

    def number(self, trial: TrialRecord) -> int:
        """Position of ``trial`` (one of :attr:`trials`) in start order (0-based)."""
        # By identity, from a table built once: ``trials.index`` compared whole records and made
        # the history figure quadratic (2.6 s for 1,000 trials, minutes for 10,000).
        if len(self._numbers) != len(self.trials):
            self._numbers = {id(t): i for i, t in enumerate(self.trials)}
        return self._numbers[id(trial)]

    def value(self, trial: TrialRecord) -> float:
        """The ranked metric of a completed trial."""
        return float(trial.value(self.metric))  # type: ignore[arg-type]

    def counts(self) -> dict[str, int]:
        """Number of trial runs per status (every status, zeros kept)."""
        out = {s.value: 0 for s in TrialStatus}
        for t in self.trials:
            out[t.status.value] += 1
        return out


def load_sweep(tracking_uri: str, experiment: str, *, metric: str | None = None) -> SweepData:
    """Read a sweep's parent run, search space and trial records through the :class:`SweepStore`.

    With several sweeps under one experiment name (same name, other results
    paths), the most recently started one is read.

    Raises:
        ConfigError: no store / experiment / sweep run, an unknown metric, or no completed trial.
    """
    check_tracking_uri(tracking_uri)
    require_existing_store(tracking_uri)
    results = SweepStore(tracking_uri)
    results.experiment_id(experiment)  # names the known experiments when it does not exist
    parent = results.sweep_run(experiment)
    if parent is None:
        raise ConfigError(f"MLflow experiment `{experiment}` holds no sweep run (tag {ROLE}=sweep); "
                          "a report needs an experiment made by `synaptune sweep --name NAME`.")
    trials = results.records(experiment, parent_id=parent.info.run_id)
    text = metric or "objective"
    results.check_metric(trials, split_metric(text)[0], experiment)  # a typo first
    name, mode = parse_metric(text)
    settings = dict(parent.data.params)
    data = SweepData(experiment=experiment, tracking_uri=tracking_uri, parent_id=parent.info.run_id,
                     settings=settings, space_yaml=None, space=None, space_problem=None, trials=trials,
                     metric=name, mode=mode, other_sweeps=results.sweep_count(experiment) - 1)
    if not data.completed:
        counts = ", ".join(f"{n} {s}" for s, n in data.counts().items() if n) or "no trial runs"
        raise ConfigError(f"sweep `{experiment}` has no completed trial with a finite {name} yet ({counts}); only "
                          "trials that saw every task are comparable. Let the sweep finish a trial "
                          "(or resume it with `synaptune sweep ... --resume`), then run the report again.")
    data.space_yaml, data.space, data.space_problem = _read_space(results, parent.info.run_id,
                                                                  settings.get("learner"))
    data.test_runs = results.test_runs_of(experiment)
    return data


def _read_space(results: SweepStore, run_id: str, learner: str | None) -> tuple[str | None, SearchSpace | None,
                                                                                str | None]:
    """(YAML text, parsed space, why it could not be used) of the parent run's ``search_space.yaml``."""
    text = results.read_artifact(run_id, "search_space.yaml")
    if text is None:
        return None, None, "the sweep run has no readable search_space.yaml"
    try:
        import yaml

        from synaptune.learners import params_of
        from synaptune.searchspaces.space import parse_space

        params_cls = params_of(str(learner))
        space = parse_space(yaml.safe_load(text), params_cls, learner=str(learner),
                            source=f"search_space.yaml of run {run_id}")
    except Exception as e:  # noqa: BLE001 - a report still shows what it can
        return text, None, f"its search_space.yaml could not be read back: {_first_line(e)}"
    return text, space, None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__


def _download_json(results: SweepStore, run_id: str, path: str) -> Any | None:
    text = results.read_artifact(run_id, path)
    try:
        return json.loads(text) if text is not None else None
    except ValueError:  # unreadable: the caller says so on the page
        return None

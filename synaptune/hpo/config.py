# SPDX-License-Identifier: MIT
"""The settings of one sweep, and the flags other commands share with it.

Each field with a help is a flag (see :mod:`synaptune.flags`): its name, type, default, help and
range are written here only. :class:`SweepConfig`'s are the flags of ``synaptune sweep``; a command
that has one of them too (``run --seeds``, ``doctor --storage``, the shipping script's ``--trials``)
adds it from :class:`SweepConfig` with :func:`synaptune.flags.add_flags`, naming what differs
(a default, a help), never declaring it again. :class:`TrackingFlags` and :class:`RunFlags` declare
the flags that several commands share beyond the sweep's.

Light on purpose: ``synaptune --help`` imports this module, and it imports neither torch, Ray nor
MLflow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from synaptune.benchmarks.params import BenchmarkParams
from synaptune.hpo.store import DEFAULT_TRACKING_URI
from synaptune.params import param

#: How the runs (task orders x seeds) of a trial make its objective.
AGGREGATES = ("mean", "mean-minus-std", "worst")
#: Where results and checkpoints go when ``--storage`` is not given.
DEFAULT_STORAGE = "./synaptune-results"


@dataclass(frozen=True)
class SweepConfig:
    """Settings of one sweep (the flags of ``synaptune sweep``)."""

    learner: str = param("naive", help="learner to tune (see `synaptune list`)")
    benchmark: str = param("split-digits", help="continual stream (see `synaptune list`)")
    #: The benchmark's options: the flags of the ``benchmark`` group, from :class:`BenchmarkParams`.
    benchmark_params: BenchmarkParams = dataclasses.field(default_factory=BenchmarkParams)
    space_file: str | None = param(None, flag="--space", help="search-space YAML replacing the learner's own")
    #: ``NAME=VALUE`` strings: each learner parameter NAME is held at VALUE in every trial, taken out of the
    #: sampled dimensions (or added, if the space did not have it) and recorded under the space's ``fixed``.
    #: VALUE is converted and checked by the learner's Params class (as ``run --set``), not by the space's range.
    fixed_params: tuple[str, ...] = param((), flag="--set", metavar="NAME=VALUE",
                                           help="hold a learner parameter at VALUE in every trial instead of "
                                                "sampling it (e.g. --set train_ep=1)")
    trials: int | None = param(None, low=1, help="trials to run (default 9: ASHA then completes 3; with "
                                "--resume, as many as before); with --resume, more than before extends the sweep")
    concurrency: int = param(2, low=1, help="trials running at once")
    cpus_per_trial: float = param(1.0, low=0.0, low_open=True, help="CPUs per trial (its torch threads)")
    gpus_per_trial: float = param(0.0, low=0.0, help="fractional GPUs per trial")
    seeds: int = param(1, low=1, help="seeds per trial (its score aggregates them)")
    task_orders: int = param(1, low=1, help="class-to-task assignments per trial (benchmark seeds S, S+1, ...)")
    aggregate: str = param("mean", choices=AGGREGATES, help="a trial's objective over its seeds x task "
                            "orders (robust: mean-minus-std, worst)")
    protocol: str = param("end-of-stream", help="end-of-stream | first-tasks:N | validation-tasks:N | "
                           "held-out-stream (what is tuned on vs reported; see README)")
    eval_benchmark: str | None = param(None, help="held-out-stream: the stream presets are reported on")
    eval_benchmark_seed: int | None = param(None, help="held-out-stream: its benchmark seed")
    time_budget_s: float | None = param(None, low=0.0, low_open=True, flag="--time-budget", metavar="SECONDS",
                                         help="stop launching trials after this wall-clock time "
                                              "(running trials finish)")
    gpu_hours: float | None = param(None, low=0.0, low_open=True,
                                     help="stop launching trials once trials used this many GPU hours")
    #: Two or more ``(metric, "max"|"min")``: a multi-objective sweep (Pareto front); empty: single
    #: objective. The repeatable ``--objective METRIC[:min|max]``.
    objectives: tuple[tuple[str, str], ...] = ()
    scheduler: Literal["asha", "none"] = param("asha", choices=("asha", "none"),
                                                help="ASHA stops weak trials after a few tasks; none runs all")
    grace_period: int | None = param(None, low=1, help="ASHA: tasks before a trial may stop (default: 2 on "
                                      "split streams, where one 2-class task tells configurations apart "
                                      "poorly; 1 on permuted / domain-il streams)")
    reduction_factor: int = param(3, low=2, help="ASHA reduction factor")
    max_failures: int = param(2, low=0, help="retries of a failed trial")
    address: str | None = param(None, help="existing Ray cluster (host:port, ray://..., auto)")
    num_cpus: int | None = param(None, low=1, help="CPUs of a local Ray (default: all)")
    storage: str = param(DEFAULT_STORAGE, help="results and checkpoints: a path, or an object-store URI "
                          "(s3://, gs://)")
    storage_is_shared: bool = param(False, help="the local --storage path is mounted on every node of "
                                     "the cluster")
    cluster_autoscales: bool = param(False, help="the cluster adds nodes on demand: a request larger than "
                                      "it is now only warns")
    name: str | None = param(None, help="sweep name = MLflow experiment (default LEARNER-BENCHMARK)")
    resume: bool = param(False, help="continue the sweep stored under --storage/--name")
    resume_if_possible: bool = param(False, help="continue the sweep if its state exists, else start it "
                                      "(for job retries)")
    study_storage: str | None = param(None, metavar="URL_OR_FILE", help="keep the Optuna study in a database "
                                       "(postgresql://..., sqlite:///...) or a journal file, so its history "
                                       "outlives the results folder")
    #: The ``--tracking-uri`` flag (:class:`TrackingFlags`, shared with best, export, run, compare, report,
    #: doctor) defaults to ``$MLFLOW_TRACKING_URI``, then to this.
    tracking_uri: str = DEFAULT_TRACKING_URI
    seed: int = param(0, help="seed of the TPE sampler")
    trust_results: bool = param(False, help="resume a results folder owned by another user (resuming "
                                 "unpickles its files, which can run code: only for results you trust)")

    @property
    def sweep_name(self) -> str:
        return self.name or f"{self.learner}-{self.benchmark}"

    @property
    def experiment_path(self) -> str:
        if self.storage_is_uri:
            return f"{self.storage.rstrip('/')}/{self.sweep_name}"
        return str(Path(self.storage).expanduser().resolve() / self.sweep_name)

    @property
    def storage_is_uri(self) -> bool:
        """An object-store URI (s3://, gs://, ...) rather than a file system path."""
        return "://" in self.storage


@dataclass(frozen=True)
class TrackingFlags:
    """The flag of every command that reads or writes MLflow runs (sweep, best, export, report, run,
    compare, doctor)."""

    #: ``None``: ``$MLFLOW_TRACKING_URI``, else :data:`DEFAULT_TRACKING_URI` (``store.resolve_tracking_uri``).
    tracking_uri: str | None = param(None, help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else "
                                     f"{DEFAULT_TRACKING_URI})")


@dataclass(frozen=True)
class RunFlags:
    """The flags ``run`` and ``compare`` share besides the sweep's: whether a preset may leave its stream,
    where training happens, and where and how the test results go."""

    other_stream: bool = param(False, help="run presets on a stream other than the one they were tuned on "
                               "(another benchmark, scenario or classes per task); the result marks them")
    allow_tuning_stream: bool = param(False, help="held-out-stream presets: allow reporting on the stream "
                                      "they were tuned on")
    device: str = param("cpu", help="cpu, cuda, cuda:N or mps")
    threads: int | None = param(None, low=1, help="torch threads (default: $OMP_NUM_THREADS, else the CPUs "
                                "that other processes leave free, at least 1)")
    experiment: str = param("synaptune-run", help="MLflow experiment of the results")
    format: str = param("table", choices=("table", "json"), help="what stdout shows")

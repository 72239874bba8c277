# SPDX-License-Identifier: MIT
"""The settings of one sweep. Each field with a help is a flag of ``synaptune sweep`` (see
:mod:`synaptune.flags`): its name, default, help and range are written here only.

Light on purpose: ``synaptune --help`` imports this module, and it imports neither torch, Ray nor
MLflow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from synaptune.benchmarks.params import BenchmarkParams
from synaptune.flags import option
from synaptune.hpo.store import DEFAULT_TRACKING_URI

#: How the runs (task orders x seeds) of a trial make its objective.
AGGREGATES = ("mean", "mean-minus-std", "worst")
#: Where results and checkpoints go when ``--storage`` is not given.
DEFAULT_STORAGE = "./synaptune-results"


@dataclass(frozen=True)
class SweepConfig:
    """Settings of one sweep (the flags of ``synaptune sweep``)."""

    learner: str = option("naive", help="learner to tune (see `synaptune list`)")
    benchmark: str = option("split-digits", help="continual stream (see `synaptune list`)")
    #: The benchmark's options: the flags of the ``benchmark`` group, from :class:`BenchmarkParams`.
    benchmark_params: BenchmarkParams = dataclasses.field(default_factory=BenchmarkParams)
    space_file: str | None = option(None, flag="--space", help="search-space YAML replacing the learner's own")
    #: ``NAME=VALUE`` strings: each learner parameter NAME is held at VALUE in every trial, taken out of the
    #: sampled dimensions (or added, if the space did not have it) and recorded under the space's ``fixed``.
    #: VALUE is converted and checked by the learner's Params class (as ``run --set``), not by the space's range.
    fixed_params: tuple[str, ...] = option((), flag="--set", metavar="NAME=VALUE",
                                           help="hold a learner parameter at VALUE in every trial instead of "
                                                "sampling it (e.g. --set train_ep=1)")
    trials: int | None = option(None, low=1, help="trials to run (default 9: ASHA then completes 3; with "
                                "--resume, as many as before); with --resume, more than before extends the sweep")
    concurrency: int = option(2, low=1, help="trials running at once")
    cpus_per_trial: float = option(1.0, low=0.0, low_open=True, help="CPUs per trial (its torch threads)")
    gpus_per_trial: float = option(0.0, low=0.0, help="fractional GPUs per trial")
    seeds: int = option(1, low=1, help="seeds per trial (its score aggregates them)")
    task_orders: int = option(1, low=1, help="class-to-task assignments per trial (benchmark seeds S, S+1, ...)")
    aggregate: str = option("mean", choices=AGGREGATES, help="a trial's objective over its seeds x task "
                            "orders (robust: mean-minus-std, worst)")
    protocol: str = option("end-of-stream", help="end-of-stream | first-tasks:N | validation-tasks:N | "
                           "held-out-stream (what is tuned on vs reported; see README)")
    eval_benchmark: str | None = option(None, help="held-out-stream: the stream presets are reported on")
    eval_benchmark_seed: int | None = option(None, help="held-out-stream: its benchmark seed")
    time_budget_s: float | None = option(None, low=0.0, low_open=True, flag="--time-budget", metavar="SECONDS",
                                         help="stop launching trials after this wall-clock time "
                                              "(running trials finish)")
    gpu_hours: float | None = option(None, low=0.0, low_open=True,
                                     help="stop launching trials once trials used this many GPU hours")
    #: Two or more ``(metric, "max"|"min")``: a multi-objective sweep (Pareto front); empty: single
    #: objective. The repeatable ``--objective METRIC[:min|max]``.
    objectives: tuple[tuple[str, str], ...] = ()
    scheduler: Literal["asha", "none"] = option("asha", choices=("asha", "none"),
                                                help="ASHA stops weak trials after a few tasks; none runs all")
    grace_period: int | None = option(None, low=1, help="ASHA: tasks before a trial may stop (default: 2 on "
                                      "split streams, where one 2-class task tells configurations apart "
                                      "poorly; 1 on permuted / domain-il streams)")
    reduction_factor: int = option(3, low=2, help="ASHA reduction factor")
    max_failures: int = option(2, low=0, help="retries of a failed trial")
    address: str | None = option(None, help="existing Ray cluster (host:port, ray://..., auto)")
    num_cpus: int | None = option(None, low=1, help="CPUs of a local Ray (default: all)")
    storage: str = option(DEFAULT_STORAGE, help="results and checkpoints: a path, or an object-store URI "
                          "(s3://, gs://)")
    storage_is_shared: bool = option(False, help="the local --storage path is mounted on every node of "
                                     "the cluster")
    cluster_autoscales: bool = option(False, help="the cluster adds nodes on demand: a request larger than "
                                      "it is now only warns")
    name: str | None = option(None, help="sweep name = MLflow experiment (default LEARNER-BENCHMARK)")
    resume: bool = option(False, help="continue the sweep stored under --storage/--name")
    resume_if_possible: bool = option(False, help="continue the sweep if its state exists, else start it "
                                      "(for job retries)")
    study_storage: str | None = option(None, metavar="URL_OR_FILE", help="keep the Optuna study in a database "
                                       "(postgresql://..., sqlite:///...) or a journal file, so its history "
                                       "outlives the results folder")
    #: The ``--tracking-uri`` flag (shared with best, export, run, report) defaults to
    #: ``$MLFLOW_TRACKING_URI``, then to this.
    tracking_uri: str = DEFAULT_TRACKING_URI
    seed: int = option(0, help="seed of the TPE sampler")
    trust_results: bool = option(False, help="resume a results folder owned by another user (resuming "
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

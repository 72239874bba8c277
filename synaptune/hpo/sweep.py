# SPDX-License-Identifier: MIT
"""The sweep driver: checks, Ray Tune + Optuna + ASHA, MLflow, the best result.

Everything a user can get wrong is checked before Ray starts and before any
file is written; see :func:`prepare`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from synaptune.benchmarks import BENCHMARKS, BenchmarkParams, build_stream
from synaptune.benchmarks.base import Stream
from synaptune.exceptions import ConfigError, UnreachableError
from synaptune.hpo import tracking
from synaptune.hpo.pareto import PER_TASK_NAME, format_objectives
from synaptune.hpo.trial import AGGREGATES
from synaptune.learners import LEARNERS
from synaptune.protocols import Protocol, check_same_shape
from synaptune.searchspaces import SearchSpace, load_space

logger = logging.getLogger(__name__)

#: The metric every trial reports after each task (the ``--aggregate`` of the runs' mean
#: accuracy over the tasks seen); after the last task it equals ``objective``.
TRIAL_METRIC = "objective_seen"
#: What completed trials are ranked by (``val/acc`` aggregated over seeds and task orders).
OBJECTIVE = "objective"
#: Tune writes the experiment state at most this often (seconds). Small, so a
#: killed driver loses little: each trial's checkpoint path is in that state.
EXPERIMENT_STATE_PERIOD_S = "1"


@dataclass(frozen=True)
class SweepConfig:
    """Settings of one sweep (the CLI flags of ``synaptune sweep``)."""

    learner: str
    benchmark: str = "split-digits"
    benchmark_params: BenchmarkParams = dataclasses.field(default_factory=BenchmarkParams)
    space_file: str | None = None
    trials: int = 8
    concurrency: int = 2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    seeds: int = 1
    #: Class-to-task assignments per trial (benchmark seeds seed, seed+1, ...).
    task_orders: int = 1
    #: How the runs (task orders x seeds) make a trial's objective.
    aggregate: str = "mean"
    #: ``end-of-stream``, ``first-tasks:N``, ``validation-tasks:N`` or ``held-out-stream``.
    protocol: str = "end-of-stream"
    eval_benchmark: str | None = None
    eval_benchmark_seed: int | None = None
    #: Stop launching trials after this many seconds of wall clock (running trials finish).
    time_budget_s: float | None = None
    #: Stop launching trials once trials have used this many GPU hours (GPUs x hours).
    gpu_hours: float | None = None
    #: Two or more ``(metric, "max"|"min")``: a multi-objective sweep (Pareto front); empty: single objective.
    objectives: tuple[tuple[str, str], ...] = ()
    scheduler: Literal["asha", "none"] = "asha"
    grace_period: int = 1
    reduction_factor: int = 3
    max_failures: int = 2
    address: str | None = None
    num_cpus: int | None = None
    storage: str = "./synaptune-results"
    #: The local ``storage`` path is mounted on every node of the cluster (NFS, a shared PVC).
    storage_is_shared: bool = False
    #: The cluster adds nodes on demand (KubeRay autoscaling): resources missing now may come.
    cluster_autoscales: bool = False
    name: str | None = None
    resume: bool = False
    #: Resume if the sweep's state exists under ``storage``, else start it (a Kubernetes job retry).
    resume_if_possible: bool = False
    #: Where the Optuna study lives: an RDB URL (postgresql://, sqlite:///...) or a journal
    #: file path; None keeps it in memory (saved with Tune's experiment state).
    study_storage: str | None = None
    tracking_uri: str = tracking.DEFAULT_TRACKING_URI
    seed: int = 0

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


@dataclass
class Prepared:
    config: SweepConfig
    space: SearchSpace
    #: What trials tune on (the protocol's tuning part of the benchmark's stream).
    stream: Stream
    protocol: Protocol
    #: The same tuning stream under the other task orders (``--task-orders`` - 1 streams).
    more_orders: tuple[Stream, ...] = ()


def prepare(cfg: SweepConfig) -> Prepared:
    """Check every input before any trial starts; raise ConfigError / UnreachableError.

    Order: names, numbers, search space, existing results, dataset, tracking store.
    """
    LEARNERS.get(cfg.learner)
    BENCHMARKS.get(cfg.benchmark)
    for flag, value, minimum in (("--trials", cfg.trials, 1), ("--concurrency", cfg.concurrency, 1),
                                 ("--seeds", cfg.seeds, 1), ("--task-orders", cfg.task_orders, 1),
                                 ("--grace-period", cfg.grace_period, 1),
                                 ("--reduction-factor", cfg.reduction_factor, 2),
                                 ("--max-failures", cfg.max_failures, 0)):
        if value < minimum:
            raise ConfigError(f"{flag} must be at least {minimum}, got {value}.")
    if cfg.cpus_per_trial <= 0:
        raise ConfigError(f"--cpus-per-trial must be > 0, got {cfg.cpus_per_trial}.")
    if cfg.gpus_per_trial < 0:
        raise ConfigError(f"--gpus-per-trial must be >= 0, got {cfg.gpus_per_trial}.")
    if cfg.scheduler not in ("asha", "none"):
        raise ConfigError(f"--scheduler must be asha or none, got {cfg.scheduler!r}.")
    if cfg.aggregate not in AGGREGATES:
        raise ConfigError(f"--aggregate must be one of {', '.join(AGGREGATES)}, got {cfg.aggregate!r}.")
    if cfg.time_budget_s is not None and cfg.time_budget_s <= 0:
        raise ConfigError(f"--time-budget must be > 0 seconds, got {cfg.time_budget_s:g}.")
    if cfg.gpu_hours is not None:
        if cfg.gpu_hours <= 0:
            raise ConfigError(f"--gpu-hours must be > 0, got {cfg.gpu_hours:g}.")
        if cfg.gpus_per_trial == 0:
            raise ConfigError("--gpu-hours counts the GPUs trials use, but --gpus-per-trial is 0. "
                              "Give --gpus-per-trial, or use --time-budget.")
    if len(cfg.objectives) == 1:
        raise ConfigError("--objective given once: a multi-objective sweep needs two or more (e.g. --objective "
                          "val/acc --objective state_bytes:min); a single-objective sweep ranks by val/acc "
                          "aggregated per --aggregate.")
    if cfg.objectives and cfg.scheduler == "asha":
        raise ConfigError("ASHA stops trials by one metric; a multi-objective sweep needs --scheduler none.")
    protocol = Protocol.parse(cfg.protocol, eval_benchmark=cfg.eval_benchmark,
                              eval_benchmark_seed=cfg.eval_benchmark_seed)
    space = load_space(cfg.learner, cfg.space_file)
    if cfg.resume and cfg.resume_if_possible:
        raise ConfigError("--resume and --resume-if-possible exclude each other: --resume fails when "
                          "there is nothing to resume, --resume-if-possible then starts the sweep.")
    check_driver_locality(cfg)
    if cfg.resume_if_possible:
        cfg = dataclasses.replace(cfg, resume=can_resume(cfg), resume_if_possible=False)
        logger.info("%s sweep `%s` at %s", "resuming" if cfg.resume else "starting", cfg.sweep_name,
                    cfg.experiment_path)
    elif not cfg.storage_is_uri:
        if cfg.resume and not can_resume(cfg):
            raise ConfigError(f"--resume: no sweep to resume at {cfg.experiment_path}. "
                              "Check --storage and --name, or drop --resume to start a new sweep.")
        if not cfg.resume and Path(cfg.experiment_path).exists():
            raise ConfigError(f"{cfg.experiment_path} already holds a sweep named `{cfg.sweep_name}`. "
                              "Pass --resume to continue it, or --name NEW for a new sweep.")
    if cfg.study_storage is not None:
        study_storage(cfg.study_storage)  # refuses a bad URL or an unreachable database now
    full = build_stream(cfg.benchmark, cfg.benchmark_params)
    if protocol.kind == "held-out-stream":
        check_same_shape(full, build_stream(protocol.eval_benchmark,
                                            protocol.eval_benchmark_params(cfg.benchmark_params)))
    stream = protocol.tuning_stream(full)
    more_orders = tuple(
        dataclasses.replace(protocol.tuning_stream(build_stream(cfg.benchmark, dataclasses.replace(
            cfg.benchmark_params, seed=cfg.benchmark_params.seed + k))), name=f"{stream.name}@order{k}")
        for k in range(1, cfg.task_orders))
    tracking.check_tracking_uri(cfg.tracking_uri)
    return Prepared(cfg, space, stream, protocol, more_orders)


def can_resume(cfg: SweepConfig) -> bool:
    """Whether Tune's experiment state of this sweep exists under ``storage`` (paths and URIs)."""
    if not cfg.storage_is_uri:
        return (Path(cfg.experiment_path) / "tuner.pkl").exists()
    from ray import tune

    try:
        return bool(tune.Tuner.can_restore(cfg.experiment_path))
    except Exception as e:  # noqa: BLE001 - e.g. missing credentials for the object store
        raise UnreachableError(f"cannot read --storage {cfg.storage}: {str(e).splitlines()[0][:300]}") from None


def check_driver_locality(cfg: SweepConfig) -> None:
    """Refuse local files that the sweep driver would not see.

    Through Ray Client (``--address ray://...``) Tune runs the sweep driver,
    and with it all MLflow logging and checkpoint bookkeeping, on the cluster's
    head node, not here: a SQLite file or a local results path named here
    would be a different file there.
    """
    if not (cfg.address or "").startswith("ray://"):
        return
    if cfg.tracking_uri.startswith("sqlite:") or "://" not in cfg.tracking_uri:
        raise ConfigError(
            f"--tracking-uri {cfg.tracking_uri} is a local file, but with --address {cfg.address} the sweep "
            "driver runs on the cluster's head node, which logs every trial. Use a shared MLflow server "
            "(--tracking-uri http://HOST:5000, PostgreSQL backend; see k8s/README.md).")
    if not cfg.storage_is_uri and not cfg.storage_is_shared:
        raise ConfigError(
            f"--storage {cfg.storage} is a local path, but with --address {cfg.address} the sweep driver runs "
            "on the cluster's head node. Use an object-store URI (s3://..., gs://...) or a path mounted on "
            "every node and say so with --storage-is-shared.")


def study_storage(url: str) -> Any:
    """The Optuna storage behind ``--study-storage``: an RDB URL or a journal file path.

    ``postgresql://``, ``mysql://`` and ``sqlite:///`` URLs are Optuna RDB
    storages (a PostgreSQL database is checked by connecting to it); anything
    else is a journal file, whose folder must exist.
    """
    import optuna

    scheme = url.split("://", 1)[0].split("+", 1)[0] if "://" in url else ""
    if scheme in ("postgresql", "mysql", "sqlite"):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except ImportError as e:
            raise ConfigError(f"--study-storage {url}: {e}. Install the driver: "
                              "pip install 'synaptune[postgres]'.") from None
        except Exception as e:  # noqa: BLE001 - SQLAlchemy OperationalError and friends
            raise UnreachableError(f"--study-storage {url} does not answer: "
                                   f"{str(e).strip().splitlines()[0][:300]}") from None
    if scheme:
        raise ConfigError(f"--study-storage {url}: unknown scheme {scheme!r}. Use postgresql://USER@HOST/DB, "
                          "sqlite:///FILE.db, or a journal file path.")
    path = Path(url).expanduser().resolve()
    if not path.parent.is_dir():
        raise ConfigError(f"--study-storage {url}: folder {path.parent} does not exist. Create it first.")
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(str(path)))


def _check_ray_address(address: str) -> None:
    """Fail fast (seconds, not minutes) on a ``host:port`` nobody listens on."""
    if address in ("auto", "local") or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--address must be host:port, ray://host:port or auto, got {address!r}.")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise UnreachableError(f"Ray cluster at {address} is unreachable ({e.strerror or e}). "
                               "Start it (ray start --head) or fix --address.") from None


def start_ray(cfg: SweepConfig) -> bool:
    """Connect to ``--address`` or start local Ray; returns True if we started it."""
    import ray

    if ray.is_initialized():
        return False
    if cfg.address:
        _check_ray_address(cfg.address)
        try:
            ray.init(address=cfg.address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError) as e:
            raise UnreachableError(f"cannot connect to Ray at {cfg.address}: {str(e).splitlines()[0]}") from None
    else:
        ray.init(num_cpus=cfg.num_cpus, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    return True


def check_resources(cfg: SweepConfig) -> None:
    """Pre-flight checks against the running cluster; see :func:`check_cluster_fit`."""
    import ray

    n_nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    check_cluster_fit(cfg, ray.cluster_resources(), n_nodes)


def check_cluster_fit(cfg: SweepConfig, have: dict[str, float], n_nodes: int) -> None:
    """Refuse what the cluster (``have``: its total resources, ``n_nodes`` alive) cannot run.

    A trial request larger than the whole cluster would stay pending forever;
    a local results path on a multi-node cluster is seen only by the nodes
    that mount it, so trials elsewhere could not save or restore checkpoints.
    """
    gpus, cpus = have.get("GPU", 0.0), have.get("CPU", 0.0)
    if cfg.cluster_autoscales:
        if cfg.gpus_per_trial > gpus or cfg.cpus_per_trial > cpus:
            logger.warning("a trial asks for %g CPUs and %g GPUs, the cluster has %g and %g now; "
                           "waiting for the autoscaler (--cluster-autoscales)", cfg.cpus_per_trial,
                           cfg.gpus_per_trial, cpus, gpus)
    elif cfg.gpus_per_trial > gpus:
        raise ConfigError(f"a trial asks for {cfg.gpus_per_trial:g} GPU, the cluster has "
                          f"{'none' if gpus == 0 else f'{gpus:g}'}. Lower --gpus-per-trial (0 runs on CPU), "
                          "or pass --cluster-autoscales if the cluster adds GPU nodes on demand.")
    elif cfg.cpus_per_trial > cpus:
        raise ConfigError(f"a trial asks for {cfg.cpus_per_trial:g} CPUs, the cluster has {cpus:g}. "
                          "Lower --cpus-per-trial.")
    if n_nodes > 1 and not cfg.storage_is_uri and not cfg.storage_is_shared:
        raise ConfigError(
            f"--storage {cfg.storage} is a local path and the cluster has {n_nodes} nodes: trials on other "
            "nodes could not save or restore their checkpoints there. Use an object-store URI (s3://..., "
            "gs://...), or a path mounted on every node and say so with --storage-is-shared.")


def run_sweep(cfg: SweepConfig) -> dict[str, Any]:
    """Run (or resume) a sweep; returns a summary with the best completed trial.

    Returns:
        ``{"experiment", "parent_run_id", "counts", "best"}`` where ``best`` is a
        :func:`tracking.best_runs` entry or ``None`` if no trial saw every task.
    """
    prepared = prepare(cfg)
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", EXPERIMENT_STATE_PERIOD_S)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Snapshots after every checkpoint are what make --resume lose nothing; do not warn about them.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    started = start_ray(cfg)
    try:
        check_resources(cfg)
        return _fit(prepared)
    finally:
        if started:
            import ray

            ray.shutdown()


def _fit(prepared: Prepared) -> dict[str, Any]:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from synaptune.hpo.raytune import BudgetLimiter, MLflowTrialCallback, TrialSpec, make_searcher, train_trial

    cfg, space, stream = prepared.config, prepared.space, prepared.stream
    # Recorded on the parent run and on every child run (and from there in presets).
    protocol = {**prepared.protocol.as_params(), "task_orders": cfg.task_orders, "aggregate": cfg.aggregate}
    settings = {"learner": cfg.learner, "benchmark": cfg.benchmark, "trials": cfg.trials, **protocol,
                "time_budget_s": cfg.time_budget_s, "gpu_hours": cfg.gpu_hours,
                "objectives": format_objectives(cfg.objectives or ((OBJECTIVE, "max"),)),
                "concurrency": cfg.concurrency, "seeds": cfg.seeds, "scheduler": cfg.scheduler,
                "grace_period": cfg.grace_period, "cpus_per_trial": cfg.cpus_per_trial,
                "gpus_per_trial": cfg.gpus_per_trial, "sampler_seed": cfg.seed,
                "storage": cfg.experiment_path, "n_tasks": stream.n_tasks,
                **tracking.benchmark_params_flat(dataclasses.asdict(cfg.benchmark_params))}
    parent_id = tracking.start_sweep_run(cfg.tracking_uri, cfg.sweep_name, sweep_path=cfg.experiment_path,
                                         settings=settings, space_yaml=space.to_yaml())
    trial_logger = tracking.TrialLogger(
        uri=cfg.tracking_uri, experiment_id=tracking.experiment_id(cfg.tracking_uri, cfg.sweep_name, create=True),
        parent_id=parent_id, learner=cfg.learner, benchmark=cfg.benchmark,
        benchmark_params=dataclasses.asdict(cfg.benchmark_params), fixed=dict(space.fixed), seeds=cfg.seeds,
        extra_params=protocol)
    spec = TrialSpec.from_env(cfg.learner, dict(space.fixed), tuple(range(cfg.seeds)),
                              threads=max(1, int(cfg.cpus_per_trial)),
                              storage_dir=None if cfg.storage_is_uri else cfg.experiment_path,
                              aggregate=cfg.aggregate)
    trainable = tune.with_resources(
        tune.with_parameters(train_trial, stream=stream, spec=spec, more_orders=prepared.more_orders),
        {"cpu": cfg.cpus_per_trial, "gpu": cfg.gpus_per_trial})
    if cfg.resume:
        tuner = tune.Tuner.restore(cfg.experiment_path, trainable=trainable,
                                   resume_unfinished=True, resume_errored=True)
    else:
        storage = study_storage(cfg.study_storage) if cfg.study_storage else None
        if cfg.objectives:  # multi-objective: Optuna sees final values only (no pruning)
            metric: Any = [PER_TASK_NAME[m] for m, _ in cfg.objectives]
            mode: Any = [mode for _, mode in cfg.objectives]
        else:
            metric, mode = TRIAL_METRIC, "max"
        searcher = BudgetLimiter(make_searcher(space, metric=metric, mode=mode, seed=cfg.seed,
                                               storage=storage, study_name=cfg.sweep_name),
                                 max_concurrent=cfg.concurrency, time_budget_s=cfg.time_budget_s,
                                 gpu_hours=cfg.gpu_hours, gpus_per_trial=cfg.gpus_per_trial)
        if cfg.scheduler == "asha":
            scheduler = ASHAScheduler(time_attr="tasks_seen", max_t=stream.n_tasks,
                                      grace_period=min(cfg.grace_period, stream.n_tasks),
                                      reduction_factor=cfg.reduction_factor)
        else:
            scheduler = FIFOScheduler()
        results_path = cfg.storage if cfg.storage_is_uri else str(Path(cfg.storage).expanduser().resolve())
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(metric=None if cfg.objectives else TRIAL_METRIC,
                                        mode=None if cfg.objectives else "max", search_alg=searcher,
                                        scheduler=scheduler, num_samples=cfg.trials, reuse_actors=True),
            run_config=tune.RunConfig(
                name=cfg.sweep_name, storage_path=results_path, verbose=0,
                callbacks=[MLflowTrialCallback(trial_logger)],
                failure_config=tune.FailureConfig(max_failures=cfg.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            ),
        )
    results = tuner.fit()
    tracking.wait_for_logging()
    counts = {"completed": 0, "pruned": 0, "failed": 0, "not_launched": max(0, cfg.trials - len(results))}
    for r in results:
        if r.error is not None:
            counts["failed"] += 1
        elif r.metrics and r.metrics.get("tasks_seen") == stream.n_tasks:
            counts["completed"] += 1
        else:
            counts["pruned"] += 1
    best = tracking.best_runs(cfg.tracking_uri, cfg.sweep_name, top=1, metric=OBJECTIVE)
    tracking.finish_sweep_run(cfg.tracking_uri, parent_id, best[0] if best else None, counts)
    front = tracking.pareto_runs(cfg.tracking_uri, cfg.sweep_name, cfg.objectives) if cfg.objectives else None
    return {"experiment": cfg.sweep_name, "parent_run_id": parent_id, "counts": counts,
            "best": best[0] if best else None, "pareto": front, "tracking_uri": cfg.tracking_uri,
            "storage": cfg.experiment_path}

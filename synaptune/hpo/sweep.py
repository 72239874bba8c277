# SPDX-License-Identifier: MIT
"""The sweep driver: checks, Ray Tune + Optuna + ASHA, MLflow, the best result.

Everything a user can get wrong is checked before Ray starts and before any
file is written; see :func:`prepare`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import signal
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synaptune.benchmarks import BENCHMARKS, BenchmarkParams, build_stream, resolve_params
from synaptune.benchmarks.base import Stream
from synaptune.benchmarks.streams import check_memory, outline
from synaptune.exceptions import ConfigError, DamagedResultsError, SweepFailedError, UnreachableError
from synaptune.flags import check_numbers, parse_assignments
from synaptune.hpo import cost, storage, store, worker_setup
from synaptune.hpo.asha import check_eval_samples, default_grace_period, few_samples_warning, too_small_warning
from synaptune.hpo.pareto import PER_TASK_NAME, format_objectives
from synaptune.hpo.config import SweepConfig
from synaptune.hpo.trial import OBJECTIVE, TRIAL_METRIC
from synaptune.learners import LEARNERS
from synaptune.protocols import Protocol, check_same_shape
from synaptune.searchspaces import SearchSpace, load_space
from synaptune.signals import stop_on_sigterm

logger = logging.getLogger(__name__)

#: Trials of a new sweep when --trials is not given.
DEFAULT_TRIALS = 9
#: T x T matrices a trial holds besides one per run: the mean over runs, and the mean as a JSON-ready
#: list and as JSON text in each result (``accuracy_matrix``).
TRIAL_RESULT_MATRICES = 3


@dataclass(frozen=True)
class Prepared:
    """The resolved plan of a sweep, checked once before Ray starts; everything after reads it.

    ``config`` has ``--resume-if-possible`` decided; the streams are built once, here.
    """

    config: SweepConfig
    space: SearchSpace
    #: What trials tune on (the protocol's tuning part of the benchmark's stream).
    stream: Stream
    protocol: Protocol
    #: The benchmark's whole stream, as built (its resolved options are recorded).
    full_stream: Stream
    #: The same tuning stream under the other task orders (``--task-orders`` - 1 streams).
    more_orders: tuple[Stream, ...] = ()
    #: ASHA's grace period in tasks, resolved: ``--grace-period`` or the tuning stream's
    #: :func:`~synaptune.hpo.asha.default_grace_period`, at most ``stream.n_tasks``.
    grace_period: int = 1


def prepare(cfg: SweepConfig) -> Prepared:
    """Check every input before any trial starts; raise ConfigError / UnreachableError.

    Order: names, numbers, search space, existing results, dataset, tracking store.
    """
    check_settings(cfg)
    protocol = Protocol.parse(cfg.protocol, eval_benchmark=cfg.eval_benchmark,
                              eval_benchmark_seed=cfg.eval_benchmark_seed)
    space = fixed_space(cfg)
    check_driver_locality(cfg)
    check_local_gpus(cfg)
    cfg = _resolve_resume(cfg)
    if cfg.study_storage is not None:
        study_storage(cfg.study_storage)  # refuses a bad URL or an unreachable database now
    if not cfg.address:  # local Ray: the trials run on this machine, each filling its accuracy matrices
        check_memory(outline(cfg.benchmark, cfg.benchmark_params),
                     matrices=cfg.concurrency * (cfg.seeds * cfg.task_orders + TRIAL_RESULT_MATRICES),
                     matrices_note=f"{cfg.concurrency} trials at once x ({cfg.seeds * cfg.task_orders} runs + "
                                   f"{TRIAL_RESULT_MATRICES} for each result's mean and JSON)")
    full, stream, more_orders = _tuning_streams(cfg, protocol)
    store.check_tracking_uri(cfg.tracking_uri)
    if cfg.address:
        check_ray_address(cfg.address)  # seconds, and before Ray's start-up lines
    if cfg.resume and not cfg.storage_is_uri:
        _check_results_folder(cfg)
    check_room(cfg, space, stream, orders=cfg.task_orders)
    grace = grace_period(cfg, stream)
    # Warnings last, once nothing above refused the sweep (a refusal stays one line), and before Ray starts.
    warnings = [few_samples_warning(stream, "val")]
    if cfg.scheduler == "asha":
        warnings.insert(0, too_small_warning(requested_trials(cfg), grace, cfg.reduction_factor, stream.n_tasks))
    for warning in filter(None, warnings):
        logger.warning("%s", warning)
    return Prepared(cfg, space, stream, protocol, full, more_orders, grace_period=grace)


def fixed_space(cfg: SweepConfig) -> SearchSpace:
    """The sweep's search space (``--space``, else the learner's own) with the ``--set`` values fixed.

    Each ``--set NAME=VALUE`` leaves the sampled dimensions and joins the space's ``fixed`` values,
    so the space recorded in MLflow (``search_space.yaml``, ``space_sha256``) and every trial's
    params show it; the value is checked by the learner's Params, not by the range it replaces.
    """
    space = load_space(cfg.learner, cfg.space_file)
    values = parse_assignments(cfg.fixed_params, flag="--set")
    if not values:
        return space
    fixed = space.with_fixed(values)
    sampled = {name: space.overall(name) for name in space.names}
    logger.info("fixed by --set: %s", ", ".join(
        f"{name}={fixed.fixed[name]!r}" + (f" (not sampled from {sampled[name].values_text()})" if name in sampled
                                           else " (not in the space)")
        for name in values))
    return fixed


def set_text(cfg: SweepConfig, space: SearchSpace) -> str:
    """The ``--set`` values as recorded in MLflow (``fixed_by_set``): ``NAME=VALUE``, sorted by name, with
    the value as converted by the Params (``--set lr=0.1`` and ``--set lr=1e-1`` are the same), or ``none``."""
    names = sorted(parse_assignments(cfg.fixed_params, flag="--set"))
    return " ".join(f"{name}={space.fixed[name]}" for name in names) or "none"


def check_settings(cfg: SweepConfig) -> None:
    """The names exist, the numbers are in range, and the flags fit together (nothing is read or built)."""
    LEARNERS.get(cfg.learner)
    BENCHMARKS.get(cfg.benchmark)
    check_numbers(cfg)
    if cfg.name is not None and not cfg.name.strip():
        raise ConfigError(f"--name {cfg.name!r} is {'blank' if cfg.name else 'empty'}: give the sweep a name (it names its folder under --storage "
                          f"and its MLflow experiment), or leave --name out for {cfg.learner}-{cfg.benchmark}.")
    check_sweep_name(cfg.sweep_name)
    if cfg.gpu_hours is not None and cfg.gpus_per_trial == 0:
        raise ConfigError("--gpu-hours counts the GPUs trials use, but --gpus-per-trial is 0. "
                          "Give --gpus-per-trial, or use --time-budget.")
    if len(cfg.objectives) == 1:
        raise ConfigError("--objective given once: a multi-objective sweep needs two or more (e.g. --objective "
                          "val/acc --objective state_bytes:min); a single-objective sweep ranks by val/acc "
                          "aggregated per --aggregate.")
    if cfg.objectives and cfg.scheduler == "asha":
        raise ConfigError("ASHA stops trials by one metric; a multi-objective sweep needs --scheduler none.")
    if cfg.resume and cfg.resume_if_possible:
        raise ConfigError("--resume and --resume-if-possible exclude each other: --resume fails when "
                          "there is nothing to resume, --resume-if-possible then starts the sweep.")


def _resolve_resume(cfg: SweepConfig) -> SweepConfig:
    """``cfg`` with ``--resume-if-possible`` decided; refuses a resume of nothing and a start over a sweep."""
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
    return cfg


def _tuning_streams(cfg: SweepConfig, protocol: Protocol) -> tuple[Stream, Stream, tuple[Stream, ...]]:
    """The benchmark's whole stream, the protocol's tuning part of it, and that part under the other
    task orders; each checked to have validation (and test) samples in every task."""
    full = build_stream(cfg.benchmark, cfg.benchmark_params)
    if protocol.kind == "held-out-stream":
        check_same_shape(full, build_stream(protocol.eval_benchmark,
                                            protocol.eval_benchmark_params(cfg.benchmark_params)))
    stream = protocol.tuning_stream(full)
    more_orders = tuple(
        dataclasses.replace(protocol.tuning_stream(build_stream(cfg.benchmark, dataclasses.replace(
            cfg.benchmark_params, seed=cfg.benchmark_params.seed + k))), name=f"{stream.name}@order{k}")
        for k in range(1, cfg.task_orders))
    for tuned in (stream, *more_orders):  # a task without validation samples cannot rank trials
        check_eval_samples(tuned, "val", val_fraction=cfg.benchmark_params.val_fraction)
    check_eval_samples(full, "test")  # nor could a preset be reported on a task without test samples
    return full, stream, more_orders


def _check_results_folder(cfg: SweepConfig) -> None:
    """Before a resume: the folder is ours (or trusted), its Tune files whole or repaired, and stand-ins put
    where Tune's state names checkpoints its rotation had deleted."""
    storage.check_owner(cfg.experiment_path, trusted=cfg.trust_results)
    storage.fall_back_to_last_good(cfg.experiment_path)  # a damaged file: the last good set, whole
    storage.repair_from_staging(cfg.experiment_path)
    try:
        storage.check_experiment_state(cfg.experiment_path)
    except DamagedResultsError as e:  # it cannot go on: its runs must not stay RUNNING
        store.SweepStore(cfg.tracking_uri).abandon_sweep(cfg.sweep_name, cfg.experiment_path, str(e))
        raise
    storage.stand_in_for_deleted_checkpoints(cfg.experiment_path)


def check_room(cfg: SweepConfig, space: SearchSpace, stream: Stream, *, orders: int) -> None:
    """``--storage`` is writable (a probe file) and, for a path, has room for the sweep's checkpoints.

    The need is measured: the largest checkpoint among a few configurations of
    the space, times what every trial keeps (see :mod:`synaptune.hpo.storage`);
    a resumed sweep has used part of it already.
    """
    if cfg.storage_is_uri:
        storage.check_uri(cfg.storage)
        return
    from synaptune.hpo.raytune import checkpoint_bytes

    checkpoint = checkpoint_bytes(space, stream, seeds=cfg.seeds, orders=orders, seed=cfg.seed)
    need, why = storage.needed_bytes(checkpoint, requested_trials(cfg))
    if cfg.resume:
        need = max(0, need - storage.used_bytes(cfg.experiment_path))
    logger.debug("results folder %s: about %s needed (%s)", cfg.storage, storage.human(need), why)
    storage.check_local(cfg.storage, need, why)


def check_sweep_name(name: str) -> None:
    """A sweep name is a plain name: it becomes a folder under ``--storage`` and an MLflow experiment."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+=@-]*", name) or ".." in name:
        raise ConfigError(f"--name {name!r}: a sweep name is a plain name (letters, digits, . _ - + = @; no path "
                          "separators, quotes or '..'), since it names a folder under --storage. Choose another.")


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


def check_local_gpus(cfg: SweepConfig) -> None:
    """Refuse ``--gpus-per-trial`` beyond this machine's GPUs when the sweep starts its own Ray (no ``--address``).

    Checked before Ray starts (a cluster's GPUs are checked once connected, :func:`check_cluster_fit`).
    """
    if cfg.address or cfg.gpus_per_trial == 0:
        return
    import torch

    have = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if cfg.gpus_per_trial > have:
        raise ConfigError(f"--gpus-per-trial {cfg.gpus_per_trial:g}: a trial asks for {cfg.gpus_per_trial:g} GPU, "
                          f"this machine has {'none (torch.cuda.is_available() is False)' if have == 0 else have}. "
                          "Lower --gpus-per-trial (0 runs on CPU), or give --address of a Ray cluster with GPUs.")


def grace_period(cfg: SweepConfig, stream: Stream) -> int:
    """ASHA's grace period in tasks: ``--grace-period``, else :func:`default_grace_period` of the tuning stream.

    Refuses a ``--grace-period`` beyond the tasks a trial reports on (``stream``, the protocol's tuning part).
    """
    if cfg.grace_period is None:
        return min(default_grace_period(stream), stream.n_tasks)
    if cfg.scheduler == "asha" and cfg.grace_period > stream.n_tasks:
        raise ConfigError(f"--grace-period {cfg.grace_period}: a trial reports on only {stream.n_tasks} task"
                          f"{'s' if stream.n_tasks > 1 else ''} ({cfg.benchmark}, protocol {cfg.protocol}), so ASHA "
                          f"could never stop one. Use --grace-period {stream.n_tasks} or less, or --scheduler none.")
    return min(cfg.grace_period, stream.n_tasks)


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


#: The port of Ray Client (``ray://HOST``) when the address names none.
RAY_CLIENT_PORT = 10001


def check_ray_address(address: str) -> None:
    """Fail fast (seconds, not minutes) on a ``host:port`` or ``ray://host[:port]`` nobody listens on.

    A TCP connection to the address is tried before ``ray.init`` (``auto`` and ``local`` are not probed).
    """
    if address in ("auto", "local"):
        return
    client = address.startswith("ray://")
    target = address[len("ray://"):].rstrip("/") if client else address
    if client and ":" not in target:
        target = f"{target}:{RAY_CLIENT_PORT}"
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--address must be host:port, ray://host:port or auto, got {address!r}.")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise UnreachableError(f"Ray cluster at {address} is unreachable ({e.strerror or e}). "
                               "Start it (ray start --head) or fix --address.") from None


#: Niceness of the worker processes (the trials) of a Ray that synaptune starts. Ray's default,
#: 15, yields the CPUs to every other process on the machine: under two busy processes on 2
#: cores a trial got ~3% of a CPU (the fashion CLASSP sweep of the tests crawled past its
#: timeout). 0 shares the CPUs fairly with the user's other work. An exported
#: RAY_worker_niceness wins; a cluster given with --address keeps its own setting.
WORKER_NICENESS = 0


def local_ray_config() -> dict[str, Any] | None:
    """Ray's ``_system_config`` for the Ray a sweep starts (None: leave it to the environment)."""
    return None if "RAY_worker_niceness" in os.environ else {"worker_niceness": WORKER_NICENESS}


def start_ray(cfg: SweepConfig) -> bool:
    """Connect to ``--address`` or start local Ray; returns True if we started it."""
    import ray

    from synaptune.hpo.progress import quiet_start_up

    quiet_start_up()  # Ray's and Optuna's start-up lines only with -v
    if ray.is_initialized():
        return False
    warm_workers = None
    if worker_setup.enabled():
        warm_workers = worker_setup.runtime_env(threads=max(1, int(cfg.cpus_per_trial)))
    if cfg.address:
        check_ray_address(cfg.address)
        try:
            ray.init(address=cfg.address, include_dashboard=False, log_to_driver=False, runtime_env=warm_workers)
        except (ConnectionError, RuntimeError) as e:
            raise UnreachableError(f"cannot connect to Ray at {cfg.address}: {str(e).splitlines()[0]}") from None
    else:
        # "local": a Ray of our own, even when `ray start` left a cluster on this machine; plain
        # ray.init() would join that one (someone else's, with other resources and files).
        ray.init(address="local", num_cpus=cfg.num_cpus, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, _system_config=local_ray_config(), runtime_env=warm_workers)
    # ray.init replaced the CLI's SIGTERM handler with one that exits at once; a SIGTERM before the
    # trials start must close the parent run as Ctrl-C does (during them, InterruptWatch takes over).
    stop_on_sigterm()
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


#: Recorded settings a resumed sweep must share with the sweep it continues, and the flag of each.
SAME_ON_RESUME = {
    "learner": "--learner", "benchmark": "--benchmark", "benchmark/n_tasks": "--n-tasks",
    "benchmark/classes_per_task": "--classes-per-task", "benchmark/seed": "--benchmark-seed",
    "benchmark/val_fraction": "--val-fraction", "benchmark/scenario": "--scenario", "fixed_by_set": "--set",
    "space_sha256": "--space",
    "objectives": "--objective", "protocol": "--protocol", "protocol/eval_benchmark": "--eval-benchmark",
    "protocol/eval_benchmark_seed": "--eval-benchmark-seed", "aggregate": "--aggregate",
    "task_orders": "--task-orders", "seeds": "--seeds", "scheduler": "--scheduler",
    "grace_period": "--grace-period", "reduction_factor": "--reduction-factor",
}


def stream_settings(benchmark: str, params: BenchmarkParams, full: Stream, tuned: Stream) -> dict[str, Any]:
    """What ran, as MLflow params: the benchmark's options resolved from the stream built (never the
    defaults' placeholders), the class order and the validation samples of each tuned task."""
    resolved = resolve_params(params, full)
    return {"benchmark": benchmark, **store.flat("benchmark/", dataclasses.asdict(resolved)),
            "stream/tuned_tasks": tuned.n_tasks,
            "stream/classes": "|".join(" ".join(str(c) for c in t.classes) for t in tuned.tasks),
            "stream/val_samples": ",".join(str(t.size("val")) for t in tuned.tasks)}


def sweep_settings(prepared: Prepared) -> dict[str, Any]:
    """The params of the parent run and of every child run: the sweep's settings and the stream's."""
    cfg, space = prepared.config, prepared.space
    grace = prepared.grace_period
    return {
        "learner": cfg.learner,
        **stream_settings(cfg.benchmark, cfg.benchmark_params, prepared.full_stream, prepared.stream),
        **prepared.protocol.as_params(), "task_orders": cfg.task_orders, "aggregate": cfg.aggregate,
        "seeds": cfg.seeds, "objectives": format_objectives(cfg.objectives or ((OBJECTIVE, "max"),)),
        "scheduler": cfg.scheduler, "grace_period": grace if cfg.scheduler == "asha" else None,
        "reduction_factor": cfg.reduction_factor if cfg.scheduler == "asha" else None,
        "fixed_by_set": set_text(cfg, space),
        "space_sha256": hashlib.sha256(space.to_yaml().encode()).hexdigest()[:16],
        "sampler_seed": cfg.seed,
    }


def check_same_sweep(cfg: SweepConfig, now: dict[str, Any]) -> None:
    """``--resume``: refuse settings that differ from those the sweep recorded (one line, the flag, both values).

    A resumed sweep with another stream, space, objective, protocol or
    scheduler would mix trials that are not comparable under one ranking.
    """
    parent = store.SweepStore(cfg.tracking_uri).sweep_run(cfg.sweep_name, sweep_path=cfg.experiment_path)
    if parent is None:
        raise ConfigError(f"--resume: the sweep at {cfg.experiment_path} has no parent run in MLflow experiment "
                          f"`{cfg.sweep_name}` at {cfg.tracking_uri}. Pass the --tracking-uri it logged to.")
    recorded = parent.data.params
    for key, flag in SAME_ON_RESUME.items():
        if key not in recorded:
            continue  # a sweep logged before this setting was recorded
        if key == "grace_period" and cfg.grace_period is None:
            continue  # not given: Tune restores the sweep's own scheduler, rungs included
        was, is_now = recorded[key], str(now.get(key))
        if was != is_now:
            raise ConfigError(f"--resume: {flag} differs from the sweep's: it ran with {key} = {was}, this command "
                              f"gives {is_now}. Resume with the sweep's settings, or start a new sweep with --name.")


def search_state(experiment_path: str) -> tuple[Path, dict[str, Any]] | None:
    """The newest state file of Tune's search algorithm (trials created and requested), or None."""
    import ray.cloudpickle as cloudpickle

    files = sorted(Path(experiment_path).glob("search_gen_state-*.json"))
    if not files:
        return None
    try:
        with open(files[-1], "rb") as f:
            return files[-1], cloudpickle.load(f)
    except Exception as e:  # noqa: BLE001 - cut short, not a pickle: Tune could not restore from it either
        raise DamagedResultsError(f"cannot resume: Tune's search state {files[-1]} is damaged ({_one_line(e)}). "
                                  "Its finished trials stay in MLflow; start a new sweep with another --name.") from None


def extend_trials(cfg: SweepConfig) -> None:
    """``--resume --trials N``: make the restored sweep run up to N trials in all.

    Tune restores how many trials it was asked for from its search state; a
    larger N is written there (the sampler keeps its history). N below the
    trials already launched is refused.
    """
    if cfg.trials is None:
        return
    if cfg.storage_is_uri:
        raise ConfigError("--resume --trials: extending a sweep on object storage is not supported; drop --trials "
                          "to resume it as it was.")
    found = search_state(cfg.experiment_path)
    if found is None:
        return
    path, state = found
    launched, total = int(state["counter"]), int(state["total_samples"])
    if cfg.trials < launched:
        raise ConfigError(f"--resume --trials {cfg.trials}: the sweep already launched {launched} trials; give "
                          f"--trials {launched} or more (it asked for {total}), or drop --trials.")
    if cfg.trials != total:
        import ray.cloudpickle as cloudpickle

        state = {**state, "total_samples": cfg.trials, "finished": False}
        storage.atomic_write(path, cloudpickle.dumps(state))
        logger.info("sweep `%s`: %d trials launched, now asked for %d", cfg.sweep_name, launched, cfg.trials)


def requested_trials(cfg: SweepConfig) -> int:
    """``--trials``, else what a resumed sweep asked for (its search state), else :data:`DEFAULT_TRIALS`."""
    if cfg.trials is not None:
        return cfg.trials
    found = search_state(cfg.experiment_path) if cfg.resume and not cfg.storage_is_uri else None
    return int(found[1]["total_samples"]) if found else DEFAULT_TRIALS


@dataclass(frozen=True)
class SweepSummary:
    """How a sweep ended (what :func:`run_sweep` returns).

    Attributes:
        experiment: the sweep's name (its MLflow experiment).
        parent_run_id: the sweep's parent MLflow run.
        counts: trial runs by status (``completed``, ``pruned``, ``failed``, ``interrupted``...), and
            ``not_launched``: trials asked for but never started.
        best: the best completed trial by the objective; ``None`` if no trial saw every task with a
            finite objective.
        ranked: the completed trials with a finite objective, best first.
        pareto: a multi-objective sweep's front; ``None`` for a single objective.
        tracking_uri: where the runs are.
        storage: the sweep's results folder or URI.
        budget: whether a time or GPU-hour budget was set.
        interrupted: stopped by Ctrl-C or SIGTERM; ``--resume`` continues it.
        terminated: stopped by SIGTERM (a cluster's stop: eviction, time limit, preemption).
        trials: trials asked for; launched: trials Tune started; recorded: trial runs in MLflow.
    """

    experiment: str
    parent_run_id: str
    counts: dict[str, int]
    best: store.TrialRecord | None
    ranked: tuple[store.TrialRecord, ...]
    pareto: tuple[store.TrialRecord, ...] | None
    tracking_uri: str
    storage: str
    budget: bool
    interrupted: bool
    trials: int
    launched: int
    recorded: int
    terminated: bool = False


def run_sweep(cfg: SweepConfig) -> SweepSummary:
    """Run (or resume) a sweep; returns its summary, with the best completed trial."""
    prepared = prepare(cfg)
    cfg = prepared.config  # --resume-if-possible is resolved there
    settings = sweep_settings(prepared)
    if cfg.resume:
        check_same_sweep(cfg, settings)
        extend_trials(cfg)
    # What one trial costs (log lines; a warning for a long one); never fatal, well under a second.
    cost.log_estimate(prepared.space, prepared.stream, runs=cfg.seeds * cfg.task_orders,
                      threads=max(1, int(cfg.cpus_per_trial)), gpus=cfg.gpus_per_trial > 0,
                      time_budget_s=cfg.time_budget_s)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Tune warns about snapshots close together; with small sweeps (a 1 s period) they are on purpose.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    started = start_ray(cfg)
    try:
        check_resources(cfg)
        return _fit(prepared, settings)
    finally:
        if started:
            import ray

            ray.shutdown()


def _study_started(cfg: SweepConfig) -> bool:
    """Whether a new sweep continues an Optuna study (``--study-storage``) that already holds trials: its
    search, defaults trial included, started before (a job retry with a fresh results folder)."""
    if not cfg.study_storage or cfg.resume:
        return False
    import optuna

    try:
        return bool(optuna.load_study(study_name=cfg.sweep_name, storage=study_storage(cfg.study_storage)).trials)
    except KeyError:  # no such study yet
        return False


def _fit(prepared: Prepared, settings: dict[str, Any]) -> SweepSummary:
    """The sweep's parent run, Tune's run, the summary; any error on the way ends the parent FAILED."""
    cfg, space = prepared.config, prepared.space
    trials = requested_trials(cfg)
    results_store = store.SweepStore(cfg.tracking_uri)
    parent_settings = {**settings, "time_budget_s": cfg.time_budget_s, "gpu_hours": cfg.gpu_hours,
                       "concurrency": cfg.concurrency, "cpus_per_trial": cfg.cpus_per_trial,
                       "gpus_per_trial": cfg.gpus_per_trial, "storage": cfg.experiment_path}
    parent_id = results_store.start_sweep(cfg.sweep_name, sweep_path=cfg.experiment_path, settings=parent_settings,
                                          tags={"synaptune.trials": str(trials)}, space_yaml=space.to_yaml())
    from synaptune.hpo.raytune import defaults_point

    # The first trial is the learner's defaults, unless the Optuna study (--study-storage) started before.
    first = None if _study_started(cfg) else defaults_point(space)
    trial_logger = results_store.trial_logger(cfg.sweep_name, parent_id, learner=cfg.learner,
                                              fixed=dict(space.fixed), settings=settings, defaults=first)
    try:
        return _tune(prepared, trials, results_store, parent_id, trial_logger, first=first)
    except KeyboardInterrupt:  # a second Ctrl-C: stopped at once, no summary
        _close_sweep(results_store, trial_logger, parent_id, None)
        raise
    except StorageFailedError as e:  # its one line says it all; running trials were closed INTERRUPTED
        not_closed = _close_sweep(results_store, trial_logger, parent_id, str(e))
        raise SweepFailedError(f"{e}{f' (MLflow could not record the stop: {not_closed})' if not_closed else ''}") from e
    except Exception as e:
        cause = None if isinstance(e, StorageFailedError) else storage.trouble(cfg.storage)
        reason = str(e) if isinstance(e, StorageFailedError) else \
            f"{cause}; {_one_line(e)}" if cause else _one_line(e)
        not_closed = _close_sweep(results_store, trial_logger, parent_id, reason)
        raise SweepFailedError(
            f"sweep `{cfg.sweep_name}` stopped on an error after it started: {reason}. "
            + (f"Its runs could not be closed in MLflow ({not_closed}); " if not_closed else
               f"Its parent run {parent_id} is marked FAILED and no trial run is left running; ")
            + "fix the cause, then continue it with --resume (--debug shows the traceback).") from e


class StorageFailedError(OSError):
    """The results folder failed while Tune ran (full, read-only), though Tune itself ended normally."""


def storage_failure_line(sweep_name: str, cause: str, log_path: Path | None) -> str:
    """The one line a sweep stopped by its results folder ends with: what happened, where, what to do.

    ``cause``: :func:`storage.trouble`'s answer (names the folder); ``log_path``: where the
    detail went (see :class:`StorageWatch`), if anywhere.
    """
    return (f"sweep `{sweep_name}` stopped: {cause}. No trial was launched after that, every trial keeps its "
            f"last checkpoint and Tune's last good state is kept. Free some space or make the folder writable "
            f"again, then continue it: {resume_command()}"
            + (f" (details: {log_path})" if log_path is not None else ""))


def resume_command() -> str:
    """The ``synaptune sweep`` command of this process with ``--resume`` (for messages)."""
    import shlex
    import sys

    argv = [a for a in sys.argv[1:] if a not in ("--resume", "--resume-if-possible")]
    if "sweep" not in argv:
        return "the same command with --resume"
    return shlex.join(["synaptune", *argv, "--resume"])


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:500]}" if text else type(e).__name__


def _close_sweep(results_store: store.SweepStore, trial_logger: store.TrialLogger, parent_id: str,
                 reason: str | None) -> str | None:
    """After an error (``reason``) or a second Ctrl-C (None): children closed, parent FAILED / KILLED.

    Returns None, or why MLflow could not record it (the store may be what failed).
    """
    try:
        if reason is None:
            trial_logger.close_running(store.TrialStatus.INTERRUPTED)
            results_store.finish_sweep(parent_id, None, {}, status="KILLED")
        else:
            trial_logger.close_running(store.TrialStatus.FAILED, reason="sweep failed")
            results_store.fail_sweep(parent_id, reason)
        return None
    except Exception as e:  # noqa: BLE001 - keep the first error; say that this one happened too
        return _one_line(e)


def _tune(prepared: Prepared, trials: int, results_store: store.SweepStore, parent_id: str,
          trial_logger: store.TrialLogger, *, first: dict[str, Any] | None) -> SweepSummary:
    from ray import tune

    from synaptune.hpo.progress import TrialProgress
    from synaptune.hpo.raytune import LastGoodState, MLflowTrialCallback, TrialSpec, paced_snapshots, train_trial

    cfg, space, stream = prepared.config, prepared.space, prepared.stream
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
        progress = TrialProgress(trials, concurrency=cfg.concurrency,
                                 stopped_by="ASHA" if cfg.scheduler == "asha" else None)
        tuner = _new_tuner(prepared, trainable, trials, [MLflowTrialCallback(trial_logger), progress, LastGoodState()],
                           first=first)
    with InterruptWatch() as watch, StorageWatch(cfg.storage, cfg.sweep_name) as storage_watch, \
            paced_snapshots(trials):
        try:
            results = tuner.fit()
        except Exception:  # e.g. Tune reading back a result file the full disk cut short
            storage_watch.check()
            if storage_watch.cause is None:
                raise
    store.wait_for_logging()
    cause = storage_watch.cause or storage.trouble(cfg.storage)
    if cause is not None:  # stopped (or ended) with the results folder failing: its trials continue on --resume
        trial_logger.close_running(store.TrialStatus.INTERRUPTED)
        raise StorageFailedError(storage_failure_line(cfg.sweep_name, cause, storage_watch.log_path))
    if watch.interrupted:  # trials still running were stopped where they were: theirs is the next --resume
        trial_logger.close_running(store.TrialStatus.INTERRUPTED, reason="terminated" if watch.terminated else None)
    else:  # every trial ended: a run still open lost its end with a killed driver (see close_ended)
        trial_logger.close_ended({r.metrics["trial_id"]: (r.config, r.metrics, r.error is not None)
                                  for r in results if r.metrics and "trial_id" in r.metrics})
    return _finish(cfg, results_store, parent_id, trials, launched=len(results), interrupted=watch.interrupted,
                   terminated=watch.terminated)


def _new_tuner(prepared: Prepared, trainable: Any, trials: int, callbacks: list[Any], *,
               first: dict[str, Any] | None) -> Any:
    """A ``tune.Tuner`` for a new sweep: Optuna (under the budget limiter), ASHA or FIFO, the results path,
    Tune's ``callbacks`` (MLflow logging, the progress lines)."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from synaptune.hpo.raytune import BudgetLimiter, make_searcher

    cfg, space, stream = prepared.config, prepared.space, prepared.stream
    optuna_storage = study_storage(cfg.study_storage) if cfg.study_storage else None
    if cfg.objectives:  # multi-objective: Optuna sees final values only (no pruning)
        metric: Any = [PER_TASK_NAME[m] for m, _ in cfg.objectives]
        mode: Any = [mode for _, mode in cfg.objectives]
    else:
        metric, mode = TRIAL_METRIC, "max"
    searcher = BudgetLimiter(make_searcher(space, metric=metric, mode=mode, seed=cfg.seed,
                                           storage=optuna_storage, study_name=cfg.sweep_name,
                                           first=first),
                             max_concurrent=cfg.concurrency, time_budget_s=cfg.time_budget_s,
                             gpu_hours=cfg.gpu_hours, gpus_per_trial=cfg.gpus_per_trial)
    if cfg.scheduler == "asha":
        scheduler = ASHAScheduler(time_attr="tasks_seen", max_t=stream.n_tasks,
                                  grace_period=prepared.grace_period,
                                  reduction_factor=cfg.reduction_factor)
    else:
        scheduler = FIFOScheduler()
    results_path = cfg.storage if cfg.storage_is_uri else str(Path(cfg.storage).expanduser().resolve())
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(metric=None if cfg.objectives else TRIAL_METRIC,
                                    mode=None if cfg.objectives else "max", search_alg=searcher,
                                    scheduler=scheduler, num_samples=trials, reuse_actors=True),
        run_config=tune.RunConfig(
            name=cfg.sweep_name, storage_path=results_path, verbose=0,
            callbacks=callbacks,
            failure_config=tune.FailureConfig(max_failures=cfg.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        ),
    )


def _finish(cfg: SweepConfig, results_store: store.SweepStore, parent_id: str, trials: int, *, launched: int,
            interrupted: bool, terminated: bool = False) -> SweepSummary:
    """Count the sweep's runs by status, rank them, close the parent run; the summary ``run_sweep`` returns."""
    records = results_store.records(cfg.sweep_name, parent_id=parent_id)
    counts = {s.value: 0 for s in store.TrialStatus}
    for record in records:
        counts[record.status.value] += 1
    counts["not_launched"] = 0 if interrupted else max(0, trials - launched)
    ranked = store.rank(records, OBJECTIVE, "max")
    best = ranked[0] if ranked else None
    results_store.finish_sweep(parent_id, best, counts, status="KILLED" if interrupted else "FINISHED",
                               reason="terminated" if terminated else None)
    front = store.pareto_front(records, cfg.objectives) if cfg.objectives else None
    return SweepSummary(experiment=cfg.sweep_name, parent_run_id=parent_id, counts=counts, best=best,
                        ranked=tuple(ranked), pareto=None if front is None else tuple(front),
                        tracking_uri=cfg.tracking_uri, storage=cfg.experiment_path,
                        budget=cfg.time_budget_s is not None or cfg.gpu_hours is not None, interrupted=interrupted,
                        trials=trials, launched=launched, recorded=len(records), terminated=terminated)


class InterruptWatch:
    """Ctrl-C or SIGTERM during ``tuner.fit()``: remember it, and stop Tune gracefully (its state saved).

    Tune's own SIGINT handler stops the sweep but returns as if it had ended,
    so the driver could not tell an interrupted sweep from a finished one, and
    Ray's SIGTERM handler exits at once (no state saved, runs left RUNNING).
    Here the first Ctrl-C or SIGTERM is recorded and handed to Tune's graceful
    stop through SIGUSR1 (which Tune always handles); a second one stops at
    once. ``terminated`` tells a SIGTERM (a cluster's stop) from a Ctrl-C.
    """

    #: Tune installs no SIGINT handler of its own while this is set (read when ``fit()`` starts).
    TUNE_SIGINT_ENV = "TUNE_DISABLE_SIGINT_HANDLER"

    def __init__(self) -> None:
        self.interrupted = False
        self.terminated = False
        self._previous: Any = None
        self._previous_term: Any = None
        self._env_before: str | None = None  # TUNE_SIGINT_ENV's value before __enter__ (None: unset)
        self._env_set = False

    def __enter__(self) -> InterruptWatch:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            self._previous_term = signal.signal(signal.SIGTERM, self._on_sigterm)
            self._env_before, self._env_set = os.environ.get(self.TUNE_SIGINT_ENV), True
            os.environ[self.TUNE_SIGINT_ENV] = "1"
        for name in self.QUIET:
            logging.getLogger(name).addFilter(self._quiet)
        return self

    #: Tune's loggers whose lines about an interrupted run point elsewhere (``Tuner.restore(...)``,
    #: metrics of trials that had not reported yet); the CLI prints synaptune's own resume command.
    QUIET = ("ray.tune.tune", "ray.tune.analysis.experiment_analysis", "ray.tune.result_grid")

    def _quiet(self, record: logging.LogRecord) -> bool:
        return not (self.interrupted and ("Tuner.restore" in record.getMessage()
                                          or "Failed to fetch metrics" in record.getMessage()))

    def _on_sigint(self, signum: int, frame: Any) -> None:
        tune_listens = signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, signal.SIG_IGN, None)
        if self.interrupted or not tune_listens:
            raise KeyboardInterrupt
        self.interrupted = True
        logger.warning("interrupted: stopping the sweep and saving its state (Ctrl-C again to stop at once)")
        os.kill(os.getpid(), signal.SIGUSR1)

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        from synaptune.exceptions import Terminated

        tune_listens = signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, signal.SIG_IGN, None)
        if self.interrupted or not tune_listens:
            raise Terminated("terminated (SIGTERM)")
        self.interrupted = self.terminated = True
        logger.warning("terminated (SIGTERM): stopping the sweep and saving its state")
        os.kill(os.getpid(), signal.SIGUSR1)

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        if self._previous_term is not None:
            signal.signal(signal.SIGTERM, self._previous_term)
        if self._env_set:  # as it was before the sweep (a later Tuner in this process gets Tune's handler back)
            if self._env_before is None:
                os.environ.pop(self.TUNE_SIGINT_ENV, None)
            else:
                os.environ[self.TUNE_SIGINT_ENV] = self._env_before
            self._env_set = False
        for name in self.QUIET:
            logging.getLogger(name).removeFilter(self._quiet)


class StorageWatch:
    """The results folder failing during ``tuner.fit()`` (full, read-only, over quota): stop Tune at once.

    A thread asks :func:`storage.trouble` every ``POLL_S`` seconds, and a log line that
    names a storage error (:data:`storage.STORAGE_ERROR_TEXTS`) makes it ask at once.
    Once the folder is in trouble, ``cause`` holds why, no new trial is launched:
    Tune is stopped gracefully through SIGUSR1, as :class:`InterruptWatch` does, and
    every log line from then on (Ray's retries, tracebacks, failed saves) goes to a
    log file, ``log_path``, instead of stderr (to both with ``-v``). Local folders only.
    """

    #: Seconds between two checks of the results folder.
    POLL_S = 0.5

    def __init__(self, storage_path: str, sweep_name: str) -> None:
        self.storage, self.sweep_name = storage_path, sweep_name
        self.cause: str | None = None
        self.log_path: Path | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._handlers: list[logging.Handler] = []
        self._last: logging.LogRecord | None = None
        self._shown = True

    def __enter__(self) -> StorageWatch:
        if "://" in self.storage:
            return self
        self._watch_handlers()
        self._thread = threading.Thread(target=self._poll, name="synaptune-storage-watch", daemon=True)
        self._thread.start()
        return self

    def _watch_handlers(self) -> None:
        """Filter every log handler there is (Ray and Tune add theirs as they go): see :meth:`_divert`."""
        loggers = [logging.getLogger(), *(lg for lg in list(logging.Logger.manager.loggerDict.values())
                                           if isinstance(lg, logging.Logger))]
        handlers = [h for lg in loggers for h in lg.handlers] + [logging.lastResort] * (logging.lastResort is not None)
        for handler in {id(h): h for h in handlers}.values():  # lastResort: Ray's loggers have no handler
            if handler not in self._handlers:
                handler.addFilter(self._divert)
                self._handlers.append(handler)

    def _poll(self) -> None:
        while not self._done.wait(self.POLL_S):
            self._watch_handlers()
            self.check()

    def check(self) -> None:
        """Ask :func:`storage.trouble` now; on the first trouble, record it and stop Tune."""
        with self._lock:
            if self.cause is not None:
                return
            cause = storage.trouble(self.storage)
            if cause is None:
                return
            self.cause = cause
            self.log_path = Path(tempfile.gettempdir()) / f"synaptune-{self.sweep_name}-storage-{os.getpid()}.log"
        logger.debug("%s: stopping the sweep", cause)
        if signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, signal.SIG_IGN, None):  # Tune listens
            os.kill(os.getpid(), signal.SIGUSR1)

    def _divert(self, record: logging.LogRecord) -> bool:
        """Handler filter: after trouble, a record goes to the log file (and stderr only with ``-v``)."""
        if record is self._last:
            return self._shown  # the same record at another handler
        self._last, self._shown = record, self._decide(record)
        return self._shown

    def _decide(self, record: logging.LogRecord) -> bool:
        if self.cause is None:
            text = record.getMessage() + (f" {record.exc_info[1]}" if record.exc_info else "")
            if not any(marker in text for marker in storage.STORAGE_ERROR_TEXTS):
                return True
            self.check()
            if self.cause is None:
                return True  # not the results folder (e.g. Ray's temp folder): say it
        if self.log_path is not None:
            try:
                with open(self.log_path, "a") as f:
                    f.write(_LOG_FORMAT.format(record) + "\n")
            except OSError:
                pass
        return logging.getLogger("synaptune").getEffectiveLevel() <= logging.DEBUG

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        for handler in self._handlers:
            handler.removeFilter(self._divert)


_LOG_FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")

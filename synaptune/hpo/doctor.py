# SPDX-License-Identifier: MIT
"""``synaptune doctor``: check for real what a sweep will need, before it starts.

Each check makes one real call (an MLflow ``search_experiments``, a Ray
connection, a file written and removed, a database connection) and says what
it found; nothing is assumed from configuration alone.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from synaptune.exceptions import SynaptuneError


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def run_checks(*, tracking_uri: str, address: str | None, storage: str,
               study_storage: str | None = None) -> list[Check]:
    """All checks, in order: tracking, ray, storage, study (if given), gpus."""
    checks = [check_tracking(tracking_uri, address)]
    ray_check, cluster = check_ray(address)
    checks.append(ray_check)
    checks.append(check_storage(storage, address, n_nodes=cluster.get("nodes", 1)))
    if study_storage is not None:
        checks.append(check_study_storage(study_storage))
    checks.append(check_gpus(cluster))
    return checks


def check_tracking(uri: str, address: str | None) -> Check:
    from synaptune.hpo import store

    if (address or "").startswith("ray://") and (uri.startswith("sqlite:") or "://" not in uri):
        return Check("tracking", False, f"{uri} is a local file, but through Ray Client ({address}) the sweep "
                                        "driver runs on the cluster's head node: use a shared MLflow server")
    try:
        store.check_tracking_uri(uri)
    except SynaptuneError as e:
        return Check("tracking", False, str(e))
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).exists():
        return Check("tracking", True, f"{uri}: the file will be created by the first sweep (one driver, "
                                       "one machine; use an MLflow server for shared work)")
    return Check("tracking", True, f"{uri} answers (search_experiments)")


def check_ray(address: str | None) -> tuple[Check, dict[str, float]]:
    """Connect to ``address`` and describe the cluster; without one, describe the local Ray a sweep starts."""
    if not address:
        return Check("ray", True, f"no --address: a sweep starts a local Ray with {os.cpu_count()} CPUs"), {}
    import ray

    from synaptune.hpo.sweep import SweepConfig, start_ray

    try:
        started = start_ray(SweepConfig(learner="naive", address=address))
    except SynaptuneError as e:
        return Check("ray", False, str(e)), {}
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        have = ray.cluster_resources()
    finally:
        if started:
            ray.shutdown()
    cluster = {"nodes": len(nodes), "CPU": have.get("CPU", 0.0), "GPU": have.get("GPU", 0.0)}
    return Check("ray", True, f"{address}: {len(nodes)} node(s) alive, {cluster['CPU']:g} CPUs, "
                              f"{cluster['GPU']:g} GPUs"), cluster


def check_storage(storage: str, address: str | None, *, n_nodes: int) -> Check:
    """Write and remove a file under ``storage`` (local path) or list it (object-store URI)."""
    if "://" in storage:
        try:
            import pyarrow.fs

            fs, path = pyarrow.fs.FileSystem.from_uri(storage)
            fs.get_file_info(path)
        except Exception as e:  # noqa: BLE001 - credentials, bucket, network: all mean "unusable"
            return Check("storage", False, f"{storage}: {str(e).splitlines()[0][:300]}")
        return Check("storage", True, f"{storage} is reachable ({type(fs).__name__})")
    path = Path(storage).expanduser().resolve()
    existing = next(p for p in (path, *path.parents) if p.exists())
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".synaptune-doctor-"):
            pass
    except OSError as e:
        return Check("storage", False, f"{path}: cannot write in {existing} ({e.strerror or e})")
    note = "" if existing == path else f" (will be created under {existing})"
    if n_nodes > 1 or (address or "").startswith("ray://"):
        note += ("; the cluster has several nodes: this path must be mounted on every node "
                 "(then pass --storage-is-shared to sweep), or use an object-store URI")
    return Check("storage", True, f"{path} is writable{note}")


def check_study_storage(url: str) -> Check:
    from synaptune.hpo.sweep import study_storage

    try:
        storage = study_storage(url)
    except SynaptuneError as e:
        return Check("study", False, str(e))
    n = len(storage.get_all_studies())
    return Check("study", True, f"{url} answers ({n} Optuna studies)")


def check_gpus(cluster: dict[str, float]) -> Check:
    import torch

    local = torch.cuda.device_count() if torch.cuda.is_available() else 0
    names = ", ".join(torch.cuda.get_device_name(i) for i in range(local))
    detail = f"{local} visible here" + (f" ({names})" if names else "")
    if cluster:
        detail += f"; {cluster.get('GPU', 0.0):g} in the cluster"
    return Check("gpus", True, detail)

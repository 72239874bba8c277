# SPDX-License-Identifier: MIT
"""The Kubernetes manifests under k8s/, checked offline (no cluster).

Every overlay is rendered with `kubectl kustomize`; RayCluster and RayJob documents are
validated against the strict JSON Schemas of the KubeRay v1.7.0 CRDs (../shared/kuberay),
built-in kinds with kubernetes-validate in strict mode, and so are the raw files. The RayJob
entrypoints are parsed with synaptune's own CLI parser and the MLflow commands with MLflow's,
so the manifests cannot drift from either; the Ray version of the image, the manifests and
.venv must agree.
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import kubernetes_validate
import pytest
import yaml

from synaptune.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
KUBERAY = Path(__file__).resolve().parents[2].parent / "shared" / "kuberay"
CRD_SCHEMAS = {"RayCluster": KUBERAY / "raycluster_v1.json", "RayJob": KUBERAY / "rayjob_v1.json"}
#: Kubernetes version of the built-in schemas (one that kubernetes-validate ships).
K8S_VERSION = "1.32"
OVERLAYS = sorted(p.parent.name for p in (K8S / "overlays").glob("*/kustomization.yaml"))
JOB_OVERLAYS = ["job", "job-s3"]  # the overlays with a RayJob (checked below)
RAW_FILES = sorted(p for p in [*K8S.rglob("*.yaml"), *K8S.rglob("*.yml")] if p.stem != "kustomization")
#: $(NAME) in a container's command/args: Kubernetes expands it from the container's env.
ENV_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


# --------------------------------------------------------------------------------- helpers
@functools.cache
def kubectl() -> str:
    exe = shutil.which("kubectl")
    if exe is None:
        pytest.fail("kubectl is not on PATH: it is needed to render k8s/overlays/* (`kubectl kustomize`). "
                    "Install kubectl (any recent version; kustomize is built in).")
    return exe


@functools.cache
def _render(overlay: str) -> str:
    proc = subprocess.run([kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"`kubectl kustomize k8s/overlays/{overlay}` failed:\n{proc.stderr}")
    return proc.stdout


def render(overlay: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(_render(overlay)) if d]


def load_raw(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@functools.cache
def crd_schema(kind: str) -> dict[str, Any]:
    path = CRD_SCHEMAS[kind]
    if not path.is_file():
        pytest.skip(f"KubeRay JSON Schema {path} is missing (it lives in ../shared/kuberay)")
    return json.loads(path.read_text())


def validation_errors(doc: dict[str, Any]) -> list[str]:
    """Why ``doc`` is invalid (empty if it is valid): CRD schema or strict built-in schema."""
    where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    if doc.get("kind") in CRD_SCHEMAS:
        validator = jsonschema.Draft7Validator(crd_schema(doc["kind"]))
        return [f"{where}: {'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{where}: {'.'.join(map(str, e.path)) or '<root>'}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError as e:
        return [f"{where}: {e.message}"]
    return []


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def cluster_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Ray cluster spec: standalone RayClusters and the ones RayJobs create."""
    for d in docs:
        if d["kind"] == "RayCluster":
            yield f"RayCluster/{d['metadata']['name']}", d["spec"]
        elif d["kind"] == "RayJob" and "rayClusterSpec" in d["spec"]:
            yield f"RayJob/{d['metadata']['name']}", d["spec"]["rayClusterSpec"]


def pod_specs(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "head", spec["headGroupSpec"]["template"]["spec"]
    for group in spec.get("workerGroupSpecs", []):
        yield group["groupName"], group["template"]["spec"]


def containers(node: Any) -> Iterator[dict[str, Any]]:
    """Every container and init container anywhere in a document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from value
            else:
                yield from containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from containers(item)


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def quantity(q: str | int | float) -> float:
    """A CPU/GPU quantity ("4", "500m", 2) as a number."""
    s = str(q)
    return float(s[:-1]) / 1000 if s.endswith("m") else float(s)


def mounted_pvc(pod: dict[str, Any], path: str) -> tuple[str, str] | None:
    """(mountPath, claimName) of the PVC that holds ``path`` in the pod's first container."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in pod["containers"][0].get("volumeMounts", []):
        root = mount["mountPath"].rstrip("/") + "/"
        claim = volumes.get(mount["name"], {}).get("persistentVolumeClaim")
        if claim and (path + "/").startswith(root):
            return mount["mountPath"], claim["claimName"]
    return None


def services(docs: list[dict[str, Any]]) -> dict[str, set[int]]:
    return {s["metadata"]["name"]: {p["port"] for p in s["spec"]["ports"]} for s in by_kind(docs, "Service")}


def sweep_args(entrypoint: str) -> Any:
    """Parse a RayJob entrypoint with synaptune's own CLI parser (fails on any unknown flag)."""
    argv = shlex.split(entrypoint)
    assert argv[:2] == ["synaptune", "sweep"], f"entrypoint is not `synaptune sweep ...`: {entrypoint}"
    parser = build_parser()
    try:
        args = parser.parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"synaptune's CLI rejects the RayJob entrypoint (argparse message above): {entrypoint}")
    # argparse also takes unambiguous prefixes (--stor): the manifests must spell flags in full.
    sweep = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["sweep"]
    flags = {f.split("=", 1)[0] for f in argv[2:] if f.startswith("--")}
    known = set(sweep._option_string_actions)
    assert flags <= known, f"abbreviated or unknown flags in the entrypoint: {sorted(flags - known)}"
    return args


# ------------------------------------------------------------------------------ structure
def test_there_are_overlays_and_raw_manifests() -> None:
    assert {"cluster", "job", "job-s3"} <= set(OVERLAYS), OVERLAYS
    assert RAW_FILES, "no manifests under k8s/"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates(overlay: str) -> None:
    docs = render(overlay)
    assert docs, f"k8s/overlays/{overlay} renders nothing"
    errors = [err for d in docs for err in validation_errors(d)]
    assert not errors, f"k8s/overlays/{overlay}:\n" + "\n".join(errors)


@pytest.mark.parametrize("path", RAW_FILES, ids=lambda p: str(p.relative_to(K8S)))
def test_raw_manifest_validates_and_is_used(path: Path) -> None:
    docs = load_raw(path)
    assert docs, f"{path} holds no document"
    errors = [err for d in docs for err in validation_errors(d)]
    assert not errors, f"{path.relative_to(ROOT)}:\n" + "\n".join(errors)
    rendered = {(d["kind"], d["metadata"]["name"]) for o in OVERLAYS for d in render(o)}
    unused = [(d["kind"], d["metadata"]["name"]) for d in docs
              if (d["kind"], d["metadata"]["name"]) not in rendered]
    assert not unused, f"{path.relative_to(ROOT)}: {unused} appear in no overlay"


def test_each_overlay_keeps_only_the_ray_kind_it_needs() -> None:
    kinds = {o: {d["kind"] for d in render(o)} for o in OVERLAYS}
    assert "RayCluster" in kinds["cluster"] and "RayJob" not in kinds["cluster"]
    assert [o for o in OVERLAYS if "RayJob" in kinds[o]] == JOB_OVERLAYS
    for overlay in JOB_OVERLAYS:
        assert "RayCluster" not in kinds[overlay], overlay


def test_the_cluster_spec_is_written_once() -> None:
    """The RayJobs' cluster specs are the RayCluster's, copied by kustomize, not a second text."""
    raw = [d for p in RAW_FILES for d in load_raw(p)]
    assert len(by_kind(raw, "RayCluster")) == 1
    assert all("rayClusterSpec" not in j["spec"] for j in by_kind(raw, "RayJob"))
    standalone = by_kind(render("cluster"), "RayCluster")[0]["spec"]
    job = by_kind(render("job"), "RayJob")[0]["spec"]["rayClusterSpec"]
    assert job == standalone  # the same cluster, results volume included


# ---------------------------------------------------------------------------- versions
def test_ray_version_is_the_same_in_image_manifests_and_venv() -> None:
    dockerfile = (K8S / "Dockerfile").read_text()
    pinned = re.search(r"^ARG RAY_VERSION=(\S+)\s*$", dockerfile, re.M)
    assert pinned, "k8s/Dockerfile: no `ARG RAY_VERSION=X.Y.Z`"
    ray_version = pinned.group(1)
    assert re.search(r"^FROM rayproject/ray:\$\{RAY_VERSION\}-py3\d+\S*\s*$", dockerfile, re.M), \
        "k8s/Dockerfile: the base image must be rayproject/ray:${RAY_VERSION}-pyXY"
    assert re.search(r'"ray\[[^\]]*\]==\$\{RAY_VERSION\}"', dockerfile), \
        "k8s/Dockerfile: ray must be pinned to ${RAY_VERSION} where synaptune is installed"
    assert importlib.metadata.version("ray") == ray_version, "Ray in .venv differs from k8s/Dockerfile"
    seen = {o: {spec["rayVersion"] for _, spec in cluster_specs(render(o))} for o in OVERLAYS}
    for overlay, versions in seen.items():
        assert versions == {ray_version}, f"k8s/overlays/{overlay}: rayVersion {versions} != {ray_version}"


def test_torch_pins_match_the_makefile() -> None:
    makefile = re.search(r"^TORCH\s*:=\s*(.+?)\s*$", (ROOT / "Makefile").read_text(), re.M)
    docker = re.search(r'^ARG TORCH="(.+)"\s*$', (K8S / "Dockerfile").read_text(), re.M)
    assert makefile and docker
    assert docker.group(1).split() == makefile.group(1).split()


# ------------------------------------------------------------------------- Ray clusters
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_cluster_shape(overlay: str) -> None:
    specs = list(cluster_specs(render(overlay)))
    assert len(specs) == 1, f"k8s/overlays/{overlay}: expected one Ray cluster spec, found {len(specs)}"
    for where, spec in specs:
        assert spec["headGroupSpec"]["rayStartParams"].get("num-cpus") == "0", \
            f"{where}: the head must have num-cpus \"0\" so no trial runs next to the sweep driver"
        assert spec.get("enableInTreeAutoscaling") is True, where
        groups = spec["workerGroupSpecs"]
        gpu = [g for g in groups
               if "nvidia.com/gpu" in g["template"]["spec"]["containers"][0]["resources"].get("limits", {})]
        assert gpu, f"{where}: no worker group with an nvidia.com/gpu limit"
        assert len(gpu) < len(groups), f"{where}: no CPU worker group"
        for g in groups:
            replicas = g.get("replicas", g["minReplicas"])
            assert 0 <= g["minReplicas"] <= replicas <= g["maxReplicas"], f"{where}/{g['groupName']}"
        for g in gpu:
            assert g["maxReplicas"] > g["minReplicas"], f"{where}/{g['groupName']}: no room to autoscale"
            tolerations = g["template"]["spec"].get("tolerations", [])
            assert any(t.get("key") == "nvidia.com/gpu" for t in tolerations), \
                f"{where}/{g['groupName']}: no toleration for nvidia.com/gpu"


# ------------------------------------------------------------------------------ RayJobs
@pytest.mark.parametrize("overlay", JOB_OVERLAYS)
def test_rayjob_entrypoint_matches_cli_and_cluster(overlay: str) -> None:
    from synaptune.benchmarks import BENCHMARKS
    from synaptune.hpo.sweep import SweepConfig, check_cluster_fit
    from synaptune.learners import LEARNERS
    from synaptune.searchspaces import load_space

    docs = render(overlay)
    (job,) = by_kind(docs, "RayJob")
    spec = job["spec"]
    assert spec.get("backoffLimit", 0) >= 1, "a failed attempt must be retried (backoffLimit)"
    assert spec.get("activeDeadlineSeconds", 0) > 0
    assert spec.get("shutdownAfterJobFinishes") is True
    assert "rayClusterSpec" in spec and "clusterSelector" not in spec, "each attempt needs a fresh cluster"

    args = sweep_args(spec["entrypoint"])
    LEARNERS.get(args.learner)
    BENCHMARKS.get(args.benchmark or "split-digits")
    load_space(args.learner, args.space)
    assert args.address == "auto", "the driver runs on the head: --address auto"
    assert args.resume_if_possible and not args.resume, "retries must resume: --resume-if-possible"

    tracking = urlparse(args.tracking_uri)
    assert tracking.scheme == "http", "the sweep must log to the shared MLflow server"
    assert tracking.port in services(docs).get(tracking.hostname, set()), \
        f"--tracking-uri {args.tracking_uri}: no such Service/port in k8s/overlays/{overlay}"

    cluster = spec["rayClusterSpec"]
    pods = dict(pod_specs(cluster))
    waits = [" ".join(c["command"]) for c in pods["head"].get("initContainers", [])]
    assert any(f"{tracking.hostname}:{tracking.port}" in w for w in waits), "the head must wait for MLflow"
    pvcs = {p["metadata"]["name"]: p for p in by_kind(docs, "PersistentVolumeClaim")}
    if "://" in args.storage:  # object store: every pod needs the credentials, no shared path
        assert args.storage.startswith(("s3://", "gs://")), args.storage
        assert not args.storage_is_shared
        for name, pod in pods.items():
            assert pod["containers"][0].get("envFrom"), f"{name}: no credentials for {args.storage}"
    else:  # a path: on one RWX volume mounted on every pod
        assert args.storage_is_shared, "a local --storage on a multi-node cluster needs --storage-is-shared"
        claims = {name: mounted_pvc(pod, args.storage) for name, pod in pods.items()}
        assert all(claims.values()), f"--storage {args.storage} is not on a PVC in every pod: {claims}"
        assert len({c for _, c in claims.values()}) == 1, claims
        claim = next(iter(claims.values()))[1]
        assert "ReadWriteMany" in pvcs[claim]["spec"]["accessModes"], f"PVC {claim} must be ReadWriteMany"

    assert args.study_storage, "keep the Optuna study outside Tune's state: --study-storage"
    if "://" in args.study_storage:
        url = urlparse(args.study_storage)
        assert url.scheme.startswith("postgresql"), args.study_storage
        assert url.password is None, "no password in the entrypoint: the head gets PGPASSWORD from a Secret"
        assert url.hostname in services(docs), f"--study-storage host {url.hostname} is no Service"
        pgpassword = env_of(pods["head"]["containers"][0]).get("PGPASSWORD", {})
        assert "secretKeyRef" in pgpassword.get("valueFrom", {}), "head: PGPASSWORD must come from a Secret"
        _check_sqlalchemy_url(args.study_storage)
    else:  # a journal file: its folder must exist on the head, i.e. be a mounted volume
        assert mounted_pvc(pods["head"], str(Path(args.study_storage).parent)), args.study_storage

    # synaptune's own pre-flight check against the cluster at its minimum size (what a fresh
    # cluster has when the driver starts; the autoscaler only adds workers for pending trials).
    have = {"CPU": 0.0, "GPU": 0.0}
    n_nodes = 1
    for group in cluster["workerGroupSpecs"]:
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        cpus = quantity(group["rayStartParams"].get("num-cpus", limits["cpu"]))
        have["CPU"] += group["minReplicas"] * cpus
        have["GPU"] += group["minReplicas"] * quantity(limits.get("nvidia.com/gpu", 0))
        n_nodes += group["minReplicas"]
    cfg = SweepConfig(learner=args.learner, cpus_per_trial=args.cpus_per_trial,
                      gpus_per_trial=args.gpus_per_trial, storage=args.storage,
                      storage_is_shared=args.storage_is_shared)
    check_cluster_fit(cfg, have, n_nodes)


def _check_sqlalchemy_url(url: str) -> None:
    """The URL names an installed SQLAlchemy dialect and driver (no connection is made)."""
    import sqlalchemy

    sqlalchemy.create_engine(ENV_REF.sub("password", url)).dispose()


# ---------------------------------------------------------------------- MLflow, PostgreSQL
def test_mlflow_server_command_and_probe() -> None:
    from mlflow.cli import cli, server

    docs = render("job")
    deployment = one(docs, "Deployment", "mlflow")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    command = container["command"] + container.get("args", [])
    assert command[:2] == ["mlflow", "server"], command
    params = server.make_context("server", command[2:]).params  # MLflow's own parser
    namespace = "synaptune"
    allowed = ENV_REF.sub(lambda m: namespace if m.group(1) == "POD_NAMESPACE" else m.group(0),
                          params["allowed_hosts"]).split(",")
    port = next(iter(services(docs)["mlflow"]))
    for host in ("mlflow", f"mlflow.{namespace}", f"mlflow.{namespace}.svc.cluster.local", "localhost"):
        assert f"{host}:{port}" in allowed, f"--allowed-hosts lacks {host}:{port}"
    assert params["serve_artifacts"]
    assert mounted_pvc(pod, params["artifacts_destination"]), "--artifacts-destination is not on a PVC"
    backend = params["backend_store_uri"]
    assert backend.startswith("postgresql") and "$(POSTGRES_PASSWORD)" in backend, backend
    _check_sqlalchemy_url(backend)

    probe = container["readinessProbe"]["httpGet"]
    assert probe["path"].startswith("/api/2.0/mlflow/"), "readiness must call a real API path"
    hosts = [h["value"] for h in probe.get("httpHeaders", []) if h["name"].lower() == "host"]
    assert hosts and hosts[0] in allowed, "the probe's Host header must be one --allowed-hosts accepts"

    (init,) = pod["initContainers"]
    assert init["command"][:3] == ["mlflow", "db", "upgrade"], init["command"]
    upgrade = cli.commands["db"].commands["upgrade"].make_context("upgrade", init["command"][3:]).params
    assert upgrade["url"] == backend


def test_postgres_statefulset() -> None:
    docs = render("job")
    sts = one(docs, "StatefulSet", "postgres")
    assert sts["spec"]["serviceName"] in services(docs)
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    assert claim["metadata"]["name"] in {m["name"] for m in container["volumeMounts"]}
    assert "secretKeyRef" in env_of(container)["POSTGRES_PASSWORD"]["valueFrom"]


# ------------------------------------------------------------------------------ secrets
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_values_in_manifests(overlay: str) -> None:
    docs = render(overlay)
    assert not by_kind(docs, "Secret"), "Secrets are created by hand (k8s/README.md), never rendered"
    for d in docs:
        for c in containers(d):
            where = f"{d['kind']}/{d['metadata']['name']}/{c['name']}"
            env = env_of(c)
            for name, var in env.items():
                if re.search(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY", name):
                    assert "value" not in var, f"{where}: {name} has a literal value"
            # Kubernetes leaves $(NAME) as it is when NAME is not in the container's env.
            for word in c.get("command", []) + c.get("args", []):
                for ref in ENV_REF.findall(word):
                    assert ref in env, f"{where}: $({ref}) is undefined"

# SPDX-License-Identifier: MIT
"""The Kubernetes manifests under k8s/, checked offline (no cluster).

Every overlay is rendered with `kubectl kustomize`; RayCluster and RayJob documents are
validated against the strict JSON Schemas of the KubeRay v1.7.0 CRDs (tests/fixtures/kuberay),
built-in kinds with kubernetes-validate in strict mode, and so are the raw files. The RayJob
entrypoints are parsed with synaptune's own CLI parser and the MLflow commands with MLflow's,
so the manifests cannot drift from either; the Ray version of the image, the manifests and
.venv must agree. The hardening of issue 14 (k8s/README.md, "Hardened setup": securityContext,
requests and limits, no secret on a command line, PostgreSQL over TLS, MLflow and Ray
authentication, no exposed Service, NetworkPolicies) and of issue 29 (egress denied but for DNS
and the paths each pod needs; MLflow over HTTPS and PostgreSQL with sslmode=verify-full, both
verified with a mounted CA; every image pulled by digest through the one images block of
k8s/base/kustomization.yaml, which k8s/pin-images.sh fills; a head that stops the sweep driver
gracefully on SIGTERM within its grace period, and a RayJob that retries and resumes) is checked
on every rendered overlay, and each of those checks is shown to catch a broken copy of the
manifests. pin-images.sh and the head's preStop script are run here, against stand-ins.
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
from urllib.parse import parse_qs, urlparse

import jsonschema
import kubernetes_validate
import pytest
import yaml

from synaptune.cli import build_parser
from tests.conftest import KUBERAY

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
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
    return json.loads(CRD_SCHEMAS[kind].read_text())


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


def configmap_file(docs: list[dict[str, Any]], pod: dict[str, Any], container: dict[str, Any], path: str) -> str:
    """The text of ``path`` in ``container``, a key of a ConfigMap mounted there (fails if it is not)."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        cm = volumes.get(mount["name"], {}).get("configMap")
        if cm and path.startswith(mount["mountPath"].rstrip("/") + "/"):
            data = one(docs, "ConfigMap", cm["name"])["data"]
            key = path[len(mount["mountPath"].rstrip("/")) + 1:]
            assert key in data, f"{path}: no key {key!r} in ConfigMap {cm['name']}"
            return data[key]
    raise AssertionError(f"{container['name']}: {path} is on no mounted ConfigMap")


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
    load_space(args.learner, args.space_file)
    assert args.address == "auto", "the driver runs on the head: --address auto"
    assert args.resume_if_possible and not args.resume, "retries must resume: --resume-if-possible"

    tracking = urlparse(args.tracking_uri)
    assert tracking.scheme == "https", "the sweep must log to the shared MLflow server, over TLS"
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
    assert backend.startswith("postgresql") and urlparse(backend).password is None, backend
    assert "secretKeyRef" in env_of(container)["PGPASSWORD"]["valueFrom"], "libpq takes the password from PGPASSWORD"
    _check_sqlalchemy_url(backend)

    # Readiness: an authenticated API call, by a script from the mounted ConfigMap.
    probe = container["readinessProbe"]["exec"]["command"]
    script = configmap_file(docs, pod, container, probe[-1])
    assert probe[0] == "python" and "/api/2.0/mlflow/" in script, probe
    assert "localhost:5000" in script and "localhost:5000" in allowed, "the probe's Host must be one --allowed-hosts accepts"
    compile(script, probe[-1], "exec")

    inits = {c["name"]: c for c in pod["initContainers"]}
    upgrade_cmd = inits["db-upgrade"]["command"]
    assert upgrade_cmd[:3] == ["mlflow", "db", "upgrade"], upgrade_cmd
    upgrade = cli.commands["db"].commands["upgrade"].make_context("upgrade", upgrade_cmd[3:]).params
    assert upgrade["url"] == backend
    users = inits["auth-users"]
    compile(configmap_file(docs, pod, users, users["command"][-1]), users["command"][-1], "exec")
    assert list(inits) == ["db-upgrade", "auth-users"], "the tables exist before the users are written"


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


# ------------------------------------------------------------------------------ hardening
# Issue 14, "exposed services". Each property is a function returning what violates it in a list
# of rendered documents (empty: none), asserted on every overlay below and shown to catch a
# violation by test_hardening_checks_catch_violations. Every container is found by walking the
# pod templates of every kind, including the containers KubeRay adds from autoscalerOptions.
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
#: The PostgreSQL client sslmode: TLS, and the server's certificate checked against a CA and its
#: name (`require` encrypts but would talk to an impostor; issue 29).
TLS_SSLMODES = {"verify-full"}
PG_URL = re.compile(r"postgres(?:ql)?(?:\+\w+)?://[^\s'\"]+")
#: userinfo with a password in a URL (scheme://user:password@host).
URL_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
#: a command-line flag that carries a credential (--password=..., --token ...).
SECRET_FLAG = re.compile(r"^--?[\w-]*(password|passwd|secret|token)[\w-]*(=|$)", re.I)
SHELLS = {"sh", "bash", "dash", "ash", "zsh"}
#: the KubeRay operator, the one peer outside the namespace (dashboard port only).
OPERATOR_PEER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kuberay-system"}},
                 "podSelector": {"matchLabels": {"app.kubernetes.io/name": "kuberay-operator"}}}
RAY_TOKEN_KEY = "auth_token"  # the key KubeRay reads in authOptions.secretName


class Pod:
    """A pod template: where it is, its spec, its labels, the claims of its volumeClaimTemplates."""

    def __init__(self, where: str, template: dict[str, Any], claims: set[str] | None = None) -> None:
        self.where, self.spec = where, template["spec"]
        self.labels: dict[str, str] = template.get("metadata", {}).get("labels", {})
        self.claims = claims or set()

    def all_containers(self) -> list[dict[str, Any]]:
        return self.spec.get("initContainers", []) + self.spec["containers"]

    def spec_volume(self, name: str) -> dict[str, Any]:
        return next((v for v in self.spec.get("volumes", []) if v["name"] == name), {})


def pods(docs: list[dict[str, Any]]) -> list[Pod]:
    """Every pod template of every kind (fails on a container in a kind it does not know)."""
    found: list[Pod] = []
    for d in docs:
        name = f"{d['kind']}/{d['metadata']['name']}"
        if d["kind"] in POD_KINDS:
            claims = {c["metadata"]["name"] for c in d["spec"].get("volumeClaimTemplates", [])}
            found.append(Pod(name, d["spec"]["template"], claims))
        elif d["kind"] == "CronJob":
            found.append(Pod(name, d["spec"]["jobTemplate"]["spec"]["template"]))
        elif d["kind"] == "Pod":
            found.append(Pod(name, d))
        elif d["kind"] in ("RayCluster", "RayJob"):
            spec = d["spec"] if d["kind"] == "RayCluster" else d["spec"].get("rayClusterSpec")
            if spec:
                found.append(Pod(f"{name}/head", spec["headGroupSpec"]["template"]))
                found += [Pod(f"{name}/{g['groupName']}", g["template"]) for g in spec.get("workerGroupSpecs", [])]
            if d["kind"] == "RayJob" and "submitterPodTemplate" in d["spec"]:
                found.append(Pod(f"{name}/submitter", d["spec"]["submitterPodTemplate"]))
    seen = {id(c) for p in found for c in p.all_containers()}
    unknown = [f"{d['kind']}/{d['metadata']['name']}/{c['name']}" for d in docs for c in containers(d) if id(c) not in seen]
    assert not unknown, f"containers in pod templates these checks do not know: {unknown}"
    return found


def checked_containers(docs: list[dict[str, Any]]) -> Iterator[tuple[str, Pod, dict[str, Any]]]:
    """(where, pod, container) for every container and init container, and for the autoscaler
    sidecar KubeRay adds to a Ray head (built from autoscalerOptions, in the head's pod)."""
    for pod in pods(docs):
        for c in pod.all_containers():
            yield f"{pod.where}/{c['name']}", pod, c
    for where, spec in cluster_specs(docs):
        if spec.get("enableInTreeAutoscaling"):
            options = spec.get("autoscalerOptions", {})
            sidecar = {"name": "autoscaler", "securityContext": options.get("securityContext", {}),
                       "resources": options.get("resources", {}), "volumeMounts": options.get("volumeMounts", [])}
            yield f"{where}/head/autoscaler", Pod(f"{where}/head", spec["headGroupSpec"]["template"]), sidecar


def effective(pod: Pod, container: dict[str, Any], key: str) -> Any:
    """A securityContext setting that may be given on the pod and overridden by the container."""
    own = container.get("securityContext", {})
    return own[key] if key in own else pod.spec.get("securityContext", {}).get(key)


def memory_bytes(q: str | int) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    m = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(q))
    assert m and m.group(2) in {"", *units}, f"memory quantity {q!r}"
    return float(m.group(1)) * units.get(m.group(2), 1)


def secret_env(container: dict[str, Any]) -> set[str]:
    return {e["name"] for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}


def command_lines(container: dict[str, Any]) -> list[list[str]]:
    """Everything the container runs: command+args, exec probes, exec lifecycle hooks."""
    lines = [container.get("command", []) + container.get("args", [])]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        lines.append(container.get(probe, {}).get("exec", {}).get("command", []))
    for hook in container.get("lifecycle", {}).values():
        lines.append(hook.get("exec", {}).get("command", []))
    return [line for line in lines if line]


def pg_urls(docs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(where, url) of every PostgreSQL URL in commands, env values, ConfigMaps and RayJob entrypoints."""
    return [(where, url) for where, url, _ in pg_url_users(docs)]


def pg_url_users(docs: list[dict[str, Any]]) -> list[tuple[str, str, list[tuple[str, Pod, dict[str, Any]]]]]:
    """(where, url, users) of every PostgreSQL URL: users are the containers that connect with it
    (the container itself; every container mounting a ConfigMap that holds it; a RayJob's head)."""
    found: list[tuple[str, str, list[tuple[str, Pod, dict[str, Any]]]]] = []
    every = list(checked_containers(docs))
    for where, pod, c in every:
        texts = [(where, w) for line in command_lines(c) for w in line]
        texts += [(f"{where} env {e['name']}", e["value"]) for e in c.get("env", []) if "value" in e]
        found += [(w, url, [(where, pod, c)]) for w, text in texts for url in PG_URL.findall(text)]
    for cm in by_kind(docs, "ConfigMap"):
        name = cm["metadata"]["name"]
        users = [(where, pod, c) for where, pod, c in every
                 if any(pod.spec_volume(m["name"]).get("configMap", {}).get("name") == name
                        for m in c.get("volumeMounts", []))]
        found += [(f"ConfigMap/{name}/{k}", url, users)
                  for k, v in cm.get("data", {}).items() for url in PG_URL.findall(v)]
    for job in by_kind(docs, "RayJob"):
        where = f"RayJob/{job['metadata']['name']}"
        spec = job["spec"].get("rayClusterSpec")
        head = [(f"{where}/head/{c['name']}", Pod(f"{where}/head", spec["headGroupSpec"]["template"]), c)
                for c in spec["headGroupSpec"]["template"]["spec"]["containers"][:1]] if spec else []
        found += [(f"{where} entrypoint", url, head) for url in PG_URL.findall(job["spec"]["entrypoint"])]
    return found


def mounted_file(pod: Pod, container: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The Secret or ConfigMap volume that holds ``path`` in ``container`` (None if none does)."""
    for mount in container.get("volumeMounts", []):
        root = mount["mountPath"].rstrip("/") + "/"
        volume = pod.spec_volume(mount["name"])
        if path.startswith(root) and ("secret" in volume or "configMap" in volume):
            source = volume.get("secret") or volume.get("configMap")
            key = path[len(root):]
            items = source.get("items")
            if items is None or any(i["path"] == key for i in items):
                return volume
    return None


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for e in selector.get("matchExpressions", []):
        key, op, values = e["key"], e["operator"], e.get("values", [])
        if not {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
                "Exists": key in labels, "DoesNotExist": key not in labels}[op]:
            return False
    return True


def admitted(docs: list[dict[str, Any]], target: Pod, port: int) -> set[str]:
    """Who the NetworkPolicies let open a connection to ``target`` on ``port``: pods of the
    namespace by `where`, anything else as a description ("ANY", "ipBlock ...", "external ...")."""
    inventory = pods(docs)
    peers: set[str] = set()
    for policy in by_kind(docs, "NetworkPolicy"):
        spec = policy["spec"]
        if "Ingress" not in spec.get("policyTypes", ["Ingress"]) or not selects(spec["podSelector"], target.labels):
            continue
        for rule in spec.get("ingress", []):
            ports = rule.get("ports")
            if ports and not any(p.get("port") in (port, None) or (p.get("endPort", -1) >= port >= p.get("port", 0))
                                 for p in ports):
                continue
            if not rule.get("from"):
                peers.add("ANY")
            for peer in rule.get("from", []):
                if "ipBlock" in peer:
                    peers.add(f"ipBlock {peer['ipBlock']}")
                elif "namespaceSelector" in peer:
                    peers.add(f"external {json.dumps(peer, sort_keys=True)}")
                else:
                    peers |= {p.where for p in inventory if selects(peer["podSelector"], p.labels)}
    return peers


def pods_named(docs: list[dict[str, Any]], **labels: str) -> list[Pod]:
    want = {f"app.kubernetes.io/{k}": v for k, v in labels.items()}
    return [p for p in pods(docs) if selects({"matchLabels": want}, p.labels)]


# ---- the properties
def security_context_errors(docs: list[dict[str, Any]]) -> list[str]:
    """Non-root, no privilege escalation, no capabilities, read-only root, RuntimeDefault seccomp."""
    errors = []
    for where, pod, c in checked_containers(docs):
        sc = c.get("securityContext", {})
        user = effective(pod, c, "runAsUser")
        checks = {
            "runAsNonRoot: true": effective(pod, c, "runAsNonRoot") is True,
            # images whose USER is a name (ray) or root (postgres): the kubelet needs a number
            "runAsUser: a non-zero uid": isinstance(user, int) and user > 0,
            "allowPrivilegeEscalation: false": sc.get("allowPrivilegeEscalation") is False,
            "not privileged": not sc.get("privileged"),
            "readOnlyRootFilesystem: true": sc.get("readOnlyRootFilesystem") is True,
            "capabilities drop [ALL], add none": "ALL" in sc.get("capabilities", {}).get("drop", [])
                                                 and not sc.get("capabilities", {}).get("add"),
            "seccompProfile RuntimeDefault": (effective(pod, c, "seccompProfile") or {}).get("type")
                                             in ("RuntimeDefault", "Localhost"),
        }
        errors += [f"{where}: not {what}" for what, ok in checks.items() if not ok]
    for pod in pods(docs):
        errors += [f"{pod.where}: {k}" for k in ("hostNetwork", "hostPID", "hostIPC") if pod.spec.get(k)]
        errors += [f"{pod.where}: hostPath volume {v['name']}" for v in pod.spec.get("volumes", []) if "hostPath" in v]
    return errors


def writable_path_errors(docs: list[dict[str, Any]]) -> list[str]:
    """A container with a read-only root has a writable volume at /tmp (Ray: /tmp/ray), and
    PostgreSQL at its socket directory and PGDATA."""
    errors = []
    for where, pod, c in checked_containers(docs):
        volumes = {v["name"]: v for v in pod.spec.get("volumes", [])}
        writable = [m["mountPath"].rstrip("/") or "/" for m in c.get("volumeMounts", []) if not m.get("readOnly")
                    and ("emptyDir" in volumes.get(m["name"], {}) or "persistentVolumeClaim" in volumes.get(m["name"], {})
                         or m["name"] in pod.claims)]
        need = ["/tmp"]
        if "PGDATA" in env_of(c):
            need += [env_of(c)["PGDATA"]["value"], "/var/run/postgresql"]
        for path in need:
            if not any(path == w or path.startswith(w + "/") for w in writable):
                errors.append(f"{where}: {path} is not on a writable volume (its root filesystem is read-only)")
    return errors


def resource_errors(docs: list[dict[str, Any]]) -> list[str]:
    """cpu and memory requests and limits on every container, limits not below requests."""
    errors = []
    for where, _, c in checked_containers(docs):
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            errors += [f"{where}: no {kind}.{r}" for r in ("cpu", "memory") if r not in res.get(kind, {})]
        req, lim = res.get("requests", {}), res.get("limits", {})
        if "cpu" in req and "cpu" in lim and quantity(lim["cpu"]) < quantity(req["cpu"]):
            errors.append(f"{where}: cpu limit below its request")
        if "memory" in req and "memory" in lim and memory_bytes(lim["memory"]) < memory_bytes(req["memory"]):
            errors.append(f"{where}: memory limit below its request")
    return errors


def command_line_secret_errors(docs: list[dict[str, Any]]) -> list[str]:
    """No credential on any command line: no $(VAR) of a Secret (Kubernetes would expand it into
    argv, visible in /proc and `ps`), no $VAR of a Secret in a shell script, no password in a URL,
    no --password flag; the same for the RayJob entrypoints and in ConfigMaps."""
    errors = []
    for where, _, c in checked_containers(docs):
        plain = {e["name"] for e in c.get("env", []) if "valueFrom" not in e or "secretKeyRef" not in e["valueFrom"]}
        secret = secret_env(c)
        for line in command_lines(c):
            shell = Path(line[0]).name in SHELLS and "-c" in line
            for word in line:
                errors += [f"{where}: $({ref}) puts a Secret (or something undefined) on the command line"
                           for ref in ENV_REF.findall(word) if ref not in plain]
                if shell:
                    errors += [f"{where}: the shell script expands Secret {name} into a command line"
                               for name in secret if re.search(rf"\$\{{?{name}\b", word)]
                if URL_PASSWORD.search(word) or SECRET_FLAG.match(word):
                    errors.append(f"{where}: a credential on the command line: {word}")
    for job in by_kind(docs, "RayJob"):
        entry = job["spec"]["entrypoint"]
        head = job["spec"].get("rayClusterSpec", {}).get("headGroupSpec", {}).get("template", {}).get("spec", {})
        names = set().union(*(secret_env(c) for c in head.get("containers", [])))
        if URL_PASSWORD.search(entry) or any(SECRET_FLAG.match(w) for w in shlex.split(entry)):
            errors.append(f"RayJob/{job['metadata']['name']}: a credential in the entrypoint")
        errors += [f"RayJob/{job['metadata']['name']}: the entrypoint expands Secret {n}"
                   for n in names if re.search(rf"\$\(?\{{?{n}\b", entry)]
    for cm in by_kind(docs, "ConfigMap"):
        for key, text in cm.get("data", {}).items():
            if URL_PASSWORD.search(text) or re.search(r"^\s*admin_password\s*=", text, re.M):
                errors.append(f"ConfigMap/{cm['metadata']['name']}/{key}: holds a credential")
    return errors


def postgres_tls_errors(docs: list[dict[str, Any]]) -> list[str]:
    """Every PostgreSQL URL says sslmode=verify-full with an sslrootcert= that every container
    using the URL has mounted from a Secret or ConfigMap, and has no password; the server has TLS
    on and its pg_hba.conf admits network connections only over TLS."""
    errors = []
    for where, url, users in pg_url_users(docs):
        query = parse_qs(urlparse(url).query)
        if query.get("sslmode") != ["verify-full"]:
            errors.append(f"{where}: {url}: sslmode must be verify-full (it is {query.get('sslmode')})")
        roots = query.get("sslrootcert", [])
        if len(roots) != 1 or not roots[0].startswith("/"):
            errors.append(f"{where}: {url}: no sslrootcert=/path/to/the/CA")
        elif not users:
            errors.append(f"{where}: {url}: used by no container")
        for user, pod, c in users if len(roots) == 1 else []:
            if mounted_file(pod, c, roots[0]) is None:
                errors.append(f"{user}: sslrootcert {roots[0]} is on no mounted Secret or ConfigMap")
        if urlparse(url).password:
            errors.append(f"{where}: {url}: password in the URL")
    for sts in by_kind(docs, "StatefulSet"):
        pod = Pod(f"StatefulSet/{sts['metadata']['name']}", sts["spec"]["template"])
        for c in pod.spec["containers"]:
            if not c.get("image", "").startswith("postgres"):
                continue
            settings = dict(a.split("=", 1) for a in c.get("args", []) if "=" in a)
            where = f"{pod.where}/{c['name']}"
            if settings.get("ssl") != "on":
                errors.append(f"{where}: ssl=on is not set")
            hba = configmap_file(docs, pod.spec, c, settings["hba_file"]) if "hba_file" in settings else ""
            lines = [ln.split() for ln in hba.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
            if not lines or any(ln[0] not in ("local", "hostssl") for ln in lines):
                errors.append(f"{where}: pg_hba.conf must admit network connections with `hostssl` only")
            volumes = {v["name"]: v for v in pod.spec.get("volumes", [])}
            key = settings.get("ssl_key_file", "")
            mounts = [m for m in c.get("volumeMounts", []) if key.startswith(m["mountPath"].rstrip("/") + "/")]
            secret = volumes.get(mounts[0]["name"], {}).get("secret") if mounts else None
            if not secret or secret.get("defaultMode", 0o644) & 0o037:
                errors.append(f"{where}: ssl_key_file must be on a Secret volume with mode 0640 or stricter")
    return errors


def mlflow_auth_errors(docs: list[dict[str, Any]]) -> list[str]:
    """`mlflow server --app-name=basic-auth`, its config file from a ConfigMap (no secret in it),
    admin password and CSRF key from Secrets; every pod NetworkPolicies admit to MLflow carries
    credentials from the Secret of the account the auth-users init container creates."""
    from mlflow.cli import server

    errors = []
    deployment = one(docs, "Deployment", "mlflow")
    pod = Pod("Deployment/mlflow", deployment["spec"]["template"])
    (c,) = pod.spec["containers"]
    params = server.make_context("server", (c["command"] + c.get("args", []))[2:]).params
    if params["app_name"] != "basic-auth":
        errors.append("Deployment/mlflow: the server does not run MLflow's basic-auth app (--app-name=basic-auth)")
    env = env_of(c)
    for name in ("MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"):
        if "secretKeyRef" not in env.get(name, {}).get("valueFrom", {}):
            errors.append(f"Deployment/mlflow: {name} must come from a Secret")
    config = auth_config(docs, pod, c)
    if config is None:
        errors.append("Deployment/mlflow: MLFLOW_AUTH_CONFIG_PATH is not a file of a mounted ConfigMap")
    elif config.admin_username is None or not config.database_uri.startswith("postgresql"):
        errors.append(f"Deployment/mlflow: auth config: admin {config.admin_username}, store {config.database_uri}")
    users = {i["name"]: i for i in pod.spec.get("initContainers", [])}.get("auth-users")
    if users is None:
        return errors + ["Deployment/mlflow: no init container `auth-users` creating the accounts"]
    account = {n: env_of(users).get(n, {}).get("valueFrom", {}).get("secretKeyRef")
               for n in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    port = next(iter(services(docs)["mlflow"]))
    clients = admitted(docs, pod, port) - {pod.where}
    if not clients:
        errors.append("Deployment/mlflow: no client is admitted (the sweep driver logs there)")
    for target in pods(docs):
        if target.where in clients:
            got = {n: env_of(target.spec["containers"][0]).get(n, {}).get("valueFrom", {}).get("secretKeyRef")
                   for n in account}
            if got != account or None in got.values():
                errors.append(f"{target.where}: reaches MLflow without the credentials of the account "
                              f"auth-users creates ({account}): {got}")
    return errors


def auth_config(docs: list[dict[str, Any]], pod: Pod, c: dict[str, Any]) -> Any:
    """MLflow's own reading (mlflow/server/auth/config.py) of the file MLFLOW_AUTH_CONFIG_PATH names."""
    import importlib.util
    import os
    import tempfile

    import mlflow

    path = env_of(c).get("MLFLOW_AUTH_CONFIG_PATH", {}).get("value")
    try:
        text = configmap_file(docs, pod.spec, c, path or "")
    except AssertionError:
        return None
    # Loaded by file: the package's __init__ needs Flask-WTF (the image has it, .venv need not).
    spec = importlib.util.spec_from_file_location(
        "_mlflow_auth_config", Path(mlflow.__file__).parent / "server" / "auth" / "config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as f:
        f.write(text)
    saved = {k: os.environ.pop(k, None) for k in ("MLFLOW_AUTH_CONFIG_PATH", "MLFLOW_AUTH_ADMIN_USERNAME",
                                                  "MLFLOW_AUTH_ADMIN_PASSWORD")}
    try:
        os.environ["MLFLOW_AUTH_CONFIG_PATH"] = f.name
        return module.read_auth_config()
    finally:
        os.environ.pop("MLFLOW_AUTH_CONFIG_PATH")
        os.environ.update({k: v for k, v in saved.items() if v is not None})
        Path(f.name).unlink()


def ray_token_errors(docs: list[dict[str, Any]]) -> list[str]:
    """Token authentication on every Ray cluster: KubeRay's authOptions (it gives the token to the
    autoscaler and the submitter and uses it itself) and RAY_AUTH_MODE / RAY_AUTH_TOKEN on every
    Ray container, from that same Secret."""
    errors = []
    for where, spec in cluster_specs(docs):
        auth = spec.get("authOptions", {})
        secret = auth.get("secretName")
        if auth.get("mode") != "token" or not secret:
            errors.append(f"{where}: authOptions must be {{mode: token, secretName: <Secret>}}: {auth}")
        for group, pod in pod_specs(spec):
            env = env_of(pod["containers"][0])
            if env.get("RAY_AUTH_MODE", {}).get("value") != "token":
                errors.append(f"{where}/{group}: RAY_AUTH_MODE is not token")
            ref = env.get("RAY_AUTH_TOKEN", {}).get("valueFrom", {}).get("secretKeyRef", {})
            if ref != {"name": secret, "key": RAY_TOKEN_KEY}:
                errors.append(f"{where}/{group}: RAY_AUTH_TOKEN must come from Secret {secret}, key {RAY_TOKEN_KEY}: {ref}")
    return errors


def exposure_errors(docs: list[dict[str, Any]]) -> list[str]:
    """Nothing reachable from outside the cluster: ClusterIP Services only, no Ingress, the Ray
    head's Service ClusterIP."""
    errors = [f"Service/{s['metadata']['name']}: type {s['spec'].get('type')}" for s in by_kind(docs, "Service")
              if s["spec"].get("type", "ClusterIP") != "ClusterIP" or s["spec"].get("externalIPs")]
    errors += [f"{d['kind']}/{d['metadata']['name']}: exposes the namespace" for d in docs
               if d["kind"] in ("Ingress", "Route", "Gateway", "HTTPRoute")]
    for where, spec in cluster_specs(docs):
        head = spec["headGroupSpec"]
        if head.get("serviceType", "ClusterIP") != "ClusterIP" or head.get("enableIngress"):
            errors.append(f"{where}: the head's Service must be ClusterIP without ingress")
    return errors


def network_policy_errors(docs: list[dict[str, Any]]) -> list[str]:
    """Ingress denied by default; PostgreSQL admits exactly the pods that hold its password,
    MLflow the Ray head, Ray pods each other; the head's dashboard also the submitter and the
    KubeRay operator, its other ports no one else; no other peer outside the namespace."""
    errors = []
    default_deny = [p for p in by_kind(docs, "NetworkPolicy")
                    if p["spec"]["podSelector"] == {} and "Ingress" in p["spec"].get("policyTypes", [])
                    and not p["spec"].get("ingress")]
    if not default_deny:
        errors.append("no default-deny ingress NetworkPolicy (podSelector {}, no ingress rules)")
    for policy in by_kind(docs, "NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []) or [{}]:
                if (peer == {} or "ipBlock" in peer or peer.get("namespaceSelector") == {}
                        or ("namespaceSelector" in peer and peer != OPERATOR_PEER)):
                    errors.append(f"NetworkPolicy/{policy['metadata']['name']}: peer {peer} reaches beyond the namespace")
    for targets, port, want in expected_paths(docs):
        if not targets:
            errors.append(f"no pod to check on port {port}")
        for target in targets:
            got = admitted(docs, target, port)
            if got != want:
                errors.append(f"{target.where}:{port} admits {sorted(got)}, should admit {sorted(want)}")
    return errors


def expected_paths(docs: list[dict[str, Any]]) -> list[tuple[list[Pod], int, set[str]]]:
    """(targets, port, clients): the connections the deployment needs, and no others. PostgreSQL
    from the pods that hold its password, MLflow from the Ray head (the sweep driver; workers
    never log), the head's Ray ports and the workers' from Ray pods, the dashboard also from the
    submitter and the KubeRay operator (the one client outside the namespace)."""
    inventory = pods(docs)
    ray = {p.where for p in pods_named(docs, name="ray")}
    heads = pods_named(docs, name="ray", component="head")
    submitters = {p.where for p in pods_named(docs, name="ray-job-submitter")}
    operator = f"external {json.dumps(OPERATOR_PEER, sort_keys=True)}"
    postgres_clients = {p.where for p in inventory if any(
        e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "synaptune-postgres"
        for c in p.all_containers() for e in c.get("env", []))}
    expect: list[tuple[list[Pod], int, set[str]]] = []
    for pg in pods_named(docs, name="postgres"):
        expect.append(([pg], 5432, postgres_clients - {pg.where}))
    expect.append((pods_named(docs, name="mlflow"), 5000, {h.where for h in heads}))
    expect.append((heads, 6379, ray))
    expect.append((heads, 10001, ray))
    expect.append((heads, 8265, ray | submitters | {operator}))
    expect.append((pods_named(docs, name="ray", component="worker"), 10002, ray))
    return expect


# ---- issue 29: egress, MLflow over TLS, images by digest, preemption
#: kube-dns (CoreDNS keeps the label) in kube-system: the one DNS peer, UDP and TCP 53 only.
DNS_PEER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
DNS_PORTS = [("UDP", 53), ("TCP", 53)]
#: The only other way out of the namespace: HTTPS anywhere (the Kubernetes API, which the Ray
#: autoscaler calls and which no label selects; datasets; the object store), for Ray pods only.
OUTSIDE_CIDRS = {"0.0.0.0/0", "::/0"}
OUTSIDE_PORTS = {("TCP", 443), ("TCP", 6443)}
MIN_HEAD_GRACE_S = 60  # the driver's save on SIGTERM (issue 29); GKE spot gives ~30 s, AWS 120 s
#: `name:tag@sha256:<digest>`: what kustomize makes of a bare name listed in the images block;
#: UNRESOLVED is the marker k8s/pin-images.sh replaces (the kubelet refuses it: InvalidImageName).
PINNED_IMAGE = re.compile(r"^[^\s@]+@sha256:(?:[0-9a-f]{64}|UNRESOLVED)$")
RESOLVED_IMAGE = re.compile(r"^[^\s@]+@sha256:[0-9a-f]{64}$")
IMAGES_KUSTOMIZATION = K8S / "base" / "kustomization.yaml"


def egress_rules(docs: list[dict[str, Any]], source: Pod) -> list[dict[str, Any]]:
    return [rule for p in by_kind(docs, "NetworkPolicy")
            if "Egress" in p["spec"].get("policyTypes", ["Egress"] if "egress" in p["spec"] else [])
            and selects(p["spec"]["podSelector"], source.labels) for rule in p["spec"].get("egress", [])]


def port_allowed(rule: dict[str, Any], protocol: str, port: int) -> bool:
    return not rule.get("ports") or any(
        p.get("protocol", "TCP") == protocol
        and (p.get("port") in (port, None) or p.get("endPort", -1) >= port >= p.get("port", 0))
        for p in rule["ports"])


def reaches(docs: list[dict[str, Any]], source: Pod, target: Pod, port: int, protocol: str = "TCP") -> bool:
    """Whether the egress policies let ``source`` open a connection to pod ``target`` on ``port``
    (an ipBlock counts as reaching pods too: whether it matches pod addresses depends on the plugin)."""
    for rule in egress_rules(docs, source):
        if not port_allowed(rule, protocol, port):
            continue
        for peer in rule.get("to") or [{}]:
            if peer == {} or "ipBlock" in peer:
                return True
            if set(peer) == {"podSelector"} and selects(peer["podSelector"], target.labels):
                return True
    return False


def reaches_outside(docs: list[dict[str, Any]], source: Pod, port: int, protocol: str = "TCP") -> bool:
    return any(port_allowed(rule, protocol, port) and (not rule.get("to") or any("ipBlock" in p for p in rule["to"]))
               for rule in egress_rules(docs, source))


def egress_errors(docs: list[dict[str, Any]]) -> list[str]:
    """Egress denied by default; every pod may ask kube-dns (UDP and TCP 53); inside the namespace
    each client reaches exactly the servers its ingress counterpart admits (expected_paths, seen
    from the client); out of the namespace only DNS, and HTTPS for the Ray head (Kubernetes API)
    and the Ray pods that hold object-store credentials; no rule opens every port to a peer
    outside the namespace."""
    errors = []
    policies = by_kind(docs, "NetworkPolicy")
    if not [p for p in policies if p["spec"]["podSelector"] == {} and "Egress" in p["spec"].get("policyTypes", [])
            and not p["spec"].get("egress")]:
        errors.append("no default-deny egress NetworkPolicy (podSelector {}, policyTypes [Egress], no egress rules)")
    inventory = pods(docs)
    ray = {p.where for p in pods_named(docs, name="ray")}
    for policy in policies:
        name = f"NetworkPolicy/{policy['metadata']['name']}"
        selected = {p.where for p in inventory if selects(policy["spec"]["podSelector"], p.labels)}
        for rule in policy["spec"].get("egress", []):
            ports = {(p.get("protocol", "TCP"), p.get("port")) for p in rule.get("ports", [])}
            if not rule.get("to"):
                errors.append(f"{name}: an egress rule to anywhere (no `to`)")
            for peer in rule.get("to", []):
                if set(peer) == {"podSelector"}:
                    continue  # this namespace: checked against expected_paths below
                if peer == DNS_PEER:
                    if not ports or not ports <= set(DNS_PORTS):
                        errors.append(f"{name}: kube-dns on {sorted(ports) or 'every port'}, not DNS only")
                elif set(peer) == {"ipBlock"} and peer["ipBlock"].get("cidr") in OUTSIDE_CIDRS:
                    if not ports or not ports <= OUTSIDE_PORTS:
                        errors.append(f"{name}: the outside on {sorted(ports) or 'every port'}, not {sorted(OUTSIDE_PORTS)}")
                    if not selected <= ray:
                        errors.append(f"{name}: lets non-Ray pods out: {sorted(selected - ray)}")
                else:
                    errors.append(f"{name}: egress peer {peer} is neither this namespace, kube-dns nor HTTPS")
    for pod in inventory:
        for protocol, port in DNS_PORTS:
            if not any(port_allowed(r, protocol, port) and DNS_PEER in r.get("to", []) for r in egress_rules(docs, pod)):
                errors.append(f"{pod.where}: cannot ask kube-dns on {protocol} {port}")
    for targets, port, want in expected_paths(docs):
        for target in targets:
            got = {p.where for p in inventory if reaches(docs, p, target, port)}
            want_here = {w for w in want if not w.startswith("external ")}
            if got != want_here:
                errors.append(f"egress to {target.where}:{port} from {sorted(got)}, should be from {sorted(want_here)}")
    object_store = {p.where for p in inventory
                    if any("synaptune-s3" == e.get("secretRef", {}).get("name") for c in p.all_containers()
                           for e in c.get("envFrom", []))}
    heads = {p.where for p in pods_named(docs, name="ray", component="head")}
    outside = {p.where for p in inventory if reaches_outside(docs, p, 443)}
    if outside != heads | object_store:
        errors.append(f"HTTPS out of the cluster from {sorted(outside)}, should be from the Ray heads (Kubernetes "
                      f"API) and the pods with object-store credentials: {sorted(heads | object_store)}")
    return errors


def mounted_env_file(pod: Pod, c: dict[str, Any], name: str) -> str | None:
    """The path in env ``name`` of ``c`` if a Secret or ConfigMap volume there holds it."""
    path = env_of(c).get(name, {}).get("value")
    return path if path and mounted_file(pod, c, path) else None


def mlflow_tls_errors(docs: list[dict[str, Any]]) -> list[str]:
    """MLflow speaks HTTPS only (uvicorn's own TLS, certificate and key from a mounted Secret), its
    probes and ready.py use it, every client URL is https:// (no http://mlflow anywhere) and every
    client admitted to MLflow verifies the server with a CA file it has mounted."""
    from mlflow.cli import server
    from uvicorn.main import main as uvicorn_cli

    errors = []
    deployment = one(docs, "Deployment", "mlflow")
    pod = Pod("Deployment/mlflow", deployment["spec"]["template"])
    (c,) = pod.spec["containers"]
    params = server.make_context("server", (c["command"] + c.get("args", []))[2:]).params
    uvicorn = uvicorn_cli.make_context("uvicorn", [*shlex.split(params["uvicorn_opts"] or ""), "app:app"]).params
    for key in ("ssl_certfile", "ssl_keyfile"):
        path = uvicorn.get(key)
        volume = mounted_file(pod, c, path) if path else None
        if not volume or "secret" not in volume:
            errors.append(f"Deployment/mlflow: uvicorn --{key.replace('_', '-')} {path} is not on a mounted Secret")
    port = next(iter(services(docs)["mlflow"]))
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = c.get(probe, {}).get("httpGet")
        if get and get.get("scheme") != "HTTPS":
            errors.append(f"Deployment/mlflow: {probe} over HTTP, the server speaks HTTPS only")
    texts = [(where, w) for where, _, x in checked_containers(docs) for line in command_lines(x) for w in line]
    texts += [(f"ConfigMap/{m['metadata']['name']}/{k}", v) for m in by_kind(docs, "ConfigMap") for k, v in m.get("data", {}).items()]
    texts += [(f"RayJob/{j['metadata']['name']} entrypoint", j["spec"]["entrypoint"]) for j in by_kind(docs, "RayJob")]
    errors += [f"{where}: MLflow over plain HTTP: {text[:120]}" for where, text in texts
               if re.search(r"http://(mlflow|localhost|127\.0\.0\.1)[.:/]", text)]
    for job in by_kind(docs, "RayJob"):
        uri = sweep_args(job["spec"]["entrypoint"]).tracking_uri
        if urlparse(uri).scheme != "https":
            errors.append(f"RayJob/{job['metadata']['name']}: --tracking-uri {uri} is not https://")
    for target in pods(docs):
        if target.where in admitted(docs, pod, port) - {pod.where}:
            if not mounted_env_file(target, target.spec["containers"][0], "MLFLOW_TRACKING_SERVER_CERT_PATH"):
                errors.append(f"{target.where}: no MLFLOW_TRACKING_SERVER_CERT_PATH on a mounted Secret/ConfigMap: "
                              "the MLflow client cannot verify the server")
    return errors


def image_errors(docs: list[dict[str, Any]], resolved: bool = False) -> list[str]:
    """Every image (containers, and the autoscaler's if set) is pulled by digest: name@sha256:...
    (with ``resolved``, a real digest, not the UNRESOLVED marker)."""
    pattern = RESOLVED_IMAGE if resolved else PINNED_IMAGE
    images = [(where, c.get("image", "")) for where, _, c in checked_containers(docs) if where.rsplit("/", 1)[1] != "autoscaler"]
    images += [(f"{w}/autoscaler", s["autoscalerOptions"]["image"]) for w, s in cluster_specs(docs)
               if "image" in s.get("autoscalerOptions", {})]
    return [f"{where}: image {image!r} is not pinned by digest" for where, image in images if not pattern.match(image)]


def images_block() -> dict[str, dict[str, str]]:
    return {e["name"]: e for e in yaml.safe_load(IMAGES_KUSTOMIZATION.read_text()).get("images", [])}


def preemption_errors(docs: list[dict[str, Any]]) -> list[str]:
    """A Ray head survives SIGTERM: its preStop hook stops the sweep driver (a script of a mounted
    ConfigMap, waiting less than the grace period) and terminationGracePeriodSeconds gives the
    driver time to save; a RayJob retries a failed attempt (backoffLimit) on a fresh cluster and
    resumes the sweep from storage that outlives the cluster (--resume-if-possible)."""
    errors = []
    for where, spec in cluster_specs(docs):
        template = spec["headGroupSpec"]["template"]
        head = Pod(f"{where}/head", template)
        grace = head.spec.get("terminationGracePeriodSeconds", 30)
        if grace < MIN_HEAD_GRACE_S:
            errors.append(f"{where}/head: terminationGracePeriodSeconds {grace} < {MIN_HEAD_GRACE_S}")
        c = head.spec["containers"][0]
        hook = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
        if hook[:1] != ["python"] or len(hook) < 2 or not mounted_file(head, c, hook[1]):
            errors.append(f"{where}/head: no preStop hook running a mounted script to stop the sweep driver: {hook}")
            continue
        wait = float(hook[3]) if len(hook) > 3 else 105.0
        if wait >= grace:
            errors.append(f"{where}/head: the preStop hook waits {wait} s, not less than the grace period {grace} s")
    for job in by_kind(docs, "RayJob"):
        name = f"RayJob/{job['metadata']['name']}"
        spec = job["spec"]
        if spec.get("backoffLimit", 0) < 1:
            errors.append(f"{name}: backoffLimit < 1: a preempted attempt is not retried")
        if "rayClusterSpec" not in spec:
            errors.append(f"{name}: no rayClusterSpec: a retry needs a cluster of its own")
            continue
        args = sweep_args(spec["entrypoint"])
        if not args.resume_if_possible:
            errors.append(f"{name}: no --resume-if-possible: a retry would not continue the sweep")
        head = dict(pod_specs(spec["rayClusterSpec"]))["head"]
        if "://" not in args.storage and not mounted_pvc(head, args.storage):
            errors.append(f"{name}: --storage {args.storage} is on no PersistentVolumeClaim: it dies with the cluster")
    return errors


HARDENING_CHECKS = {
    "securityContext": security_context_errors,
    "writable paths": writable_path_errors,
    "requests and limits": resource_errors,
    "no secret on a command line": command_line_secret_errors,
    "PostgreSQL over TLS": postgres_tls_errors,
    "MLflow authentication": mlflow_auth_errors,
    "Ray token authentication": ray_token_errors,
    "no exposed Service": exposure_errors,
    "NetworkPolicies": network_policy_errors,
    "egress": egress_errors,
    "MLflow over TLS": mlflow_tls_errors,
    "images by digest": image_errors,
    "preemption": preemption_errors,
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_runs_non_root_read_only_without_capabilities(overlay: str) -> None:
    docs = render(overlay)
    names = {where.rsplit("/", 1)[1] for where, _, _ in checked_containers(docs)}
    expected = {"postgres", "mlflow", "db-upgrade", "auth-users", "ray-head", "wait-for-mlflow", "ray-worker", "autoscaler"}
    assert expected <= names, f"containers not found: {expected - names}"
    if overlay in JOB_OVERLAYS:
        assert "ray-job-submitter" in names
    errors = security_context_errors(docs) + writable_path_errors(docs)
    assert not errors, f"k8s/overlays/{overlay}:\n" + "\n".join(errors)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_cpu_and_memory_requests_and_limits(overlay: str) -> None:
    docs = render(overlay)
    assert sum(1 for _ in checked_containers(docs)) >= 8
    errors = resource_errors(docs)
    assert not errors, f"k8s/overlays/{overlay}:\n" + "\n".join(errors)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_on_any_command_line(overlay: str) -> None:
    docs = render(overlay)
    # not vacuous: Secrets do reach containers, as environment variables
    assert sum(len(secret_env(c)) for _, _, c in checked_containers(docs)) >= 6
    errors = command_line_secret_errors(docs)
    assert not errors, f"k8s/overlays/{overlay}:\n" + "\n".join(errors)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_postgres_is_reached_over_tls_only(overlay: str) -> None:
    docs = render(overlay)
    urls = pg_urls(docs)
    assert any("Deployment/mlflow" in where for where, _ in urls) and any("ConfigMap/mlflow-auth" in w for w, _ in urls)
    if overlay == "job-s3":
        assert any("entrypoint" in where for where, _ in urls), "the Optuna study URL was not found"
    for _, url in urls:
        _check_sqlalchemy_url(url)
    errors = postgres_tls_errors(docs)
    assert not errors, f"k8s/overlays/{overlay}:\n" + "\n".join(errors)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_mlflow_requires_authentication(overlay: str) -> None:
    errors = mlflow_auth_errors(render(overlay))
    assert not errors, f"k8s/overlays/{overlay}:\n" + "\n".join(errors)


def test_the_image_has_mlflow_auth_extra() -> None:
    """The basic-auth app imports Flask-WTF, which only MLflow's `auth` extra installs."""
    dockerfile = (K8S / "Dockerfile").read_text()
    assert re.search(r'"mlflow\[[^\]]*\bauth\b[^\]]*\]"', dockerfile), "k8s/Dockerfile must install mlflow[auth]"
    assert "import flask_wtf" in dockerfile, "k8s/Dockerfile should check that the auth app's dependency imports"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ray_requires_a_token(overlay: str) -> None:
    docs = render(overlay)
    assert list(cluster_specs(docs))
    errors = ray_token_errors(docs)
    assert not errors, f"k8s/overlays/{overlay}:\n" + "\n".join(errors)


def test_ray_reads_the_token_variables_the_manifests_set() -> None:
    """The installed Ray (= the image's) turns token mode on from RAY_AUTH_MODE and takes the
    token from RAY_AUTH_TOKEN: set them as the manifests do and ask Ray."""
    env = env_of(dict(pod_specs(next(cluster_specs(render("job")))[1]))["head"]["containers"][0])
    assert env["RAY_AUTH_MODE"]["value"] == "token" and "RAY_AUTH_TOKEN" in env
    code = ("from ray._raylet import AuthenticationMode, AuthenticationTokenLoader, get_authentication_mode\n"
            "print(get_authentication_mode() == AuthenticationMode.TOKEN,"
            " AuthenticationTokenLoader.instance().get_raw_token(ignore_auth_mode=False))")
    import os
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**clean, "RAY_AUTH_MODE": env["RAY_AUTH_MODE"]["value"], "RAY_AUTH_TOKEN": "t0k3n-from-a-secret"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["True", "t0k3n-from-a-secret"], proc.stdout


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nothing_is_exposed_beyond_the_cluster(overlay: str) -> None:
    errors = exposure_errors(render(overlay))
    assert not errors, f"k8s/overlays/{overlay}:\n" + "\n".join(errors)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_admit_only_the_pods_that_need_each_service(overlay: str) -> None:
    errors = network_policy_errors(render(overlay))
    assert not errors, f"k8s/overlays/{overlay}:\n" + "\n".join(errors)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_egress_is_denied_but_for_dns_and_the_paths_the_pods_need(overlay: str) -> None:
    docs = render(overlay)
    assert any("Egress" in p["spec"].get("policyTypes", []) and p["spec"].get("egress")
               for p in by_kind(docs, "NetworkPolicy")), "no egress rules at all"
    errors = egress_errors(docs)
    assert not errors, f"k8s/overlays/{overlay}:\n" + "\n".join(errors)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_mlflow_is_reached_over_https_only(overlay: str) -> None:
    errors = mlflow_tls_errors(render(overlay))
    assert not errors, f"k8s/overlays/{overlay}:\n" + "\n".join(errors)


def test_mlflow_https_scripts_compile() -> None:
    docs = render("job")
    head = _head(docs)
    (wait,) = [c for c in head["initContainers"] if c["name"] == "wait-for-mlflow"]
    assert wait["command"][:2] == ["python", "-c"] and "https://mlflow:5000/health" in wait["command"][2]
    compile(wait["command"][2], "wait-for-mlflow", "exec")
    ready = one(docs, "ConfigMap", "mlflow-auth")["data"]["ready.py"]
    assert "https://localhost:5000/" in ready and "cafile=" in ready


# ---- images: bare names in the manifests, newName:newTag@digest from one kustomize images block
def test_manifests_name_images_only_through_the_digest_block() -> None:
    """The one approach (k8s/README.md, "Images pinned by digest"): every `image:` under k8s/ is
    a bare name of the images block of base/kustomization.yaml, never a tag or a registry path;
    each entry there has newName, newTag and a digest (sha256:<64 hex>, or the UNRESOLVED marker
    that k8s/pin-images.sh replaces)."""
    block = images_block()
    assert set(block) == {"synaptune", "postgres"}, block
    for name, entry in block.items():
        assert entry.get("newName") and entry.get("newTag"), f"{name}: newName and newTag say what to resolve"
        assert re.fullmatch(r"sha256:(?:[0-9a-f]{64}|UNRESOLVED)", str(entry.get("digest"))), f"{name}: digest"
    used = set()
    for path in [*RAW_FILES, *K8S.rglob("kustomization.yaml")]:
        for doc in load_raw(path):
            for c in containers(doc):
                if "image" in c:
                    assert c["image"] in block, (f"{path.relative_to(ROOT)}: {c['name']}: image {c['image']!r} is "
                                                 "not a bare name of the images block in k8s/base/kustomization.yaml")
                    used.add(c["image"])
            assert not re.search(r"\bimage:\s*\S*[:@]", yaml.safe_dump(doc)), f"{path}: an image by tag or digest"
    assert used == set(block), f"images block entries no manifest uses: {set(block) - used}"
    other = [p for p in K8S.rglob("kustomization.yaml") if p != IMAGES_KUSTOMIZATION and "images" in load_raw(p)[0]]
    assert not other, f"images are pinned in one place only, not in {other}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_image_is_pulled_by_digest(overlay: str) -> None:
    docs = render(overlay)
    errors = image_errors(docs)
    assert not errors, f"k8s/overlays/{overlay}:\n" + "\n".join(errors)
    digests = {f"@{e['digest']}" for e in images_block().values()}
    for where, _, c in checked_containers(docs):
        if "image" in c:
            assert any(c["image"].endswith(d) for d in digests), f"{where}: {c['image']} is not from the images block"


def _stub_crane(tmp_path: Path) -> dict[str, str]:
    import os

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    crane = bin_dir / "crane"
    crane.write_text('#!/bin/sh\n[ "$1" = digest ] || exit 3\necho "$2" >> "$CRANE_LOG"\n'
                     'printf "sha256:%s\\n" "$(printf %s "$2" | sha256sum | cut -c1-64)"\n')
    crane.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CRANE_LOG": str(tmp_path / "crane.log")}


def test_pin_images_resolves_every_tag_and_writes_its_digest(tmp_path: Path) -> None:
    """k8s/pin-images.sh on a copy of k8s/ with a stub `crane`: it asks for newName:newTag of each
    entry, writes the digests into the images block (nothing else changes), --check then passes,
    and every rendered image carries a real digest."""
    script = K8S / "pin-images.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    block = copy / "base" / "kustomization.yaml"
    before = block.read_text()
    env = _stub_crane(tmp_path)
    check = subprocess.run([str(copy / "pin-images.sh"), "--check"], capture_output=True, text=True, env=env)
    if "UNRESOLVED" in before:
        assert check.returncode == 1 and "not pinned" in check.stderr, check
    proc = subprocess.run([str(copy / "pin-images.sh")], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    asked = (tmp_path / "crane.log").read_text().split()
    assert sorted(asked) == sorted(f"{e['newName']}:{e['newTag']}" for e in images_block().values())
    after = block.read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert len(before.splitlines()) == len(after.splitlines())
    assert changed and all(a.strip().startswith("digest:") and b.strip().startswith("digest:") for a, b in changed)
    assert subprocess.run([str(copy / "pin-images.sh"), "--check"], env=env).returncode == 0
    for overlay in OVERLAYS:
        out = subprocess.run([kubectl(), "kustomize", str(copy / "overlays" / overlay)],
                             capture_output=True, text=True, timeout=120, check=True).stdout
        errors = image_errors([d for d in yaml.safe_load_all(out) if d], resolved=True)
        assert not errors, f"{overlay} after pin-images.sh:\n" + "\n".join(errors)


def test_pin_images_leaves_the_file_alone_when_a_tag_does_not_resolve(tmp_path: Path) -> None:
    copy = tmp_path / "kustomization.yaml"
    shutil.copy(IMAGES_KUSTOMIZATION, copy)
    env = _stub_crane(tmp_path)
    (tmp_path / "bin" / "crane").write_text("#!/bin/sh\necho 'MANIFEST_UNKNOWN' >&2\nexit 1\n")
    proc = subprocess.run([str(K8S / "pin-images.sh"), str(copy)], capture_output=True, text=True, env=env)
    assert proc.returncode != 0
    assert copy.read_text() == IMAGES_KUSTOMIZATION.read_text()


# ---- preemption: SIGTERM on the head stops the driver gracefully; the RayJob retries and resumes
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_head_survives_preemption_and_the_job_resumes(overlay: str) -> None:
    docs = render(overlay)
    errors = preemption_errors(docs)
    assert not errors, f"k8s/overlays/{overlay}:\n" + "\n".join(errors)
    for job in by_kind(docs, "RayJob"):
        assert "--resume-if-possible" in shlex.split(job["spec"]["entrypoint"])
        for group, pod in pod_specs(job["spec"]["rayClusterSpec"]):
            if group == "head":
                assert pod["terminationGracePeriodSeconds"] >= MIN_HEAD_GRACE_S


def _stop_sweep_script() -> str:
    docs = render("job")
    head = Pod("head", _first(docs, "RayJob")["spec"]["rayClusterSpec"]["headGroupSpec"]["template"])
    hook = head.spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    return configmap_file(docs, head.spec, head.spec["containers"][0], hook[1])


def test_the_prestop_hook_stops_the_sweep_driver_and_waits_for_it(tmp_path: Path) -> None:
    """stop_sweep.py, run as the hook runs it but on a /proc of its own holding only a stand-in
    driver (`python .../synaptune sweep ...` that saves on SIGTERM and exits 143): it signals that
    process, and only after it is gone does the hook return."""
    import sys
    import threading
    import time

    script = tmp_path / "stop_sweep.py"
    script.write_text(_stop_sweep_script())
    fake = tmp_path / "bin" / "synaptune"
    fake.parent.mkdir()
    saved = tmp_path / "saved"
    fake.write_text("import signal, sys, time\n"
                    "def stop(*_):\n"
                    "    time.sleep(1.0)  # the save\n"
                    f"    open({str(saved)!r}, 'w').write('saved')\n"
                    "    sys.exit(143)\n"
                    "signal.signal(signal.SIGTERM, stop)\n"
                    "print('ready', flush=True)\n"
                    "time.sleep(60)\n")
    driver = subprocess.Popen([sys.executable, str(fake), "sweep", "--resume-if-possible"],
                              stdout=subprocess.PIPE, text=True)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "synaptune", "sweep"])
    try:
        assert driver.stdout.readline().strip() == "ready"
        proc = tmp_path / "proc"
        for p in (driver, bystander):
            (proc / str(p.pid)).mkdir(parents=True)
            (proc / str(p.pid) / "cmdline").symlink_to(f"/proc/{p.pid}/cmdline")
        (proc / "self").mkdir()
        threading.Thread(target=driver.wait, daemon=True).start()  # reaps it, as Ray's job supervisor does
        start = time.monotonic()
        hook = subprocess.run([sys.executable, str(script), str(proc), "20"], capture_output=True, text=True, timeout=60)
        took = time.monotonic() - start
        assert hook.returncode == 0, hook.stderr
        assert driver.wait(timeout=5) == 143 and saved.read_text() == "saved"
        assert 1.0 <= took < 15, f"the hook returned after {took:.1f} s"
        assert "1 of 1 driver(s) stopped" in hook.stdout, hook.stdout
        assert bystander.poll() is None, "a process that is not `synaptune sweep` was signalled"
    finally:
        for p in (driver, bystander):
            if p.poll() is None:
                p.kill()
                p.wait()


# ---- each check catches what it is for (a broken copy of a rendered overlay)
def _first(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name))


def _mlflow(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return _first(docs, "Deployment", "mlflow")["spec"]["template"]["spec"]


def _head(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return _first(docs, "RayJob")["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]


def _set(node: dict[str, Any], key: str, value: Any) -> None:
    node[key] = value


def _mlflow_arg(docs: list[dict[str, Any]], flag: str, value: str) -> None:
    """Replace the ``flag=...`` argument of `mlflow server` with ``flag=value``."""
    command = _mlflow(docs)["containers"][0]["command"]
    (i,) = [i for i, a in enumerate(command) if a.startswith(f"{flag}=")]
    command[i] = f"{flag}={value}"


MUTATIONS = {
    "init container may write its root": ("securityContext", lambda d: _mlflow(d)["initContainers"][0]
                                          ["securityContext"].pop("readOnlyRootFilesystem")),
    "submitter as root": ("securityContext", lambda d: _first(d, "RayJob")["spec"]["submitterPodTemplate"]["spec"]
                          ["containers"][0]["securityContext"].update(runAsUser=0)),
    "autoscaler keeps capabilities": ("securityContext", lambda d: _first(d, "RayJob")["spec"]["rayClusterSpec"]
                                      ["autoscalerOptions"]["securityContext"].pop("capabilities")),
    "no seccomp profile": ("securityContext", lambda d: [_first(d, "StatefulSet")["spec"]["template"]["spec"]
                           ["securityContext"].pop("seccompProfile"), _first(d, "StatefulSet")["spec"]["template"]
                           ["spec"]["containers"][0]["securityContext"].pop("seccompProfile")]),
    "no writable /tmp on the head": ("writable paths", lambda d: _head(d)["containers"][0]["volumeMounts"].pop(0)),
    "no limits on the autoscaler": ("requests and limits", lambda d: _first(d, "RayJob")["spec"]["rayClusterSpec"]
                                    ["autoscalerOptions"]["resources"].pop("limits")),
    "no cpu request on an init container": ("requests and limits", lambda d: _head(d)["initContainers"][0]
                                            ["resources"]["requests"].pop("cpu")),
    "$(PGPASSWORD) in a URL argument": ("no secret on a command line", lambda d: _mlflow(d)["containers"][0]
                                        ["command"].append("--x=postgresql://u:$(PGPASSWORD)@postgres/mlflow")),
    "shell expands a Secret": ("no secret on a command line", lambda d: _set(
        _mlflow(d)["initContainers"][0], "command", ["sh", "-c", "mlflow db upgrade postgresql://synaptune:$PGPASSWORD@postgres/x"])),
    "password flag in a probe": ("no secret on a command line", lambda d: _set(
        _mlflow(d)["containers"][0]["readinessProbe"], "exec", {"command": ["check", "--password=hunter2"]})),
    "password in a ConfigMap URL": ("no secret on a command line", lambda d: _first(d, "ConfigMap", "mlflow-auth")
                                    ["data"].update(x="postgresql://synaptune:hunter2@postgres/mlflow")),
    "URL without sslmode": ("PostgreSQL over TLS", lambda d: _first(d, "RayJob")["spec"].update(
        entrypoint=_first(d, "RayJob")["spec"]["entrypoint"].replace("sslmode=verify-full&", ""))),
    "sslmode=require (no server check)": ("PostgreSQL over TLS", lambda d: _first(d, "ConfigMap", "mlflow-auth")
                                          ["data"].update({"basic_auth.ini": _first(d, "ConfigMap", "mlflow-auth")
                                                           ["data"]["basic_auth.ini"].replace("verify-full", "require")})),
    "no sslrootcert": ("PostgreSQL over TLS", lambda d: _mlflow_arg(
        d, "--backend-store-uri", "postgresql+psycopg://synaptune@postgres:5432/mlflow?sslmode=verify-full")),
    "CA not mounted where the URL is used": ("PostgreSQL over TLS", lambda d: _set(
        _mlflow(d)["initContainers"][0], "volumeMounts",
        [m for m in _mlflow(d)["initContainers"][0]["volumeMounts"] if m["name"] != "ca"])),
    "CA not mounted on the head (Optuna study)": ("PostgreSQL over TLS", lambda d: _set(
        _head(d)["containers"][0], "volumeMounts", [m for m in _head(d)["containers"][0]["volumeMounts"] if m["name"] != "ca"])),
    "sslmode=prefer": ("PostgreSQL over TLS", lambda d: _mlflow(d)["initContainers"][0]["command"].__setitem__(
        3, "postgresql+psycopg://synaptune@postgres:5432/mlflow?sslmode=prefer")),
    "pg_hba admits plain TCP": ("PostgreSQL over TLS", lambda d: _first(d, "ConfigMap", "postgres-hba")["data"].update(
        {"pg_hba.conf": "host all all 0.0.0.0/0 scram-sha-256\n"})),
    "server without TLS": ("PostgreSQL over TLS", lambda d: _first(d, "StatefulSet")["spec"]["template"]["spec"]
                           ["containers"][0]["args"].remove("ssl=on")),
    "MLflow without the auth app": ("MLflow authentication", lambda d: _mlflow(d)["containers"][0]["command"].remove(
        "--app-name=basic-auth")),
    "admin password as a literal": ("MLflow authentication", lambda d: _set(_mlflow(d)["containers"][0], "env", [
        {"name": e["name"], "value": "x" * 16} if e["name"] == "MLFLOW_AUTH_ADMIN_PASSWORD" else e
        for e in _mlflow(d)["containers"][0]["env"]])),
    "head without MLflow credentials": ("MLflow authentication", lambda d: _set(
        _head(d)["containers"][0], "env", [e for e in _head(d)["containers"][0]["env"]
                                           if not e["name"].startswith("MLFLOW_TRACKING")])),
    "cluster without authOptions": ("Ray token authentication", lambda d: _first(d, "RayJob")["spec"]
                                    ["rayClusterSpec"].pop("authOptions")),
    "worker without the token": ("Ray token authentication", lambda d: _first(d, "RayJob")["spec"]["rayClusterSpec"]
                                 ["workerGroupSpecs"][1]["template"]["spec"]["containers"][0]["env"].pop(1)),
    "NodePort Service": ("no exposed Service", lambda d: _first(d, "Service", "mlflow")["spec"].update(type="NodePort")),
    "head Service LoadBalancer": ("no exposed Service", lambda d: _first(d, "RayJob")["spec"]["rayClusterSpec"]
                                  ["headGroupSpec"].update(serviceType="LoadBalancer")),
    "no default deny": ("NetworkPolicies", lambda d: d.remove(_first(d, "NetworkPolicy", "default-deny-ingress"))),
    "MLflow open to all pods": ("NetworkPolicies", lambda d: _first(d, "NetworkPolicy", "mlflow")["spec"]["ingress"]
                                [0]["from"].append({"podSelector": {}})),
    "dashboard open to all namespaces": ("NetworkPolicies", lambda d: _first(d, "NetworkPolicy", "ray-head-dashboard")
                                         ["spec"]["ingress"][0]["from"].append({"namespaceSelector": {}})),
    "PostgreSQL closed to the head that holds its password": ("NetworkPolicies", lambda d: _first(
        d, "NetworkPolicy", "postgres")["spec"]["ingress"][0]["from"].pop()),
    # issue 29
    "no default deny egress": ("egress", lambda d: d.remove(_first(d, "NetworkPolicy", "default-deny-egress"))),
    "no DNS": ("egress", lambda d: d.remove(_first(d, "NetworkPolicy", "dns"))),
    "DNS peer on every port": ("egress", lambda d: _first(d, "NetworkPolicy", "dns")["spec"]["egress"][0].pop("ports")),
    "MLflow may connect anywhere": ("egress", lambda d: _first(d, "NetworkPolicy", "mlflow-egress")["spec"]
                                    ["egress"][0].pop("to")),
    "workers may connect to MLflow": ("egress", lambda d: _first(d, "NetworkPolicy", "ray-egress")["spec"]["egress"].append(
        {"to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "mlflow"}}}], "ports": [{"port": 5000}]})),
    "the head cannot reach PostgreSQL for its study": ("egress", lambda d: _first(d, "NetworkPolicy", "ray-head-egress")
                                                       ["spec"]["egress"].pop()),
    "submitter cannot reach the dashboard": ("egress", lambda d: d.remove(_first(d, "NetworkPolicy", "ray-job-submitter-egress"))),
    "egress into another namespace": ("egress", lambda d: _first(d, "NetworkPolicy", "ray-head-egress")["spec"]["egress"]
                                      [0]["to"].append({"namespaceSelector": {}})),
    "every pod may connect to PostgreSQL": ("egress", lambda d: _first(d, "NetworkPolicy", "mlflow-egress")["spec"].update(
        podSelector={"matchLabels": {"app.kubernetes.io/part-of": "synaptune"}})),
    "the outside on every port": ("egress", lambda d: _first(d, "NetworkPolicy", "ray-egress")["spec"]["egress"][1].pop("ports")),
    "MLflow over plain HTTP": ("MLflow over TLS", lambda d: _mlflow_arg(
        d, "--uvicorn-opts", "--timeout-worker-healthcheck=60")),
    "TLS key not from a Secret": ("MLflow over TLS", lambda d: _set(_mlflow(d), "volumes", [
        {"name": "tls", "emptyDir": {}} if v["name"] == "tls" else v for v in _mlflow(d)["volumes"]])),
    "entrypoint logs over http": ("MLflow over TLS", lambda d: _first(d, "RayJob")["spec"].update(
        entrypoint=_first(d, "RayJob")["spec"]["entrypoint"].replace("https://mlflow", "http://mlflow"))),
    "head does not verify MLflow": ("MLflow over TLS", lambda d: _set(_head(d)["containers"][0], "env", [
        e for e in _head(d)["containers"][0]["env"] if e["name"] != "MLFLOW_TRACKING_SERVER_CERT_PATH"])),
    "probe over HTTP": ("MLflow over TLS", lambda d: _mlflow(d)["containers"][0]["livenessProbe"]["httpGet"].pop("scheme")),
    "wait-for-mlflow over http": ("MLflow over TLS", lambda d: _head(d)["initContainers"][0].update(
        command=["sh", "-c", "until wget -q -O /dev/null http://mlflow:5000/health; do sleep 5; done"])),
    "postgres by tag": ("images by digest", lambda d: _first(d, "StatefulSet")["spec"]["template"]["spec"]
                        ["containers"][0].update(image="postgres:17")),
    "submitter by tag": ("images by digest", lambda d: _first(d, "RayJob")["spec"]["submitterPodTemplate"]["spec"]
                         ["containers"][0].update(image="registry.example.com/synaptune:0.1.0")),
    "autoscaler image by tag": ("images by digest", lambda d: _first(d, "RayJob")["spec"]["rayClusterSpec"]
                                ["autoscalerOptions"].update(image="rayproject/ray:2.60.0")),
    "head killed after 30 s": ("preemption", lambda d: _head(d).pop("terminationGracePeriodSeconds")),
    "no preStop hook": ("preemption", lambda d: _head(d)["containers"][0].pop("lifecycle")),
    "preStop waits past the grace period": ("preemption", lambda d: _head(d)["containers"][0]["lifecycle"]["preStop"]
                                            ["exec"]["command"].__setitem__(3, "300")),
    "no --resume-if-possible": ("preemption", lambda d: _first(d, "RayJob")["spec"].update(
        entrypoint=_first(d, "RayJob")["spec"]["entrypoint"].replace(" --resume-if-possible", ""))),
    "no retry": ("preemption", lambda d: _first(d, "RayJob")["spec"].pop("backoffLimit")),
}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_hardening_checks_catch_violations(mutation: str) -> None:
    import copy

    check, mutate = MUTATIONS[mutation]
    docs = render("job-s3")
    assert not HARDENING_CHECKS[check](docs)
    broken = copy.deepcopy(docs)
    mutate(broken)
    assert HARDENING_CHECKS[check](broken), f"{check} does not notice: {mutation}"

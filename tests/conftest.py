# SPDX-License-Identifier: MIT
"""Shared fixtures. Tests under unit/ get the `unit` marker, integration/ `integration`."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# One torch thread in the test process and in every CLI it starts, set before torch is first imported.
# The suite shares 2 cores with the Ray workers it starts (and, in CI, with whatever else runs): two
# OpenMP threads beside two busy processes spin at every barrier and ran a SatSOM loop 8x slower than
# one thread (108 s against 14 s, measured with two `while True` processes). Ray sets its workers' own.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Ray runs its workers at niceness 15 unless told otherwise: a trial of a cluster a test starts itself
# (ray.cluster_utils.Cluster, `ray start`) then got ~7% of a CPU beside two busy processes. A Ray that
# synaptune starts sets 0 itself (sweep.local_ray_config); this gives the tests' own clusters the same.
os.environ.setdefault("RAY_worker_niceness", "0")

ROOT = Path(__file__).resolve().parents[1]
#: Golden fixtures made by the original implementations (a copy kept in the repository: see its README.md).
REFERENCE = ROOT / "tests" / "fixtures" / "reference"
#: Strict JSON Schemas of the KubeRay CRDs, for validating the manifests offline.
KUBERAY = ROOT / "tests" / "fixtures" / "kuberay"


def reference_fixtures(prefix: str) -> list[Path]:
    """Every ``<prefix>*.npz`` golden fixture; a new file dropped there is exercised without code changes."""
    found = sorted(REFERENCE.glob(f"{prefix}*.npz"))
    assert found, f"no {prefix}*.npz golden fixtures under {REFERENCE}"
    return found


#: Fixtures that start Ray, a server or a cluster, or read a real dataset: a test using one is `slow`.
HEAVY_FIXTURES = frozenset({"shared_ray", "cli", "cli_here", "mlflow_server", "postgres_server"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tiers, by rule: every test under integration/ (they start Ray, `mlflow server`, PostgreSQL,
    Chromium, `ray start`, or read real data) and every test using a :data:`HEAVY_FIXTURES` fixture is
    `slow`, except the one end-to-end `smoke` test the fast tier keeps. Unit tests may start none of
    these: :func:`_no_ray_in_unit_tests` fails one that starts Ray."""
    for item in items:
        part = Path(str(item.fspath)).relative_to(ROOT / "tests").parts[0]
        if part in ("unit", "integration"):
            item.add_marker(getattr(pytest.mark, part))
        heavy = part == "integration" or HEAVY_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if heavy and "smoke" not in item.keywords and "slow" not in item.keywords:
            item.add_marker(pytest.mark.slow)
        if "gpu" in item.keywords:
            import torch

            if not torch.cuda.is_available():
                item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))


@pytest.fixture(autouse=True)
def _no_ray_in_unit_tests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test outside integration/ that starts Ray fails, naming the fix (so the tiers stay true)."""
    if "integration" in request.node.keywords:
        return
    import ray

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{request.node.nodeid} starts Ray: a test that does belongs under tests/integration/ "
                             "(it is then `slow`); or stand in for Tune with the `fake_tune` fixture")

    monkeypatch.setattr(ray, "init", refuse)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def synaptune_cmd() -> list[str]:
    """The installed console script, or the module when running from a checkout."""
    exe = shutil.which("synaptune", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "synaptune"]


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``synaptune ARGS`` in a subprocess; returns the completed process (text output)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*synaptune_cmd(), *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, what: str, timeout_s: float = 90) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError(f"{what} did not start in {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


def _wait_until_answering(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    """Wait until the server answers a real API call: its port opens before its workers serve, and on a
    busy machine the first answer can take longer than a client's timeout."""
    import urllib.error
    import urllib.request

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/api/2.0/mlflow/experiments/search?max_results=1", timeout=30):
                return
        except urllib.error.HTTPError:  # an HTTP answer, even a refusal (e.g. 403 under --allowed-hosts)
            return
        except OSError:  # no answer yet (URLError, a timeout, a reset connection)
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited:\n{log.read_text()[-3000:]}") from None
        time.sleep(0.5)
    raise RuntimeError(f"mlflow server did not answer in {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop a process group this test started (by its PID), harder if it lingers."""
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass


@contextlib.contextmanager
def running_mlflow_server(backend_uri: str, folder: Path, *extra: str) -> Iterator[str]:
    """A real ``mlflow server`` on 127.0.0.1 over ``backend_uri``; yields its URL."""
    port = free_port()
    log = folder / f"mlflow-server-{port}.log"
    mlflow_exe = str(Path(sys.executable).parent / "mlflow")
    proc = subprocess.Popen(
        [mlflow_exe, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", backend_uri, "--artifacts-destination", str(folder / "server-artifacts"),
         *extra],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_port(port, proc, log, "mlflow server")
        _wait_until_answering(f"http://127.0.0.1:{port}", proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


@pytest.fixture
def mlflow_server(tmp_path: Path):
    """A real ``mlflow server`` on 127.0.0.1 (SQLite backend, local artifacts); yields its URI."""
    with running_mlflow_server(f"sqlite:///{tmp_path}/server.db", tmp_path) as uri:
        yield uri


def postgres_bin(name: str) -> str | None:
    """A PostgreSQL server program (Debian keeps them in /usr/lib/postgresql/N/bin)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """A real PostgreSQL server on 127.0.0.1, run as a non-root user; yields its base URL.

    As root (CI containers) the server runs as Debian's ``postgres`` user, since
    PostgreSQL refuses to run as root. The URL names no database; make one with
    :func:`create_database`.
    """
    initdb, postgres = postgres_bin("initdb"), postgres_bin("postgres")
    if not initdb or not postgres:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")
    user = None
    if os.geteuid() == 0:
        import pwd

        user = "postgres"
        pwd.getpwnam(user)  # KeyError here means the Debian package's user is missing
    base = Path(tempfile.mkdtemp(prefix="synaptune-pg-"))
    base.chmod(0o755)
    data, sockets = base / "data", base / "sockets"
    sockets.mkdir()
    if user:
        shutil.chown(base, user)
        shutil.chown(sockets, user)
    try:
        subprocess.run([initdb, "-D", str(data), "-U", "synaptune", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True, user=user)
        port = free_port()
        log = base / "postgres.log"
        proc = subprocess.Popen([postgres, "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
                                 "-k", str(sockets), "-c", "fsync=off"],
                                stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
                                user=user)
        try:
            _wait_for_port(port, proc, log, "postgres")
            yield f"postgresql://synaptune@127.0.0.1:{port}"
        finally:
            _stop(proc, signal.SIGINT)  # SIGINT: PostgreSQL's fast shutdown
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_server():
    """:func:`running_postgres` as a fixture."""
    with running_postgres() as url:
        yield url


def create_database(base_url: str, name: str) -> str:
    """Create database ``name`` on the server at ``base_url``; returns its URL."""
    import psycopg

    with psycopg.connect(f"{base_url}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base_url}/{name}"

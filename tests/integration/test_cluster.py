# SPDX-License-Identifier: MIT
"""`synaptune sweep --address` on an existing multi-node Ray cluster (a head and two worker nodes),
and a worker node killed mid-sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import synaptune_cmd

pytest.importorskip("ray")
pytest.importorskip("mlflow")

FAST_SPACE = str(Path(__file__).with_name("fast_naive.yaml"))


@pytest.fixture
def three_node_cluster():
    """A head that runs no trial (0 CPUs, as in k8s/) and two worker nodes of one CPU, as separate processes."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    try:
        yield cluster, workers
    finally:
        cluster.shutdown()


@pytest.mark.slow
def test_sweep_on_existing_multi_node_cluster(tmp_path: Path, three_node_cluster, cli_here) -> None:
    cluster, workers = three_node_cluster
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    address = cluster.address
    common = ["--learner", "naive", "--benchmark", "split-digits", "--n-tasks", "2", "--space", FAST_SPACE,
              "--address", address, "--tracking-uri", uri, "--storage", str(tmp_path / "results")]
    # A GPU request on a cluster without GPUs is refused up front.
    r = cli_here("sweep", *common, "--name", "gpu", "--gpus-per-trial", "0.5", cwd=tmp_path)
    assert r.returncode == 2
    assert "a trial asks for 0.5 GPU, the cluster has none" in r.stderr

    # A local results path on a multi-node cluster is refused unless it is said to be shared.
    r = cli_here("sweep", *common, "--name", "cluster", "--trials", "2", cwd=tmp_path)
    assert r.returncode == 2
    assert "is a local path and the cluster has 3 nodes" in r.stderr and "--storage-is-shared" in r.stderr
    assert not (tmp_path / "results" / "cluster").exists()

    r = cli_here("sweep", *common, "--name", "cluster", "--trials", "2", "--concurrency", "2",
                 "--scheduler", "none", "--storage-is-shared", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "2 completed" in r.stdout
    # The two trials ran at once on the two worker nodes (one CPU each), not on a Ray of the driver's own.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("cluster")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'trial'")
    assert {r.data.tags["ray.node_id"] for r in runs} == {w.node_id for w in workers}


NODELOSS_SPACE = str(Path(__file__).with_name("nodeloss_naive.yaml"))


def _events(path: Path) -> list[tuple[str, str, int, float, str]]:
    """``(trial_id, what, task, time, node_id)`` lines of the trainable's test event log."""
    if not path.exists():
        return []
    return [(a, b, int(c), float(t), n) for a, b, c, t, n in
            (line.split() for line in path.read_text().splitlines() if len(line.split()) == 5)]


@pytest.mark.slow
def test_worker_node_killed_mid_sweep_loses_only_work_since_last_checkpoint(tmp_path: Path) -> None:
    from ray.cluster_utils import Cluster

    # The head runs no trial (num_cpus 0, as in k8s/); node death is noticed within seconds.
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False,
        "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 4}})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    events = tmp_path / "events.log"
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    args = ["sweep", "--learner", "naive", "--benchmark", "split-digits", "--n-tasks", "5",
            "--space", NODELOSS_SPACE, "--trials", "3", "--concurrency", "2", "--scheduler", "none",
            "--max-failures", "3", "--name", "nodeloss", "--address", cluster.address,
            "--storage", str(tmp_path / "results"), "--storage-is-shared", "--tracking-uri", uri]
    log = open(tmp_path / "driver.log", "w")
    driver = subprocess.Popen([*synaptune_cmd(), *args], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "SYNAPTUNE_TEST_EVENT_LOG": str(events)},
                              start_new_session=True)
    try:
        # Kill the worker node of the first trial that has checkpointed a task (and has more to do).
        victim = None
        deadline = time.time() + 300
        while victim is None and time.time() < deadline and driver.poll() is None:
            for trial_id, what, task, _, node_id in _events(events):
                if what == "reported" and 1 <= task <= 3:
                    victim = next((w for w in workers if w.node_id == node_id), None)
                    break
            time.sleep(0.2)
        assert victim is not None, (tmp_path / "driver.log").read_text()[-4000:]
        killed_at = time.time()
        cluster.remove_node(victim, allow_graceful=False)  # SIGKILL: raylet, object store, workers
        assert driver.wait(timeout=600) == 0, (tmp_path / "driver.log").read_text()[-4000:]
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
        cluster.shutdown()
    out = (tmp_path / "driver.log").read_text()
    assert "3 completed" in out, out[-4000:]

    rows = _events(events)
    lost = {t for t, what, _, when, node in rows if node == victim.node_id and when < killed_at}
    # Trials that were on the killed node started again elsewhere, from a task checkpoint, not task 0.
    restarts = [(t, task, node) for t, what, task, when, node in rows
                if what == "start" and t in lost and when > killed_at]
    assert restarts, rows
    assert all(node != victim.node_id for _, _, node in restarts)
    assert any(task >= 1 for _, task, _ in restarts), restarts
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("nodeloss")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'trial'")
    assert len(runs) == 3 and len({r.data.tags["trial_id"] for r in runs}) == 3
    assert all(r.data.metrics["tasks_seen"] == 5 for r in runs)

# SPDX-License-Identifier: MIT
"""`synaptune sweep --address` on an existing multi-node Ray cluster (two local nodes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

pytest.importorskip("ray")
pytest.importorskip("mlflow")

FAST_SPACE = str(Path(__file__).with_name("fast_naive.yaml"))


@pytest.fixture
def two_node_cluster():
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        cluster.shutdown()


@pytest.mark.slow
def test_sweep_on_existing_two_node_cluster(tmp_path: Path, two_node_cluster) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    address = two_node_cluster.address
    common = ["--learner", "naive", "--benchmark", "split-digits", "--n-tasks", "2", "--space", FAST_SPACE,
              "--address", address, "--tracking-uri", uri, "--storage", str(tmp_path / "results")]
    # A GPU request on a cluster without GPUs is refused up front.
    r = run_cli("sweep", *common, "--name", "gpu", "--gpus-per-trial", "0.5", cwd=tmp_path)
    assert r.returncode == 2
    assert "a trial asks for 0.5 GPU, the cluster has none" in r.stderr

    # A local results path on a multi-node cluster is refused unless it is said to be shared.
    r = run_cli("sweep", *common, "--name", "cluster", "--trials", "2", cwd=tmp_path)
    assert r.returncode == 2
    assert "is a local path and the cluster has 2 nodes" in r.stderr and "--storage-is-shared" in r.stderr
    assert not (tmp_path / "results" / "cluster").exists()

    r = run_cli("sweep", *common, "--name", "cluster", "--trials", "2", "--concurrency", "2",
                "--scheduler", "none", "--storage-is-shared", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "2 completed" in r.stdout
    # The trials ran on the cluster's two nodes (one CPU each), not on a Ray of the driver's own.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("cluster")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'trial'")
    node_ids = {n.node_id for n in two_node_cluster.list_all_nodes()}
    assert {r.data.tags["ray.node_id"] for r in runs} == node_ids

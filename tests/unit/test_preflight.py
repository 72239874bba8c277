# SPDX-License-Identifier: MIT
"""Pre-flight refusals of ``synaptune sweep`` on clusters, and ``--resume-if-possible``.

The cluster checks are pure functions of the cluster's resources and node
count, so every refusal is checked here without starting Ray; the multi-node
one is also checked on a real two-node cluster in tests/integration/test_cluster.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synaptune import cli
from synaptune.exceptions import ConfigError, UnreachableError
from synaptune.hpo.sweep import SweepConfig, check_cluster_fit, check_driver_locality, prepare, study_storage

CPU_ONLY = {"CPU": 8.0}


def cfg(tmp_path: Path, **kw) -> SweepConfig:
    kw.setdefault("tracking_uri", f"sqlite:///{tmp_path}/mlflow.db")
    kw.setdefault("storage", str(tmp_path / "results"))
    return SweepConfig(learner="naive", **kw)


def test_gpu_request_on_cluster_without_gpus(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="a trial asks for 1 GPU, the cluster has none"):
        check_cluster_fit(cfg(tmp_path, gpus_per_trial=1.0), CPU_ONLY, 1)
    with pytest.raises(ConfigError, match="a trial asks for 2 GPU, the cluster has 1"):
        check_cluster_fit(cfg(tmp_path, gpus_per_trial=2.0), {"CPU": 8.0, "GPU": 1.0}, 1)
    check_cluster_fit(cfg(tmp_path, gpus_per_trial=0.5), {"CPU": 8.0, "GPU": 1.0}, 1)
    # A cluster whose GPU group scales up from zero: only a warning.
    check_cluster_fit(cfg(tmp_path, gpus_per_trial=1.0, cluster_autoscales=True), CPU_ONLY, 1)


def test_cpu_request_larger_than_cluster(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="a trial asks for 16 CPUs, the cluster has 8"):
        check_cluster_fit(cfg(tmp_path, cpus_per_trial=16.0), CPU_ONLY, 1)


def test_local_storage_on_multi_node_cluster(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a local path and the cluster has 3 nodes.*--storage-is-shared"):
        check_cluster_fit(cfg(tmp_path), CPU_ONLY, 3)
    check_cluster_fit(cfg(tmp_path), CPU_ONLY, 1)  # one node: its own disk is fine
    check_cluster_fit(cfg(tmp_path, storage_is_shared=True), CPU_ONLY, 3)
    check_cluster_fit(cfg(tmp_path, storage="s3://bucket/sweeps"), CPU_ONLY, 3)


def test_ray_client_refuses_local_tracking_file_and_local_storage(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a local file, but with --address ray://head:10001"):
        check_driver_locality(cfg(tmp_path, address="ray://head:10001"))
    with pytest.raises(ConfigError, match="--storage .* is a local path, but with --address ray://"):
        check_driver_locality(cfg(tmp_path, address="ray://head:10001", tracking_uri="http://mlflow:5000"))
    check_driver_locality(cfg(tmp_path, address="ray://head:10001", tracking_uri="http://mlflow:5000",
                              storage="s3://bucket/sweeps"))
    check_driver_locality(cfg(tmp_path, address="10.0.0.1:6379"))  # driver here: local files are fine


def test_resume_flags_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--resume and --resume-if-possible exclude each other"):
        prepare(cfg(tmp_path, resume=True, resume_if_possible=True))


def test_resume_if_possible_starts_then_resumes(tmp_path: Path) -> None:
    fresh = prepare(cfg(tmp_path, name="s", resume_if_possible=True))
    assert fresh.config.resume is False
    state = tmp_path / "results" / "s"
    state.mkdir(parents=True)
    (state / "tuner.pkl").write_bytes(b"\x80\x04N.")
    (state / "experiment_state-2026-11-30_10-00-00.json").write_text('{"trial_data": []}')
    again = prepare(cfg(tmp_path, name="s", resume_if_possible=True))
    assert again.config.resume is True
    # Plain --resume-less runs still refuse to reuse the folder.
    with pytest.raises(ConfigError, match="already holds a sweep named `s`"):
        prepare(cfg(tmp_path, name="s"))


def test_study_storage_urls(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown scheme 'redis'"):
        study_storage("redis://localhost:6379")
    with pytest.raises(ConfigError, match="folder .*missing does not exist"):
        study_storage(str(tmp_path / "missing" / "study.log"))
    with pytest.raises(UnreachableError, match="does not answer"):
        study_storage("postgresql://nobody@127.0.0.1:1/optuna")
    import optuna

    journal = study_storage(str(tmp_path / "study.log"))
    optuna.create_study(storage=journal, study_name="x").optimize(lambda t: t.suggest_float("a", 0, 1), 2)
    assert len(optuna.load_study(study_name="x", storage=study_storage(str(tmp_path / "study.log"))).trials) == 2


def test_cli_reports_refusal_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code = cli.main(["sweep", "--address", "ray://head:10001", "--tracking-uri", "sqlite:///mlflow.db"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("synaptune: error: --tracking-uri sqlite:///mlflow.db is a local file")
    assert len(err.strip().splitlines()) == 1

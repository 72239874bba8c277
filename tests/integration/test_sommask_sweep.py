# SPDX-License-Identifier: MIT
"""A sweep of `sommask-cnn` over the two sigmas on split-digits: MLflow gets the prototype PNG."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

pytest.importorskip("ray")
pytest.importorskip("mlflow")

HERE = Path(__file__).parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_sigma_sweep_logs_prototype_png(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    r = run_cli("sweep", "--learner", "sommask-cnn", "--benchmark", "split-digits", "--n-tasks", "2",
                "--space", str(HERE / "sommask_sigmas.yaml"), "--trials", "2", "--concurrency", "2",
                "--num-cpus", "2", "--scheduler", "none", "--name", "sommask",
                "--storage", str(tmp_path / "results"), "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("sommask")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'trial'")
    assert len(runs) == 2
    sigmas = set()
    for run in runs:
        assert run.data.tags["synaptune.status"] == "completed"
        assert 0.0 <= run.data.metrics["val/acc"] <= 1.0
        sigmas.add((run.data.params["learner/sigma_org"], run.data.params["learner/sigma_fwd"]))
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert "prototypes.png" in names, names
        dest = str(tmp_path / run.info.run_id)
        png = Path(client.download_artifacts(run.info.run_id, "prototypes.png", dest))
        data = png.read_bytes()
        assert data[:8] == PNG_MAGIC
        from PIL import Image

        with Image.open(png) as im:  # 16 CSOM prototypes of 3x3 patches on a 4x4 lattice
            assert im.size[0] == im.size[1] > 4 * 30
    assert len(sigmas) == 2  # the sweep did vary the sigmas

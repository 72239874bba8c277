# SPDX-License-Identifier: MIT
"""CLASSP against EWC on real split-fashion-mnist (task-il), with the same trial budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


pytest.importorskip("ray")
pytest.importorskip("mlflow")

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
HERE = Path(__file__).parent
TRIALS = 4


@pytest.mark.slow
@pytest.mark.skipif(not FASHION_DIR.is_dir(),
                    reason=f"{FASHION_DIR} is absent; apt-get install dataset-fashion-mnist")
def test_classp_and_ewc_swept_on_equal_budgets(tmp_path: Path, cli) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    summary = {}
    for learner in ("classp", "ewc"):
        r = cli("sweep", "--learner", learner, "--benchmark", "split-fashion-mnist",
                "--data-dir", str(FASHION_DIR), "--scenario", "task-il",
                "--space", str(HERE / f"{learner}_fashion.yaml"), "--trials", str(TRIALS),
                "--scheduler", "none", "--concurrency", "2", "--num-cpus", "2", "--name", learner,
                "--storage", str(tmp_path / "results"), "--tracking-uri", uri, cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-4000:]
        r = cli("best", "--experiment", learner, "--top", str(TRIALS), "--format", "json",
                "--tracking-uri", uri, cwd=tmp_path)
        best = json.loads(r.stdout)
        # Same budget: TRIALS trials each. Every one saw every task, or diverged (EWC's penalty with a large
        # ewc_lambda * lr can blow weights of an earlier head up to inf) and is failed, never ranked.
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        exp = client.get_experiment_by_name(learner)
        runs = client.search_runs([exp.experiment_id], "tags.`synaptune.role` = 'trial'")
        assert len(runs) == TRIALS
        ended = {(run.data.tags["synaptune.status"], run.data.tags.get("synaptune.reason")) for run in runs}
        assert ended <= {("completed", None), ("failed", "diverged")}, ended
        assert len(best) == sum(run.data.tags["synaptune.status"] == "completed" for run in runs) >= 1
        preset = tmp_path / f"{learner}.yaml"
        assert cli("export", "--experiment", learner, "-o", str(preset), "--tracking-uri", uri,
                   cwd=tmp_path).returncode == 0
        r = cli("run", "--preset", str(preset), "--data-dir", str(FASHION_DIR), "--seeds", "3", "--format", "json",
                "--tracking-uri", uri, cwd=tmp_path)  # a preset holds no data_dir
        assert r.returncode == 0, r.stderr[-3000:]
        summary[learner] = {"val/acc": best[0]["metrics"]["val/acc"], "state_bytes": best[0]["metrics"]["state_bytes"],
                            "test/acc": json.loads(r.stdout)["test/acc"]}
    print(json.dumps(summary, indent=1))  # shown with pytest -s; the figures of the closing note
    for learner, s in summary.items():
        assert 0.5 < s["test/acc"] <= 1.0, (learner, s)  # task-il pairs: chance is 0.5
    # Same network: CLASSP keeps one accumulator per weight, EWC three buffers per weight.
    assert summary["ewc"]["state_bytes"] == 3 * summary["classp"]["state_bytes"]

# SPDX-License-Identifier: MIT
"""``synaptune compare`` through the real CLI against a real ``mlflow server``: the printed table is
checked against the parent and nested runs read back with MLflow's own client."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mlflow")


def _preset(path: Path, **params: object) -> Path:
    from synaptune.benchmarks import BenchmarkParams
    from synaptune.hpo.presets import Preset
    from synaptune.learners.naive import NaiveParams

    preset = Preset(learner="naive", params=NaiveParams(**params), benchmark="split-digits",
                    benchmark_params=BenchmarkParams(n_tasks=3, classes_per_task=3))
    path.write_text(preset.to_yaml(), encoding="utf-8")
    return path


def test_compare_two_presets_logs_runs_that_match_its_table(tmp_path: Path, mlflow_server: str, cli_here) -> None:
    a = _preset(tmp_path / "steady.yaml", lr=0.05, epochs=1)
    b = _preset(tmp_path / "tiny-lr.yaml", lr=0.0005, epochs=1)
    r = cli_here("compare", str(a), str(b), "--seeds", "2", "--threads", "1", "--tracking-uri", mlflow_server,
                 "--experiment", "cmp", "-o", str(tmp_path / "out"), "--format", "json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]
    out = json.loads(r.stdout)
    rows = {row["label"]: row for row in out["rows"]}
    assert set(rows) == {"steady", "tiny-lr"}

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server)
    parent = client.get_run(out["parent_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["synaptune.role"] == "compare"
    assert parent.data.params["benchmark"] == "split-digits" and parent.data.params["seeds"] == "2"
    assert parent.data.params["benchmark/n_tasks"] == "3"
    assert parent.data.params["threads"] == "1"  # the numbers depend on it: recorded, and in the title below
    exp = client.get_experiment_by_name("cmp")
    nested = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(nested) == 4  # 2 entries x 2 seeds
    assert {run.data.tags["synaptune.role"] for run in nested} == {"compare-run"}
    for label, row in rows.items():
        mine = [run for run in nested if run.data.tags["entry"] == label]
        assert sorted(run.data.params["seed"] for run in mine) == ["0", "1"]
        assert all(run.data.params["learner/lr"] == ("0.05" if label == "steady" else "0.0005") for run in mine)
        acc = [run.data.metrics["test/acc"] for run in mine]
        assert row["runs"] == 2
        assert row["acc"] == pytest.approx(np.mean(acc)) and row["acc_std"] == pytest.approx(np.std(acc))
        assert row["forgetting"] == pytest.approx(np.mean([run.data.metrics["test/forgetting"] for run in mine]))
        assert row["train_seconds"] == pytest.approx(np.mean([run.data.metrics["train_seconds"] for run in mine]))
        history = client.get_metric_history(mine[0].info.run_id, "test/acc_seen")
        assert sorted(m.step for m in history) == [0, 1, 2]
        # ACC after the last task is the run's test ACC.
        assert max(history, key=lambda m: m.step).value == pytest.approx(mine[0].data.metrics["test/acc"])
    best, other = sorted(rows.values(), key=lambda row: -row["acc"])
    assert best["versus_best"] == "best"
    beyond = abs(best["acc"] - other["acc"]) > best["acc_std"] + other["acc_std"]
    assert other["versus_best"].endswith(("beyond" if beyond else "within") + " the spread")

    names = {f.path for f in client.list_artifacts(parent.info.run_id)}
    assert {"comparison.md", "comparison.png", "comparison.json"} <= names
    table = (tmp_path / "out" / "comparison.md").read_text()
    assert table.startswith(f"# split-digits (class-il), 3 tasks, protocol end-of-stream, 2 seed(s) x 1 task order(s), 1 torch thread(s); "
                            f"MLflow run {parent.info.run_id}\n")
    for row in rows.values():
        assert f"{row['acc']:.4f} ± {row['acc_std']:.4f}" in table
    assert (tmp_path / "out" / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ctrl_c_marks_the_comparison_killed_and_exits_130(tmp_path: Path) -> None:
    import signal
    import sqlite3
    import subprocess
    import time

    from mlflow.tracking import MlflowClient

    from tests.conftest import synaptune_cmd

    db = tmp_path / "m.db"
    proc = subprocess.Popen([*synaptune_cmd(), "compare", "naive", "naive:lr=0.01", "--seeds", "500",
                             "--tracking-uri", f"sqlite:///{db}"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            # As from a terminal: a test run started in the background (nohup, CI scripts)
                            # passes SIGINT on ignored, and Python then keeps ignoring it.
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def parent_ids() -> list[str]:
        """The comparison's parent run, read with plain sqlite3 (an MLflow client here would race the
        command's own creation of the database)."""
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
                return [row[0] for row in con.execute(
                    "SELECT run_uuid FROM tags WHERE key = 'synaptune.role' AND value = 'compare'")]
        except sqlite3.Error:  # not created yet, or its tables not yet
            return []

    deadline = time.time() + 300
    while not parent_ids() and time.time() < deadline and proc.poll() is None:  # the event: its parent exists
        time.sleep(0.2)
    parents = parent_ids()
    assert parents and proc.poll() is None, "the comparison's parent run never appeared while it trained"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "synaptune: interrupted; its MLflow parent run is marked KILLED" in err
    parent = MlflowClient(tracking_uri=f"sqlite:///{db}").get_run(parents[0])
    assert parent.info.status == "KILLED"
    assert parent.data.tags["synaptune.error"] == "interrupted (Ctrl-C)"

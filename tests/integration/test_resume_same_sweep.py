# SPDX-License-Identifier: MIT
"""A resumed sweep is the same sweep; what is recorded is what ran; a finished sweep can be extended."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml


pytest.importorskip("ray")
pytest.importorskip("mlflow")

FAST_SPACE = str(Path(__file__).with_name("fast_naive.yaml"))


def sweep_args(tmp_path: Path, uri: str, *extra: str) -> list[str]:
    return ["sweep", "--learner", "naive", "--benchmark", "split-digits", "--space", FAST_SPACE,
            "--num-cpus", "2", "--concurrency", "2", "--scheduler", "none", "--name", "same",
            "--storage", str(tmp_path / "results"), "--tracking-uri", uri, *extra]


def test_resume_refuses_another_stream_records_what_ran_and_extends(tmp_path: Path, cli) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    r = cli(*sweep_args(tmp_path, uri, "--trials", "2"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("same")

    def runs(role: str) -> list:
        return client.search_runs([exp.experiment_id], filter_string=f"tags.`synaptune.role` = '{role}'")

    # What is recorded is what ran: the resolved stream, never the defaults' placeholders.
    (parent,) = runs("sweep")
    for run in [parent, *runs("trial")]:
        p = run.data.params
        assert (p["benchmark/n_tasks"], p["benchmark/classes_per_task"], p["benchmark/scenario"]) == \
            ("5", "2", "class-il"), p
        assert p["stream/classes"] == "0 1|2 3|4 5|6 7|8 9"
        assert [int(n) for n in p["stream/val_samples"].split(",")] and p["stream/tuned_tasks"] == "5"
        assert "n_tasks" not in p and not any(k.startswith("best/") for k in p)
    r = cli("export", "--experiment", "same", "-o", "p.yaml", "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    preset = yaml.safe_load((tmp_path / "p.yaml").read_text())
    assert preset["benchmark"]["params"]["n_tasks"] == 5 and preset["benchmark"]["params"]["scenario"] == "class-il"

    # A resumed sweep is the same sweep: another stream is refused in one line naming the flag and both values.
    for flag, value, key, was in (("--n-tasks", "2", "benchmark/n_tasks", "5"),
                                  ("--benchmark-seed", "3", "benchmark/seed", "0"),
                                  ("--aggregate", "worst", "aggregate", "mean")):
        r = cli(*sweep_args(tmp_path, uri, "--resume", flag, value), cwd=tmp_path)
        assert r.returncode == 2, (flag, r.stdout, r.stderr[-2000:])
        line = r.stderr.strip().splitlines()[-1]
        assert line.startswith("synaptune: error: --resume: ") and flag in line, line
        assert f"{key} = {was}" in line and f"gives {value}" in line, line
    r = cli(*sweep_args(tmp_path, uri, "--resume", "--trials", "1"), cwd=tmp_path)
    assert r.returncode == 2 and "already launched 2 trials" in r.stderr
    assert len(runs("trial")) == 2  # nothing ran

    # --resume --trials N above the trials launched runs the rest.
    r = cli(*sweep_args(tmp_path, uri, "--resume", "--trials", "3"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "sweep `same`: 3 completed" in r.stdout and "not launched" not in r.stdout, r.stdout
    trials = runs("trial")
    assert len(trials) == 3 and {t.data.tags["synaptune.status"] for t in trials} == {"completed"}
    assert sorted(t.info.run_name for t in trials) == ["naive-1", "naive-2", "naive-defaults"]

# SPDX-License-Identifier: MIT
"""Learners from another package (tests/fixtures/plugin, installed with pip) appear in
`list`, `space`, `run` and `sweep`, and pass the shipped conformance suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

PLUGIN = ROOT / "tests" / "fixtures" / "plugin"


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``PYTHONPATH`` naming a folder the plugin package was pip-installed into (no network)."""
    work = tmp_path_factory.mktemp("plugin")
    source = shutil.copytree(PLUGIN, work / "source")  # pip builds in the source folder
    site = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(site), str(source)], check=True, capture_output=True, text=True)
    assert (site / "synaptune_nearest_mean" / "space.yaml").is_file()
    assert (site / "synaptune_nearest_mean" / "anchor_space.yaml").is_file()
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "MLFLOW_LOGGING_LEVEL": "WARNING"}


def test_the_plugin_learner_is_listed_and_has_its_space(plugin_env: dict[str, str], tmp_path: Path) -> None:
    r = run_cli("list", "learners", cwd=tmp_path, env=plugin_env)
    assert r.returncode == 0, r.stderr
    line = next(line for line in r.stdout.splitlines() if line.split()[:1] == ["nearest-mean"])
    assert "nearest mean" in line and "(from synaptune-nearest-mean)" in line
    line = next(line for line in r.stdout.splitlines() if line.split()[:1] == ["l2-anchor"])
    assert "L2 anchor" in line and "(from synaptune-nearest-mean)" in line
    r = run_cli("space", "nearest-mean", cwd=tmp_path, env=plugin_env)
    assert r.returncode == 0, r.stderr
    assert "learner: nearest-mean" in r.stdout and "shrink" in r.stdout
    r = run_cli("list", "learners", cwd=tmp_path)  # not installed: not there
    assert "nearest-mean" not in r.stdout


def test_the_plugin_learner_runs(plugin_env: dict[str, str], tmp_path: Path) -> None:
    r = run_cli("run", "--learner", "nearest-mean", "--set", "normalize=true", "--benchmark", "split-digits",
                "--tracking-uri", f"sqlite:///{tmp_path}/m.db", "--format", "json", cwd=tmp_path, env=plugin_env)
    assert r.returncode == 0, r.stderr
    import json

    result = json.loads(r.stdout)
    acc = result["test/acc"]["mean"] if isinstance(result.get("test/acc"), dict) else result["test/acc"]
    assert acc > 0.8  # nearest class mean forgets nothing on split digits


@pytest.mark.slow
def test_the_plugin_learner_is_swept(plugin_env: dict[str, str], tmp_path: Path) -> None:
    r = run_cli("sweep", "--learner", "nearest-mean", "--benchmark", "split-digits", "--n-tasks", "2",
                "--trials", "2", "--scheduler", "none", "--num-cpus", "1", "--storage", str(tmp_path / "res"),
                "--tracking-uri", f"sqlite:///{tmp_path}/m.db", cwd=tmp_path, env=plugin_env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "2 completed" in r.stdout and "learner nearest-mean" in r.stdout


def test_the_plugin_learners_pass_the_shipped_conformance_suite(plugin_env: dict[str, str], tmp_path: Path) -> None:
    # nearest-mean subclasses Learner; l2-anchor follows CONTRIBUTING.md's GradientLearner walkthrough.
    (tmp_path / "test_plugin_learners.py").write_text(
        "from synaptune.testing import LearnerConformance\n\n\n"
        "class TestNearestMean(LearnerConformance):\n"
        "    learner = 'nearest-mean'\n\n\n"
        "class TestL2Anchor(LearnerConformance):\n"
        "    learner = 'l2-anchor'\n")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_plugin_learners.py"],
                       cwd=tmp_path, env={**os.environ, **plugin_env}, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:]
    methods = [m for m in dir(__import__("synaptune.testing").testing.LearnerConformance) if m.startswith("test_")]
    assert f"{2 * len(methods)} passed" in r.stdout, r.stdout[-1000:]

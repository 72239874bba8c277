# SPDX-License-Identifier: MIT
"""Shared by the in-process CLI tests (``test_cli_errors.py``, ``test_bad_inputs.py``).

Every test runs in its own ``tmp_path`` as the working directory, with a SQLite
tracking URI and a results directory under it, so nothing lands in the repository.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from synaptune import cli

#: ``(exit code, stdout, stderr)`` of one in-process ``synaptune`` call.
Result = tuple[int, str, str]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_LOGGING_LEVEL", "WARNING")
    return tmp_path


@pytest.fixture
def synaptune(workdir: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """``synaptune(*args)`` -> ``(exit code, stdout, stderr)``."""

    def call(*args: str) -> Result:
        capsys.readouterr()
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return call


def sweep_args(workdir: Path, *extra: str) -> list[str]:
    return ["sweep", "--storage", str(workdir / "res"), "--tracking-uri", f"sqlite:///{workdir}/m.db",
            "--num-cpus", "1", *extra]


def run_args(workdir: Path, *extra: str) -> list[str]:
    return ["run", "--tracking-uri", f"sqlite:///{workdir}/m.db", *extra]


def error_line(result: Result) -> str:
    """The one error line (without its prefix), after checking code 2, one line, empty stdout."""
    code, out, err = result
    assert code == 2, (code, out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("synaptune: error: "), err
    assert out == ""
    return lines[0][len("synaptune: error: "):]


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its content (to show nothing changed)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def fake_tune(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Stands in for Tune's session (report, context, checkpoint) and Ray's runtime context: no Ray starts."""
    import ray

    from synaptune.hpo import raytune

    state: dict[str, Any] = {"reports": [], "checkpoint": None}

    class Context:
        def get_trial_id(self) -> str:
            return "t1"

        def get_node_id(self) -> str:
            return "node"

    def report(result: dict, checkpoint: Any = None) -> None:
        state["reports"].append(dict(result))

    monkeypatch.setattr(raytune.tune, "report", report)
    monkeypatch.setattr(raytune.tune, "get_context", lambda: Context())
    monkeypatch.setattr(raytune.tune, "get_checkpoint", lambda: state["checkpoint"])
    monkeypatch.setattr(raytune.tune.Checkpoint, "from_directory", staticmethod(lambda d: None))
    monkeypatch.setattr(ray, "get_runtime_context", lambda: Context())
    import torch

    threads = torch.get_num_threads()
    yield state
    torch.set_num_threads(threads)

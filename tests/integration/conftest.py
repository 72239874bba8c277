# SPDX-License-Identifier: MIT
"""Integration fixtures: one Ray shared by consecutive tests, and the CLI called in-process.

A ``synaptune sweep`` run as a subprocess pays for Python's imports, a Ray start
and cold Ray workers each time, most of a small sweep's cost on 2 cores. Tests that
check what a sweep *records* (MLflow runs, presets, rankings, progress lines) call
the CLI in this process instead (:func:`cli`), where the sweep joins the Ray that
:func:`shared_ray` keeps up while consecutive tests use it (``start_ray`` reuses an
initialized Ray and leaves it running). Tests of what only a separate process shows
(signals, exit codes of the console script, environment variables read by Ray's
workers, ``ray start`` clusters) keep :func:`tests.conftest.run_cli`.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

#: CPUs of the shared Ray: what the tests' sweeps ask for with ``--num-cpus 2``.
SHARED_RAY_CPUS = 2


@pytest.fixture
def shared_ray() -> None:
    """A local Ray in this process, started by the first test that needs it.

    It stays up while the next test also uses this fixture and is shut down
    after the last one of a run of such tests (:func:`pytest_runtest_teardown`),
    so tests that start a Ray of their own, and the unit tests, never see it.
    """
    import ray

    from synaptune.hpo.sweep import local_ray_config

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=SHARED_RAY_CPUS, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, _system_config=local_ray_config())


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if "shared_ray" in item.fixturenames and (nextitem is None or "shared_ray" not in nextitem.fixturenames):
        import ray

        ray.shutdown()


@pytest.fixture
def cli(shared_ray: None, cli_here: Callable[..., subprocess.CompletedProcess]
        ) -> Callable[..., subprocess.CompletedProcess]:
    """``cli(*args, cwd=..., env=...)``: ``synaptune ARGS`` in this process, on the shared Ray.

    Returns a :class:`subprocess.CompletedProcess` (``returncode``, ``stdout``,
    ``stderr``) like :func:`tests.conftest.run_cli`, so a test reads the same either way.
    ``env`` is set in this process for the call: it does not reach Ray workers that
    are already running (use ``run_cli`` for what a trial reads from its environment).
    """
    return cli_here


@pytest.fixture
def cli_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> Callable[..., subprocess.CompletedProcess]:
    """:func:`cli` without the shared Ray: for a sweep that joins a cluster of the test's own
    (``--address``; the sweep connects and disconnects in this process)."""
    from synaptune import cli as synaptune_cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    def call(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
             timeout: float | None = None) -> subprocess.CompletedProcess:
        del timeout  # accepted for run_cli's signature; pytest-timeout bounds the test
        root = logging.getLogger()
        saved_handlers, saved_level = root.handlers[:], root.level
        # What a process sets for itself and a fresh one would not inherit: the environment
        # (synaptune, MLflow and Tune set defaults there), loggers' levels, signal handlers.
        saved_env = dict(os.environ)
        saved_levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
        saved_signals = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)}
        with monkeypatch.context() as m:
            if cwd is not None:
                m.chdir(cwd)
            for key, value in (env or {}).items():
                m.setenv(key, value)
            capsys.readouterr()
            # As in a fresh process: cli.main's logging.basicConfig writes to (captured) stderr.
            root.handlers = []
            try:
                code = synaptune_cli.main(list(args))
            finally:
                root.handlers, root.level = saved_handlers, saved_level
                for name, level in saved_levels.items():
                    logger = logging.root.manager.loggerDict.get(name)
                    if isinstance(logger, logging.Logger):
                        logger.setLevel(level)
                for sig, handler in saved_signals.items():
                    signal.signal(sig, handler)
                os.environ.clear()
                os.environ.update(saved_env)
            out, err = capsys.readouterr()
        sys.stdout.flush()
        return subprocess.CompletedProcess(["synaptune", *args], code, out, err)

    return call


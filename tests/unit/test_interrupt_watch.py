# SPDX-License-Identifier: MIT
"""InterruptWatch leaves the process as it found it: SIGINT's handler and TUNE_DISABLE_SIGINT_HANDLER."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from synaptune.hpo.sweep import InterruptWatch

ENV = "TUNE_DISABLE_SIGINT_HANDLER"


@pytest.mark.parametrize("before", [None, "0", "1"])
def test_the_variable_is_restored_when_the_sweep_ends(monkeypatch: pytest.MonkeyPatch, before: str | None) -> None:
    if before is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, before)
    handler = signal.getsignal(signal.SIGINT)
    with InterruptWatch() as watch:
        assert os.environ[ENV] == "1"  # Tune installs no handler of its own during fit()
        assert signal.getsignal(signal.SIGINT) == watch._on_sigint
    assert os.environ.get(ENV) == before
    assert signal.getsignal(signal.SIGINT) is handler


@pytest.mark.parametrize("before", [None, "0"])
def test_the_variable_is_restored_when_the_sweep_fails(monkeypatch: pytest.MonkeyPatch, before: str | None) -> None:
    if before is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, before)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(RuntimeError, match="trial failed"), InterruptWatch():
        raise RuntimeError("trial failed")
    assert os.environ.get(ENV) == before
    assert signal.getsignal(signal.SIGINT) is handler
    with pytest.raises(KeyboardInterrupt), InterruptWatch():
        raise KeyboardInterrupt
    assert os.environ.get(ENV) == before


def test_outside_the_main_thread_nothing_is_touched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    seen: list[str | None] = []

    def sweep() -> None:
        with InterruptWatch():
            seen.append(os.environ.get(ENV))
        seen.append(os.environ.get(ENV))

    thread = threading.Thread(target=sweep)
    thread.start()
    thread.join()
    assert seen == [None, None]

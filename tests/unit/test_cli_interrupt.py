# SPDX-License-Identifier: MIT
"""Ctrl-C outside Tune: exit 130 and a message that fits the command."""

from __future__ import annotations

import pytest

from synaptune import cli


@pytest.mark.parametrize(("command", "argv", "says"), [
    ("run", ["run", "--learner", "naive"],
     "synaptune: interrupted; its MLflow run is marked KILLED and keeps the seeds that finished"),
    ("sweep", ["sweep"], "synaptune: interrupted; continue the sweep with the same command and --resume"),
    ("compare", ["compare", "naive"],
     "synaptune: interrupted; its MLflow parent run is marked KILLED and keeps the runs that finished: the same "
     "command with --resume runs only the rest"),
    ("best", ["best", "--experiment", "x"], "synaptune: interrupted\n"),
])
def test_ctrl_c_exits_130_with_a_message_for_the_command(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str], command: str,
                                                         argv: list[str], says: str) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.HANDLERS, command, interrupted)
    assert cli.main(argv) == 130
    assert capsys.readouterr().err.endswith(says if says.endswith("\n") else says + "\n")


@pytest.mark.parametrize("argv", [["run"], ["sweep"], ["compare", "naive"]])
def test_sigterm_is_a_stop_that_exits_143(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                          argv: list[str]) -> None:
    """A real SIGTERM to this process while a command runs: the command's handler sees a KeyboardInterrupt
    (its runs are closed as on Ctrl-C), the CLI says so and exits 143; the handler before is back after."""
    import os
    import signal
    import time

    from synaptune.exceptions import Terminated

    seen: list[BaseException] = []

    def terminated(args: object) -> int:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)  # the handler interrupts it at once
        except KeyboardInterrupt as e:
            seen.append(e)
            raise
        return 0

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setitem(cli.HANDLERS, argv[0], terminated)
    assert cli.main(argv) == 143
    assert len(seen) == 1 and isinstance(seen[0], Terminated)
    err = capsys.readouterr().err
    assert err.startswith("synaptune: terminated (SIGTERM); ") and err.count("\n") == 1, err
    assert signal.getsignal(signal.SIGTERM) is before

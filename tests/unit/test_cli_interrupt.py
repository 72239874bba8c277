# SPDX-License-Identifier: MIT
"""Ctrl-C outside Tune: exit 130 and a message that fits the command."""

from __future__ import annotations

import pytest

from synaptune import cli


@pytest.mark.parametrize(("command", "argv", "says"), [
    ("run", ["run", "--learner", "naive"], "synaptune: interrupted; nothing was logged to MLflow"),
    ("sweep", ["sweep"], "synaptune: interrupted; continue the sweep with the same command and --resume"),
    ("compare", ["compare", "naive"],
     "synaptune: interrupted; its MLflow parent run is marked KILLED (runs are logged when all have trained)"),
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

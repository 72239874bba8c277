# SPDX-License-Identifier: MIT
"""SIGTERM is a stop, like Ctrl-C.

A cluster stops a job with SIGTERM (a Kubernetes eviction, SLURM's time limit, a
reclaimed spot node) and kills it with SIGKILL a grace period later. synaptune's
commands turn SIGTERM into :class:`~synaptune.exceptions.Terminated`, a
``KeyboardInterrupt``: the paths that save state and mark runs KILLED on Ctrl-C
do the same on SIGTERM, and the CLI exits with :data:`EXIT_TERMINATED`.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from synaptune.exceptions import Terminated

#: The exit code of a command stopped by SIGTERM (the shell's 128 + signal number).
EXIT_TERMINATED = 128 + int(signal.SIGTERM)


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated("terminated (SIGTERM)")


def stop_on_sigterm() -> Any:
    """From now on SIGTERM raises :class:`Terminated` in the main thread; returns the handler it replaced.

    Off the main thread (where Python cannot set handlers) nothing changes and None is returned.
    ``ray.init`` installs a SIGTERM handler of its own (``sys.exit``); call this again after it.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def restore_sigterm(previous: Any) -> None:
    """Put back the handler :func:`stop_on_sigterm` replaced (nothing if it replaced none)."""
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)

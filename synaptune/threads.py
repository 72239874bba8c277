# SPDX-License-Identifier: MIT
"""How many torch threads one training uses: the one rule for trials, ``run`` and the benches.

A training gets the CPUs given to it: a trial its ``cpus_per_trial`` (Ray gives
it those CPUs), ``run`` the CPUs of this process divided by the trainings
running at once, less the CPUs other processes keep busy. More threads than
free CPUs is the costly mistake: torch's OpenMP threads wait for each other
at every operation, so one thread that the OS parks stalls the others (two
threads beside two busy processes on two cores ran a SatSOM step 8x slower
than one thread). An exported ``OMP_NUM_THREADS`` and ``--threads`` win.

Example::

    threads = training_threads(requested=args.threads)   # before the first torch op
    use_threads(threads)
"""

from __future__ import annotations

import os
import time

#: The environment variable that fixes the thread count of every training (OpenMP's own).
THREADS_ENV = "OMP_NUM_THREADS"


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask; the CPU count where there is none)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def busy_cpus() -> int:
    """CPUs that other processes keep busy now: the fewest threads runnable in 5 looks 10 ms apart, less
    this one (Linux ``/proc/loadavg``; the fewest, so a passing kernel thread does not count); elsewhere
    the 1-minute load average; 0 where neither is known."""
    try:
        runnable = []
        for _ in range(5):
            with open("/proc/loadavg", encoding="ascii") as f:
                runnable.append(int(f.read().split()[3].split("/")[0]))
            time.sleep(0.01)
        return max(0, min(runnable) - 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0


def training_threads(*, concurrent: int = 1, requested: int | None = None) -> int:
    """Torch threads for one of ``concurrent`` trainings that run at once in this process's CPUs.

    ``requested`` (a ``--threads`` flag) wins, then an exported ``OMP_NUM_THREADS``;
    else the available CPUs less the busy ones, divided by ``concurrent``; at least 1.
    """
    if requested is not None:
        return max(1, requested)
    exported = os.environ.get(THREADS_ENV, "").strip()
    if exported.isdigit() and int(exported) > 0:
        return int(exported)
    free = available_cpus() - busy_cpus()
    return max(1, free // max(1, concurrent))


def use_threads(n: int) -> None:
    """Set torch's intra-op threads to ``n`` (call before the first torch operation of the training)."""
    import torch

    torch.set_num_threads(n)

# SPDX-License-Identifier: MIT
"""Warm each Ray worker process of a sweep before Tune places a trial in it.

:func:`start_ray` names :func:`warm` as the job's ``worker_process_setup_hook``,
so Ray calls it in every worker process as the process starts. It does, in this
order:

1. Sets ``OMP_NUM_THREADS`` to the trial's CPUs (``SYNAPTUNE_WORKER_THREADS``,
   from ``--cpus-per-trial``) unless the environment already fixes it. This has
   to come before torch is imported: Ray sets the variable only when the worker
   gets its first task, and a torch imported earlier keeps its default (every
   core), which made trials 12x slower on 2 cores (bench/README.md).
2. Imports the trainable's modules (torch, the learners, Ray Tune), which a
   fresh worker otherwise imports on the first trial's critical path.
3. Builds one throwaway optimiser: the first ``torch.optim`` optimiser of a
   process imports ``torch._dynamo`` (about 1.5 s on a 2-core VM).

A failure in 2 or 3 is logged and ignored: the trial then pays the imports
itself, and a real import error surfaces there with its own message.
The hook is **off by default**: ``SYNAPTUNE_WARM_WORKERS=1`` turns it on. On the
2-core machine it was built on, a sweep's workers waited 8.8 s before their first
trial with it against 4.7 s without it in an earlier run, and the test suite ran
far slower (bench/README.md, "Sweep overhead, 2026-12-01"); the A/B measurement
that would decide the default is still to be made.
"""

from __future__ import annotations

import logging
import os

#: Threads per trial, handed to the workers through the job's runtime environment.
WORKER_THREADS_ENV = "SYNAPTUNE_WORKER_THREADS"

#: What Ray calls: the hook as a module path (a function object would be pickled per worker).
HOOK = f"{__name__}.warm"

logger = logging.getLogger(__name__)


def enabled() -> bool:
    """True when ``SYNAPTUNE_WARM_WORKERS=1`` turns the warm-up on (off by default, see the module doc)."""
    return os.environ.get("SYNAPTUNE_WARM_WORKERS", "0").strip() == "1"


def runtime_env(threads: int) -> dict[str, object]:
    """The job-level runtime environment that installs the hook with ``threads`` per trial."""
    return {"worker_process_setup_hook": HOOK, "env_vars": {WORKER_THREADS_ENV: str(threads)}}


def warm() -> None:
    """Set the thread count, then import and exercise what a trial needs (see the module doc)."""
    threads = os.environ.get(WORKER_THREADS_ENV, "").strip()
    if threads.isdigit() and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = threads
    try:
        import torch

        import synaptune.hpo.raytune  # noqa: F401  (the trainable and, through it, the learners)

        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    except Exception as e:  # noqa: BLE001  (warming is an optimisation; the trial reports real errors)
        logger.warning("synaptune: warming this Ray worker failed (%s); its first trial imports instead", e)

# SPDX-License-Identifier: MIT
"""Typed errors. Each also subclasses the builtin a caller would expect."""

from __future__ import annotations


class SynaptuneError(Exception):
    """Base class of every error synaptune raises on purpose.

    ``exit_code`` is what the CLI exits with: 2 (bad input, refused before anything
    ran) unless a subclass says otherwise.
    """

    exit_code = 2


class ConfigError(SynaptuneError, ValueError):
    """A value given by the user (CLI flag, YAML file, Params field) is invalid."""


class UnknownNameError(ConfigError, KeyError):
    """A name (learner, benchmark, parameter) is not known.

    ``KeyError`` would quote the message in ``str()``; we keep it plain.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DatasetNotFoundError(SynaptuneError, FileNotFoundError):
    """A dataset's files are not where the user said they are."""


class UnreachableError(SynaptuneError, ConnectionError):
    """A service (MLflow tracking server, Ray cluster) cannot be reached."""


class DivergedError(SynaptuneError, FloatingPointError):
    """Training blew up: a learner's state, an accuracy or the objective is NaN or infinite.

    Raised by ``synaptune run`` rather than reporting numbers of a broken model
    (NaN weights can still give a finite, plausible-looking accuracy). Exit code 1.
    """

    exit_code = 1


class DamagedResultsError(SynaptuneError, RuntimeError):
    """A sweep's saved state (Tune's experiment state, its pickles) is missing or does not load.

    Exit code 1: nothing the user typed is wrong, but the sweep cannot go on as it was.
    """

    exit_code = 1


class SweepFailedError(SynaptuneError, RuntimeError):
    """A sweep stopped on an error after it started (Ray up, parent run open): a full disk, a lost store.

    The parent run is marked FAILED with this message and no child run is left running. Exit code 1.
    """

    exit_code = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: a stop like Ctrl-C, sent by a cluster before it kills the process.

    Kubernetes (an eviction, a deleted pod), SLURM (the time limit) and a reclaimed spot node
    send SIGTERM, then SIGKILL after a grace period (GKE about 30 s, AWS up to 120 s).
    A ``KeyboardInterrupt`` so that every path that closes its runs on Ctrl-C closes them on
    SIGTERM too; the CLI exits with 143 (128 + SIGTERM) instead of 130.
    """

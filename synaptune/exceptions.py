# SPDX-License-Identifier: MIT
"""Typed errors. Each also subclasses the builtin a caller would expect."""

from __future__ import annotations


class SynaptuneError(Exception):
    """Base class of every error synaptune raises on purpose."""


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
    (NaN weights can still give a finite, plausible-looking accuracy).
    """

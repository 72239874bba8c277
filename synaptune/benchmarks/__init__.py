# SPDX-License-Identifier: MIT
"""Continual benchmarks: named streams of tasks over a shared dataset pool.

``BENCHMARKS`` maps each name to a lazy factory ``f(params) -> Stream``, so
listing names imports neither torchvision nor scikit-learn; the loaders import
them when a stream is built.

Example::

    stream = build_stream("split-digits", BenchmarkParams(seed=1))
    for task in stream.tasks:
        for x, y in task.batches("train", 64, shuffle=True): ...
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from synaptune._registry import Registry
from synaptune.benchmarks.catalog import STREAMS
from synaptune.benchmarks.params import BenchmarkParams

if TYPE_CHECKING:
    from synaptune.benchmarks.base import Pool, Stream, Task

__all__ = ["BENCHMARKS", "STREAMS", "BenchmarkParams", "Pool", "Stream", "Task", "build_stream", "resolve_params"]

def _build_named(name: str, params: BenchmarkParams) -> Stream:
    from synaptune.benchmarks.streams import build_named  # imports torch: only when a stream is built

    return build_named(name, params)


BENCHMARKS: Registry[Callable[[BenchmarkParams], Stream]] = Registry("benchmark")
for _name in STREAMS:
    BENCHMARKS.register(_name, functools.partial(_build_named, _name))
del _name


def __getattr__(name: str) -> Any:
    """``Pool``, ``Stream`` and ``Task`` on first use: they import torch, which listing names or
    building the CLI's flags (from :class:`BenchmarkParams`) does not need."""
    if name in ("Pool", "Stream", "Task"):
        from synaptune.benchmarks import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_stream(name: str, params: BenchmarkParams | None = None) -> Stream:
    """Build the stream ``name`` (on the CPU; move it with :meth:`Stream.to`).

    Raises:
        UnknownNameError: ``name`` is not a known benchmark (with a did-you-mean).
        ConfigError: ``params`` do not fit this benchmark.
        DatasetNotFoundError: the dataset's files are missing.
    """
    factory = BENCHMARKS.get(name)
    return factory(params if params is not None else BenchmarkParams())


def resolve_params(params: BenchmarkParams, stream: Stream) -> BenchmarkParams:
    """``params`` with the defaults' placeholders (0 tasks, 0 classes per task, no scenario) replaced by
    what ``stream`` (built from them) has: building from the result gives the same stream."""
    permuted = stream.tasks[0].permutation is not None
    return dataclasses.replace(params, n_tasks=stream.n_tasks, scenario=stream.scenario,
                               classes_per_task=stream.n_classes if permuted else len(stream.tasks[0].classes))

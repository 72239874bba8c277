# SPDX-License-Identifier: MIT
"""Tuning protocols: which tasks a sweep tunes on, and which a preset is reported on.

Tuning and reporting on the same stream overstates what a method can do
(Cha & Cho 2024; Lee et al. 2024). A protocol names both sides:

=====================  ==============================  ====================================
protocol               the sweep tunes on (val split)  ``run --preset`` reports (test split)
=====================  ==============================  ====================================
``end-of-stream``      every task of the stream        every task of the same stream
``first-tasks:N``      the first N tasks               every task of the same stream
``validation-tasks:N`` the first N tasks               tasks N..T-1 only, trained from
                                                       scratch (A-GEM, Chaudhry et al. 2019)
``held-out-stream``    the stream ``--benchmark``      another stream of the same shape,
                                                       ``--eval-benchmark`` (Cha & Cho)
=====================  ==============================  ====================================
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from synaptune.benchmarks import BENCHMARKS, BenchmarkParams
from synaptune.exceptions import ConfigError

if TYPE_CHECKING:  # for type hints only: benchmarks.base imports torch, which `export` must not load
    from synaptune.benchmarks.base import Stream

KINDS = ("end-of-stream", "first-tasks", "validation-tasks", "held-out-stream")
_WITH_N = ("first-tasks", "validation-tasks")


@dataclass(frozen=True)
class Protocol:
    """A tuning protocol; see the module docstring.

    Attributes:
        kind: one of :data:`KINDS`.
        n: tasks tuned on (``first-tasks`` and ``validation-tasks`` only).
        eval_benchmark: the reporting stream's benchmark (``held-out-stream`` only).
        eval_benchmark_seed: its benchmark seed (class order, permutations).
    """

    kind: str = "end-of-stream"
    n: int = 0
    eval_benchmark: str = ""
    eval_benchmark_seed: int = 0

    @classmethod
    def parse(cls, text: str, *, eval_benchmark: str | None = None, eval_benchmark_seed: int | None = None
              ) -> Protocol:
        """``end-of-stream``, ``first-tasks:N``, ``validation-tasks:N`` or ``held-out-stream``."""
        kind, sep, n_text = text.partition(":")
        if kind not in KINDS:
            raise ConfigError(f"--protocol {text!r}: unknown protocol; use one of end-of-stream, first-tasks:N, "
                              "validation-tasks:N, held-out-stream.")
        if kind in _WITH_N:
            if not sep or not n_text.isdigit() or int(n_text) < 1:
                raise ConfigError(f"--protocol {text!r}: give the number of tuning tasks, e.g. {kind}:2.")
            n = int(n_text)
        elif sep:
            raise ConfigError(f"--protocol {text!r}: {kind} takes no number.")
        else:
            n = 0
        if kind == "held-out-stream":
            if not eval_benchmark:
                raise ConfigError("--protocol held-out-stream needs --eval-benchmark NAME: the stream the "
                                  "tuned configuration is reported on.")
            BENCHMARKS.get(eval_benchmark)
        elif eval_benchmark:
            raise ConfigError(f"--eval-benchmark is for --protocol held-out-stream, not {kind}.")
        return cls(kind, n, eval_benchmark or "", eval_benchmark_seed or 0)

    def __str__(self) -> str:
        return f"{self.kind}:{self.n}" if self.kind in _WITH_N else self.kind

    def tuning_stream(self, stream: Stream) -> Stream:
        """The part of ``stream`` a sweep tunes on."""
        if self.kind in _WITH_N:
            if self.n >= stream.n_tasks:
                raise ConfigError(f"--protocol {self}: the stream has only {stream.n_tasks} tasks; "
                                  f"{self.kind} needs fewer tuning tasks than that.")
            return stream.head(self.n)
        return stream

    def eval_benchmark_params(self, tuned: BenchmarkParams) -> BenchmarkParams:
        """Benchmark options of the reporting stream under ``held-out-stream``."""
        return dataclasses.replace(tuned, seed=self.eval_benchmark_seed)

    def reporting_stream(self, stream: Stream) -> Stream:
        """The part of the full reporting ``stream`` whose test accuracy is reported."""
        return stream.tail(self.n) if self.kind == "validation-tasks" else stream

    def as_params(self) -> dict[str, Any]:
        """How the protocol is logged as MLflow params (``protocol``, ``protocol/eval_benchmark``...)."""
        out: dict[str, Any] = {"protocol": str(self)}
        if self.kind == "held-out-stream":
            out.update({"protocol/eval_benchmark": self.eval_benchmark,
                        "protocol/eval_benchmark_seed": self.eval_benchmark_seed})
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": str(self)}
        if self.kind == "held-out-stream":
            out["eval_benchmark"] = {"name": self.eval_benchmark, "seed": self.eval_benchmark_seed}
        return out

    @classmethod
    def from_dict(cls, doc: dict[str, Any] | None) -> Protocol:
        if not doc:
            return cls()
        if not isinstance(doc, dict) or "name" not in doc:
            raise ConfigError("`protocol` must be {name: ..., eval_benchmark: {name, seed}}.")
        ev = doc.get("eval_benchmark") or {}
        return cls.parse(str(doc["name"]), eval_benchmark=ev.get("name"), eval_benchmark_seed=ev.get("seed"))


def check_same_shape(tuning: Stream, evaluation: Stream) -> None:
    """A held-out stream must be built like the tuning stream, so the configuration transfers."""
    for what, a, b in (("input shape", tuning.input_shape, evaluation.input_shape),
                       ("number of tasks", tuning.n_tasks, evaluation.n_tasks),
                       ("number of classes", tuning.n_classes, evaluation.n_classes),
                       ("scenario", tuning.scenario, evaluation.scenario)):
        if a != b:
            raise ConfigError(f"--protocol held-out-stream: {evaluation.name} differs from {tuning.name} in "
                              f"{what} ({b} vs {a}); pick an --eval-benchmark of the same shape "
                              "(e.g. split-fashion-mnist with split-mnist), or set --n-tasks / --scenario.")

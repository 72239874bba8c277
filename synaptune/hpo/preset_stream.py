# SPDX-License-Identifier: MIT
"""Which stream a preset is reported on: its recorded stream and the command line combined.

``synaptune run --preset`` and ``synaptune compare`` follow the same policy:

- A preset runs on the stream it was tuned on (under ``held-out-stream``, its evaluation stream),
  unless ``--benchmark`` or benchmark flags change it. On another benchmark, the preset's task count,
  classes per task and scenario described its own stream, so they fall back to that benchmark's
  defaults; the flags given apply on top.
- A stream that is another *problem* than the tuned one (another benchmark, input shape, classes,
  scenario, or classes per task of a split stream) needs ``--other-stream``, and the result is then
  marked with the stream the preset was tuned on. The task count, benchmark seed, validation fraction
  and data location may differ: the same problem cut differently.
- A ``held-out-stream`` preset is never reported on the stream it was tuned on without
  ``--allow-tuning-stream``: that number would not be held out.
- Without a preset (``run --learner``, ``compare`` of learners alone): ``--benchmark``, else
  ``split-digits``, with the benchmark flags given.

No Ray or MLflow here. The rules read the benchmarks' outlines (what a stream would be, without its
data), so a refusal comes before any data is loaded or anything is trained.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from synaptune.benchmarks.params import BenchmarkParams
from synaptune.exceptions import ConfigError

if TYPE_CHECKING:
    from synaptune.benchmarks.streams import Outline
    from synaptune.hpo.presets import Preset

#: The stream of a command without a preset and without ``--benchmark``.
DEFAULT_BENCHMARK = "split-digits"


@dataclass(frozen=True)
class StreamRequest:
    """What the command line asks of the stream.

    Attributes:
        benchmark: ``--benchmark``, or ``None`` when not given.
        options: the benchmark flags given, as :class:`BenchmarkParams` fields (``{"n_tasks": 2}``).
        other_stream: ``--other-stream``: a preset may run on another problem than its own.
        allow_tuning_stream: ``--allow-tuning-stream``: a held-out-stream preset may report on its
            tuning stream.
    """

    benchmark: str | None = None
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    other_stream: bool = False
    allow_tuning_stream: bool = False

    def params(self, base: BenchmarkParams | None = None) -> BenchmarkParams:
        """``base`` (default: the defaults) with the benchmark flags given."""
        return dataclasses.replace(base or BenchmarkParams(), **self.options)


@dataclass(frozen=True)
class ChosenStream:
    """The stream to run on: a benchmark and its options (placeholders such as ``n_tasks=0`` kept; a
    built stream resolves them), and for a preset tuned on another problem, a description of the
    stream it was tuned on (``""`` when it runs on its own)."""

    benchmark: str
    params: BenchmarkParams
    tuned_elsewhere: str = ""


def learner_stream(request: StreamRequest) -> ChosenStream:
    """The stream of a command without a preset: ``--benchmark`` (checked), else :data:`DEFAULT_BENCHMARK`.

    Raises:
        UnknownNameError: an unknown ``--benchmark`` (with the known ones).
    """
    from synaptune.benchmarks import BENCHMARKS

    name = request.benchmark or DEFAULT_BENCHMARK
    BENCHMARKS.get(name)
    return ChosenStream(name, request.params())


def preset_stream(preset: Preset, label: str, request: StreamRequest) -> ChosenStream:
    """The stream to report ``preset`` on (see the module docstring).

    Args:
        label: how messages name the preset (its file, or a compare entry).

    Raises:
        ConfigError: another problem without ``--other-stream``, or the tuning stream of a
            held-out-stream preset without ``--allow-tuning-stream``.
        UnknownNameError: an unknown ``--benchmark``.
    """
    from synaptune.benchmarks import BENCHMARKS

    protocol = preset.protocol
    if protocol.kind == "held-out-stream":
        # Report on the held-out stream unless told otherwise, and never silently on the tuning one.
        name = request.benchmark or protocol.eval_benchmark
        params = request.params(cut_for(name, preset, protocol.eval_benchmark_params(preset.benchmark_params)))
        if same_stream(name, params, preset.benchmark, preset.benchmark_params) and not request.allow_tuning_stream:
            raise ConfigError(
                f"{label} was tuned on {preset.benchmark} (seed {preset.benchmark_params.seed}) under "
                f"held-out-stream; a test number on that stream is not held out. Report on "
                f"{protocol.eval_benchmark} (the default), or pass --allow-tuning-stream to do it anyway.")
    else:
        name = request.benchmark or preset.benchmark
        params = request.params(cut_for(name, preset, preset.benchmark_params))
    BENCHMARKS.get(name)
    return ChosenStream(name, params, check_preset_stream(preset, label, name, params, request))


def comparison_stream(presets: Sequence[tuple[str, Preset]], request: StreamRequest
                      ) -> tuple[ChosenStream, dict[str, str]]:
    """The one stream of a comparison, and for each preset (by label) the stream it was tuned on where
    that is another problem (``""`` where it is its own).

    The stream: the first preset's (as :func:`preset_stream` chooses it), else that of
    :func:`learner_stream`. Every preset is then checked against it.

    Args:
        presets: ``(label, preset)`` of the comparison's preset entries, in order.
    """
    if presets:
        label, first = presets[0]
        chosen = preset_stream(first, label, request)
    else:
        chosen = learner_stream(request)
    elsewhere = {label: check_preset_stream(preset, label, chosen.benchmark, chosen.params, request)
                 for label, preset in presets}
    return ChosenStream(chosen.benchmark, chosen.params), elsewhere


def check_preset_stream(preset: Preset, label: str, benchmark: str, params: BenchmarkParams,
                        request: StreamRequest) -> str:
    """``""`` when ``preset`` runs on the problem it was tuned on, else (with ``--other-stream``) a
    description of the stream it was tuned on.

    Raises:
        ConfigError: another problem without ``--other-stream``, naming the differences and the flags
            that made them.
    """
    tuned, asked, diffs = other_stream(preset, label, benchmark, params)
    if diffs and not request.other_stream:
        given = [flag for flag, was_given in (("--benchmark", request.benchmark is not None),
                                              ("--scenario", "scenario" in request.options),
                                              ("--classes-per-task", "classes_per_task" in request.options))
                 if was_given]
        raise ConfigError(
            f"{label} was tuned on {tuned.describe()}, not on {asked.describe()}: "
            f"{', '.join(diffs)}; its tuned values are not known to hold there. "
            + (f"Drop {' / '.join(given)} to run it on the stream it was tuned on, or pass"
               if given else "Pass") + f" --other-stream to run it on {benchmark} anyway "
            "(the result is then marked as tuned on another stream).")
    return tuned.describe() if diffs else ""


def other_stream(preset: Preset, label: str, benchmark: str, params: BenchmarkParams
                 ) -> tuple[Outline, Outline, list[str]]:
    """``(tuned, asked, differences)``: outlines of the preset's stream and of the requested one, and how
    they differ as problems (benchmark, input shape, classes, scenario, classes per task); empty when alike.

    The task count, benchmark seed, validation fraction and data location may differ: same problem. Under
    held-out-stream the preset's evaluation benchmark counts as its own.
    """
    from synaptune.benchmarks.streams import outline

    try:
        tuned = outline(preset.benchmark, preset.benchmark_params)
    except ConfigError as e:
        raise ConfigError(f"{label}: benchmark: {e}") from None
    asked = outline(benchmark, params)
    diffs = []
    if benchmark not in own_benchmarks(preset):
        diffs.append("another benchmark")
    if asked.input_shape != tuned.input_shape:
        diffs.append(f"inputs {'x'.join(map(str, asked.input_shape))} instead of "
                     f"{'x'.join(map(str, tuned.input_shape))}")
    if asked.n_classes != tuned.n_classes:
        diffs.append(f"{asked.n_classes} classes instead of {tuned.n_classes}")
    if asked.scenario != tuned.scenario:
        diffs.append(f"scenario {asked.scenario} instead of {tuned.scenario}")
    if asked.family == tuned.family == "split" and asked.classes_per_task != tuned.classes_per_task:
        diffs.append(f"{asked.classes_per_task} classes per task instead of {tuned.classes_per_task}")
    return tuned, asked, diffs


def same_stream(name_a: str, a: BenchmarkParams, name_b: str, b: BenchmarkParams) -> bool:
    """Whether two (benchmark, options) make the same tasks (data location aside)."""
    keys = ("n_tasks", "classes_per_task", "seed", "scenario")
    return name_a == name_b and all(getattr(a, k) == getattr(b, k) for k in keys)


def own_benchmarks(preset: Preset) -> set[str]:
    """The benchmarks a preset belongs to: the one it was tuned on (and its held-out one)."""
    return {preset.benchmark} | ({preset.protocol.eval_benchmark} if preset.protocol.kind == "held-out-stream"
                                 else set())


def cut_for(benchmark: str, preset: Preset, params: BenchmarkParams) -> BenchmarkParams:
    """The preset's benchmark options to start from on ``benchmark``: on another benchmark, its task
    count, classes per task and scenario described the preset's stream, so they fall back to defaults."""
    if benchmark in own_benchmarks(preset):
        return params
    return dataclasses.replace(params, n_tasks=0, classes_per_task=0, scenario="")

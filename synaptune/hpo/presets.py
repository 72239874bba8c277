# SPDX-License-Identifier: MIT
"""Presets: a tuned configuration as a YAML file anyone can re-run.

Format (``format_version: 1``)::

    format_version: 1
    learner: naive
    benchmark: {name: split-digits, params: {n_tasks: 5, seed: 0, ...}}
    params: {lr: 0.05, ...}            # every field of the learner's Params
    seeds: 1                            # seeds the sweep averaged over
    protocol: {name: end-of-stream}     # or first-tasks:N, validation-tasks:N, held-out-stream
                                        # (+ eval_benchmark: {name, seed}); see synaptune.protocols
    objective: {metric: objective, value: 0.93, mode: max, aggregate: mean, task_orders: 1}
    provenance: {tracking_uri, experiment, run_id, trial_id, synaptune_version, date}
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import synaptune
from synaptune.benchmarks import BENCHMARKS, BenchmarkParams
from synaptune.exceptions import ConfigError
from synaptune.learners import LEARNERS
from synaptune.params import from_dict, read_yaml
from synaptune.protocols import Protocol

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Preset:
    learner: str
    params: Any
    benchmark: str
    benchmark_params: BenchmarkParams
    seeds: int = 1
    protocol: Protocol = dataclasses.field(default_factory=Protocol)
    objective: dict[str, Any] = dataclasses.field(default_factory=dict)
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_yaml(self) -> str:
        doc = {
            "format_version": FORMAT_VERSION,
            "learner": self.learner,
            "benchmark": {"name": self.benchmark, "params": dataclasses.asdict(self.benchmark_params)},
            "params": dataclasses.asdict(self.params),
            "seeds": self.seeds,
            "protocol": self.protocol.to_dict(),
            "objective": self.objective,
            "provenance": self.provenance,
        }
        return yaml.safe_dump(doc, sort_keys=False)


def preset_from_run(run: dict[str, Any], *, tracking_uri: str, metric: str) -> Preset:
    """Rebuild a preset from an MLflow trial run (params are logged as strings)."""
    logged = run["params"]
    learner = logged.get("learner")
    if learner is None:
        raise ConfigError(f"MLflow run {run['run_id']} is not a synaptune trial (no `learner` param).")
    params_cls = LEARNERS.get(learner).params_cls
    names = {f.name for f in dataclasses.fields(params_cls)}
    params = from_dict(params_cls, {k: v for k, v in logged.items() if k in names},
                       where=f"run {run['run_id']}")
    bench = from_dict(BenchmarkParams, {k.split("/", 1)[1]: v for k, v in logged.items()
                                        if k.startswith("benchmark/")}, where=f"run {run['run_id']}")
    eval_seed = logged.get("protocol/eval_benchmark_seed")
    protocol = Protocol.parse(logged.get("protocol", "end-of-stream"),
                              eval_benchmark=logged.get("protocol/eval_benchmark"),
                              eval_benchmark_seed=int(eval_seed) if eval_seed is not None else None)
    return Preset(
        learner=learner, params=params, benchmark=logged["benchmark"], benchmark_params=bench,
        seeds=int(logged.get("seeds", 1)), protocol=protocol,
        objective={"metric": metric, "value": run["metrics"].get(metric), "mode": "max",
                   "aggregate": logged.get("aggregate", "mean"), "task_orders": int(logged.get("task_orders", 1))},
        provenance={"tracking_uri": tracking_uri, "experiment": run.get("experiment"),
                    "run_id": run["run_id"], "trial_id": run.get("trial_id"),
                    "synaptune_version": synaptune.__version__,
                    "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")},
    )


def check_output(path: str | Path, *, force: bool) -> None:
    """Refuse to overwrite an existing file unless ``force``."""
    if Path(path).exists() and not force:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it, or choose another -o.")


def write_preset(preset: Preset, path: str | Path, *, force: bool = False) -> Path:
    """Write ``preset``; refuses to overwrite an existing file unless ``force``."""
    path = Path(path)
    check_output(path, force=force)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(preset.to_yaml())
    return path


def load_preset(path: str | Path) -> Preset:
    """Read and validate a preset file; errors name the file and the key."""
    path = Path(path)
    doc = read_yaml(path, what="preset")
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: a preset is a mapping; see `synaptune export`.")
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise ConfigError(f"{path}: unknown preset format_version {version!r}; this synaptune "
                          f"({synaptune.__version__}) reads format_version {FORMAT_VERSION}.")
    for key in ("learner", "benchmark", "params"):
        if key not in doc:
            raise ConfigError(f"{path}: missing key `{key}`.")
    try:
        learner_cls = LEARNERS.get(doc["learner"])
        bench = doc["benchmark"]
        if not isinstance(bench, dict) or "name" not in bench:
            raise ConfigError("`benchmark` must be {name: ..., params: {...}}.")
        BENCHMARKS.get(bench["name"])
        if not isinstance(doc["params"] or {}, dict) or not isinstance(bench.get("params") or {}, dict):
            raise ConfigError("`params` and `benchmark.params` must map parameter names to values.")
        protocol = Protocol.from_dict(doc.get("protocol"))
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return Preset(
        learner=doc["learner"],
        params=from_dict(learner_cls.params_cls, doc["params"] or {}, where=f"{path}: params"),
        benchmark=bench["name"],
        benchmark_params=from_dict(BenchmarkParams, bench.get("params") or {}, where=f"{path}: benchmark"),
        seeds=int(doc.get("seeds", 1)),
        protocol=protocol,
        objective=doc.get("objective") or {},
        provenance=doc.get("provenance") or {},
    )

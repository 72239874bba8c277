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
    objective: {metric: objective, value: 0.93, mode: max, standard_error: 0.02, aggregate: mean, task_orders: 1}
    stream: {tuned_tasks: 5, classes: "0 1|2 3|4 5|6 7|8 9", val_samples: "36,36,35,36,35"}
    provenance: {tracking_uri, experiment, run_id, trial_id, synaptune_version, date}
    test: {seeds: 5, acc: .., acc_std: .., bwt: .., forgetting: .., train_seconds: .., state_bytes: .., command: ..}
                                        # optional: its test result, as `synaptune run` measured it
                                        # (shipped presets have it; see synaptune.hpo.shipping)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

import synaptune
from synaptune.benchmarks import BENCHMARKS, BenchmarkParams
from synaptune.exceptions import ConfigError
from synaptune.learners import LEARNERS, params_of
from synaptune.params import from_dict, read_yaml
from synaptune.protocols import Protocol

if TYPE_CHECKING:
    from synaptune.hpo.store import TrialRecord

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
    #: The tuning stream as it ran: tuned tasks, class order (``"0 1|2 3|..."``), validation samples per task.
    stream: dict[str, Any] = dataclasses.field(default_factory=dict)
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Its test result over seeds, where measured (``synaptune.hpo.shipping``): acc, acc_std, bwt, forgetting,
    #: train_seconds (per seed), state_bytes, seeds, threads (torch's: the numbers depend on them; absent in
    #: presets shipped before it was recorded) and the command that reproduces it.
    test: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_yaml(self) -> str:
        doc = {
            "format_version": FORMAT_VERSION,
            "learner": self.learner,
            "benchmark": {"name": self.benchmark, "params": dataclasses.asdict(self.benchmark_params)},
            "params": dataclasses.asdict(self.params),
            "seeds": self.seeds,
            "protocol": self.protocol.to_dict(),
            "objective": self.objective,
            "stream": self.stream,
            "provenance": self.provenance,
            **({"test": self.test} if self.test else {}),
        }
        return yaml.safe_dump(doc, sort_keys=False)


def preset_from_record(record: TrialRecord, *, tracking_uri: str, metric: str, mode: str) -> Preset:
    """Rebuild a preset from a trial's record (the learner's params by their prefix, strings as logged)."""
    where = f"run {record.run_id}"
    if not record.learner:
        raise ConfigError(f"MLflow {where} is not a synaptune trial (no `learner` param).")
    if not record.params:
        raise ConfigError(f"MLflow {where} has no `learner/` params (logged by an older synaptune, which mixed the "
                          "learner's params with the sweep's settings); re-run the sweep to export it.")
    params = from_dict(params_of(record.learner), record.params, where=where)
    settings = record.settings
    bench = from_dict(BenchmarkParams, {k.split("/", 1)[1]: v for k, v in settings.items()
                                        if k.startswith("benchmark/")}, where=where)
    eval_seed = settings.get("protocol/eval_benchmark_seed")
    protocol = Protocol.parse(settings.get("protocol", "end-of-stream"),
                              eval_benchmark=settings.get("protocol/eval_benchmark"),
                              eval_benchmark_seed=int(eval_seed) if eval_seed not in (None, "None") else None)
    se = record.standard_error(metric)
    return Preset(
        learner=record.learner, params=params, benchmark=settings["benchmark"], benchmark_params=bench,
        seeds=int(settings.get("seeds", 1)), protocol=protocol,
        objective={"metric": metric, "value": record.value(metric), "mode": mode,
                   **({"standard_error": se} if se is not None else {}),
                   "aggregate": settings.get("aggregate", "mean"), "task_orders": int(settings.get("task_orders", 1))},
        stream={k.split("/", 1)[1]: settings[k] for k in ("stream/tuned_tasks", "stream/classes",
                                                          "stream/val_samples") if k in settings},
        provenance={"tracking_uri": tracking_uri, "experiment": record.experiment,
                    "run_id": record.run_id, "trial_id": record.trial_id, "trial": record.name,
                    "synaptune_version": synaptune.__version__,
                    "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")},
    )


def check_output(path: str | Path, *, force: bool) -> None:
    """Refuse an output path a preset cannot be written to, before anything else is done.

    Refuses: an existing file without ``force``; a directory or something that
    is not a regular file (``force`` or not); a path under a file; a folder in
    which no file can be created (read-only, ``/proc``...), found by creating
    and removing a probe file in the nearest existing folder.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"-o {path} is a directory; a preset is one YAML file: name the file, e.g. "
                          f"-o {path / 'preset.yaml'} (--force never replaces a directory).")
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it, or choose another -o.")
    if path.exists() and not path.is_file():
        raise ConfigError(f"-o {path} is not a regular file; choose another -o.")
    check_writable_folder(path.parent, target=path)


def check_writable_folder(folder: str | Path, *, target: str | Path | None = None) -> None:
    """Refuse ``folder`` (existing or to be made) if no file can be created in it: one line naming why.

    ``target`` is the path named by ``-o`` (for the message; default ``folder``).
    """
    folder = Path(folder)
    target = folder if target is None else Path(target)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"cannot write -o {target}: {existing} is a file, not a folder; choose another -o.")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".synaptune-write-check-")
    except OSError as e:
        raise ConfigError(f"cannot write -o {target}: no file can be created in {existing} "
                          f"({e.strerror or e}); choose another -o.") from None
    os.close(fd)
    os.unlink(probe)


def write_preset(preset: Preset, path: str | Path, *, force: bool = False) -> Path:
    """Write ``preset``; refuses to overwrite an existing file unless ``force``."""
    path = Path(path)
    check_output(path, force=force)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(preset.to_yaml(), encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot write -o {path} ({e.strerror or e}); choose another -o.") from None
    return path


def load_preset(path: str | Path) -> Preset:
    """Read and validate a preset file; errors name the file and the key."""
    path = Path(path)
    doc = read_yaml(path, what="preset", example="`synaptune export` writes one")
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
        proto = doc.get("protocol")
        if isinstance(proto, dict) and not isinstance(proto.get("eval_benchmark") or {}, dict):
            raise ConfigError("`protocol.eval_benchmark` must be {name: ..., seed: ...}.")
        protocol = Protocol.from_dict(proto)
        seeds = doc.get("seeds", 1)
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
            raise ConfigError(f"`seeds` must be a whole number >= 1, got {seeds!r}.")
        for key in ("objective", "stream", "provenance", "test"):
            if not isinstance(doc.get(key) or {}, dict):
                raise ConfigError(f"`{key}` must be a mapping, got {doc[key]!r}.")
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return Preset(
        learner=doc["learner"],
        params=from_dict(learner_cls.params_cls, doc["params"] or {}, where=f"{path}: params"),
        benchmark=bench["name"],
        benchmark_params=from_dict(BenchmarkParams, bench.get("params") or {}, where=f"{path}: benchmark"),
        seeds=seeds,
        protocol=protocol,
        objective=doc.get("objective") or {},
        stream=doc.get("stream") or {},
        provenance=doc.get("provenance") or {},
        test=doc.get("test") or {},
    )


#: Where the presets that ship with synaptune live: ``<benchmark>/<learner>.yaml``.
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "presets"


def shipped_presets() -> dict[str, Path]:
    """The shipped presets by name (``<benchmark>/<learner>``), sorted by name."""
    return {f"{p.parent.name}/{p.stem}": p for p in sorted(SHIPPED_DIR.glob("*/*.yaml"))}


def preset_path(text: str) -> Path:
    """A preset's file from ``--preset TEXT``: an existing file, else a shipped preset's name.

    Raises:
        ConfigError: neither; the message lists the shipped names closest to ``text``.
    """
    path = Path(text).expanduser()
    shipped = shipped_presets()
    if path.exists() or text not in shipped and path.suffix in (".yaml", ".yml"):
        return path  # load_preset names what is wrong with it
    if text in shipped:
        return shipped[text]
    import difflib

    close = difflib.get_close_matches(text, list(shipped), n=3, cutoff=0.5) or list(shipped)[:5]
    raise ConfigError(f"no preset file {text!r} and no shipped preset of that name; shipped presets are named "
                      f"BENCHMARK/LEARNER, e.g. {', '.join(close) or '(none)'} (see `synaptune presets`).")

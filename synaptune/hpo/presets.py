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
    provenance: {tracking_uri, experiment, run_id, trial_id, synaptune_version, date,
                 commit, sweep, sweep_command, space, fixed_by_set, trials, budget, picked, machine}
                                        # see sweep_provenance; no machine paths (portable_command)
    test: {seeds: 5, acc: .., acc_std: .., bwt: .., forgetting: .., train_seconds: .., state_bytes: .., command: ..}
                                        # optional: its test result, as `synaptune run` measured it
                                        # (shipped presets have it; see synaptune.hpo.shipping)
    transfer: {streams: .., pick: {acc, acc_se, runs}, defaults: {..}, margin: .., noise: .., ships: pick}
                                        # optional: the pick and the learner's defaults on streams of the
                                        # same shape the sweep never saw (synaptune.hpo.shipping)

A preset travels: it holds no path of the machine it was made on. ``benchmark.params`` leaves
``data_dir`` out (where the dataset lives is the reader's business: ``synaptune run --data-dir DIR``,
else the default ``./data``), and commands in its provenance show placeholders (``DATA_DIR``,
``WORK/...``) where the sweep had paths (:func:`portable_command`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import platform
import re
import shlex
import subprocess
import tempfile
from collections.abc import Sequence
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
    from synaptune.hpo.records import SweepRun, TrialRecord

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
    #: Its transfer check, where made (``synaptune.hpo.shipping``): the pick and the learner's defaults on
    #: streams of the same shape the sweep never saw, the margin, and which of the two ships.
    transfer: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_yaml(self) -> str:
        doc = {
            "format_version": FORMAT_VERSION,
            "learner": self.learner,
            "benchmark": {"name": self.benchmark, "params": portable_benchmark_params(self.benchmark_params)},
            "params": dataclasses.asdict(self.params),
            "seeds": self.seeds,
            "protocol": self.protocol.to_dict(),
            "objective": self.objective,
            "stream": self.stream,
            "provenance": self.provenance,
            **({"test": self.test} if self.test else {}),
            **({"transfer": self.transfer} if self.transfer else {}),
        }
        return yaml.safe_dump(doc, sort_keys=False)


# --------------------------------------------------------------------------- presets that travel

#: Placeholder of the dataset's folder in a preset's commands (the reader's ``--data-dir``).
DATA_DIR = "DATA_DIR"
#: Placeholder of the folder a sweep's results, MLflow database and other files were in.
WORK = "WORK"
#: :class:`BenchmarkParams` fields a preset does not hold: where the data live on one machine.
MACHINE_FIELDS = ("data_dir",)


def portable_benchmark_params(params: BenchmarkParams) -> dict[str, Any]:
    """``params`` as a preset writes them: every field but :data:`MACHINE_FIELDS` (``data_dir``).

    Why: a path such as ``/usr/share/datasets/fashion-mnist`` is where the data were on the machine
    that tuned the preset, not a property of the stream; left out, a reader's ``--data-dir`` (else the
    default ``./data``) applies, and a missing dataset says how to point ``--data-dir`` at it.
    """
    return {k: v for k, v in dataclasses.asdict(params).items() if k not in MACHINE_FIELDS}


def is_machine_path(text: str) -> bool:
    """Whether ``text`` is an absolute or home-relative path (``/tmp/x``, ``~/x``, ``C:\\x``): one machine's."""
    return text.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", text) is not None


def _work_path(path: str) -> str:
    """``/tmp/ship/x/results`` -> ``WORK/results``: a machine's path as the placeholder and its last part."""
    return f"{WORK}/{path.rstrip('/').rsplit('/', 1)[-1] or 'work'}"


def portable_uri(uri: str) -> str:
    """A tracking URI or storage location without the machine's paths or anyone's credentials.

    ``sqlite:////tmp/ship/mlflow.db`` -> ``sqlite:///WORK/mlflow.db``; ``/abs/mlruns`` or
    ``file:///abs/mlruns`` -> ``WORK/mlruns``; relative paths are kept; a server, database or bucket URI
    keeps its host but loses ``user:password@`` (``postgresql://u:p@db/mlflow`` -> ``postgresql://db/mlflow``).
    """
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///"):]
        return f"sqlite:///{_work_path(path)}" if is_machine_path(path) else uri
    if uri.startswith("file://"):
        path = uri[len("file://"):]
        return _work_path(path) if is_machine_path(path) else uri
    if is_machine_path(uri):
        return _work_path(uri)
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@", r"\1", uri)


def portable_value(flag: str, value: str) -> str:
    """One command-line value made portable: ``--data-dir`` -> :data:`DATA_DIR`; a URI or an absolute
    path -> :func:`portable_uri` (``WORK/<last part>``, credentials dropped); anything else as given."""
    if flag == "--data-dir":
        return DATA_DIR
    if is_machine_path(value) or "://" in value:
        return portable_uri(value)
    return value


def portable_command(argv: Sequence[str]) -> list[str]:
    """``argv`` (a ``synaptune`` command line, with or without the program) without machine paths.

    ``--data-dir /usr/share/datasets/fashion-mnist`` -> ``--data-dir DATA_DIR``; ``--storage
    /tmp/ship/results`` -> ``--storage WORK/results``; ``--tracking-uri sqlite:////tmp/ship/mlflow.db`` ->
    ``--tracking-uri sqlite:///WORK/mlflow.db``; other absolute paths -> ``WORK/<last part>``;
    credentials in URIs are dropped; ``--flag=value`` is handled as ``--flag value``. Everything else is
    kept as given, so the command still says how the preset was tuned, and runs once the placeholders
    are replaced. ``shlex.join`` of the result is what a preset's ``sweep_command`` holds.
    """
    out: list[str] = []
    flag = ""
    for arg in argv:
        if arg.startswith("--") and "=" in arg:
            name, _, value = arg.partition("=")
            out.append(f"{name}={portable_value(name, value)}")
            flag = ""
        elif arg.startswith("-") and not is_machine_path(arg):
            out.append(arg)
            flag = arg
        else:
            out.append(portable_value(flag, arg))
            flag = ""
    return out


def source_commit() -> str:
    """The git commit of synaptune's source tree (``abc1234``, ``-dirty`` with uncommitted changes), or
    ``unknown`` (an installed package, no git)."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head + ("-dirty" if dirty else "")) if head else "unknown"


def machine_text(device: str = "cpu") -> str:
    """``x86_64, 2 CPUs, 3.11.7, device cpu``: the machine a sweep ran on (no host name, no path)."""
    return f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}, device {device}"


#: Sweep settings (MLflow params of the parent run) and the ``synaptune sweep`` flag of each, in the order
#: a command rebuilt from them shows them (:func:`rebuilt_sweep_command`).
_SWEEP_FLAGS = (
    ("learner", "--learner"), ("benchmark", "--benchmark"), ("benchmark/n_tasks", "--n-tasks"),
    ("benchmark/classes_per_task", "--classes-per-task"), ("benchmark/scenario", "--scenario"),
    ("benchmark/seed", "--benchmark-seed"), ("benchmark/val_fraction", "--val-fraction"),
    ("protocol", "--protocol"), ("protocol/eval_benchmark", "--eval-benchmark"),
    ("protocol/eval_benchmark_seed", "--eval-benchmark-seed"), ("seeds", "--seeds"),
    ("task_orders", "--task-orders"), ("aggregate", "--aggregate"), ("scheduler", "--scheduler"),
    ("grace_period", "--grace-period"), ("reduction_factor", "--reduction-factor"),
    ("concurrency", "--concurrency"), ("cpus_per_trial", "--cpus-per-trial"),
    ("gpus_per_trial", "--gpus-per-trial"), ("time_budget_s", "--time-budget"), ("gpu_hours", "--gpu-hours"),
    ("sampler_seed", "--seed"),
)


def rebuilt_sweep_command(sweep: SweepRun) -> str:
    """A ``synaptune sweep`` command with the settings ``sweep`` recorded, for sweeps logged before the
    command line itself was (tag ``synaptune.command``); paths are placeholders, as in :func:`portable_command`.

    A custom ``--space`` file is not known by its path: ``--space SPACE.yaml`` stands for it (its
    contents are the parent run's ``search_space.yaml`` artifact).
    """
    p = sweep.params
    args = ["synaptune", "sweep"]
    for key, flag in _SWEEP_FLAGS:
        value = p.get(key)
        if value not in (None, "", "None"):
            args += [flag, value]
    if p.get("benchmark/data_dir", BenchmarkParams().data_dir) != BenchmarkParams().data_dir:
        args += ["--data-dir", DATA_DIR]
    if "," in p.get("objectives", ""):
        for objective in p["objectives"].split(","):
            args += ["--objective", objective]
    if _default_space(sweep) is False:
        args += ["--space", "SPACE.yaml"]
    args += [x for item in _fixed_by_set(sweep) for x in ("--set", item)]
    if sweep.tags.get("synaptune.trials"):
        args += ["--trials", sweep.tags["synaptune.trials"]]
    args += ["--name", sweep.experiment, "--storage", f"{WORK}/results",
             "--tracking-uri", f"sqlite:///{WORK}/mlflow.db"]
    return shlex.join(args)


def _fixed_by_set(sweep: SweepRun) -> list[str]:
    """The sweep's ``--set`` values as ``NAME=VALUE`` (recorded as ``fixed_by_set``: ``a=1 b=2`` or ``none``)."""
    text = sweep.params.get("fixed_by_set", "none")
    return [] if text in ("", "none") else text.split(" ")


def _default_space(sweep: SweepRun) -> bool | None:
    """Whether the sweep searched its learner's shipped space (with its ``--set`` values fixed): the
    recorded ``space_sha256`` compared with that space's; None when it cannot be told."""
    import hashlib

    from synaptune.searchspaces import load_space

    learner, recorded = sweep.params.get("learner"), sweep.params.get("space_sha256")
    if not learner or not recorded:
        return None
    try:
        values = dict(item.split("=", 1) for item in _fixed_by_set(sweep))
        space = load_space(learner, None).with_fixed(values)
    except (ConfigError, ValueError):
        return None
    return hashlib.sha256(space.to_yaml().encode()).hexdigest()[:16] == recorded


def sweep_provenance(sweep: SweepRun, records: Sequence[TrialRecord], *, picked: str) -> dict[str, Any]:
    """The provenance a preset carries of the sweep it came from, built from what the sweep recorded.

    One function for ``synaptune export`` and :mod:`synaptune.hpo.shipping`, so both write the same
    keys: ``commit``, ``sweep``, ``sweep_command``, ``space``, ``fixed_by_set``, ``trials`` (``asked``
    and the count of each status), ``budget`` (``trials``, ``sweep_seconds``, ``trial_train_seconds``,
    ``time_budget_s``), ``picked`` and ``machine``. No machine paths (:func:`portable_command`); what
    the sweep did not record (sweeps logged before ``synaptune sweep`` tagged its command, machine and
    commit) is rebuilt from its settings or said to be unknown.

    Args:
        sweep: the sweep's parent run (``SweepStore.sweep_of(record)``).
        records: the sweep's trials (``SweepStore.records(experiment, parent_id=sweep.run_id)``).
        picked: how the preset's trial was chosen, in words (e.g. ``"the best objective (max) ..."``).
    """
    tags, params = sweep.tags, sweep.params
    recorded = tags.get("synaptune.command")
    command = shlex.join(portable_command(shlex.split(recorded))) if recorded else rebuilt_sweep_command(sweep)
    statuses = [r.status.value for r in records]
    asked = _number(tags.get("synaptune.trials"))
    asked = len(records) if asked is None else asked
    given_space = _flag_value(shlex.split(command), "--space")
    default = _default_space(sweep)
    learner = params.get("learner", "?")
    if given_space and given_space != "SPACE.yaml":
        space = given_space
    elif default:
        space = f"synaptune/searchspaces/{learner}.yaml (the default space)"
    elif default is False:
        space = (f"a space of its own (artifact search_space.yaml of MLflow run {sweep.run_id}, "
                 f"sha256 {params.get('space_sha256', '?')})")
    else:
        space = "not recorded"
    return {
        "commit": tags.get("synaptune.commit", "unknown (not recorded by the sweep)"),
        "sweep": sweep.experiment,
        "sweep_command": command,
        "space": space,
        "fixed_by_set": dict(item.split("=", 1) for item in _fixed_by_set(sweep)),
        "trials": {"asked": asked, **{s: statuses.count(s) for s in sorted(set(statuses))}},
        "budget": {"trials": asked,
                   "sweep_seconds": None if sweep.seconds is None else round(sweep.seconds, 1),
                   "trial_train_seconds": round(sum(r.value("train_seconds") or 0.0 for r in records), 1),
                   "time_budget_s": _number(params.get("time_budget_s"))},
        "picked": picked,
        "machine": tags.get("synaptune.machine", "unknown (not recorded by the sweep)"),
    }


def _number(text: str | None) -> int | float | None:
    """A number logged as a param or tag (``"8"`` -> 8, ``"600.0"`` -> 600.0), None for none / ``None``."""
    if text in (None, "", "None"):
        return None
    try:
        value = float(text)  # type: ignore[arg-type]
    except ValueError:
        return None
    return int(value) if value.is_integer() and "." not in str(text) else value


def _flag_value(argv: Sequence[str], flag: str) -> str | None:
    """The value of ``flag`` in ``argv`` (``--flag value`` or ``--flag=value``; the last one), or None."""
    found = None
    for k, arg in enumerate(argv):
        if arg == flag and k + 1 < len(argv):
            found = argv[k + 1]
        elif arg.startswith(flag + "="):
            found = arg.split("=", 1)[1]
    return found


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
        provenance={"tracking_uri": portable_uri(tracking_uri), "experiment": record.experiment,
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
        for key in ("objective", "stream", "provenance", "test", "transfer"):
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
        transfer=doc.get("transfer") or {},
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

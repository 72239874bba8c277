# SPDX-License-Identifier: MIT
"""``synaptune compare``: several configurations trained the same way on one stream, side by side.

An *entry* is a preset (a file, or a shipped name such as ``split-digits/naive``)
or a learner with its defaults and optional overrides (``naive``,
``sparse-mlp:hidden_units=100,train_ep=1``). Every entry is trained from scratch
on train+val of each reported task and tested on test (as ``synaptune run``),
once per seed 0..K-1 and task order (benchmark seeds S, S+1, ...), so every
entry sees the same streams, seeds and protocol.

The table gives each entry's test ACC, BWT and forgetting as mean ± population
standard deviation over its runs (seeds x task orders), its state in bytes and
its training seconds per run, and says which ACC differences to the best entry
are larger than the seed-to-seed spread: ``|mean_a - mean_b| > std_a + std_b``,
synaptune's one noise rule (:func:`synaptune.hpo.records.difference_within_noise`)
with the spreads as the noise (no test statistic is claimed on 2-5 runs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synaptune.benchmarks import BenchmarkParams
from synaptune.benchmarks.metrics import accuracy_seen
from synaptune.exceptions import ConfigError
from synaptune.hpo.evaluate import run_preset
from synaptune.hpo.leaderboard import human_bytes
from synaptune.hpo.presets import Preset, load_preset, preset_path, shipped_presets
from synaptune.hpo.records import difference_within_noise
from synaptune.learners import LEARNERS, params_of
from synaptune.params import from_dict
from synaptune.protocols import Protocol

#: The per-run numbers of an entry, as logged to its nested MLflow runs.
RUN_METRICS = ("test/acc", "test/bwt", "test/forgetting", "train_seconds", "state_bytes")


@dataclass(frozen=True)
class Entry:
    """One configuration to compare.

    Attributes:
        label: its name in the table, figure and MLflow (unique within a comparison).
        learner: the learner's registered name.
        params: the learner's Params (validated).
        preset: the preset it comes from, or None for a learner's defaults (+ overrides).
        source: the preset's file, or ``defaults`` (+ the overrides as written).
    """

    label: str
    learner: str
    params: Any
    preset: Preset | None = None
    source: str = "defaults"


#: The forms of a ``compare`` entry, for messages.
ENTRY_FORMS = ("a preset file (PATH.yaml), a shipped preset (BENCHMARK/LEARNER, see `synaptune presets`), a "
               "learner with its defaults (naive) or a learner with overrides (naive:lr=0.05,epochs=2)")


def parse_entry(text: str) -> Entry:
    """An :class:`Entry` from the command line: a preset file or shipped name, else ``LEARNER[:k=v,k=v]``.

    Raises:
        ConfigError: not a preset, not a learner, an empty override (``naive:``, ``naive:lr=0.1,``), or an
            override its Params refuses.
    """
    if text in shipped_presets() or Path(text).expanduser().exists() or text.endswith((".yaml", ".yml")):
        path = preset_path(text)
        preset = load_preset(path)
        label = text if text in shipped_presets() else Path(text).stem
        return Entry(label, preset.learner, preset.params, preset=preset, source=str(path))
    learner, colon, overrides = text.partition(":")
    try:
        LEARNERS.get(learner)
    except ConfigError as e:
        raise ConfigError(f"entry {text!r} is no preset file, no shipped preset (see `synaptune presets`) and "
                          f"no learner: {e}") from None
    items = [part.strip() for part in overrides.split(",")] if colon else []
    if not all(items):
        where = "nothing after ':'" if not overrides.strip() else "an empty override (a comma at an end or two in a row)"
        raise ConfigError(f"entry {text!r} has {where}; an entry is {ENTRY_FORMS}.")
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"entry {text!r}: overrides are NAME=VALUE separated by commas "
                              "(e.g. naive:lr=0.05,epochs=2).")
        values[name.strip()] = value.strip()
    params = from_dict(params_of(learner), values, where=f"entry {text!r}")
    return Entry(text, learner, params, source="defaults" + (f" + {overrides}" if overrides else ""))


def with_overrides(entry: Entry, overrides: dict[str, str]) -> Entry:
    """``entry`` with the ``--set`` values its learner has (others are left to other entries)."""
    fields = {f.name for f in dataclasses.fields(entry.params)}
    mine = {k: v for k, v in overrides.items() if k in fields}
    if not mine:
        return entry
    params = from_dict(type(entry.params), {**dataclasses.asdict(entry.params), **mine},
                       where=f"--set for {entry.label}")
    shown = ",".join(f"{k}={v}" for k, v in mine.items())
    return dataclasses.replace(entry, params=params, source=f"{entry.source} + --set {shown}")


def check_overrides(entries: Sequence[Entry], overrides: dict[str, str]) -> None:
    """Refuse a ``--set`` name that no entry's learner has (a typo would otherwise change nothing)."""
    known = {f.name for e in entries for f in dataclasses.fields(e.params)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"--set {', '.join(unknown)}: no entry's learner has such a parameter "
                          f"(learners: {', '.join(sorted({e.learner for e in entries}))}; see "
                          "`synaptune space LEARNER`).")


def check_labels(entries: Sequence[Entry]) -> None:
    labels = [e.label for e in entries]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise ConfigError(f"entry {twice[0]!r} is given twice; each entry is compared once.")
    if len(entries) < 1:
        raise ConfigError("give at least one entry (a preset, a shipped preset name or a learner).")


def common_protocol(entries: Sequence[Entry]) -> Protocol:
    """The protocol every preset entry was tuned under (learner entries follow it); default end-of-stream.

    Raises:
        ConfigError: presets tuned under different protocols report on different tasks.
    """
    protocols = {e.label: e.preset.protocol for e in entries if e.preset is not None}
    kinds = {str(p) for p in protocols.values()}
    if len(kinds) > 1:
        shown = ", ".join(f"{label}: {p}" for label, p in protocols.items())
        raise ConfigError(f"the presets were tuned under different protocols ({shown}), so they would be "
                          "tested on different tasks; compare presets of one protocol at a time.")
    return next(iter(protocols.values()), Protocol())


def comparison_key(params: dict[str, Any], entries: Sequence[Entry]) -> str:
    """What ``compare --resume`` matches a stopped comparison by: a digest of its parent run's ``params``
    (stream, seeds, task orders, protocol, threads) and every entry's label, learner, parameters and source."""
    from synaptune.hpo.mlflow_layout import settings_key

    return settings_key({"params": params, "entries": [[e.label, e.learner, e.source, dataclasses.asdict(e.params)]
                                                       for e in entries]})


@dataclass
class EntryResult:
    """An entry's runs: one dict per (task order, seed) with :data:`RUN_METRICS`, ``matrix`` (T x T
    lists, None where not measured), ``order`` and ``seed``."""

    entry: Entry
    runs: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def values(self, metric: str) -> list[float]:
        return [float(r[metric]) for r in self.runs]


def run_comparison(entries: Sequence[Entry], benchmark: str, bench_params: BenchmarkParams, *,
                   protocol: Protocol, seeds: int, task_orders: int = 1, device: str = "cpu",
                   on_task: Callable[[str, int, int], None] | None = None,
                   on_run: Callable[[Entry, dict[str, Any]], None] | None = None,
                   done: dict[tuple[str, int, int], dict[str, Any]] | None = None) -> list[EntryResult]:
    """Train and test every entry on ``benchmark`` for every task order and seed.

    Args:
        entries: what to compare.
        benchmark, bench_params: the stream; task order ``o`` uses benchmark seed ``bench_params.seed + o``.
        protocol: which tasks are reported (see :func:`synaptune.hpo.evaluate.run_preset`).
        seeds: seeds 0..seeds-1 per task order.
        on_task: called as ``on_task(label, run_index, tasks_done)`` after each task (progress).
        on_run: called as ``on_run(entry, run)`` as soon as a run (one task order and seed) has finished,
            with the dict :attr:`EntryResult.runs` holds for it (the CLI logs it at once).
        done: runs finished before (``compare --resume``), by ``(label, order, seed)``: taken as they
            are, not trained again.

    Raises:
        DivergedError: a run went non-finite (its numbers are no answer).
    """
    done = done or {}
    results = []
    for entry in entries:
        result = EntryResult(entry)
        for order in range(task_orders):
            params = dataclasses.replace(bench_params, seed=bench_params.seed + order)
            preset = Preset(learner=entry.learner, params=entry.params, benchmark=benchmark,
                            benchmark_params=params, seeds=seeds, protocol=protocol)
            before = {seed: run for (label, o, seed), run in done.items() if label == entry.label and o == order}
            first = len(result.runs)
            out = run_preset(preset, seeds=seeds, device=device, done=before,
                             on_task=None if on_task is None else
                             lambda i, t, e=entry, d=first: on_task(e.label, d + i, t),
                             on_seed=None if on_run is None else
                             lambda seed, run, e=entry, o=order: on_run(e, {**run, "order": o, "seed": seed}))
            result.runs += [{**run, "order": order, "seed": seed} for seed, run in enumerate(out.per_seed)]
        results.append(result)
    return results


@dataclass(frozen=True)
class Row:
    """One line of the comparison table (means and population stds over an entry's runs)."""

    label: str
    learner: str
    runs: int
    acc: float
    acc_std: float
    bwt: float
    bwt_std: float
    forgetting: float
    forgetting_std: float
    state_bytes: float
    train_seconds: float
    #: ``best``, or the ACC difference to the best and whether it exceeds the seed-to-seed spread.
    versus_best: str


def table_rows(results: Sequence[EntryResult]) -> list[Row]:
    """The rows, best ACC first (see the module docstring for the spread rule)."""
    def stats(r: EntryResult, metric: str) -> tuple[float, float]:
        v = r.values(metric)
        return float(np.mean(v)), float(np.std(v))

    ordered = sorted(results, key=lambda r: -stats(r, "test/acc")[0])
    best_mean, best_std = stats(ordered[0], "test/acc")
    rows = []
    for k, r in enumerate(ordered):
        acc, acc_std = stats(r, "test/acc")
        if k == 0:
            versus = "best"
        elif len(r.runs) < 2 or len(ordered[0].runs) < 2:
            versus = f"{acc - best_mean:+.4f}, spread unknown (1 run)"
        else:  # the one noise rule of synaptune, with each entry's spread over its runs as its noise
            within = difference_within_noise(acc - best_mean, best_std, acc_std)
            versus = f"{acc - best_mean:+.4f}, {'within' if within else 'beyond'} the spread"
        rows.append(Row(r.entry.label, r.entry.learner, len(r.runs), acc, acc_std, *stats(r, "test/bwt"),
                        *stats(r, "test/forgetting"), stats(r, "state_bytes")[0], stats(r, "train_seconds")[0],
                        versus))
    return rows


def format_table(rows: Sequence[Row]) -> str:
    """The rows as an aligned text table (also valid Markdown)."""
    head = ["entry", "learner", "runs", "test ACC", "BWT", "forgetting", "state", "train s/run", "vs best"]
    body = [[r.label, r.learner, str(r.runs), f"{r.acc:.4f} ± {r.acc_std:.4f}", f"{r.bwt:+.4f} ± {r.bwt_std:.4f}",
             f"{r.forgetting:.4f} ± {r.forgetting_std:.4f}", human_bytes(r.state_bytes),
             f"{r.train_seconds:.1f}", r.versus_best] for r in rows]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |" for line in [head, *body]]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def save_figure(results: Sequence[EntryResult], path: str | Path, *, title: str) -> Path:
    """A PNG of two panels, one line per entry (mean over runs, bars: population std):

    left, the test accuracy on each task after the last task (``R[T-1][j]``); right, the mean test
    accuracy over the tasks seen after each task (ACC after task t).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for r in results:
        mats = [np.array(run["matrix"], dtype=np.float64) for run in r.runs]
        T = mats[0].shape[0]
        last = np.array([m[T - 1] for m in mats])
        seen = np.array([[accuracy_seen(m[t], t) for t in range(T)] for m in mats])
        tasks = np.arange(T)
        left.errorbar(tasks, last.mean(0), yerr=last.std(0), marker="o", capsize=3, label=r.entry.label)
        right.errorbar(tasks, seen.mean(0), yerr=seen.std(0), marker="o", capsize=3, label=r.entry.label)
    left.set(xlabel="task", ylabel="test accuracy after the last task", ylim=(0, 1.02),
             title="accuracy per task, end of stream")
    right.set(xlabel="tasks trained", ylabel="ACC over the tasks seen", ylim=(0, 1.02),
              title="ACC after each task")
    for ax in (left, right):
        ax.set_xticks(np.arange(T))
        ax.grid(alpha=0.3)
    right.legend(fontsize=8, loc="lower left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def acc_seen(matrix: Sequence[Sequence[float | None]]) -> list[float]:
    """ACC over the tasks seen after each task t (``mean_{j<=t} R[t][j]``) of one run's matrix."""
    R = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=np.float64)
    return [accuracy_seen(R[t], t) for t in range(R.shape[0])]


def write_outputs(results: Sequence[EntryResult], rows: Sequence[Row], folder: str | Path, *,
                  title: str) -> dict[str, Path]:
    """``comparison.md`` (the table), ``comparison.json`` (rows and every run) and ``comparison.png``
    (:func:`save_figure`) in ``folder`` (made if needed); their paths by suffix."""
    import json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    md = folder / "comparison.md"
    md.write_text(f"# {title}\n\n{format_table(rows)}\n", encoding="utf-8")
    doc = {"title": title, "rows": [dataclasses.asdict(r) for r in rows],
           "entries": [{"label": r.entry.label, "learner": r.entry.learner, "source": r.entry.source,
                        "params": dataclasses.asdict(r.entry.params), "runs": r.runs} for r in results]}
    js = folder / "comparison.json"
    js.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    png = save_figure(results, folder / "comparison.png", title=title)
    return {"md": md, "json": js, "png": png}

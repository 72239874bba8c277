# SPDX-License-Identifier: MIT
"""Continual streams built from a dataset :class:`Pool`.

Two families:

- **split** (``split-digits``, ``split-mnist``, ``split-fashion-mnist``,
  ``split-cifar10``, ``split-cifar100``): the classes are cut into disjoint
  groups, one per task.
  Labels stay global (0..9) in ``y``; ``Task.classes`` lists a task's labels.
  Scenarios: ``class-il`` (default) or ``task-il``.
- **permuted** (``permuted-digits``, ``permuted-mnist``,
  ``permuted-fashion-mnist``): every task holds all classes and all images,
  with its own fixed pixel permutation. Task 0 is the original images and
  stores ``permutation=None`` (identity, no cost). Scenarios: ``domain-il``
  (default) or ``task-il``.

Every task of a stream shares the pool; a task is only index tensors (and a
permutation), so no image is copied. Randomness (class order, permutations,
train/val split) comes from ``params.seed`` alone; with seed 0 a split stream
keeps the natural class order ([0, 1], [2, 3], ...).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from synaptune._registry import did_you_mean
from synaptune.benchmarks.base import Stream, Task
from synaptune.benchmarks.catalog import STREAMS
from synaptune.benchmarks.datasets import DATASET_FACTS, load_pool
from synaptune.benchmarks.params import BenchmarkParams
from synaptune.exceptions import ConfigError, UnknownNameError

DEFAULT_SPLIT_TASKS = 5
DEFAULT_PERMUTED_TASKS = 10
DEFAULT_CIFAR100_TASKS = 10
SPLIT_SCENARIOS: tuple[str, ...] = ("class-il", "task-il")
PERMUTED_SCENARIOS: tuple[str, ...] = ("domain-il", "task-il")

# distinct streams of randomness drawn from one user seed
_CLASS_ORDER, _VAL_SPLIT, _PERMUTATION = 0, 1, 2


def generator(seed: int, *keys: int) -> torch.Generator:
    """A CPU generator seeded from ``seed`` and ``keys`` (independent streams per key)."""
    state = np.random.SeedSequence([seed, *keys]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def carve_val(idx: Tensor, y: Tensor, val_fraction: float, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Split ``idx`` into disjoint ``(train, val)`` index tensors, stratified by label.

    Args:
        idx: int64 (N,), indices into ``y``.
        y: int64 labels of the whole pool part ``idx`` points into.
        val_fraction: each class gives ``floor(val_fraction * n_c)`` of its
            ``n_c`` items to val, so train never loses a whole class.
        g: CPU generator drawing which items go to val.

    Returns:
        ``(train_idx, val_idx)``, each sorted (better memory locality; batches
        are shuffled at iteration time).
    """
    if val_fraction <= 0.0:
        return idx, idx[:0]
    labels = y[idx]
    train, val = [], []
    for c in torch.unique(labels).tolist():
        members = idx[labels == c]
        members = members[torch.randperm(members.numel(), generator=g)]
        k = int(val_fraction * members.numel())
        val.append(members[:k])
        train.append(members[k:])
    return torch.sort(torch.cat(train)).values, torch.sort(torch.cat(val)).values


def _scenario(params: BenchmarkParams, allowed: tuple[str, ...], kind: str) -> str:
    scenario = params.scenario or allowed[0]
    if scenario not in allowed:
        raise ConfigError(
            f"scenario `{scenario}` is not available for {kind} streams; use one of: {', '.join(allowed)}."
        )
    return scenario


@dataclass(frozen=True)
class Outline:
    """What a stream will be, known without loading its data.

    Attributes:
        name: the benchmark name.
        family: ``split`` or ``permuted``.
        dataset: the :func:`load_pool` dataset.
        input_shape, n_classes: those of the dataset.
        n_tasks, classes_per_task, scenario: resolved (no "default" placeholders).
    """

    name: str
    family: str
    dataset: str
    input_shape: tuple[int, ...]
    n_classes: int
    n_tasks: int
    classes_per_task: int
    scenario: str

    def describe(self) -> str:
        """E.g. ``split-digits (class-il, 5 tasks x 2 classes, inputs 1x8x8, 10 classes)``."""
        shape = "x".join(map(str, self.input_shape))
        per_task = (f"all {self.n_classes} classes" if self.family == "permuted"
                    else f"{self.classes_per_task} classes")
        return (f"{self.name} ({self.scenario}, {self.n_tasks} tasks x {per_task}, inputs {shape}, "
                f"{self.n_classes} classes)")


def outline(name: str, params: BenchmarkParams | None = None) -> Outline:
    """The shape of stream ``name`` under ``params``, checked, without loading any data.

    Raises:
        ConfigError: the options do not fit the benchmark (see :func:`split_stream`
            and :func:`permuted_stream`).
    """
    if name not in STREAMS:
        known = sorted(STREAMS)
        raise UnknownNameError(f"unknown benchmark `{name}`.{did_you_mean(name, known)} "
                               f"Known benchmarks: {', '.join(known)}.")
    family, dataset = STREAMS[name]
    return _outline(name, family, dataset, _params(params))


def _outline(name: str, family: str, dataset: str, params: BenchmarkParams) -> Outline:
    if name == "split-cifar100" and not params.n_tasks and not params.classes_per_task:
        params = dataclasses.replace(params, n_tasks=DEFAULT_CIFAR100_TASKS)
    _, _, input_shape, n_classes = DATASET_FACTS[dataset]
    if family == "permuted":
        scenario = _scenario(params, PERMUTED_SCENARIOS, "permuted")
        if params.classes_per_task not in (0, n_classes):
            raise ConfigError(
                f"{name}: every task of a permuted stream holds all {n_classes} classes; "
                f"leave classes_per_task at 0 (got {params.classes_per_task})."
            )
        return Outline(name, family, dataset, input_shape, n_classes,
                       params.n_tasks or DEFAULT_PERMUTED_TASKS, n_classes, scenario)
    scenario = _scenario(params, SPLIT_SCENARIOS, "split")
    cpt = params.classes_per_task
    n_tasks = params.n_tasks or (max(n_classes // cpt, 1) if cpt else DEFAULT_SPLIT_TASKS)
    cpt = cpt or max(n_classes // n_tasks, 1)
    if n_tasks * cpt > n_classes:
        raise ConfigError(
            f"{name}: {n_tasks} tasks x {cpt} classes per task need {n_tasks * cpt} classes but the dataset "
            f"has {n_classes}; choose n_tasks and classes_per_task with n_tasks * classes_per_task <= {n_classes}."
        )
    _check_all_classes(name, params, n_classes, n_tasks, cpt)
    return Outline(name, family, dataset, input_shape, n_classes, n_tasks, cpt, scenario)


def _check_all_classes(name: str, params: BenchmarkParams, n_classes: int, n_tasks: int, cpt: int) -> None:
    """Refuse a split whose one given size (``--n-tasks`` or ``--classes-per-task``) does not divide the classes.

    One rule for both flags: given alone, the tasks it makes would silently leave classes out; given
    together, using fewer than all classes is taken as meant (``n_tasks * cpt`` is checked by the caller).
    """
    if bool(params.n_tasks) == bool(params.classes_per_task) or n_tasks * cpt == n_classes:
        return
    flag, value, other, other_value = (("--classes-per-task", cpt, "--n-tasks", n_tasks) if params.classes_per_task
                                       else ("--n-tasks", n_tasks, "--classes-per-task", cpt))
    dropped = sorted(_class_order(n_classes, params.seed)[n_tasks * cpt:])
    divisors = [d for d in range(1, n_classes + 1) if n_classes % d == 0]
    raise ConfigError(
        f"{name}: {flag} {value} does not divide the {n_classes} classes: it would make "
        f"{n_tasks} task{'s' if n_tasks > 1 else ''} of {cpt} and leave class{'es' if len(dropped) > 1 else ''} "
        f"{', '.join(map(str, dropped))} out. Use {'an' if flag == '--n-tasks' else 'a'} {flag} that divides "
        f"{n_classes} ({', '.join(map(str, divisors[:-1]))} or {divisors[-1]}), or add {other} {other_value} to "
        f"use only {n_tasks * cpt} of the classes on purpose."
    )


def _class_order(n_classes: int, seed: int) -> list[int]:
    """The order classes are dealt to tasks: natural with seed 0, else a seeded permutation."""
    if seed == 0:
        return list(range(n_classes))  # the usual [0, 1], [2, 3], ... split
    return torch.randperm(n_classes, generator=generator(seed, _CLASS_ORDER)).tolist()


# --------------------------------------------------------------------------- memory

_GIB = 1024**3


def _size_text(n_bytes: float) -> str:
    for unit, size in (("TiB", 1024**4), ("GiB", _GIB), ("MiB", 1024**2), ("KiB", 1024)):
        if n_bytes >= size:
            return f"{n_bytes / size:.1f} {unit}"
    return f"{int(n_bytes)} bytes"


def available_memory() -> int | None:
    """Bytes of memory this process can still take: the machine's ``MemAvailable``
    (psutil when installed), capped by the cgroup's limit; ``None`` when unknown."""
    found: list[int] = []
    try:
        import psutil  # type: ignore[import-untyped]

        found.append(int(psutil.virtual_memory().available))
    except Exception:  # noqa: BLE001 - not installed, or no /proc
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        found.append(int(line.split()[1]) * 1024)
                        break
        except (OSError, ValueError, IndexError):
            pass
    # A container's limit: what it may still use is the limit minus its working set (the usage
    # less the page cache the kernel can drop, as docker and Kubernetes count it).
    for folder, usage_name, cache_key in (("/sys/fs/cgroup", "memory.current", "inactive_file"),
                                          ("/sys/fs/cgroup/memory", "memory.usage_in_bytes", "total_inactive_file")):
        limit_name = "memory.max" if usage_name == "memory.current" else "memory.limit_in_bytes"
        try:
            with open(f"{folder}/{limit_name}") as f:
                limit = f.read().strip()
            with open(f"{folder}/{usage_name}") as f:
                usage = int(f.read().strip())
        except (OSError, ValueError):
            continue
        cache = 0
        try:
            with open(f"{folder}/memory.stat") as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == cache_key:
                        cache = int(value)
                        break
        except (OSError, ValueError):
            pass
        if limit.isdigit() and int(limit) < 2**60:  # "max" or a huge number: no limit
            found.append(max(int(limit) - max(usage - cache, 0), 0))
        break
    return min(found) if found else None


def memory_parts(o: Outline, *, matrices: int = 1) -> dict[str, int]:
    """Bytes a stream and its accuracy matrices take in memory, by part.

    What is counted is what the code materialises: the dataset pool (float32
    pixels, int64 labels; loaded once per process), the int64 index tensors of
    the tasks (at most one entry per sample), one int64 pixel permutation per
    task after the first of a permuted stream, and ``matrices`` float64
    ``n_tasks x n_tasks`` accuracy matrices (each run of a learner through the
    stream fills one).
    """
    n_train, n_test, _, _ = DATASET_FACTS[o.dataset]
    n, pixels = n_train + n_test, math.prod(o.input_shape)
    return {
        "accuracy matrix": matrices * o.n_tasks * o.n_tasks * 8,
        "pixel permutations": (o.n_tasks - 1) * pixels * 8 if o.family == "permuted" else 0,
        "dataset and indices": n * pixels * 4 + n * 8 + n * 8,
    }


def check_memory(o: Outline, *, matrices: int = 1, matrices_note: str = "",
                 available: int | None = None) -> None:
    """Refuse a stream whose estimated memory (:func:`memory_parts`) exceeds what this machine has.

    Args:
        o: the stream's outline.
        matrices: accuracy matrices the caller will hold at once.
        matrices_note: what those copies are, for the message.
        available: bytes available; default :func:`available_memory` (no check when unknown).

    Raises:
        ConfigError: the estimate, its parts, what is available and the largest
            ``--n-tasks`` that would fit.
    """
    parts = memory_parts(o, matrices=matrices)
    total = sum(parts.values())
    if total < 256 * 1024**2:  # not worth reading /proc for
        return
    available = available_memory() if available is None else available
    if available is None or total <= available:
        return
    fit = 0
    lo, hi = 1, o.n_tasks
    while lo <= hi:  # the largest n_tasks that fits (the estimate grows with n_tasks)
        mid = (lo + hi) // 2
        if sum(memory_parts(dataclasses.replace(o, n_tasks=mid), matrices=matrices).values()) <= available:
            fit, lo = mid, mid + 1
        else:
            hi = mid - 1
    per = o.n_tasks * o.n_tasks * 8
    note = f" ({matrices_note})" if matrices_note else ""
    shown = [f"the {o.n_tasks} x {o.n_tasks} accuracy matrix {_size_text(per)}"
             + (f" x {matrices} copies{note}" if matrices > 1 else "")]
    if parts["pixel permutations"]:
        shown.append(f"{o.n_tasks - 1} pixel permutations {_size_text(parts['pixel permutations'])}")
    shown.append(f"the dataset and its indices {_size_text(parts['dataset and indices'])}")
    fix = (f"use --n-tasks {fit} or fewer (the accuracy matrix grows with the square of the number of tasks)"
           if fit >= 1 else "use a smaller benchmark, or a machine with more memory")
    raise ConfigError(
        f"{o.name} with {o.n_tasks} tasks needs about {_size_text(total)} of memory ({'; '.join(shown)}), "
        f"more than the {_size_text(available)} available here; {fix}."
    )


def split_stream(name: str, dataset: str, params: BenchmarkParams) -> Stream:
    """A class-incremental split of ``dataset`` into tasks of disjoint classes.

    ``n_tasks`` defaults to ``n_classes // classes_per_task`` when only the
    latter is given, else to 5; ``classes_per_task`` defaults to
    ``n_classes // n_tasks``. With seed 0 the classes keep their natural
    order, otherwise their order is a seeded permutation.

    Args:
        name: the stream's name, e.g. ``split-mnist``.
        dataset: a :func:`load_pool` dataset name.
        params: how to cut the stream.

    Returns:
        A stream whose ``n_classes`` is the dataset's label-space size (labels
        stay global), input shape that of the dataset.

    Raises:
        ConfigError: the tasks need more classes than the dataset has; only
            ``classes_per_task`` is given and it does not divide the classes
            (the tasks would leave classes out: give ``n_tasks`` too to mean it);
            the scenario is not ``class-il`` / ``task-il``; or the stream would
            not fit in memory (:func:`check_memory`).
    """
    o = _outline(name, "split", dataset, params)  # checks the options before any data is loaded
    check_memory(o)
    scenario, n_tasks, cpt = o.scenario, o.n_tasks, o.classes_per_task
    pool, input_shape, n_classes = load_pool(dataset, params.data_dir, params.download)
    order = _class_order(n_classes, params.seed)
    all_train = torch.arange(pool.train_y.numel())
    all_test = torch.arange(pool.test_y.numel())
    tasks = []
    for t in range(n_tasks):
        classes = tuple(sorted(order[t * cpt : (t + 1) * cpt]))
        wanted = torch.tensor(classes, dtype=pool.train_y.dtype)
        train_idx = all_train[torch.isin(pool.train_y, wanted)]
        test_idx = all_test[torch.isin(pool.test_y, wanted)]
        g = generator(params.seed, _VAL_SPLIT, t)
        train_idx, val_idx = carve_val(train_idx, pool.train_y, params.val_fraction, g)
        tasks.append(Task(id=t, classes=classes, pool=pool, train_idx=train_idx, val_idx=val_idx, test_idx=test_idx))
    return Stream(name=name, tasks=tuple(tasks), scenario=scenario,  # type: ignore[arg-type]
                  input_shape=input_shape, n_classes=n_classes)


def permuted_stream(name: str, dataset: str, params: BenchmarkParams) -> Stream:
    """Tasks that all hold every image of ``dataset``, each under its own pixel permutation.

    Task 0 keeps the original images (``permutation=None``); task ``t >= 1``
    permutes the flattened pixels by ``torch.randperm(prod(input_shape))``
    drawn from ``params.seed`` and ``t``. The train/val split is drawn once
    and its index tensors are shared by every task, like the pool.

    Raises:
        ConfigError: ``classes_per_task`` set to less than all classes, a
            scenario other than ``domain-il`` / ``task-il``, or more tasks than
            fit in memory (:func:`check_memory`: the permutations and the
            ``n_tasks x n_tasks`` accuracy matrix grow with ``n_tasks``).
    """
    o = _outline(name, "permuted", dataset, params)  # checks the options before any data is loaded
    check_memory(o)
    scenario, n_tasks = o.scenario, o.n_tasks
    pool, input_shape, n_classes = load_pool(dataset, params.data_dir, params.download)
    n_pixels = int(np.prod(input_shape))
    train_idx, val_idx = carve_val(
        torch.arange(pool.train_y.numel()), pool.train_y, params.val_fraction, generator(params.seed, _VAL_SPLIT)
    )
    test_idx = torch.arange(pool.test_y.numel())
    classes = tuple(range(n_classes))
    tasks = []
    for t in range(n_tasks):
        perm = None if t == 0 else torch.randperm(n_pixels, generator=generator(params.seed, _PERMUTATION, t))
        tasks.append(Task(id=t, classes=classes, pool=pool, train_idx=train_idx, val_idx=val_idx,
                          test_idx=test_idx, permutation=perm))
    return Stream(name=name, tasks=tuple(tasks), scenario=scenario,  # type: ignore[arg-type]
                  input_shape=input_shape, n_classes=n_classes)


def _params(params: BenchmarkParams | None) -> BenchmarkParams:
    return params if params is not None else BenchmarkParams()


def build_named(name: str, params: BenchmarkParams | None = None) -> Stream:
    """The built-in stream ``name``: :func:`split_stream` or :func:`permuted_stream` of the dataset that
    :data:`STREAMS` gives it (defaults: split streams 5 tasks of 2 classes, split-cifar100 10 of 10,
    permuted streams 10 tasks)."""
    family, dataset = STREAMS[name]
    build = split_stream if family == "split" else permuted_stream
    return build(name, dataset, _params(params))

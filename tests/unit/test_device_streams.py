# SPDX-License-Identifier: MIT
"""A worker's cache of the streams it moved to its device: keyed by what makes a stream, not by its name."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
import torch

from synaptune.benchmarks import BenchmarkParams, Stream, build_stream
from synaptune.benchmarks.base import Pool
from synaptune.hpo import raytune


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(raytune, "_DEVICE_STREAMS", {})


def digits(**kw: object) -> Stream:
    return build_stream("split-digits", BenchmarkParams(n_tasks=2, **kw))


def other_data(stream: Stream) -> Stream:
    """The stream as built from a data directory whose files hold other pixels (same shapes)."""
    pool = stream.tasks[0].pool
    moved = Pool(pool.train_x.flip(0), pool.train_y, pool.test_x, pool.test_y)
    return dataclasses.replace(stream, tasks=tuple(dataclasses.replace(t, pool=moved) for t in stream.tasks))


def same(a: Stream, b: Stream) -> bool:
    """Whether ``a`` and ``b`` hold the same tasks and data."""
    return all(ta.classes == tb.classes and torch.equal(ta.train_idx, tb.train_idx)
               and torch.equal(ta.pool.train_x, tb.pool.train_x) for ta, tb in zip(a.tasks, b.tasks))


@pytest.mark.parametrize("change", ["benchmark seed", "classes per task", "validation fraction", "data"])
def test_streams_of_the_same_name_and_task_count_do_not_share_the_cache(change: str) -> None:
    first = digits()
    other = {"benchmark seed": lambda: digits(seed=1), "classes per task": lambda: digits(classes_per_task=3),
             "validation fraction": lambda: digits(val_fraction=0.2), "data": lambda: other_data(first)}[change]()
    assert (other.name, other.n_tasks) == (first.name, first.n_tasks) and not same(first, other)
    assert raytune.stream_key(other) != raytune.stream_key(first)

    (on_first,) = raytune._moved((first,), "cpu")
    (on_other,) = raytune._moved((other,), "cpu")
    assert same(on_first, first) and same(on_other, other)  # the old name-and-task-count key gave `first` back
    assert list(raytune._DEVICE_STREAMS) == [("cpu", (raytune.stream_key(other),))]


def test_a_copy_of_the_same_stream_reuses_the_cache() -> None:
    # Each trial of a worker gets its own copy of the stream shipped once (deserialized again).
    first = digits()
    copy = pickle.loads(pickle.dumps(first))
    assert copy is not first and raytune.stream_key(copy) == raytune.stream_key(first)
    cached = raytune._moved((first,), "cpu")
    assert raytune._moved((copy,), "cpu") is cached
    # The key covers every stream of the call and the device.
    assert raytune._moved((copy, digits(seed=1)), "cpu") is not cached
    assert len(raytune._DEVICE_STREAMS) == 1


def test_the_key_reads_every_part_of_a_task() -> None:
    base = digits()
    task = base.tasks[1]
    changed = {
        "permutation": dataclasses.replace(task, permutation=torch.arange(64)),
        "val indices": dataclasses.replace(task, val_idx=task.val_idx[:-1]),
        "test indices": dataclasses.replace(task, test_idx=task.test_idx.flip(0)),
        "classes": dataclasses.replace(task, classes=tuple(reversed(task.classes))),
    }
    keys = {what: raytune.stream_key(dataclasses.replace(base, tasks=(base.tasks[0], t)))
            for what, t in changed.items()}
    keys["scenario"] = raytune.stream_key(dataclasses.replace(base, scenario="task-il"))
    assert len(set(keys.values()) | {raytune.stream_key(base)}) == len(keys) + 1, keys


def test_streams_on_the_cpu_are_used_as_they_are() -> None:
    streams = (digits(seed=0),)
    assert raytune._streams_on(streams, "cpu") is streams
    assert raytune._DEVICE_STREAMS == {}  # nothing hashed, nothing cached

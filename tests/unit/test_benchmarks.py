# SPDX-License-Identifier: MIT
"""Streams built on the offline 8x8 digits: splits, seeds, permutations, errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from synaptune.benchmarks import BENCHMARKS, BenchmarkParams, Stream, build_stream
from synaptune.exceptions import ConfigError, UnknownNameError


def split(**kw: object) -> Stream:
    return build_stream("split-digits", BenchmarkParams(**kw))  # type: ignore[arg-type]


def permuted(**kw: object) -> Stream:
    return build_stream("permuted-digits", BenchmarkParams(**kw))  # type: ignore[arg-type]


def as_set(t: torch.Tensor) -> set[int]:
    return set(t.tolist())


# --------------------------------------------------------------------------- registry


def test_registry_lists_all_benchmarks() -> None:
    assert BENCHMARKS.names() == sorted([
        "split-digits", "permuted-digits", "split-mnist", "permuted-mnist",
        "split-fashion-mnist", "permuted-fashion-mnist", "split-cifar10", "split-cifar100",
    ])


def test_unknown_benchmark_suggests_a_name() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean `split-mnist`") as e:
        build_stream("split-mnsit")
    assert "permuted-digits" in str(e.value)  # lists the known ones


def test_import_is_light() -> None:
    code = ("import sys, synaptune.benchmarks; "
            "heavy = [m for m in ('torchvision', 'sklearn', 'ray', 'optuna', 'mlflow') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- split streams


def test_split_defaults() -> None:
    s = split()
    assert s.name == "split-digits"
    assert s.scenario == "class-il"
    assert s.n_tasks == 5
    assert s.input_shape == (1, 8, 8)
    assert s.n_classes == 10
    assert [t.classes for t in s.tasks] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    assert [t.id for t in s.tasks] == list(range(5))
    x, y = s.tasks[0].tensors("train")
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.shape[1:] == (1, 8, 8)
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0


def test_split_task_labels_are_the_task_classes() -> None:
    for task in split(seed=3).tasks:
        for part in ("train", "val", "test"):
            _, y = task.tensors(part)
            assert as_set(y) == set(task.classes), part


def test_split_parts_are_disjoint_and_cover_the_pool() -> None:
    s = split(seed=1)
    pool = s.tasks[0].pool
    seen_train: set[int] = set()
    seen_test: set[int] = set()
    for task in s.tasks:
        tr, va, te = as_set(task.train_idx), as_set(task.val_idx), as_set(task.test_idx)
        assert not tr & va
        assert not (tr | va) & seen_train
        assert not te & seen_test
        seen_train |= tr | va
        seen_test |= te
    assert seen_train == set(range(pool.train_y.numel()))
    assert seen_test == set(range(pool.test_y.numel()))


def test_digits_test_split_is_fixed_and_disjoint_from_train() -> None:
    a, b = split(seed=0).tasks[0].pool, split(seed=7).tasks[0].pool
    assert a is b  # loaded once per process
    train_rows = {tuple(r) for r in a.train_x.flatten(1).tolist()}
    overlap = sum(tuple(r) in train_rows for r in a.test_x.flatten(1).tolist())
    # the 8x8 digits contain a few exact duplicate images; a leaked split would share hundreds
    assert overlap < 10
    assert a.train_y.numel() + a.test_y.numel() == 1797
    assert a.test_y.numel() == pytest.approx(0.2 * 1797, abs=10)


def test_split_same_seed_same_stream() -> None:
    a, b = split(seed=5), split(seed=5)
    for ta, tb in zip(a.tasks, b.tasks):
        assert ta.classes == tb.classes
        for name in ("train_idx", "val_idx", "test_idx"):
            assert torch.equal(getattr(ta, name), getattr(tb, name))


def test_split_different_seed_different_order() -> None:
    orders = {tuple(t.classes for t in split(seed=s).tasks) for s in (1, 2, 3)}
    assert len(orders) == 3
    assert tuple(t.classes for t in split(seed=0).tasks) == ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))
    # the val carve-out also follows the seed
    assert not torch.equal(split(seed=0, val_fraction=0.3).tasks[0].val_idx,
                           split(seed=9, n_tasks=1, classes_per_task=10, val_fraction=0.3).tasks[0].val_idx)


def test_val_fraction_respected() -> None:
    for frac in (0.1, 0.25, 0.5):
        for task in split(val_fraction=frac).tasks:
            n = task.size("trainval")
            assert task.size("val") == pytest.approx(frac * n, abs=len(task.classes))
            _, y_val = task.tensors("val")
            assert as_set(y_val) == set(task.classes)  # stratified: every class in val


def test_zero_val_fraction_gives_empty_val() -> None:
    for task in split(val_fraction=0.0).tasks:
        assert task.size("val") == 0
        assert list(task.batches("val", 16)) == []


def test_n_tasks_and_classes_per_task() -> None:
    s = split(n_tasks=2)
    assert [t.classes for t in s.tasks] == [(0, 1, 2, 3, 4), (5, 6, 7, 8, 9)]
    s = split(classes_per_task=5)
    assert s.n_tasks == 2
    s = split(n_tasks=3, classes_per_task=3)
    assert [t.classes for t in s.tasks] == [(0, 1, 2), (3, 4, 5), (6, 7, 8)]
    assert s.n_classes == 10  # labels stay global
    assert split(scenario="task-il").scenario == "task-il"


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"n_tasks": 6, "classes_per_task": 2}, r"6 tasks x 2 classes.*<= 10"),
        ({"n_tasks": 11}, r"11 tasks x 1 classes.*<= 10"),
        ({"classes_per_task": 11}, r"1 tasks x 11 classes"),
        ({"scenario": "domain-il"}, r"scenario `domain-il`.*class-il, task-il"),
    ],
)
def test_split_bad_options(kw: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        split(**kw)


# --------------------------------------------------------------------------- batches, tensors, devices


def test_batches_cover_split_exactly_once() -> None:
    task = split(seed=2).tasks[1]
    _, ys, idx = task.indices("train")
    for shuffle in (False, True):
        g = torch.Generator().manual_seed(0)
        xs, labels = zip(*task.batches("train", 50, shuffle=shuffle, generator=g))
        assert all(len(x) <= 50 for x in xs)
        x_all = torch.cat(xs)
        assert x_all.shape[0] == idx.numel()
        # every training image appears once: compare the sorted multisets of rows
        ref_x, ref_y = task.tensors("train")
        assert torch.equal(torch.sort(torch.cat(labels)).values, torch.sort(ref_y).values)
        key = lambda t: t.flatten(1) @ torch.arange(64, dtype=torch.float32)  # noqa: E731
        assert torch.allclose(torch.sort(key(x_all)).values, torch.sort(key(ref_x)).values)


def test_stream_to_cpu() -> None:
    s = permuted(n_tasks=3)
    moved = s.to("cpu")
    assert moved.n_tasks == 3 and moved.name == s.name
    assert all(t.pool is moved.tasks[0].pool for t in moved.tasks)  # pool moved once
    assert torch.equal(moved.tasks[2].permutation, s.tasks[2].permutation)  # type: ignore[arg-type]
    assert moved.tasks[0].pool.train_x.device.type == "cpu"


# --------------------------------------------------------------------------- permuted streams


def test_permuted_defaults() -> None:
    s = permuted()
    assert s.name == "permuted-digits"
    assert s.scenario == "domain-il"
    assert s.n_tasks == 10
    assert all(t.classes == tuple(range(10)) for t in s.tasks)
    assert s.tasks[0].permutation is None  # task 0: the original images
    for t in s.tasks[1:]:
        assert t.permutation is not None
        assert torch.equal(torch.sort(t.permutation).values, torch.arange(64))
    perms = {tuple(t.permutation.tolist()) for t in s.tasks[1:]}  # type: ignore[union-attr]
    assert len(perms) == 9
    assert permuted(scenario="task-il").scenario == "task-il"


def test_permuted_tasks_share_pool_and_indices() -> None:
    s = permuted(n_tasks=4)
    first = s.tasks[0]
    for t in s.tasks:
        assert t.pool is first.pool
        assert t.train_idx is first.train_idx and t.val_idx is first.val_idx and t.test_idx is first.test_idx


def test_permuted_batch_is_the_base_image_permuted() -> None:
    s = permuted(n_tasks=3, seed=4)
    base, task = s.tasks[0], s.tasks[2]
    x0, y0 = next(base.batches("test", 32))
    x2, y2 = next(task.batches("test", 32))
    assert torch.equal(y0, y2)
    assert torch.equal(x2.flatten(1), x0.flatten(1)[:, task.permutation])
    assert x2.shape == x0.shape == (32, 1, 8, 8)
    # the pool itself is untouched (no in-place permutation)
    assert torch.equal(x0, base.pool.test_x[:32])


def test_permuted_seeding() -> None:
    a, b, c = permuted(seed=1, n_tasks=3), permuted(seed=1, n_tasks=3), permuted(seed=2, n_tasks=3)
    assert torch.equal(a.tasks[1].permutation, b.tasks[1].permutation)  # type: ignore[arg-type]
    assert not torch.equal(a.tasks[1].permutation, c.tasks[1].permutation)  # type: ignore[arg-type]
    assert torch.equal(a.tasks[0].val_idx, b.tasks[0].val_idx)


def test_permuted_val_split() -> None:
    s = permuted(val_fraction=0.2)
    t = s.tasks[0]
    assert not as_set(t.train_idx) & as_set(t.val_idx)
    assert t.size("trainval") == t.pool.train_y.numel()
    assert t.size("val") == pytest.approx(0.2 * t.size("trainval"), abs=10)
    assert t.size("test") == t.pool.test_y.numel()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"scenario": "class-il"}, r"scenario `class-il`.*domain-il, task-il"),
        ({"classes_per_task": 2}, r"all 10 classes; leave classes_per_task at 0"),
    ],
)
def test_permuted_bad_options(kw: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        permuted(**kw)

# SPDX-License-Identifier: MIT
"""split-cifar100 on tiny files written in CIFAR-100's on-disk format (python pickles)."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from synaptune.benchmarks import BENCHMARKS, BenchmarkParams, build_stream
from synaptune.benchmarks.datasets import load_pool
from synaptune.exceptions import ConfigError, DatasetNotFoundError

FOLDER = "cifar-100-python"


def write_cifar100(root: Path, per_class: int = 2, test_per_class: int = 1) -> dict[str, np.ndarray]:
    """Tiny ``cifar-100-python/{train,test,meta}``: dicts with the release's keys (Python 2 str
    keys, which read back as str), ``data`` uint8 (n, 3072) rows in CHW order, label lists."""
    folder = root / FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    out = {}
    for name, n in (("train", per_class), ("test", test_per_class)):
        fine = np.repeat(np.arange(100), n)
        data = rng.integers(0, 256, (fine.size, 3072), dtype=np.uint8)
        out[f"{name}_data"], out[f"{name}_fine"] = data, fine
        with open(folder / name, "wb") as f:
            pickle.dump({"filenames": [f"{i}.png" for i in range(fine.size)], "batch_label": name,
                         "fine_labels": fine.tolist(), "coarse_labels": (fine // 5).tolist(), "data": data}, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"f{i}" for i in range(100)],
                     "coarse_label_names": [f"c{i}" for i in range(20)]}, f)
    return out


def trust_files(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """Point torchvision's md5 table at our tiny files (it still checks them, and reads them itself)."""
    import torchvision.datasets as tvd

    folder = root / FOLDER
    md5 = lambda name: hashlib.md5((folder / name).read_bytes()).hexdigest()  # noqa: E731
    monkeypatch.setattr(tvd.CIFAR100, "train_list", [["train", md5("train")]])
    monkeypatch.setattr(tvd.CIFAR100, "test_list", [["test", md5("test")]])
    monkeypatch.setattr(tvd.CIFAR100, "meta", {**tvd.CIFAR100.meta, "md5": md5("meta")})


def test_split_cifar100_is_registered() -> None:
    assert "split-cifar100" in BENCHMARKS.names()


def test_cifar100_pickles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = write_cifar100(tmp_path)
    trust_files(monkeypatch, tmp_path)
    pool, shape, n_classes = load_pool("cifar100", str(tmp_path), False)
    assert shape == (3, 32, 32) and n_classes == 100
    assert pool.train_x.shape == (200, 3, 32, 32) and pool.test_x.shape == (100, 3, 32, 32)
    assert pool.train_x.dtype == torch.float32 and pool.train_y.dtype == torch.int64
    # a pickle row is the image in CHW order: it must come back unchanged, scaled to [0, 1]
    first = torch.from_numpy(written["train_data"][0].reshape(3, 32, 32).astype(np.float32) / 255)
    assert torch.allclose(pool.train_x[0], first)
    assert pool.train_y.tolist() == written["train_fine"].tolist()  # fine labels, not coarse
    assert pool.test_y.tolist() == written["test_fine"].tolist()


def test_split_cifar100_has_10_tasks_of_10_classes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar100(tmp_path)
    trust_files(monkeypatch, tmp_path)
    s = build_stream("split-cifar100", BenchmarkParams(data_dir=str(tmp_path), val_fraction=0.0))
    assert s.n_tasks == 10 and s.n_classes == 100 and s.input_shape == (3, 32, 32)
    assert [t.classes for t in s.tasks] == [tuple(range(10 * i, 10 * i + 10)) for i in range(10)]  # seed 0
    assert [t.size("train") for t in s.tasks] == [20] * 10 and [t.size("test") for t in s.tasks] == [10] * 10
    for t in s.tasks:
        _, y = t.tensors("train")
        assert set(y.tolist()) == set(t.classes)
    shuffled = build_stream("split-cifar100", BenchmarkParams(data_dir=str(tmp_path), seed=3, n_tasks=20,
                                                              scenario="task-il"))
    assert shuffled.n_tasks == 20 and all(len(t.classes) == 5 for t in shuffled.tasks)
    assert sorted(c for t in shuffled.tasks for c in t.classes) == list(range(100))
    with pytest.raises(ConfigError, match="need 110 classes"):
        build_stream("split-cifar100", BenchmarkParams(data_dir=str(tmp_path), n_tasks=11, classes_per_task=10))


def test_cifar100_missing_says_how_to_download(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"CIFAR-100 not found .*cifar-100-python.*--download"):
        build_stream("split-cifar100", BenchmarkParams(data_dir=str(tmp_path)))


def test_cifar100_incomplete_or_corrupted(tmp_path: Path) -> None:
    write_cifar100(tmp_path)  # md5s differ from the real release's
    with pytest.raises(DatasetNotFoundError, match=r"corrupted \(md5 mismatch\).*--download"):
        load_pool("cifar100", str(tmp_path), False)
    (tmp_path / FOLDER / "test").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"incomplete \(missing test\)"):
        load_pool("cifar100", str(tmp_path), False)

# SPDX-License-Identifier: MIT
"""Dataset loaders on tiny files written here in each dataset's own on-disk format."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from synaptune.benchmarks import BenchmarkParams, build_stream
from synaptune.benchmarks import datasets as ds
from synaptune.benchmarks.datasets import load_pool, read_idx
from synaptune.exceptions import ConfigError, DatasetNotFoundError

N_TRAIN, N_TEST = 30, 20  # 3 / 2 images per class


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    load_pool.cache_clear()
    yield
    load_pool.cache_clear()


# --------------------------------------------------------------------------- idx (MNIST format)


def idx_bytes(a: np.ndarray) -> bytes:
    """uint8 array -> idx file content: 0, 0, type 0x08, ndim, big-endian dims, data."""
    return bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def tiny_idx_arrays(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(N_TRAIN) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(N_TEST) % 10).astype(np.uint8),
    }


def write_idx(directory: Path, arrays: dict[str, np.ndarray], gz: bool) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for stem, a in arrays.items():
        content = idx_bytes(a)
        if gz:
            (directory / f"{stem}.gz").write_bytes(gzip.compress(content))
        else:
            (directory / stem).write_bytes(content)


def check_idx_pool(dataset: str, root: Path, arrays: dict[str, np.ndarray]) -> None:
    pool, shape, n_classes = load_pool(dataset, str(root), False)
    assert shape == (1, 28, 28) and n_classes == 10
    assert pool.train_x.shape == (N_TRAIN, 1, 28, 28) and pool.test_x.shape == (N_TEST, 1, 28, 28)
    assert pool.train_x.dtype == torch.float32 and pool.train_y.dtype == torch.int64
    expected = torch.from_numpy(arrays["train-images-idx3-ubyte"].astype(np.float32) / 255.0).unsqueeze(1)
    assert torch.allclose(pool.train_x, expected)
    assert torch.equal(pool.test_y, torch.from_numpy(arrays["t10k-labels-idx1-ubyte"].astype(np.int64)))
    assert 0.0 <= float(pool.test_x.min()) and float(pool.test_x.max()) <= 1.0


def test_read_idx_gzip_detected_by_magic_without_suffix(tmp_path: Path) -> None:
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "x").write_bytes(gzip.compress(idx_bytes(a)))
    assert np.array_equal(read_idx(tmp_path / "x"), a)


def test_read_idx_rejects_bad_files(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04hello")
    with pytest.raises(DatasetNotFoundError, match="not an idx file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(idx_bytes(np.zeros((2, 3), np.uint8))[:-1])
    with pytest.raises(DatasetNotFoundError, match="truncated"):
        read_idx(tmp_path / "short")


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_flat_idx_directory(tmp_path: Path, dataset: str, gz: bool) -> None:
    arrays = tiny_idx_arrays(1)
    write_idx(tmp_path, arrays, gz)  # the layout of Debian's dataset-fashion-mnist
    check_idx_pool(dataset, tmp_path, arrays)


@pytest.mark.parametrize(("dataset", "folder"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_torchvision_layout_is_read_by_torchvision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dataset: str, folder: str
) -> None:
    arrays = tiny_idx_arrays(2)
    write_idx(tmp_path / folder / "raw", arrays, gz=False)
    # uncompressed files in <root>/<Class>/raw go through torchvision's own reader, not ours
    monkeypatch.setattr(ds, "read_idx", lambda *_: pytest.fail("own idx parser used"))
    check_idx_pool(dataset, tmp_path, arrays)


def test_torchvision_layout_gzip_only(tmp_path: Path) -> None:
    # torchvision reads only extracted files; a raw/ folder holding just the .gz files is parsed by us
    arrays = tiny_idx_arrays(3)
    write_idx(tmp_path / "FashionMNIST" / "raw", arrays, gz=True)
    check_idx_pool("fashion-mnist", tmp_path, arrays)


def test_split_mnist_stream_from_tiny_files(tmp_path: Path) -> None:
    write_idx(tmp_path, tiny_idx_arrays(4), gz=True)
    s = build_stream("split-mnist", BenchmarkParams(data_dir=str(tmp_path), val_fraction=0.0))
    assert s.input_shape == (1, 28, 28) and s.n_tasks == 5
    assert [t.size("train") for t in s.tasks] == [6] * 5
    assert [t.size("test") for t in s.tasks] == [4] * 5
    p = build_stream("permuted-mnist", BenchmarkParams(data_dir=str(tmp_path), n_tasks=2))
    assert p.tasks[1].permutation is not None and p.tasks[1].permutation.numel() == 784


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist", "cifar10"])
def test_missing_dataset_says_where_and_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dataset: str) -> None:
    import torchvision.datasets as tvd

    def no_download(*_: object, **__: object) -> None:
        pytest.fail("downloaded without download=True")

    for cls in (tvd.MNIST, tvd.CIFAR10):
        monkeypatch.setattr(cls, "download", no_download)
    missing = tmp_path / "nothing-here"
    with pytest.raises(DatasetNotFoundError) as e:
        load_pool(dataset, str(missing), False)
    msg = str(e.value)
    assert "\n" not in msg
    assert str(missing) in msg
    assert "--download" in msg
    if dataset == "fashion-mnist":
        assert "apt-get install dataset-fashion-mnist" in msg


def test_failed_download_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets as tvd

    def offline(self: object) -> None:
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nno network")

    monkeypatch.setattr(tvd.MNIST, "download", offline)
    with pytest.raises(DatasetNotFoundError, match=r"could not download MNIST into .*check the network") as e:
        load_pool("mnist", str(tmp_path), True)
    assert "\n" not in str(e.value)


def test_unknown_dataset() -> None:
    with pytest.raises(ConfigError, match="Did you mean `mnist`"):
        load_pool("mnsit", "./data", False)


def test_cache_returns_the_same_pool(tmp_path: Path) -> None:
    write_idx(tmp_path, tiny_idx_arrays(5), gz=False)
    a = load_pool("mnist", str(tmp_path), False)
    assert load_pool("mnist", str(tmp_path), False)[0] is a[0]


def test_digits() -> None:
    pool, shape, n_classes = load_pool("digits", "ignored", False)
    assert shape == (1, 8, 8) and n_classes == 10
    assert pool.train_x.shape[1:] == (1, 8, 8) and pool.train_x.dtype == torch.float32
    assert float(pool.train_x.max()) == 1.0 and float(pool.train_x.min()) == 0.0
    assert pool.train_y.numel() + pool.test_y.numel() == 1797
    # stratified 80/20: every class in both parts, in about those proportions
    counts = torch.bincount(pool.test_y, minlength=10).float() / torch.bincount(
        torch.cat([pool.train_y, pool.test_y]), minlength=10
    ).float()
    assert torch.all((counts > 0.17) & (counts < 0.21))


# --------------------------------------------------------------------------- CIFAR-10


def write_cifar(root: Path, n_per_batch: int = 10) -> tuple[np.ndarray, list[int]]:
    """Tiny ``cifar-10-batches-py``: data uint8 (n, 3072) rows in CHW order, labels lists."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    first = None
    labels = list(range(10))[:n_per_batch]
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        first = data if first is None else first
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "labels": labels, "data": data, "filenames": []}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)], "num_cases_per_batch": n_per_batch}, f)
    return first, labels  # type: ignore[return-value]


def trust_files(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """Point torchvision's md5 table at our tiny files.

    torchvision's CIFAR10 verifies every batch file against the md5 of the real
    release, which a generated file cannot match. We replace only the expected
    checksums (with those of the files just written); torchvision still runs its
    integrity check, reads the pickles and builds the arrays itself.
    """
    import torchvision.datasets as tvd

    folder = root / "cifar-10-batches-py"
    md5 = lambda name: hashlib.md5((folder / name).read_bytes()).hexdigest()  # noqa: E731
    monkeypatch.setattr(tvd.CIFAR10, "train_list", [[n, md5(n)] for n, _ in tvd.CIFAR10.train_list])
    monkeypatch.setattr(tvd.CIFAR10, "test_list", [[n, md5(n)] for n, _ in tvd.CIFAR10.test_list])
    monkeypatch.setattr(tvd.CIFAR10, "meta", {**tvd.CIFAR10.meta, "md5": md5("batches.meta")})


def test_cifar10_pickles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, labels = write_cifar(tmp_path)
    trust_files(monkeypatch, tmp_path)
    pool, shape, n_classes = load_pool("cifar10", str(tmp_path), False)
    assert shape == (3, 32, 32) and n_classes == 10
    assert pool.train_x.shape == (50, 3, 32, 32) and pool.test_x.shape == (10, 3, 32, 32)
    assert pool.train_x.dtype == torch.float32 and pool.train_y.dtype == torch.int64
    # a row of the pickle is the image in CHW order: it must come back unchanged
    assert torch.allclose(pool.train_x[0], torch.from_numpy(first[0].reshape(3, 32, 32).astype(np.float32) / 255))
    assert pool.train_y.tolist() == labels * 5
    s = build_stream("split-cifar10", BenchmarkParams(data_dir=str(tmp_path), val_fraction=0.0))
    assert s.input_shape == (3, 32, 32) and [t.size("train") for t in s.tasks] == [10] * 5


def test_cifar10_with_wrong_checksums_is_reported_corrupted(tmp_path: Path) -> None:
    write_cifar(tmp_path)  # md5s differ from the real release's
    with pytest.raises(DatasetNotFoundError, match=r"corrupted \(md5 mismatch\).*--download"):
        load_pool("cifar10", str(tmp_path), False)


def test_cifar10_incomplete(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"incomplete \(missing test_batch\)"):
        load_pool("cifar10", str(tmp_path), False)

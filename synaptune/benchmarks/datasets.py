# SPDX-License-Identifier: MIT
"""Dataset loaders: each returns one :class:`Pool` of float32 tensors in [0, 1].

Datasets are loaded once per process (:func:`load_pool` is cached). Nothing is
downloaded unless ``download=True``. torchvision and scikit-learn are imported
inside the loaders only, so ``import synaptune.benchmarks`` stays light.

Supported on-disk layouts:

- ``digits``: scikit-learn's bundled 8x8 digits (no files, no network).
- ``mnist`` / ``fashion-mnist``: torchvision's layout
  ``<data_dir>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
  (``FashionMNIST/raw`` for Fashion-MNIST), or a flat directory holding the
  four idx files directly, gzipped or not (e.g. the Debian package
  ``dataset-fashion-mnist`` in ``/usr/share/datasets/fashion-mnist``).
- ``cifar10``: torchvision's ``<data_dir>/cifar-10-batches-py/`` pickles.
- ``cifar100``: torchvision's ``<data_dir>/cifar-100-python/{train,test,meta}``
  pickles (fine labels, 0..99).
"""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synaptune._registry import did_you_mean
from synaptune.benchmarks.base import Pool
from synaptune.exceptions import ConfigError, DatasetNotFoundError

DATASETS: tuple[str, ...] = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100")

# dataset -> (torchvision class name, human-readable name)
_IDX_DATASETS: dict[str, tuple[str, str]] = {
    "mnist": ("MNIST", "MNIST"),
    "fashion-mnist": ("FashionMNIST", "Fashion-MNIST"),
}
_IDX_STEMS: dict[str, str] = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
# idx type byte -> numpy dtype (big-endian for multi-byte types)
_IDX_DTYPES: dict[int, str] = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

_DIGITS_TEST_FRACTION = 0.2
_DIGITS_SPLIT_SEED = 0  # fixed, so the digits test set never depends on a stream's seed


@functools.lru_cache(maxsize=None)
def load_pool(dataset: str, data_dir: str = "./data", download: bool = False) -> tuple[Pool, tuple[int, ...], int]:
    """Load a dataset once per process.

    Args:
        dataset: one of ``digits``, ``mnist``, ``fashion-mnist``, ``cifar10``, ``cifar100``.
        data_dir: directory holding the files (ignored for ``digits``).
        download: fetch the files into ``data_dir`` if they are missing
            (through torchvision); never done otherwise.

    Returns:
        ``(pool, input_shape, n_classes)``: the pool on the CPU, pixels float32
        in [0, 1] of shape (N, *input_shape), labels int64 (N,); input_shape is
        (1, 8, 8) for digits, (1, 28, 28) for MNIST / Fashion-MNIST and
        (3, 32, 32) for CIFAR-10 / CIFAR-100; n_classes is 100 for CIFAR-100
        (fine labels) and 10 for the others.

    Raises:
        DatasetNotFoundError: the files are not in ``data_dir`` (or could not
            be downloaded); the message says where it looked and how to get them.
        ConfigError: unknown dataset name.
    """
    if dataset == "digits":
        return _load_digits()
    if dataset in _IDX_DATASETS:
        return _load_idx_dataset(dataset, str(data_dir), bool(download))
    if dataset in _CIFAR:
        return _load_cifar(dataset, str(data_dir), bool(download))
    raise ConfigError(
        f"unknown dataset `{dataset}`.{did_you_mean(dataset, list(DATASETS))} Known datasets: {', '.join(DATASETS)}."
    )


# --------------------------------------------------------------------------- digits


def _load_digits() -> tuple[Pool, tuple[int, ...], int]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.asarray(bunch.images, dtype=np.float32) / 16.0  # values 0..16
    y = np.asarray(bunch.target, dtype=np.int64)
    train, test = stratified_split(y, _DIGITS_TEST_FRACTION, _DIGITS_SPLIT_SEED)
    xt = torch.from_numpy(x).unsqueeze(1)  # (N, 1, 8, 8)
    yt = torch.from_numpy(y)
    pool = Pool(
        train_x=xt[train].contiguous(),
        train_y=yt[train].contiguous(),
        test_x=xt[test].contiguous(),
        test_y=yt[test].contiguous(),
    )
    return pool, (1, 8, 8), 10


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices ``0..len(y)-1`` into two disjoint sorted parts, per class.

    Args:
        y: int labels, shape (N,).
        fraction: share of each class that goes to the second part
            (``floor(fraction * n_c)`` items of a class of size ``n_c``).
        seed: seeds the draw.

    Returns:
        ``(first, second)``: int64 index arrays, sorted.
    """
    rng = np.random.default_rng(seed)
    first, second = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(idx.size)]
        k = int(fraction * idx.size)
        second.append(idx[:k])
        first.append(idx[k:])
    return np.sort(np.concatenate(first)), np.sort(np.concatenate(second))


# --------------------------------------------------------------------------- MNIST / Fashion-MNIST


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one idx file (the MNIST format), gzipped or not.

    The format: two zero bytes, a type byte (0x08 = uint8), the number of
    dimensions, then each dimension as a big-endian uint32, then the data.
    Gzip is detected by the magic bytes ``1f 8b`` (or a ``.gz`` suffix).

    Returns:
        The array, shape given by the file's dimensions.

    Raises:
        DatasetNotFoundError: the file is not a valid idx file.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b" or path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DatasetNotFoundError(f"{path} is not a readable gzip file ({e}); delete it and get it again.") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetNotFoundError(
            f"{path} is not an idx file (bad magic number {raw[:4].hex()}); delete it and get it again."
        )
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DatasetNotFoundError(
            f"{path} is truncated or corrupt ({len(raw)} bytes, expected {expected} for shape {dims}); "
            "delete it and get it again."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _find_idx_files(directory: Path) -> dict[str, Path] | None:
    """The four idx files in ``directory`` (raw preferred over .gz), or None."""
    found: dict[str, Path] = {}
    for key, stem in _IDX_STEMS.items():
        # also accept the "train-images.idx3-ubyte" spelling some mirrors use
        names = (stem, stem + ".gz", stem.replace("-idx", ".idx", 1), stem.replace("-idx", ".idx", 1) + ".gz")
        path = next((directory / n for n in names if (directory / n).is_file()), None)
        if path is None:
            return None
        found[key] = path
    return found


def _load_idx_dataset(dataset: str, data_dir: str, download: bool) -> tuple[Pool, tuple[int, ...], int]:
    cls_name, human = _IDX_DATASETS[dataset]
    root = Path(data_dir)
    tv_raw = root / cls_name / "raw"
    # torchvision reads only uncompressed files from <root>/<Class>/raw
    if all((tv_raw / stem).is_file() for stem in _IDX_STEMS.values()) or (
        download and _find_idx_files(tv_raw) is None and _find_idx_files(root) is None
    ):
        return _load_idx_torchvision(dataset, data_dir, download)
    for directory in (tv_raw, root, root / dataset):
        files = _find_idx_files(directory)
        if files is not None:
            arrays = {key: read_idx(path) for key, path in files.items()}
            return _idx_pool(arrays, human, directory)
    how = f"pass --download (download=True) to fetch it into {root}"
    if dataset == "fashion-mnist":
        how += (", or offline: apt-get install dataset-fashion-mnist and "
                "--data-dir /usr/share/datasets/fashion-mnist")
    raise DatasetNotFoundError(
        f"{human} not found in {root} (looked for {'/'.join(_IDX_STEMS.values())}[.gz] "
        f"in {tv_raw}, {root} and {root / dataset}); {how}."
    )


def _load_idx_torchvision(dataset: str, data_dir: str, download: bool) -> tuple[Pool, tuple[int, ...], int]:
    import torchvision.datasets as tvd

    cls_name, human = _IDX_DATASETS[dataset]
    cls = getattr(tvd, cls_name)
    try:
        train = cls(root=data_dir, train=True, download=download)
        test = cls(root=data_dir, train=False, download=download)
    except (RuntimeError, OSError) as e:
        what = "could not download" if download else "could not read"
        raise DatasetNotFoundError(
            f"{what} {human} into {Path(data_dir) / cls_name / 'raw'} ({str(e).splitlines()[0]}); "
            f"check the network, or put the four idx files there by hand."
        ) from e
    arrays = {
        "train_x": train.data.numpy(), "train_y": train.targets.numpy(),
        "test_x": test.data.numpy(), "test_y": test.targets.numpy(),
    }
    return _idx_pool(arrays, human, Path(data_dir) / cls_name / "raw")


def _idx_pool(arrays: dict[str, np.ndarray], human: str, where: Path) -> tuple[Pool, tuple[int, ...], int]:
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (x.shape[0],):
            raise DatasetNotFoundError(
                f"{human} {split} files in {where} have images {x.shape} and labels {y.shape}, "
                "expected (N, 28, 28) and (N,); replace them with the original files."
            )
        if y.size and (y.min() < 0 or y.max() > 9):
            raise DatasetNotFoundError(f"{human} {split} labels in {where} are outside 0..9; replace the files.")
    pool = Pool(
        train_x=_to_unit_float(arrays["train_x"]).unsqueeze(1),
        train_y=torch.from_numpy(arrays["train_y"].astype(np.int64)),
        test_x=_to_unit_float(arrays["test_x"]).unsqueeze(1),
        test_y=torch.from_numpy(arrays["test_y"].astype(np.int64)),
    )
    return pool, (1, 28, 28), 10


def _to_unit_float(x: np.ndarray) -> torch.Tensor:
    """uint8 pixels -> float32 in [0, 1], same shape."""
    return torch.from_numpy(np.ascontiguousarray(x)).to(torch.float32).div_(255.0)


# --------------------------------------------------------------------------- CIFAR-10 / CIFAR-100

# dataset -> (torchvision class, human name, folder, file names, n_classes)
_CIFAR: dict[str, tuple[str, str, str, tuple[str, ...], int]] = {
    "cifar10": ("CIFAR10", "CIFAR-10", "cifar-10-batches-py",
                tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta"), 10),
    "cifar100": ("CIFAR100", "CIFAR-100", "cifar-100-python", ("train", "test", "meta"), 100),
}


def _load_cifar(dataset: str, data_dir: str, download: bool) -> tuple[Pool, tuple[int, ...], int]:
    cls_name, human, folder_name, names, n_classes = _CIFAR[dataset]
    root = Path(data_dir)
    folder = root / folder_name
    present = [n for n in names if (folder / n).is_file()]
    if not download and not present:
        raise DatasetNotFoundError(
            f"{human} not found in {root} (looked for {folder}/{', '.join(names)}); "
            f"pass --download (download=True) to fetch it into {root}."
        )
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    try:
        train = cls(root=data_dir, train=True, download=download)
        test = cls(root=data_dir, train=False, download=download)
    except (RuntimeError, OSError) as e:
        if download:
            msg = f"could not download {human} into {root} ({str(e).splitlines()[0]}); check the network."
        else:
            missing = sorted(set(names) - set(present))
            state = f"incomplete (missing {', '.join(missing)})" if missing else "corrupted (md5 mismatch)"
            msg = (f"{human} files in {folder} are {state}; delete that folder and pass --download "
                   f"(download=True) to fetch them again.")
        raise DatasetNotFoundError(msg) from e

    def convert(ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.asarray(ds.data)).permute(0, 3, 1, 2)  # torchvision keeps HWC; we want CHW
        x = x.to(torch.float32).div_(255.0).contiguous()
        return x, torch.as_tensor(np.asarray(ds.targets, dtype=np.int64))

    train_x, train_y = convert(train)
    test_x, test_y = convert(test)
    return Pool(train_x, train_y, test_x, test_y), (3, 32, 32), n_classes

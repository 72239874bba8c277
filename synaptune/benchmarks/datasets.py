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
import math
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synaptune._registry import did_you_mean
from synaptune.benchmarks.base import Pool
from synaptune.exceptions import ConfigError, DatasetNotFoundError

DATASETS: tuple[str, ...] = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100")

#: dataset -> (train samples, test samples, input shape, classes) of the real releases: what a
#: stream is known to be before its files are read (memory estimates, checks of presets).
DATASET_FACTS: dict[str, tuple[int, int, tuple[int, ...], int]] = {
    "digits": (1442, 355, (1, 8, 8), 10),
    "mnist": (60000, 10000, (1, 28, 28), 10),
    "fashion-mnist": (60000, 10000, (1, 28, 28), 10),
    "cifar10": (50000, 10000, (3, 32, 32), 10),
    "cifar100": (50000, 10000, (3, 32, 32), 100),
}

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

#: How to replace a damaged dataset file (the end of several messages).
_REGET = "delete it, then copy the original file there or pass --download to fetch it again"

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
    if dataset in DATASETS and Path(data_dir).exists() and not Path(data_dir).is_dir():
        raise DatasetNotFoundError(f"--data-dir {data_dir} is a file, not a folder; give the folder that holds "
                                   "the dataset (e.g. the one with MNIST/raw/ or cifar-10-batches-py/ in it).")
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
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DatasetNotFoundError(f"cannot read {path} ({e.strerror or e}); check its permissions.") from None
    if not raw:
        raise DatasetNotFoundError(f"{path} is empty (0 bytes), not an idx file; {_REGET}.")
    if raw[:2] == b"\x1f\x8b" or path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DatasetNotFoundError(f"{path} is not a readable gzip file ({e}); {_REGET}.") from e
        if not raw:
            raise DatasetNotFoundError(f"{path} decompresses to 0 bytes, not an idx file; {_REGET}.")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetNotFoundError(f"{path} is not an idx file (bad magic number {raw[:4].hex()}); {_REGET}.")
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DatasetNotFoundError(
            f"{path} is truncated or corrupt ({len(raw)} bytes, expected {expected} for shape {dims}); {_REGET}."
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


def _check_idx_file(path: Path, ndim: int) -> None:
    """Check an uncompressed idx file's header against its size, without reading its data.

    torchvision's reader fails on a bad file with a bare ``ValueError``; this
    names the file and what is wrong with it instead.

    Raises:
        DatasetNotFoundError: the file is empty, has no idx header, has
            ``ndim`` other than expected, or a size its header does not give.
    """
    fix = _REGET
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(4 + 4 * ndim)
    except OSError as e:
        raise DatasetNotFoundError(f"cannot read {path} ({e.strerror or e}); check its permissions.") from None
    if size == 0:
        raise DatasetNotFoundError(f"{path} is empty (0 bytes), not an idx file; {fix}.")
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_DTYPES:
        raise DatasetNotFoundError(f"{path} is not an idx file (bad magic number {head[:4].hex()}); {fix}.")
    if head[3] != ndim or len(head) < 4 + 4 * ndim:
        raise DatasetNotFoundError(f"{path} holds a {head[3]}-dimensional array, expected {ndim} dimensions "
                                   f"for this file; {fix}.")
    dims = tuple(int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = 4 + 4 * ndim + math.prod(dims) * np.dtype(_IDX_DTYPES[head[2]]).itemsize
    if size != expected:
        raise DatasetNotFoundError(f"{path} is truncated or corrupt ({size} bytes, expected {expected} for shape "
                                   f"{dims}); {fix}.")


def _idx_layouts(dataset: str, root: Path) -> str:
    """The on-disk layouts read for an idx dataset under ``root``, for messages."""
    cls_name, _ = _IDX_DATASETS[dataset]
    stems = list(_IDX_STEMS.values())
    return (f"torchvision's layout {root / cls_name / 'raw' / stems[0]}[.gz] (with {', '.join(stems[1:])} "
            f"beside it), or those four files directly in {root} or {root / dataset}")


def _load_idx_dataset(dataset: str, data_dir: str, download: bool) -> tuple[Pool, tuple[int, ...], int]:
    cls_name, human = _IDX_DATASETS[dataset]
    root = Path(data_dir)
    tv_raw = root / cls_name / "raw"
    # torchvision reads only uncompressed files from <root>/<Class>/raw
    if all((tv_raw / stem).is_file() for stem in _IDX_STEMS.values()):
        for key, stem in _IDX_STEMS.items():
            _check_idx_file(tv_raw / stem, 3 if key.endswith("_x") else 1)
        return _load_idx_torchvision(dataset, data_dir, download)
    if download and _find_idx_files(tv_raw) is None and _find_idx_files(root) is None:
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
        f"{human} not found in {root}: --data-dir must hold {_idx_layouts(dataset, root)}. "
        f"Point --data-dir at the folder that holds them, or {how}."
    )


def _load_idx_torchvision(dataset: str, data_dir: str, download: bool) -> tuple[Pool, tuple[int, ...], int]:
    import torchvision.datasets as tvd

    cls_name, human = _IDX_DATASETS[dataset]
    cls = getattr(tvd, cls_name)
    raw = Path(data_dir) / cls_name / "raw"
    try:
        train = cls(root=data_dir, train=True, download=download)
        test = cls(root=data_dir, train=False, download=download)
    except (RuntimeError, OSError, ValueError, EOFError) as e:
        reason = (str(e).splitlines() or [type(e).__name__])[0]
        if download:
            msg = (f"could not download {human} into {raw} ({reason}); check the network, or put the files "
                   f"there by hand: {_idx_layouts(dataset, Path(data_dir))}.")
        else:
            msg = (f"could not read {human} from {raw} ({reason}); the files there are damaged: delete them and "
                   f"pass --download (download=True) to fetch them again, or copy the original files there.")
        raise DatasetNotFoundError(msg) from e
    arrays = {
        "train_x": train.data.numpy(), "train_y": train.targets.numpy(),
        "test_x": test.data.numpy(), "test_y": test.targets.numpy(),
    }
    return _idx_pool(arrays, human, raw)


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
            f"{human} not found in {root}: --data-dir must hold torchvision's layout {folder}/ with "
            f"{', '.join(names)} (what {dataset.replace('cifar', 'cifar-')}-python.tar.gz holds). "
            f"Point --data-dir at the folder that holds "
            f"{folder_name}/, or pass --download (download=True) to fetch it into {root}."
        )
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    try:
        train = cls(root=data_dir, train=True, download=download)
        test = cls(root=data_dir, train=False, download=download)
    except (RuntimeError, OSError, ValueError, EOFError, pickle.UnpicklingError) as e:
        if download:
            reason = (str(e).splitlines() or [type(e).__name__])[0]
            msg = f"could not download {human} into {root} ({reason}); check the network."
        else:
            missing = sorted(set(names) - set(present))
            empty = [n for n in present if (folder / n).stat().st_size == 0]
            state = (f"incomplete (missing {', '.join(missing)})" if missing
                     else f"corrupted ({', '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty)" if empty
                     else "corrupted (md5 mismatch)")
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

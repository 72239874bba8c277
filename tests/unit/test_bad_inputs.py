# SPDX-License-Identifier: MIT
"""Bad inputs that used to end in a traceback, or ran silently, now end in one line
``synaptune: error: ...`` with exit code 2 before anything starts (or are refused).

``synaptune.cli.main`` runs in-process; nothing here starts Ray or trains for long.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from synaptune.benchmarks import BenchmarkParams, build_stream
from synaptune.benchmarks import streams
from synaptune.benchmarks.datasets import load_pool
from synaptune.exceptions import ConfigError, DatasetNotFoundError
from synaptune.hpo.preset_stream import other_stream
from tests.conftest import free_port
from tests.unit.conftest import error_line, run_args, sweep_args

GIB = 1024**3


# ------------------------------------------------------------------ fixtures


@pytest.fixture(autouse=True)
def _fresh_pool_cache() -> Iterator[None]:
    load_pool.cache_clear()
    yield
    load_pool.cache_clear()


@pytest.fixture(autouse=True)
def _no_ray_left() -> Iterator[None]:
    yield
    import sys

    if "ray" in sys.modules:
        assert not sys.modules["ray"].is_initialized(), "a bad input started Ray"


def unreachable_uri() -> str:
    return f"http://127.0.0.1:{free_port()}"


def idx_bytes(a: np.ndarray) -> bytes:
    """uint8 array -> idx file content: 0, 0, type 0x08, ndim, big-endian dims, data."""
    return bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def write_mnist_raw(root: Path, *, empty: str = "") -> Path:
    """Tiny MNIST in torchvision's layout ``root/MNIST/raw``; the file ``empty`` is written with 0 bytes."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(30) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(20) % 10).astype(np.uint8),
    }
    for stem, a in arrays.items():
        (raw / stem).write_bytes(b"" if stem == empty else idx_bytes(a))
    return raw


def write_preset(workdir: Path, name: str = "preset.yaml", **changes: object) -> str:
    """A preset as `synaptune export` writes it for a split-digits sweep (resolved benchmark options)."""
    doc = {"format_version": 1, "learner": "naive",
           "benchmark": {"name": "split-digits", "params": {
               "n_tasks": 5, "classes_per_task": 2, "seed": 0, "val_fraction": 0.1, "scenario": "class-il",
               "data_dir": "./data", "download": False}},
           "params": {"lr": 0.05, "epochs": 1, "hidden_units": 32}, "seeds": 1,
           "protocol": {"name": "end-of-stream"},
           "objective": {"metric": "objective", "value": 0.9, "mode": "max"},
           "stream": {"tuned_tasks": 5, "classes": "0 1|2 3|4 5|6 7|8 9", "val_samples": "36,36,35,36,35"},
           "provenance": {"experiment": "naive-split-digits", "run_id": "r1"}}
    doc.update(changes)
    path = workdir / name
    path.write_text(yaml.safe_dump(doc))
    return str(path)


# ------------------------------------------------------------------ 1. user files: encoding, empty, directory


BAD_FILES = [
    (b"\xff\xfe bad", "is not UTF-8 text (byte 0xff at offset 0; it looks like UTF-16); save it as UTF-8."),
    (b"learner: naive\n\xe9t\xe9\n", "is not UTF-8 text (byte 0xe9 at offset 15); save it as UTF-8."),
    (b"", "is empty (0 bytes); "),
    (b"  \n\n", "is empty (4 bytes); "),
]


@pytest.mark.parametrize(("content", "expected"), BAD_FILES)
def test_bad_space_file_bytes_in_sweep_before_ray(synaptune, workdir: Path, content: bytes,  # noqa: ANN001
                                                  expected: str) -> None:
    (workdir / "bad.yaml").write_bytes(content)
    msg = error_line(synaptune(*sweep_args(workdir, "--space", "bad.yaml")))
    assert msg.startswith("search space file bad.yaml "), msg
    assert expected in msg, msg
    if not content.strip():
        assert msg.endswith("`synaptune space naive` prints one to start from."), msg
    assert not (workdir / "m.db").exists()  # refused before the tracking store, let alone Ray


@pytest.mark.parametrize(("content", "expected"), BAD_FILES)
def test_bad_space_file_bytes_in_space_command(synaptune, workdir: Path, content: bytes,  # noqa: ANN001
                                               expected: str) -> None:
    (workdir / "bad.yaml").write_bytes(content)
    msg = error_line(synaptune("space", "naive", "--space", "bad.yaml"))
    assert msg.startswith("search space file bad.yaml ") and expected in msg, msg


@pytest.mark.parametrize(("content", "expected"), BAD_FILES)
def test_bad_preset_file_bytes(synaptune, workdir: Path, content: bytes, expected: str) -> None:  # noqa: ANN001
    (workdir / "bad.yaml").write_bytes(content)
    msg = error_line(synaptune(*run_args(workdir, "--preset", "bad.yaml")))
    assert msg.startswith("preset file bad.yaml ") and expected in msg, msg
    if not content.strip():
        assert msg.endswith("`synaptune export` writes one."), msg
    assert not (workdir / "m.db").exists()


def test_directory_given_for_a_file(synaptune, workdir: Path) -> None:  # noqa: ANN001
    (workdir / "adir").mkdir()
    expected = "is a directory, not a file; name the YAML file itself."
    assert error_line(synaptune(*run_args(workdir, "--preset", "adir"))) == f"preset file adir {expected}"
    assert error_line(synaptune("space", "naive", "--space", "adir")) == f"search space file adir {expected}"
    assert error_line(synaptune(*sweep_args(workdir, "--space", "adir"))) == f"search space file adir {expected}"


def test_missing_files_keep_their_message(synaptune, workdir: Path) -> None:  # noqa: ANN001
    assert error_line(synaptune(*run_args(workdir, "--preset", "nope.yaml"))) == "preset file nope.yaml does not exist."
    assert error_line(synaptune("space", "naive", "--space", "nope.yaml")) == (
        "search space file nope.yaml does not exist. Give an existing YAML file to --space.")


def test_utf8_byte_order_mark_is_accepted(synaptune, workdir: Path) -> None:  # noqa: ANN001
    (workdir / "bom.yaml").write_bytes(b"\xef\xbb\xbflearner: naive\nparams: {lr: {float: [0.01, 0.1]}}\n")
    code, out, _ = synaptune("space", "naive", "--space", "bom.yaml")
    assert code == 0 and "lr:" in out


# ------------------------------------------------------------------ 2. damaged dataset files


@pytest.mark.parametrize("empty", ["train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"])
def test_empty_file_in_torchvision_mnist_layout(synaptune, workdir: Path, empty: str) -> None:  # noqa: ANN001
    raw = write_mnist_raw(workdir / "data", empty=empty)
    msg = error_line(synaptune(*run_args(workdir, "--learner", "naive", "--benchmark", "split-mnist",
                                         "--data-dir", str(workdir / "data"))))
    assert msg == (f"{raw / empty} is empty (0 bytes), not an idx file; delete it, then copy the original file "
                   "there or pass --download to fetch it again."), msg
    assert not (workdir / "m.db").exists()


def test_truncated_file_in_torchvision_mnist_layout(workdir: Path) -> None:
    raw = write_mnist_raw(workdir / "data")
    labels = raw / "train-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-3])
    with pytest.raises(DatasetNotFoundError, match=r"train-labels-idx1-ubyte is truncated or corrupt \(35 bytes, "
                                                   r"expected 38 for shape \(30,\)\)"):
        load_pool("mnist", str(workdir / "data"), False)
    labels.write_bytes(idx_bytes(np.zeros((30, 28, 28), dtype=np.uint8)))  # images where labels belong
    with pytest.raises(DatasetNotFoundError, match=r"train-labels-idx1-ubyte holds a 3-dimensional array, "
                                                   r"expected 1"):
        load_pool("mnist", str(workdir / "data"), False)


def test_empty_gzipped_idx_file(workdir: Path) -> None:
    import gzip

    raw = write_mnist_raw(workdir / "data")
    (raw / "train-labels-idx1-ubyte").unlink()  # torchvision's reader needs all four uncompressed
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b""))
    with pytest.raises(DatasetNotFoundError, match=r"train-labels-idx1-ubyte\.gz decompresses to 0 bytes"):
        load_pool("mnist", str(workdir / "data"), False)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(b"")
    with pytest.raises(DatasetNotFoundError, match=r"train-labels-idx1-ubyte\.gz is empty \(0 bytes\)"):
        load_pool("mnist", str(workdir / "data"), False)


def test_data_dir_that_is_a_file(synaptune, workdir: Path) -> None:  # noqa: ANN001
    (workdir / "notes.txt").write_text("x")
    msg = error_line(synaptune(*run_args(workdir, "--learner", "naive", "--benchmark", "split-mnist",
                                         "--data-dir", "notes.txt")))
    assert msg.startswith("--data-dir notes.txt is a file, not a folder;"), msg


# ------------------------------------------------------------------ 3. missing data: --data-dir and the layouts


def test_missing_mnist_names_data_dir_and_layout_not_the_network(synaptune, workdir: Path) -> None:  # noqa: ANN001
    msg = error_line(synaptune(*run_args(workdir, "--learner", "naive", "--benchmark", "split-mnist",
                                         "--data-dir", "nodata")))
    assert msg.startswith("MNIST not found in nodata: --data-dir must hold"), msg
    assert "nodata/MNIST/raw/train-images-idx3-ubyte[.gz]" in msg
    assert "t10k-labels-idx1-ubyte" in msg
    assert "pass --download (download=True) to fetch it into nodata" in msg
    assert "check the network" not in msg
    assert not (workdir / "nodata").exists()


@pytest.mark.parametrize(("benchmark", "folder"), [("split-cifar10", "cifar-10-batches-py"),
                                                   ("split-cifar100", "cifar-100-python")])
def test_missing_cifar_names_data_dir_and_layout(synaptune, workdir: Path, benchmark: str,  # noqa: ANN001
                                                 folder: str) -> None:
    msg = error_line(synaptune(*run_args(workdir, "--learner", "naive", "--benchmark", benchmark,
                                         "--data-dir", "nodata")))
    assert "--data-dir must hold" in msg and f"nodata/{folder}/" in msg, msg
    assert "check the network" not in msg


def test_connection_is_blamed_only_with_download(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets as tvd

    def offline(self: object) -> None:
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nno network")

    monkeypatch.setattr(tvd.MNIST, "download", offline)
    with pytest.raises(DatasetNotFoundError, match=r"could not download MNIST into .*check the network.*"
                                                   r"MNIST/raw/train-images-idx3-ubyte\[\.gz\]"):
        load_pool("mnist", str(workdir / "dl"), True)

    # all four files there, valid headers, but torchvision cannot read them: no network talk
    write_mnist_raw(workdir / "data")

    def broken(self: object, *_: object, **__: object) -> None:
        raise ValueError("invalid literal for int() with base 16: b''")

    monkeypatch.setattr(tvd.MNIST, "_load_data", broken)
    with pytest.raises(DatasetNotFoundError) as e:
        load_pool("mnist", str(workdir / "data"), False)
    assert "could not read MNIST" in str(e.value) and "check the network" not in str(e.value)
    assert "--download" in str(e.value)


# ------------------------------------------------------------------ 4. memory of a stream


def test_memory_estimate_counts_what_is_materialised() -> None:
    o = streams.outline("permuted-digits", BenchmarkParams(n_tasks=100_000))
    parts = streams.memory_parts(o)
    assert parts["accuracy matrix"] == 100_000 ** 2 * 8  # the 74.5 GiB of the report
    assert parts["pixel permutations"] == 99_999 * 64 * 8
    assert streams.memory_parts(o, matrices=3)["accuracy matrix"] == 3 * parts["accuracy matrix"]
    assert streams.memory_parts(streams.outline("split-digits"))["pixel permutations"] == 0
    available = streams.available_memory()
    assert available is None or available > 0


def test_builder_refuses_a_stream_larger_than_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "available_memory", lambda: 8 * GIB)
    with pytest.raises(ConfigError) as e:
        build_stream("permuted-digits", BenchmarkParams(n_tasks=100_000))
    msg = str(e.value)
    assert msg.startswith("permuted-digits with 100000 tasks needs about 74.6 GiB of memory (the 100000 x 100000 "
                          "accuracy matrix 74.5 GiB; 99999 pixel permutations 48.8 MiB;"), msg
    assert "more than the 8.0 GiB available here; use --n-tasks 32" in msg and "or fewer" in msg
    fit = int(msg.split("use --n-tasks ")[1].split()[0])
    assert build_stream("permuted-digits", BenchmarkParams(n_tasks=3)).n_tasks == 3  # small ones still build
    o = streams.outline("permuted-digits", BenchmarkParams(n_tasks=fit))
    assert sum(streams.memory_parts(o).values()) <= 8 * GIB
    o = streams.outline("permuted-digits", BenchmarkParams(n_tasks=fit + 1))
    assert sum(streams.memory_parts(o).values()) > 8 * GIB


def test_run_refuses_too_many_tasks(synaptune, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(streams, "available_memory", lambda: 64 * GIB)
    msg = error_line(synaptune(*run_args(workdir, "--benchmark", "permuted-digits", "--n-tasks", "100000",
                                         "--learner", "naive", "--seeds", "2")))
    assert msg.startswith("permuted-digits with 100000 tasks needs about "), msg
    assert "accuracy matrix 74.5 GiB x 15 copies (2 for the seeds, 13 for their mean as JSON)" in msg
    assert "more than the 64.0 GiB available here; use --n-tasks " in msg
    assert not (workdir / "m.db").exists()


def test_run_refuses_a_stream_no_machine_has_room_for(synaptune, workdir: Path) -> None:  # noqa: ANN001
    # 10^7 tasks: an accuracy matrix of 727 TiB, whatever this machine has
    msg = error_line(synaptune(*run_args(workdir, "--benchmark", "permuted-digits", "--n-tasks", "10000000",
                                         "--learner", "naive")))
    assert msg.startswith("permuted-digits with 10000000 tasks needs about "), msg
    assert "available here; use --n-tasks" in msg


def test_sweep_refuses_too_many_tasks_before_ray(synaptune, workdir: Path,  # noqa: ANN001
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "available_memory", lambda: 8 * GIB)
    msg = error_line(synaptune(*sweep_args(workdir, "--benchmark", "permuted-digits", "--n-tasks", "100000")))
    assert msg.startswith("permuted-digits with 100000 tasks needs about "), msg
    # Every trial running at once fills its own matrices: 2 at once x (1 run + 3 for its results).
    assert "accuracy matrix 74.5 GiB x 8 copies (2 trials at once x (1 runs + 3 for each result's mean" in msg
    # A stream that fits once but not in every trial at once is refused too.
    monkeypatch.setattr(streams, "available_memory", lambda: 2 * GIB)
    msg = error_line(synaptune(*sweep_args(workdir, "--benchmark", "permuted-digits", "--n-tasks", "10000",
                                           "--concurrency", "2", "--seeds", "2")))
    assert "x 10 copies (2 trials at once x (2 runs + 3" in msg and "more than the 2.0 GiB available" in msg


# ------------------------------------------------------------------ 5. --device


def test_cuda_without_cuda(synaptune, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device in ("cuda", "cuda:0", "cuda:3"):
        msg = error_line(synaptune(*run_args(workdir, "--learner", "naive", "--device", device)))
        assert msg == f"--device {device}: no CUDA device here (torch.cuda.is_available() is False); use --device cpu."
    assert not (workdir / "m.db").exists()


def test_cuda_index_beyond_the_devices(synaptune, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    msg = error_line(synaptune(*run_args(workdir, "--learner", "naive", "--device", "cuda:2")))
    assert msg == ("--device cuda:2: there is no CUDA device 2; this machine has 2 (cuda:0 to cuda:1). "
                   "Use one of them, or --device cpu.")


@pytest.mark.parametrize(("device", "expected"), [
    ("tpu", "--device 'tpu' is not a device name; use --device cpu, cuda or cuda:N"),
    ("gpu", "--device 'gpu' is not a device name;"),
    ("cuda:x", "--device 'cuda:x' is not a device name;"),
    ("meta", "--device meta: synaptune runs on cpu, cuda, mps, not meta;"),
])
def test_unknown_device(synaptune, workdir: Path, device: str, expected: str) -> None:  # noqa: ANN001
    msg = error_line(synaptune(*run_args(workdir, "--learner", "naive", "--device", device)))
    assert msg.startswith(expected), msg


# ------------------------------------------------------------------ 6. export -o


def test_export_force_to_a_directory(synaptune, workdir: Path) -> None:  # noqa: ANN001
    (workdir / "out").mkdir()
    for force in ((), ("--force",)):
        msg = error_line(synaptune("export", "--experiment", "x", "-o", "out", *force,
                                   "--tracking-uri", unreachable_uri()))  # refused before MLflow is asked
        assert msg == ("-o out is a directory; a preset is one YAML file: name the file, e.g. -o out/preset.yaml "
                       "(--force never replaces a directory).")
    assert list((workdir / "out").iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc")
@pytest.mark.parametrize("target", ["/proc/x.yaml", "/proc/sub/x.yaml"])
def test_export_under_proc(synaptune, workdir: Path, target: str) -> None:  # noqa: ANN001
    msg = error_line(synaptune("export", "--experiment", "x", "-o", target, "--force",
                               "--tracking-uri", unreachable_uri()))
    assert msg.startswith(f"cannot write -o {target}: no file can be created in /proc ("), msg
    assert msg.endswith("); choose another -o."), msg


def test_export_under_a_file(synaptune, workdir: Path) -> None:  # noqa: ANN001
    (workdir / "afile").write_text("x")
    msg = error_line(synaptune("export", "--experiment", "x", "-o", "afile/p.yaml", "--tracking-uri", unreachable_uri()))
    assert msg == "cannot write -o afile/p.yaml: afile is a file, not a folder; choose another -o."


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc")
def test_export_pareto_under_proc(synaptune, workdir: Path) -> None:  # noqa: ANN001
    msg = error_line(synaptune("export", "--experiment", "x", "--pareto", "-o", "/proc/fronts",
                               "--tracking-uri", unreachable_uri()))
    assert msg.startswith("cannot write -o /proc/fronts: no file can be created in /proc"), msg


def test_write_preset_errors_are_one_line(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from synaptune.hpo import presets
    from synaptune.learners.naive import NaiveParams

    preset = presets.Preset("naive", NaiveParams(), "split-digits", BenchmarkParams())

    def full_disk(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(ConfigError, match=r"cannot write -o p\.yaml \(No space left on device\); choose another -o"):
        presets.write_preset(preset, "p.yaml")
    assert [p.name for p in workdir.iterdir()] == []  # the write probe left nothing behind


# ------------------------------------------------------------------ 7. search-space types and ranges


SPACE_ERRORS = [
    ({"epochs": {"int": [True, 3]}},
     "`epochs`: bounds must be numbers, got [True, 3]; true / false are booleans, not ints; write two numbers."),
    ({"lr": {"float": [False, 0.5]}},
     "`lr`: bounds must be numbers, got [False, 0.5]; true / false are booleans, not floats; write two numbers."),
    ({"epochs": {"categorical": [True, 3]}}, "`epochs`: choice True is a boolean, but `epochs` is an int field."),
    ({"batch_size": {"categorical": [16, 3.5]}},
     "`batch_size`: choice 3.5 is a float, but `batch_size` is an int field."),
    ({"optimizer": {"categorical": ["sgd", 1]}}, "`optimizer`: choice 1 is an int, but `optimizer` is a str field."),
    ({"epochs": {"int": [1, 3]}, "lr": {"float": [0.01, 0.1], "when": {"epochs": True}}},
     "`lr`: when: `epochs` value True is a boolean, but `epochs` is an int field."),
    ({"epochs": {"int": [1, 3], "step": 5}},
     "`epochs`: `step` 5 is larger than the range [1, 3], so only 1 would ever be sampled; use a smaller step, "
     "or put `epochs` under `fixed`."),
    ({"epochs": {"int": [1, 3], "step": True}}, "`epochs`: `step` must be a positive number, got True."),
    ({"lr": {"float": [0.1, 0.01]}}, "`lr`: range [0.1, 0.01] is inverted; low must be below high."),
    ({"lr": {"float": [0.001, float("inf")]}}, "`lr`: bounds must be finite numbers, got [0.001, inf]."),
    ({"weight_decay": {"float": [0.0, 0.1], "log": True}}, "`weight_decay`: log range [0.0, 0.1] touches 0"),
    ({"epochs": {"int": [0, 3], "log": True}}, "`epochs`: log range [0, 3] touches 0 or below"),
]


@pytest.mark.parametrize(("params", "expected"), SPACE_ERRORS)
def test_space_types_and_ranges(synaptune, workdir: Path, params: dict, expected: str) -> None:  # noqa: ANN001
    (workdir / "s.yaml").write_text(yaml.safe_dump({"learner": "naive", "params": params}))
    msg = error_line(synaptune("space", "naive", "--space", "s.yaml"))
    assert msg.startswith(f"s.yaml: {expected}"), msg


def test_bool_bound_refused_by_sweep_before_ray(synaptune, workdir: Path) -> None:  # noqa: ANN001
    (workdir / "s.yaml").write_text("learner: naive\nparams:\n  epochs: {int: [true, 3]}\n")
    msg = error_line(synaptune(*sweep_args(workdir, "--space", "s.yaml")))
    assert msg.startswith("s.yaml: `epochs`: bounds must be numbers, got [True, 3]"), msg


def test_numbers_written_as_yaml_strings_still_work(synaptune, workdir: Path) -> None:  # noqa: ANN001
    # PyYAML reads 1e-3 (no dot) as a string: such bounds stay accepted
    (workdir / "s.yaml").write_text("learner: naive\nparams:\n  lr: {float: [1e-3, 1e-1], log: true}\n")
    code, out, _ = synaptune("space", "naive", "--space", "s.yaml")
    assert code == 0 and "lr:" in out


# ------------------------------------------------------------------ 8. classes per task that drop classes


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_classes_per_task_that_drops_classes(synaptune, workdir: Path, command: str) -> None:  # noqa: ANN001
    args = (run_args(workdir, "--learner", "naive", "--classes-per-task", "7") if command == "run"
            else sweep_args(workdir, "--classes-per-task", "7"))
    msg = error_line(synaptune(*args))
    assert msg == ("split-digits: --classes-per-task 7 does not divide the 10 classes: it would make 1 task of 7 "
                   "and leave classes 7, 8, 9 out. Use a --classes-per-task that divides 10 (1, 2, 5 or 10), or "
                   "add --n-tasks 1 to use only 7 of the classes on purpose.")
    assert not (workdir / "m.db").exists()


def test_dropped_classes_follow_the_class_order() -> None:
    with pytest.raises(ConfigError, match=r"3 tasks of 3 and leave class 7 out"):
        build_stream("split-digits", BenchmarkParams(classes_per_task=3, seed=4))
    with pytest.raises(ConfigError, match=r"\(1, 2, 4, 5, 10, 20, 25, 50 or 100\)"):
        streams.outline("split-cifar100", BenchmarkParams(classes_per_task=30))


def test_classes_per_task_that_divides_or_with_n_tasks_is_fine() -> None:
    assert build_stream("split-digits", BenchmarkParams(classes_per_task=5)).n_tasks == 2
    s = build_stream("split-digits", BenchmarkParams(classes_per_task=7, n_tasks=1))  # on purpose
    assert [t.classes for t in s.tasks] == [(0, 1, 2, 3, 4, 5, 6)]


# ------------------------------------------------------------------ 9. a preset on another stream


@pytest.mark.parametrize(("extra", "diff", "drop"), [
    (("--benchmark", "permuted-digits"), "another benchmark, scenario domain-il instead of class-il", "--benchmark"),
    (("--scenario", "task-il"), "scenario task-il instead of class-il", "--scenario"),
    (("--benchmark", "split-mnist"), "another benchmark, inputs 1x28x28 instead of 1x8x8", "--benchmark"),
    (("--n-tasks", "2", "--classes-per-task", "5"), "5 classes per task instead of 2", "--classes-per-task"),
])
def test_preset_on_another_stream_is_refused(synaptune, workdir: Path, extra: tuple[str, ...],  # noqa: ANN001
                                             diff: str, drop: str) -> None:
    preset = write_preset(workdir)
    msg = error_line(synaptune(*run_args(workdir, "--preset", preset, *extra)))
    assert msg.startswith(f"{preset} was tuned on split-digits (class-il, 5 tasks x 2 classes, inputs 1x8x8, "
                          "10 classes), not on "), msg
    assert f": {diff}; its tuned values are not known to hold there. Drop {drop} to run it on the stream it was " \
           "tuned on, or pass --other-stream" in msg, msg
    assert not (workdir / "m.db").exists()


def test_same_stream_cut_differently_is_not_another_stream(workdir: Path) -> None:
    from synaptune.hpo.presets import load_preset

    preset = load_preset(write_preset(workdir))
    for params in (BenchmarkParams(n_tasks=3, classes_per_task=2, seed=2, scenario="class-il"),
                   BenchmarkParams(n_tasks=5, classes_per_task=2, val_fraction=0.3, data_dir="elsewhere")):
        assert other_stream(preset, "p.yaml", "split-digits", params)[2] == []


def test_held_out_stream_preset_on_its_eval_benchmark_is_its_own(workdir: Path) -> None:
    from synaptune.hpo.presets import load_preset

    preset = load_preset(write_preset(workdir, protocol={
        "name": "held-out-stream", "eval_benchmark": {"name": "split-mnist", "seed": 1}}))
    params = preset.protocol.eval_benchmark_params(preset.benchmark_params)
    tuned, asked, diffs = other_stream(preset, "p.yaml", "split-mnist", params)
    assert [d for d in diffs if "benchmark" in d] == []  # its own evaluation stream, by design


class FakeStore:
    """Stands in for the MLflow results store of ``run`` (creating a real one takes seconds)."""

    logged: list[dict] = []

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def start_test_run(self, experiment: str, **kw: object) -> str:
        FakeStore.logged.append({"experiment": experiment, **kw})
        return "fake-run"

    def log_test_seed(self, run_id: str, seed: int, result: dict) -> None:
        FakeStore.logged[-1].setdefault("seeds", []).append(seed)

    def finish_test_run(self, run_id: str, **kw: object) -> None:
        FakeStore.logged[-1]["finished"] = kw


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_other_stream_runs_and_says_so(synaptune, workdir: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
                                       fmt: str) -> None:
    import json

    from synaptune.hpo import store

    monkeypatch.setattr(store, "check_tracking_uri", lambda uri: None)
    monkeypatch.setattr(store, "SweepStore", FakeStore)
    FakeStore.logged.clear()
    preset = write_preset(workdir)
    code, out, err = synaptune(*run_args(workdir, "--preset", preset, "--benchmark", "permuted-digits",
                                         "--n-tasks", "2", "--other-stream", "--format", fmt))
    assert code == 0, err
    tuned = "split-digits (class-il, 5 tasks x 2 classes, inputs 1x8x8, 10 classes)"
    if fmt == "table":
        assert out.splitlines()[0].startswith(
            f"naive on permuted-digits [preset tuned on another stream: {tuned}], 1 seed(s)"), out
    else:
        assert json.loads(out)["preset_tuned_on_other_stream"] == tuned
    (logged,) = FakeStore.logged
    assert logged["tags"]["other_stream"] == "true" and logged["tags"]["preset_tuned_on"] == tuned
    assert logged["params"]["benchmark"] == "permuted-digits"
    assert logged["params"]["benchmark/scenario"] == "domain-il"  # the stream that ran, not the preset's


def test_other_stream_needs_a_preset(synaptune, workdir: Path) -> None:  # noqa: ANN001
    msg = error_line(synaptune(*run_args(workdir, "--learner", "naive", "--other-stream")))
    assert msg == "--other-stream is for running a --preset on another stream; drop it, or give --preset."


def test_run_builds_its_stream_once_and_logs_the_resolved_one(synaptune, workdir: Path,  # noqa: ANN001
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import synaptune.benchmarks as benchmarks
    from synaptune.hpo import evaluate, store

    built = []

    def counted(name: str, params: BenchmarkParams | None = None):  # noqa: ANN202
        built.append(name)
        return build_stream(name, params)

    monkeypatch.setattr(benchmarks, "build_stream", counted)
    monkeypatch.setattr(evaluate, "build_stream", counted)
    monkeypatch.setattr(store, "check_tracking_uri", lambda uri: None)
    monkeypatch.setattr(store, "SweepStore", FakeStore)
    FakeStore.logged.clear()
    code, out, err = synaptune(*run_args(workdir, "--learner", "naive", "--classes-per-task", "5",
                                         "--set", "epochs=1", "--set", "hidden_units=8"))
    assert code == 0, err
    assert built == ["split-digits"]
    (logged,) = FakeStore.logged
    assert (logged["params"]["benchmark/n_tasks"], logged["params"]["benchmark/classes_per_task"]) == (2, 5)


class FakeComparisonStore:
    """Stands in for the MLflow store of ``compare``: records its parent run's params."""

    parents: list[dict] = []

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def start_comparison(self, experiment: str, *, params: dict, tags: dict, name: str | None = None) -> str:
        FakeComparisonStore.parents.append(params)
        return "parent"

    def log_comparison_run(self, *args: object, **kw: object) -> str:
        return "child"

    def finish_comparison(self, *args: object, **kw: object) -> None:
        pass

    def log_artifacts(self, *args: object) -> None:
        pass


def test_compare_logs_the_stream_that_ran_not_its_placeholders(synaptune, workdir: Path,  # noqa: ANN001
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from synaptune.hpo import store

    monkeypatch.setattr(store, "check_tracking_uri", lambda uri: None)
    monkeypatch.setattr(store, "SweepStore", FakeComparisonStore)
    FakeComparisonStore.parents.clear()
    code, out, err = synaptune("compare", "naive:epochs=1,hidden_units=8", "--classes-per-task", "5", "--seeds", "1",
                               "--tracking-uri", f"sqlite:///{workdir}/m.db", "-o", str(workdir / "out"),
                               "--format", "json")
    assert code == 0, err
    (params,) = FakeComparisonStore.parents
    # n_tasks 0 ("the benchmark's default") and scenario "" were placeholders; 2 tasks of class-il ran.
    assert (params["benchmark/n_tasks"], params["benchmark/classes_per_task"], params["benchmark/scenario"]) == \
        (2, 5, "class-il")


@pytest.mark.parametrize(("changes", "expected"), [
    ({"seeds": "abc"}, "`seeds` must be a whole number >= 1, got 'abc'."),
    ({"seeds": True}, "`seeds` must be a whole number >= 1, got True."),
    ({"seeds": 0}, "`seeds` must be a whole number >= 1, got 0."),
    ({"protocol": {"name": "held-out-stream", "eval_benchmark": 3}},
     "`protocol.eval_benchmark` must be {name: ..., seed: ...}."),
    ({"stream": [1]}, "`stream` must be a mapping, got [1]."),
])
def test_preset_fields_of_the_wrong_type(synaptune, workdir: Path, changes: dict, expected: str) -> None:  # noqa: ANN001
    preset = write_preset(workdir, **changes)
    assert error_line(synaptune(*run_args(workdir, "--preset", preset))) == f"{preset}: {expected}"

# SPDX-License-Identifier: MIT
"""Bad inputs refused before Ray starts or anything trains, each with one line (issue 29).

Each test calls the CLI in this process (the ``synaptune`` fixture): a unit test that calls
``ray.init`` fails (``tests/conftest.py``), so a refusal here is a refusal before Ray starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from synaptune.benchmarks import BenchmarkParams, streams
from synaptune.exceptions import UnreachableError
from synaptune.hpo.sweep import check_ray_address
from synaptune.params import MAX_USER_FILE_BYTES
from tests.conftest import free_port
from tests.unit.conftest import error_line, run_args, sweep_args, tree

# ------------------------------------------------------------------ 1. --n-tasks that drops classes


@pytest.mark.parametrize(("n_tasks", "dropped"), [("3", "leave class 9 out"), ("7", "leave classes 7, 8, 9 out")])
@pytest.mark.parametrize("command", ["sweep", "run"])
def test_n_tasks_that_does_not_divide_the_classes(synaptune, workdir: Path, command: str, n_tasks: str,  # noqa: ANN001
                                                  dropped: str) -> None:
    args = (sweep_args(workdir, "--n-tasks", n_tasks) if command == "sweep"
            else run_args(workdir, "--learner", "naive", "--n-tasks", n_tasks))
    msg = error_line(synaptune(*args))
    assert msg.startswith(f"split-digits: --n-tasks {n_tasks} does not divide the 10 classes"), msg
    assert dropped in msg and "Use an --n-tasks that divides 10 (1, 2, 5 or 10)" in msg
    assert "or add --classes-per-task" in msg and "of the classes on purpose" in msg
    assert tree(workdir) == {}


def test_n_tasks_with_classes_per_task_or_on_a_permuted_stream_is_fine() -> None:
    assert streams.outline("split-digits", BenchmarkParams(n_tasks=3, classes_per_task=3)).n_tasks == 3  # on purpose
    assert streams.outline("permuted-digits", BenchmarkParams(n_tasks=7)).n_tasks == 7
    assert streams.outline("split-digits", BenchmarkParams(n_tasks=2)).classes_per_task == 5


# ------------------------------------------------------------------ 2. --grace-period beyond the tasks


@pytest.mark.parametrize(("extra", "tasks"), [((), "5 tasks"), (("--protocol", "first-tasks:2"), "2 tasks")])
def test_grace_period_beyond_the_reported_tasks(synaptune, workdir: Path, extra: tuple[str, ...],  # noqa: ANN001
                                                tasks: str) -> None:
    msg = error_line(synaptune(*sweep_args(workdir, "--grace-period", "99", *extra)))
    assert msg.startswith(f"--grace-period 99: a trial reports on only {tasks}"), msg
    assert f"Use --grace-period {tasks[0]} or less, or --scheduler none." in msg
    assert not (workdir / "res").exists()


# ------------------------------------------------------------------ 3. empty names


@pytest.mark.parametrize("name", ["", "  "])
def test_empty_sweep_name(synaptune, workdir: Path, name: str) -> None:  # noqa: ANN001
    msg = error_line(synaptune(*sweep_args(workdir, "--name", name)))
    assert msg.startswith(f"--name {name!r} is ") and "give the sweep a name" in msg, msg
    assert "leave --name out for naive-split-digits" in msg
    assert tree(workdir) == {}


@pytest.mark.parametrize("args", [
    ("best", "--experiment", ""),
    ("export", "--experiment", " ", "-o", "p.yaml"),
    ("report", "--experiment", "", "-o", "r"),
    ("run", "--learner", "naive", "--experiment", ""),
    ("compare", "naive", "--experiment", "\t"),
])
def test_empty_experiment_name(synaptune, workdir: Path, args: tuple[str, ...]) -> None:  # noqa: ANN001
    msg = error_line(synaptune(*args, "--tracking-uri", f"sqlite:///{workdir}/m.db"))
    assert msg.startswith("--experiment ") and ("is empty: give" in msg or "is blank: give" in msg), msg
    assert tree(workdir) == {}


# ------------------------------------------------------------------ 4. a compare entry with an empty part


@pytest.mark.parametrize(("entry", "what"), [("naive:", "nothing after ':'"),
                                             ("naive:lr=0.1,", "an empty override"),
                                             ("naive:lr=0.1,,epochs=1", "an empty override")])
def test_compare_entry_with_an_empty_part(synaptune, workdir: Path, entry: str, what: str) -> None:  # noqa: ANN001
    msg = error_line(synaptune("compare", entry, "--tracking-uri", f"sqlite:///{workdir}/m.db"))
    assert msg.startswith(f"entry {entry!r} has {what}"), msg
    assert "a shipped preset (BENCHMARK/LEARNER" in msg and "naive:lr=0.05,epochs=2" in msg
    assert tree(workdir) == {}


# ------------------------------------------------------------------ 5. a space file too large, not a mapping, not UTF-8


@pytest.mark.parametrize("command", ["sweep", "space"])
def test_space_file_too_large_is_refused_before_reading(synaptune, workdir: Path,  # noqa: ANN001
                                                        monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    big = workdir / "big.yaml"
    with big.open("wb") as f:
        f.truncate(MAX_USER_FILE_BYTES * 25)  # sparse: 25 MiB on stat, nothing written
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} was read"))
    args = sweep_args(workdir, "--space", str(big)) if command == "sweep" else ["space", "naive", "--space", str(big)]
    msg = error_line(synaptune(*args))
    assert msg == (f"search space file {big} is 25.0 MiB, more than the 1 MiB a search space file may have "
                   "(one is a few KiB); check that it is the right file.")


@pytest.mark.parametrize(("content", "words"), [
    (b"- a\n- b\n", "a search space is a mapping"),
    (b"\x89PNG\r\n\x1a\n\x00", "is not UTF-8 text"),
    (b"learner: naive\nparams: {lr: [\n", "not valid YAML"),
])
def test_space_file_not_a_yaml_mapping(synaptune, workdir: Path, content: bytes, words: str) -> None:  # noqa: ANN001
    (workdir / "s.yaml").write_bytes(content)
    assert words in error_line(synaptune("space", "naive", "--space", "s.yaml"))


# ------------------------------------------------------------------ 6. a report folder that cannot be made


def test_report_folder_that_cannot_be_created(synaptune, workdir: Path) -> None:  # noqa: ANN001
    (workdir / "file").write_text("x")
    folders = [str(workdir / "file" / "sub"), str(workdir / "new" / "file2" / "sub")]
    (workdir / "new").mkdir()
    (workdir / "new" / "file2").write_text("x")
    if Path("/proc/self").is_dir():
        folders.append("/proc/nosuch")
    before = tree(workdir)
    for folder in folders:
        msg = error_line(synaptune("report", "--experiment", "x", "-o", folder,
                                   "--tracking-uri", f"sqlite:///{workdir}/m.db"))
        assert msg.startswith(f"report folder {folder} cannot be created ("), msg
        assert msg.endswith("); give -o a folder you can write to.")
    assert tree(workdir) == before  # no MLflow store, no folder left behind


def test_report_folder_probe_leaves_nothing(synaptune, workdir: Path) -> None:  # noqa: ANN001
    msg = error_line(synaptune("report", "--experiment", "x", "-o", "a/b/c", "--tracking-uri",
                               f"sqlite:///{workdir}/nowhere.db"))
    assert "does not exist" in msg  # refused by the tracking store, after the folder probe
    assert tree(workdir) == {} and not (workdir / "a").exists()


# ------------------------------------------------------------------ 7. no GPU, an unreachable Ray


def test_gpus_per_trial_without_a_gpu(synaptune, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    msg = error_line(synaptune(*sweep_args(workdir, "--gpus-per-trial", "1")))
    assert msg == ("--gpus-per-trial 1: a trial asks for 1 GPU, this machine has none (torch.cuda.is_available() "
                   "is False). Lower --gpus-per-trial (0 runs on CPU), or give --address of a Ray cluster with GPUs.")
    assert tree(workdir) == {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert "this machine has 1." in error_line(synaptune(*sweep_args(workdir, "--gpus-per-trial", "2")))


def test_unreachable_address_is_one_line(synaptune, workdir: Path) -> None:  # noqa: ANN001
    address = f"127.0.0.1:{free_port()}"
    msg = error_line(synaptune(*sweep_args(workdir, "--address", address)))
    assert msg.startswith(f"Ray cluster at {address} is unreachable (") and "ray start --head" in msg, msg
    assert not (workdir / "res").exists()


@pytest.mark.parametrize("form", ["ray://127.0.0.1:{port}", "ray://127.0.0.1:{port}/"])
def test_unreachable_ray_client_address(form: str) -> None:
    address = form.format(port=free_port())
    with pytest.raises(UnreachableError, match=r"Ray cluster at ray://127\.0\.0\.1:\d+/? is unreachable"):
        check_ray_address(address)
    check_ray_address("auto")  # not probed
    check_ray_address("local")

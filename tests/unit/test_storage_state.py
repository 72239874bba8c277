# SPDX-License-Identifier: MIT
"""A full or read-only results folder destroys nothing (issue 29); ``--resume`` decodes only files that
the current user alone could have written.

No Ray: the write failures are injected (as root, chmod does not stop a write), the files are real.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import pickle
from pathlib import Path

import pytest

from synaptune.exceptions import ConfigError
from synaptune.hpo import storage
from synaptune.hpo.sweep import StorageWatch, storage_failure_line

STAMP = "2026-01-31_12-00-00"
NAMES = {"experiment": f"experiment_state-{STAMP}.json", "searcher": f"searcher-state-{STAMP}.pkl",
         "search": f"search_gen_state-{STAMP}.json", "tuner": "tuner.pkl",
         "callbacks": f"callback-states-{STAMP}.pkl"}


def write_state(folder: Path, counter: int) -> None:
    """A whole set of Tune's files in ``folder``, marked with ``counter``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / NAMES["experiment"]).write_text(json.dumps({"trial_data": [], "counter": counter}))
    for kind in ("searcher", "search", "tuner", "callbacks"):
        (folder / NAMES[kind]).write_bytes(pickle.dumps({"counter": counter}))
    for kind in NAMES:
        os.chmod(folder / NAMES[kind], 0o644)


def failing_write(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """Every ``Path.write_bytes`` writes half its data, then fails with ``code`` (a disk filling up)."""
    def write_bytes(self: Path, data: bytes) -> int:
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError(code, os.strerror(code), str(self))

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EDQUOT])
def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              code: int) -> None:
    path = tmp_path / NAMES["searcher"]
    path.write_bytes(b"old, whole")
    failing_write(monkeypatch, code)
    with pytest.raises(OSError) as raised:
        storage.atomic_write(path, b"new state that does not fit")
    assert raised.value.errno == code
    assert path.read_bytes() == b"old, whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left


def test_atomic_write_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.pkl"
    path.write_bytes(b"old")
    storage.atomic_write(path, lambda tmp: tmp.write_bytes(b"new"))
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["x.pkl"]


def test_a_failed_save_keeps_the_last_good_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    staging, experiment = tmp_path / "staging", tmp_path / "results" / "s"
    experiment.mkdir(parents=True)
    write_state(staging, 1)
    assert storage.save_last_good(staging, experiment)
    write_state(staging, 2)
    with monkeypatch.context() as m:
        failing_write(m, errno.ENOSPC)
        assert not storage.save_last_good(staging, experiment)
    good = experiment / storage.LAST_GOOD
    assert pickle.loads((good / NAMES["searcher"]).read_bytes()) == {"counter": 1}
    assert sorted(p.name for p in experiment.iterdir()) == [storage.LAST_GOOD]
    assert storage.save_last_good(staging, experiment)  # room again: the newer set
    assert pickle.loads((good / NAMES["searcher"]).read_bytes()) == {"counter": 2}


def test_resume_falls_back_to_the_last_good_set(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    staging, experiment = tmp_path / "staging", tmp_path / "results" / "s"
    write_state(staging, 1)
    write_state(experiment, 2)
    assert storage.save_last_good(staging, experiment)
    (experiment / NAMES["searcher"]).write_bytes(b"")  # the disk filled up while Tune copied it
    newer = experiment / "experiment_state-2026-02-01_00-00-00.json"
    newer.write_text('{"trial_data": [')  # a newer session's state, cut short
    with caplog.at_level(logging.WARNING):
        restored = storage.fall_back_to_last_good(str(experiment))
    assert sorted(restored) == sorted(NAMES.values())
    for kind in ("searcher", "search", "tuner"):  # the whole set, not only the damaged file
        assert pickle.loads((experiment / NAMES[kind]).read_bytes()) == {"counter": 1}
    assert not newer.exists() and newer.with_name(newer.name + ".damaged").exists()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "last good copy" in warnings[0] and "\n" not in warnings[0]
    storage.check_experiment_state(str(experiment))  # no longer refused
    assert storage.fall_back_to_last_good(str(experiment)) == []  # nothing damaged now: nothing done


def test_without_a_last_good_set_a_damaged_state_is_still_refused(tmp_path: Path) -> None:
    experiment = tmp_path / "s"
    write_state(experiment, 1)
    (experiment / NAMES["searcher"]).write_bytes(b"")
    assert storage.fall_back_to_last_good(str(experiment)) == []
    from synaptune.exceptions import DamagedResultsError

    with pytest.raises(DamagedResultsError, match="empty"):
        storage.check_experiment_state(str(experiment))


@pytest.mark.parametrize("kind", [*NAMES, "last-good"])
def test_check_owner_refuses_a_group_or_world_writable_file(tmp_path: Path, kind: str) -> None:
    experiment = tmp_path / "s"
    write_state(experiment, 1)
    write_state(experiment / storage.LAST_GOOD, 1)
    storage.check_owner(str(experiment), trusted=False)
    path = experiment / storage.LAST_GOOD / NAMES["searcher"] if kind == "last-good" else experiment / NAMES[kind]
    for mode, who in ((0o664, "its group"), (0o646, "others"), (0o666, "its group and others")):
        os.chmod(path, mode)
        with pytest.raises(ConfigError) as refused:
            storage.check_owner(str(experiment), trusted=False)
        message = str(refused.value)
        assert str(path) in message and f"writable by {who}" in message and "chmod -R go-w" in message
        assert "\n" not in message
        storage.check_owner(str(experiment), trusted=True)  # --trust-results
    os.chmod(path, 0o600)
    storage.check_owner(str(experiment), trusted=False)


@pytest.mark.parametrize("kind", [*NAMES, "last-good"])
def test_check_owner_refuses_a_file_of_another_user(tmp_path: Path, kind: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    experiment = tmp_path / "s"
    write_state(experiment, 1)
    write_state(experiment / storage.LAST_GOOD, 1)
    path = experiment / storage.LAST_GOOD / NAMES["search"] if kind == "last-good" else experiment / NAMES[kind]
    me = os.getuid()
    real_stat = Path.stat

    def stat(self: Path, **kwargs: object) -> os.stat_result:
        info = real_stat(self, **kwargs)
        if self == path:
            return os.stat_result((info.st_mode, info.st_ino, info.st_dev, info.st_nlink, me + 1, info.st_gid,
                                   info.st_size, int(info.st_atime), int(info.st_mtime), int(info.st_ctime)))
        return info

    monkeypatch.setattr(Path, "stat", stat)
    with pytest.raises(ConfigError) as refused:
        storage.check_owner(str(experiment), trusted=False)
    message = str(refused.value)
    assert str(path) in message and f"user id {me + 1}" in message and f"chown -R {me}" in message
    storage.check_owner(str(experiment), trusted=True)


def test_the_storage_error_is_one_line_naming_cause_place_resume_and_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["synaptune", "sweep", "--name", "s", "--storage", "/mnt/small/s", "--resume"])
    line = storage_failure_line("s", "--storage /mnt/small/s is full (0 B free)", Path("/tmp/synaptune-s.log"))
    assert "\n" not in line
    assert "--storage /mnt/small/s is full" in line
    assert "synaptune sweep --name s --storage /mnt/small/s --resume" in line
    assert line.count("--resume") == 1 and "(details: /tmp/synaptune-s.log)" in line


def test_storage_watch_diverts_log_lines_once_the_folder_is_in_trouble(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    trouble: list[str | None] = [None]
    monkeypatch.setattr(storage, "trouble", lambda path, **kw: trouble[0])
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    watch = StorageWatch(str(tmp_path / "results"), "s")

    def record(text: str, exc: BaseException | None = None) -> logging.LogRecord:
        return logging.LogRecord("ray.tune", logging.ERROR, __file__, 1, text, None,
                                 (type(exc), exc, None) if exc else None)

    assert watch._divert(record("Trial task failed", OSError(errno.ENOSPC, "No space left on device")))
    assert watch.cause is None  # storage.trouble says the folder is fine: not the results folder, shown
    trouble[0] = "--storage x is full (0 B free)"
    monkeypatch.setattr("signal.getsignal", lambda sig: None)  # no Tune listening: nothing to stop
    assert not watch._divert(record("Trial task failed", OSError(errno.ENOSPC, "No space left on device")))
    assert watch.cause == trouble[0]
    assert not watch._divert(record("Saving experiment state failed"))
    assert watch.log_path is not None and watch.log_path.parent == tmp_path
    assert "Saving experiment state failed" in watch.log_path.read_text()

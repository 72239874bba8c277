# SPDX-License-Identifier: MIT
"""A restored trial says where it really resumed, and the driver prints that, not Tune's record (issue 29).

The Tune trainable runs against ``fake_tune`` (no Ray starts) on real checkpoint files in
the layout Tune writes (``train_trial_<id>_*/checkpoint_<n>/trial.pt``); the driver's
progress callback is fed those reports with stand-in trials.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from synaptune.benchmarks import BenchmarkParams, Stream, build_stream
from synaptune.hpo.trial import (CHECKPOINT_FILE, RESUMED_FROM_TASK, SKIPPED_CHECKPOINTS, STAND_IN_NOTE, TASKS_NOTE,
                                 CheckpointError, Resumed, TrialRun, checkpoint_task, resumed_from, skip_reason)
from synaptune.learners import LEARNERS

pytest.importorskip("ray")

from synaptune.hpo import progress  # noqa: E402
from synaptune.hpo.progress import TrialProgress, resumed_line, skipped_checkpoints  # noqa: E402
from synaptune.hpo.raytune import TrialSpec, train_trial  # noqa: E402

#: ``fake_tune``'s trial id.
TRIAL = "t1"
CONFIG = {"epochs": 1, "hidden_units": 16, "hidden_layers": 1, "batch_size": 64, "lr": 0.1}


@pytest.fixture(scope="module")
def stream() -> Stream:
    return build_stream("split-digits", BenchmarkParams(n_tasks=3, classes_per_task=2, seed=0))


@pytest.fixture(scope="module")
def saved(stream: Stream, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder with the trial's checkpoints after tasks 1 and 2 of 3 (``checkpoint_00000{0,1}``)."""
    root = tmp_path_factory.mktemp("results")
    run = TrialRun("naive", LEARNERS.get("naive").params_cls(**CONFIG), stream, seeds=(0,))
    for k in range(2):
        run.step()
        folder = root / f"train_trial_{TRIAL}_2_lr=0.1" / f"checkpoint_{k:06d}"
        folder.mkdir(parents=True)
        run.save(folder)
    return root


def copy_of(saved: Path, tmp_path: Path) -> tuple[Path, list[Path]]:
    root = tmp_path / "results"
    shutil.copytree(saved, root)
    return root, sorted(root.glob(f"train_trial_{TRIAL}_*/checkpoint_*"))


def truncate(folder: Path) -> None:
    path = folder / CHECKPOINT_FILE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def resume(fake_tune: dict[str, Any], stream: Stream, root: Path, tunes: Path) -> list[dict[str, Any]]:
    """Run the trainable as Tune does on ``--resume`` (Tune's checkpoint: ``tunes``); its reports."""

    class Checkpoint:
        @contextlib.contextmanager
        def as_directory(self):  # noqa: ANN202
            yield str(tunes)

    fake_tune["checkpoint"] = Checkpoint()
    train_trial(CONFIG, stream, TrialSpec("naive", {}, (0,), storage_dir=str(root)))
    return fake_tune["reports"]


def driver_lines(reports: list[dict[str, Any]], tunes_tasks: int, caplog: pytest.LogCaptureFixture,
                 ) -> list[tuple[int, str]]:
    """``(level, line)`` the driver logs for trial 2 of 4 whose Tune record has ``tunes_tasks``, given its reports."""
    cb = TrialProgress(4, concurrency=2)
    trial = SimpleNamespace(trial_id=TRIAL, experiment_tag="2_lr=0.1", config={"lr": 0.1}, status="RUNNING",
                            last_result={"tasks_seen": tunes_tasks, "n_tasks": 3}, num_failures=0)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="synaptune.hpo.progress"):
        cb.on_trial_start(0, [trial], trial)
        for result in reports:
            trial.last_result = result
            cb.on_trial_result(0, [trial], trial, result)
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "synaptune.hpo.progress"]


# ------------------------------------------------------------------ what the trial reports


def test_newest_checkpoint_truncated_resumes_from_the_previous_task_and_says_so(
        stream: Stream, saved: Path, tmp_path: Path, fake_tune: dict[str, Any],
        caplog: pytest.LogCaptureFixture) -> None:
    root, folders = copy_of(saved, tmp_path)
    truncate(folders[1])  # the one after task 2, which Tune recorded
    reports = resume(fake_tune, stream, root, folders[1])
    assert [r["tasks_seen"] for r in reports] == [1, 2, 3]  # task 1's state told again, then tasks 2 and 3
    first = reports[0]
    assert first[RESUMED_FROM_TASK] == 1
    assert json.loads(first[SKIPPED_CHECKPOINTS]) == [["after task 2", "trial.pt truncated"]]
    assert all(RESUMED_FROM_TASK not in r for r in reports[1:])  # said once
    lines = driver_lines(reports, 2, caplog)
    assert lines == [(logging.WARNING, "trial 2/4 resumed after task 1 "
                                       "(its checkpoint after task 2 was skipped: trial.pt truncated): lr=0.1")]


def test_all_checkpoints_corrupted_restarts_from_task_0_and_says_so(
        stream: Stream, saved: Path, tmp_path: Path, fake_tune: dict[str, Any],
        caplog: pytest.LogCaptureFixture) -> None:
    root, folders = copy_of(saved, tmp_path)
    truncate(folders[1])
    (folders[0] / CHECKPOINT_FILE).write_bytes(b"")
    reports = resume(fake_tune, stream, root, folders[1])
    assert [r["tasks_seen"] for r in reports] == [1, 2, 3]  # trained from task 0
    assert reports[0][RESUMED_FROM_TASK] == 0
    assert json.loads(reports[0][SKIPPED_CHECKPOINTS]) == [["after task 2", "trial.pt truncated"],
                                                           ["after task 1", "trial.pt empty"]]
    lines = driver_lines(reports, 2, caplog)
    assert lines == [(logging.WARNING, "trial 2/4 restarted from task 0 (every checkpoint was unusable: "
                                       "after task 2, trial.pt truncated; after task 1, trial.pt empty): lr=0.1")]


def test_intact_checkpoints_resume_after_the_newest_task(
        stream: Stream, saved: Path, tmp_path: Path, fake_tune: dict[str, Any],
        caplog: pytest.LogCaptureFixture) -> None:
    root, folders = copy_of(saved, tmp_path)
    reports = resume(fake_tune, stream, root, folders[1])
    assert [r["tasks_seen"] for r in reports] == [3]  # Tune has task 2's result: only task 3 is reported
    assert reports[0][RESUMED_FROM_TASK] == 2 and json.loads(reports[0][SKIPPED_CHECKPOINTS]) == []
    assert driver_lines(reports, 2, caplog) == [(logging.INFO, "trial 2/4 resumed after task 2: lr=0.1")]


def test_tune_lagging_the_files_still_resumes_after_the_newest(
        stream: Stream, saved: Path, tmp_path: Path, fake_tune: dict[str, Any],
        caplog: pytest.LogCaptureFixture) -> None:
    root, folders = copy_of(saved, tmp_path)
    reports = resume(fake_tune, stream, root, folders[0])  # Tune recorded task 1 only
    assert reports[0][RESUMED_FROM_TASK] == 2 and [r["tasks_seen"] for r in reports] == [2, 3]
    assert driver_lines(reports, 1, caplog) == [(logging.INFO, "trial 2/4 resumed after task 2: lr=0.1")]


def test_a_fresh_trial_reports_nothing_about_resuming(stream: Stream, tmp_path: Path,
                                                      fake_tune: dict[str, Any]) -> None:
    train_trial(CONFIG, stream, TrialSpec("naive", {}, (0,), storage_dir=str(tmp_path)))
    assert not any(RESUMED_FROM_TASK in r or SKIPPED_CHECKPOINTS in r for r in fake_tune["reports"])


# ------------------------------------------------------------------ why a checkpoint was skipped


def test_skip_reasons_name_the_file(saved: Path, tmp_path: Path, stream: Stream) -> None:
    _, folders = copy_of(saved, tmp_path)
    run = TrialRun("naive", LEARNERS.get("naive").params_cls(**CONFIG), stream, seeds=(0,))

    def reason(folder: Path) -> str:
        with pytest.raises(CheckpointError) as e:
            run.read_checkpoint(folder)
        return skip_reason(folder, e.value)

    assert checkpoint_task(folders[1]) == 2 and (folders[1] / TASKS_NOTE).is_file()
    truncate(folders[1])
    assert reason(folders[1]) == "trial.pt truncated" and checkpoint_task(folders[1]) == 2
    (folders[1] / CHECKPOINT_FILE).write_bytes(b"\0" * 1000)
    assert reason(folders[1]) == "trial.pt unreadable"
    (folders[1] / CHECKPOINT_FILE).unlink()
    assert reason(folders[1]) == "trial.pt missing"
    stand_in = tmp_path / "checkpoint_000005"
    stand_in.mkdir()
    (stand_in / STAND_IN_NOTE).write_text("deleted")
    assert reason(stand_in) == "trial.pt missing (Tune had deleted it)" and checkpoint_task(stand_in) is None
    other = TrialRun("naive", LEARNERS.get("naive").params_cls(**CONFIG), stream, seeds=(1,))
    with pytest.raises(CheckpointError) as e:
        other.read_checkpoint(folders[0])
    assert skip_reason(folders[0], e.value) == "trial.pt has seeds [0], this trial [1]"


def test_only_newer_skipped_checkpoints_are_told_newest_first() -> None:
    skipped = [(1, "checkpoint_000000", "trial.pt empty"), (3, "checkpoint_000002", "trial.pt truncated"),
               (None, "checkpoint_000003", "trial.pt missing"), (None, "checkpoint_000001", "trial.pt missing")]
    assert resumed_from((2, "checkpoint_000001"), skipped) == Resumed(
        2, (("checkpoint_000003", "trial.pt missing"), ("after task 3", "trial.pt truncated")))
    assert resumed_from(None, skipped).skipped[-1] == ("after task 1", "trial.pt empty")
    assert len(resumed_from(None, skipped).skipped) == 4
    assert resumed_from((3, "checkpoint_000002"), skipped[:1]) == Resumed(3, ())


# ------------------------------------------------------------------ the driver's text


def test_driver_text_from_the_reports() -> None:
    one = [("after task 3", "trial.pt truncated")]
    two = [("after task 4", "trial.pt truncated"), ("after task 3", "trial.pt empty")]
    assert resumed_line(2, 4, {}, after_task=3, skipped=[]) == "trial 2/4 resumed after task 3"
    assert resumed_line(2, 4, {"lr": 0.05}, after_task=1, skipped=one) == \
        "trial 2/4 resumed after task 1 (its checkpoint after task 3 was skipped: trial.pt truncated): lr=0.05"
    assert resumed_line(2, 4, {}, after_task=2, skipped=two) == (
        "trial 2/4 resumed after task 2 (its 2 newer checkpoints were skipped: after task 4, trial.pt truncated; "
        "after task 3, trial.pt empty)")
    assert resumed_line(2, 4, {}, after_task=0, skipped=one) == \
        "trial 2/4 restarted from task 0 (every checkpoint was unusable: after task 3, trial.pt truncated)"
    assert resumed_line(2, 4, {}, after_task=0, skipped=[], found=False) == \
        "trial 2/4 restarted from task 0 (no checkpoint of it was found)"
    assert skipped_checkpoints(json.dumps([list(p) for p in two])) == two
    assert skipped_checkpoints("not json") == [] and skipped_checkpoints(None) == []


def _trial(tasks_seen: int | None = None) -> SimpleNamespace:
    result = {} if tasks_seen is None else {"tasks_seen": tasks_seen, "n_tasks": 3}
    return SimpleNamespace(trial_id="a", experiment_tag="2_x", config={}, status="RUNNING", last_result=result,
                           num_failures=0, get_error=lambda: "ValueError: x")


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == progress.__name__]


def test_driver_waits_for_the_trial_and_warns_once_per_trial(caplog: pytest.LogCaptureFixture) -> None:
    cb = TrialProgress(4, concurrency=1)
    trial = _trial(tasks_seen=3)  # Tune's record: after task 3
    truncated = {"tasks_seen": 1, RESUMED_FROM_TASK: 1,
                 SKIPPED_CHECKPOINTS: json.dumps([["after task 3", "trial.pt truncated"]])}
    with caplog.at_level(logging.INFO, logger=progress.__name__):
        cb.on_trial_start(0, [trial], trial)
        assert _lines(caplog) == []  # not "resumed after task 3": the trial has not said yet
        cb.on_trial_result(0, [trial], trial, truncated)
        cb.on_trial_result(0, [trial], trial, {"tasks_seen": 2})  # later results say nothing
        cb.on_trial_recover(0, [trial], trial)
        cb.on_trial_start(0, [trial], trial)  # the retry skips the same file again: told, not warned
        cb.on_trial_result(0, [trial], trial, truncated)
    lines = _lines(caplog)
    assert lines[0] == (logging.WARNING, "trial 2/4 resumed after task 1 "
                                         "(its checkpoint after task 3 was skipped: trial.pt truncated)")
    assert lines[1][1].startswith("trial 2/4 raised an error")
    assert lines[2:] == [(logging.INFO, "trial 2/4 resumed after task 1")]


def test_driver_lines_when_the_trial_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    cb = TrialProgress(4, concurrency=1)
    lost, done, fresh = _trial(tasks_seen=2), _trial(tasks_seen=3), _trial()
    lost.trial_id, done.trial_id, fresh.trial_id = "lost", "done", "fresh"
    with caplog.at_level(logging.INFO, logger=progress.__name__):
        cb.on_trial_start(0, [lost], lost)  # Tune had a checkpoint; the trial found none at all
        cb.on_trial_result(0, [lost], lost, {"tasks_seen": 1})
        cb.on_trial_start(0, [done], done)  # restored its last task and ended without a new result
        cb.on_trial_complete(0, [done], done)
        cb.on_trial_start(0, [fresh], fresh)  # a fresh trial that found a checkpoint Tune never recorded
        cb.on_trial_result(0, [fresh], fresh, {"tasks_seen": 2, RESUMED_FROM_TASK: 1,
                                                SKIPPED_CHECKPOINTS: "[]"})
    lines = _lines(caplog)
    assert lines[0] == (logging.WARNING, "trial 2/4 restarted from task 0 (no checkpoint of it was found)")
    assert lines[1] == (logging.INFO, "trial 2/4 resumed after task 3")
    assert lines[2][1].startswith("trial 2/4 completed")
    assert lines[3:] == [(logging.INFO, "trial 2/4 started"), (logging.INFO, "trial 2/4 resumed after task 1")]

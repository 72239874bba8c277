# SPDX-License-Identifier: MIT
"""Checkpoints are tried, not trusted; a killed driver's queued results are neither lost nor doubled.

``restore`` is driven with real checkpoint files in the layout Tune writes
(``train_trial_<id>_*/checkpoint_<n>/trial.pt``) and with a real
``tune.Checkpoint``; the tracker with a real SQLite MLflow store.
"""

from __future__ import annotations

import json
import logging
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from synaptune.benchmarks import BenchmarkParams, Stream, build_stream
from synaptune.hpo.trial import CHECKPOINT_FILE, CheckpointError, TrialRun
from synaptune.learners import LEARNERS

pytest.importorskip("ray")
pytest.importorskip("mlflow")

from ray import tune  # noqa: E402

from synaptune.hpo import store  # noqa: E402
from synaptune.hpo.raytune import TrialSpec, restore  # noqa: E402

TRIAL = "abc_00000"


def params():  # noqa: ANN201
    return LEARNERS.get("naive").params_cls(epochs=1, hidden_units=16, hidden_layers=1, batch_size=64, lr=0.1)


@pytest.fixture(scope="module")
def stream() -> Stream:
    return build_stream("split-digits", BenchmarkParams(n_tasks=3, classes_per_task=3, seed=0))


@pytest.fixture(scope="module")
def trial_folder(stream: Stream, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder with the trial's checkpoints after tasks 1, 2 and 3 (``checkpoint_00000{0,1,2}``)."""
    root = tmp_path_factory.mktemp("results")
    run = TrialRun("naive", params(), stream, seeds=(0,))
    for k in range(3):
        run.step()
        folder = root / f"train_trial_{TRIAL}_1_lr=0.1" / f"checkpoint_{k:06d}"
        folder.mkdir(parents=True)
        run.save(folder)
    return root


def copy_of(trial_folder: Path, tmp_path: Path) -> tuple[Path, list[Path]]:
    root = tmp_path / "results"
    shutil.copytree(trial_folder, root)
    return root, sorted(root.glob(f"train_trial_{TRIAL}_*/checkpoint_*"))


def truncate(folder: Path) -> None:
    path = folder / CHECKPOINT_FILE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def fresh(stream: Stream) -> TrialRun:
    return TrialRun("naive", params(), stream, seeds=(0,))


def test_truncated_checkpoint_recorded_by_tune_falls_back_to_the_previous_one(
        stream: Stream, trial_folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root, folders = copy_of(trial_folder, tmp_path)
    truncate(folders[2])
    run = fresh(stream)
    with caplog.at_level(logging.WARNING):
        tunes = restore(run, TrialSpec("naive", {}, (0,), storage_dir=str(root)), TRIAL,
                        tune.Checkpoint.from_directory(str(folders[2])))
    assert run.tasks_done == 2 and tunes is None  # Tune has not seen task 2's state as the trial's: report again
    assert len(run.history) == 2 and run.history[-1]["tasks_seen"] == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "skipped 1 checkpoint(s)" in warnings[0] and "checkpoint_000002 does not load" in warnings[0]
    assert "restored from" in warnings[0] and "checkpoint_000001 (2 of 3 tasks done)" in warnings[0]


def test_all_checkpoints_corrupt_start_again_from_task_0(
        stream: Stream, trial_folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root, folders = copy_of(trial_folder, tmp_path)
    for folder in folders:
        truncate(folder)
    (folders[0] / CHECKPOINT_FILE).write_bytes(b"")  # 0 bytes, too
    run = fresh(stream)
    with caplog.at_level(logging.WARNING):
        restore(run, TrialSpec("naive", {}, (0,), storage_dir=str(root)), TRIAL,
                tune.Checkpoint.from_directory(str(folders[1])))
    assert run.tasks_done == 0 and run.history == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "skipped 3 checkpoint(s)" in warnings[0]
    assert "starting again from task 0" in warnings[0]
    run.step()  # and it trains
    assert run.tasks_done == 1


def test_newest_good_checkpoint_on_disk_beats_the_older_one_tune_recorded(
        stream: Stream, trial_folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root, folders = copy_of(trial_folder, tmp_path)
    run = fresh(stream)
    with caplog.at_level(logging.WARNING):
        tunes = restore(run, TrialSpec("naive", {}, (0,), storage_dir=str(root)), TRIAL,
                        tune.Checkpoint.from_directory(str(folders[0])))
    assert run.tasks_done == 3 and run.finished and tunes is None
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]  # nothing skipped: nothing to say
    run2 = fresh(stream)
    assert restore(run2, TrialSpec("naive", {}, (0,), storage_dir=str(root)), TRIAL,
                   tune.Checkpoint.from_directory(str(folders[2]))) == 3  # Tune's own, newest: no re-report


@pytest.mark.parametrize("damage, message", [
    (lambda s: {**s, "tasks_done": 7}, "says 7 tasks done, the stream has 3"),
    (lambda s: {**s, "tasks_done": -1}, "says -1 tasks done"),
    (lambda s: {**s, "matrices": [[[0.5] * 2] * 2]}, "has accuracy matrices"),
    (lambda s: {**s, "matrices": [[[float("nan")] * 3] * 3]}, "not finite numbers in [0, 1]"),
    (lambda s: {**s, "matrices": [[[3.0] * 3] * 3]}, "not finite numbers in [0, 1]"),
    (lambda s: {**s, "learners": [{k: v[:1] if v.dim() else v for k, v in s["learners"][0].items()}]}, "of shape"),
    (lambda s: {**s, "learners": [{}]}, "other entries"),
    (lambda s: {**s, "history": s["history"][:1]}, "a history of 1 tasks for 2 tasks done"),
    (lambda s: [1, 2, 3], "is not a synaptune trial checkpoint"),
])
def test_a_checkpoint_that_loads_but_does_not_fit_is_refused_without_changing_the_run(
        stream: Stream, trial_folder: Path, tmp_path: Path, damage, message: str) -> None:  # noqa: ANN001
    folder = sorted(trial_folder.glob(f"train_trial_{TRIAL}_*/checkpoint_*"))[1]
    state = torch.load(folder / CHECKPOINT_FILE, weights_only=True)
    torch.save(damage(state), tmp_path / CHECKPOINT_FILE)
    run = fresh(stream)
    before = {k: v.clone() for k, v in run.learners[0].state_dict().items()}
    with pytest.raises(CheckpointError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run.load(tmp_path)
    assert run.tasks_done == 0
    assert all(torch.equal(before[k], v) for k, v in run.learners[0].state_dict().items())


def test_a_diverged_checkpoint_is_restored_as_diverged(stream: Stream, trial_folder: Path, tmp_path: Path) -> None:
    folder = sorted(trial_folder.glob(f"train_trial_{TRIAL}_*/checkpoint_*"))[0]
    state = torch.load(folder / CHECKPOINT_FILE, weights_only=True)
    name = next(k for k, v in state["learners"][0].items() if v.is_floating_point())
    state["learners"][0][name] = torch.full_like(state["learners"][0][name], float("nan"))
    torch.save(state, tmp_path / CHECKPOINT_FILE)
    run = fresh(stream)
    run.load(tmp_path)
    assert run.tasks_done == 1 and "non-finite" in (run.diverged() or "")


# ------------------------------------------------------------------ the tracker after a driver kill
def step_result(run: TrialRun) -> dict:
    """What the trainable reports after ``run.step()`` (history of earlier tasks included)."""
    return {**run.metrics(), "history": json.dumps(run.history[:-1]),
            "accuracy_matrix": json.dumps(run.accuracy_matrix())}


CONFIG = {"lr": 0.1, "epochs": 1, "hidden_units": 16, "hidden_layers": 1, "batch_size": 64}


def tracked_sweep(tmp_path: Path, name: str) -> tuple[store.SweepStore, store.TrialLogger]:
    """A sweep's parent run in a fresh SQLite MLflow store, and the tracker of its trials."""
    results = store.SweepStore(f"sqlite:///{tmp_path}/mlflow.db")
    parent = results.start_sweep(name, sweep_path=f"/x/{name}", settings={"learner": "naive"}, tags={}, space_yaml="")
    return results, results.trial_logger(name, parent, learner="naive", fixed={}, settings={"learner": "naive"})


def test_a_killed_drivers_queued_steps_are_filled_in_and_none_is_logged_twice(stream: Stream, tmp_path: Path) -> None:
    results, tracker = tracked_sweep(tmp_path, "killed")
    run = fresh(stream)
    run.step()
    tracker.on_result(TRIAL, CONFIG, step_result(run))
    store.wait_for_logging()
    saved = pickle.dumps(tracker)  # Tune's experiment state holds the tracker as it was here
    run.step()  # step 2's result is "queued" in the driver that is now killed: it never reaches MLflow
    run.step()
    resumed = pickle.loads(saved)
    resumed.on_result(TRIAL, CONFIG, step_result(run))  # the resumed trial reports task 3, history 1..2
    resumed.on_result(TRIAL, CONFIG, step_result(run))  # ... and again (restored from an older checkpoint)
    resumed.on_end(TRIAL, CONFIG, step_result(run), error=False)
    store.wait_for_logging()
    run_id = resumed.run_ids[TRIAL]
    for key in ("tasks_seen", "val/acc_seen", "val/acc_task_0", "objective_seen", "train_seconds"):
        steps = sorted(step for step, _ in results.metric_history(run_id, key))
        assert steps == [1, 2, 3], key
    assert sorted(step for step, _ in results.metric_history(run_id, "val/acc_task_2")) == [3]
    by_step = dict(results.metric_history(run_id, "val/acc_seen"))
    assert by_step[2] == pytest.approx(run.history[1]["val/acc_seen"])
    assert results.record(resumed.run_ids[TRIAL]).status is store.TrialStatus.COMPLETED


def test_a_trial_ended_by_tune_but_open_in_mlflow_is_closed_at_the_end(stream: Stream, tmp_path: Path) -> None:
    results, tracker = tracked_sweep(tmp_path, "ended")
    run = fresh(stream)
    run.step()
    tracker.on_result(TRIAL, CONFIG, step_result(run))
    store.wait_for_logging()
    run.step()
    run.step()  # its last results and its end were queued in the killed driver
    resumed = pickle.loads(pickle.dumps(tracker))
    assert resumed.close_ended({TRIAL: (CONFIG, step_result(run), False)}) == 1
    store.wait_for_logging()
    record = results.record(resumed.run_ids[TRIAL])
    assert record.status is store.TrialStatus.COMPLETED and record.tasks_seen == 3
    run_id = resumed.run_ids[TRIAL]
    assert sorted(step for step, _ in results.metric_history(run_id, "tasks_seen")) == [1, 2, 3]

# SPDX-License-Identifier: MIT
"""Tune's experiment-state snapshots during a sweep: on a period that grows with the sweep, never forced.

bench/sweep_scale.py measures what this buys (driver CPU per trial flat as trials grow);
these tests pin the mechanism, on Ray's real classes, so that a Ray upgrade that
moves the hook fails here instead of turning the driver quadratic again in silence.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ray.train._internal.storage import StorageContext
from ray.tune.execution.experiment_state import _ExperimentCheckpointManager
from ray.tune.experiment import Trial

from synaptune.hpo.raytune import SNAPSHOT_PERIOD_ENV, paced_snapshots, snapshot_period_s


def _manager_and_trial(tmp_path: Path) -> tuple[_ExperimentCheckpointManager, Trial]:
    storage = StorageContext(storage_path=str(tmp_path), experiment_dir_name="sweep")
    manager = _ExperimentCheckpointManager(storage=storage, checkpoint_period=1,
                                           sync_every_n_trial_checkpoints=2)  # num_to_keep=2, as a sweep has
    return manager, Trial("__fake", stub=True, storage=storage)


def test_the_period_grows_with_the_sweep_from_one_second() -> None:
    assert snapshot_period_s(4) == 1.0
    assert snapshot_period_s(100) == 1.0
    assert snapshot_period_s(1000) == pytest.approx(10.0)
    assert snapshot_period_s(2000) == pytest.approx(2 * snapshot_period_s(1000))


def test_tune_forces_a_snapshot_after_two_checkpoints_of_a_trial_but_not_inside_the_block(tmp_path: Path) -> None:
    manager, trial = _manager_and_trial(tmp_path)
    manager.on_trial_checkpoint(trial)
    manager.on_trial_checkpoint(trial)
    assert manager._should_force_sync_up  # Ray's behaviour, which the block turns off
    with paced_snapshots(1000):
        manager, trial = _manager_and_trial(tmp_path)
        for _ in range(5):
            manager.on_trial_checkpoint(trial)
        assert not manager._should_force_sync_up
    manager, trial = _manager_and_trial(tmp_path)  # put back after the block
    manager.on_trial_checkpoint(trial)
    manager.on_trial_checkpoint(trial)
    assert manager._should_force_sync_up


def test_the_period_is_set_for_the_block_only_and_a_users_value_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SNAPSHOT_PERIOD_ENV, raising=False)
    with paced_snapshots(2000) as period:
        assert period == os.environ[SNAPSHOT_PERIOD_ENV] == "20"
    assert SNAPSHOT_PERIOD_ENV not in os.environ
    with paced_snapshots(6) as period:
        assert period == os.environ[SNAPSHOT_PERIOD_ENV] == "1"
    monkeypatch.setenv(SNAPSHOT_PERIOD_ENV, "auto")
    with paced_snapshots(2000) as period:
        assert period == "auto"
    assert os.environ[SNAPSHOT_PERIOD_ENV] == "auto"


def test_an_error_in_the_block_puts_tunes_hook_back(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), paced_snapshots(10):
        raise RuntimeError("the sweep failed")
    manager, trial = _manager_and_trial(tmp_path)
    manager.on_trial_checkpoint(trial)
    manager.on_trial_checkpoint(trial)
    assert manager._should_force_sync_up

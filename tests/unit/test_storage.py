# SPDX-License-Identifier: MIT
"""The results folder is checked before Ray starts: writable, room, reachable, intact, owned.

Real folders, real files, the real disk: what could be false is the check,
not a mock. The sweeps here are refused in ``prepare`` (no Ray start).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from synaptune import cli
from synaptune.benchmarks import BenchmarkParams, build_stream
from synaptune.exceptions import ConfigError, DamagedResultsError, UnreachableError
from synaptune.hpo import storage
from synaptune.hpo.trial import TrialRun
from synaptune.searchspaces import load_space

pytest.importorskip("ray")


def sweep(tmp_path: Path, capsys: pytest.CaptureFixture, *extra: str) -> tuple[int, str]:
    """``synaptune sweep ...`` in this process (refused before Ray starts): exit code and stderr."""
    capsys.readouterr()
    code = cli.main(["sweep", "--learner", "naive", "--name", "s", "--storage", str(tmp_path / "results"),
                     "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--num-cpus", "1", *extra])
    return code, capsys.readouterr().err


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith("synaptune: error:")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


def test_a_folder_that_cannot_be_created_or_written_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        storage.check_local(str(tmp_path / "file"), 0)
    with pytest.raises(ConfigError, match="cannot create the folder"):
        storage.check_local(str(tmp_path / "file" / "results"), 0)
    # /proc/self exists and is a folder, but no file can be created in it, not even by root.
    with pytest.raises(ConfigError, match="is not writable"):
        storage.check_local("/proc/self", 0)
    storage.check_local(str(tmp_path / "new" / "results"), 0)  # created, written, and removed again
    assert not (tmp_path / "new").exists()
    (tmp_path / "mine").mkdir()
    storage.check_local(str(tmp_path / "mine"), 0)
    assert (tmp_path / "mine").is_dir() and list((tmp_path / "mine").iterdir()) == []


def test_a_disk_without_room_for_the_checkpoints_is_refused(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    storage.check_local(str(tmp_path), free // 2)
    with pytest.raises(ConfigError, match=r"has .* free; the sweep needs about .*\(2 trials x"):
        storage.check_local(str(tmp_path), free + 2**40, storage.needed_bytes(free + 2**40, 2)[1])


def test_the_checkpoint_estimate_is_measured_from_the_space(tmp_path: Path) -> None:
    from synaptune.hpo.raytune import checkpoint_bytes

    stream = build_stream("split-digits", BenchmarkParams(n_tasks=2, seed=0))
    space = load_space("naive", None)
    estimate = checkpoint_bytes(space, stream, seeds=1, orders=1)
    # A real checkpoint of the space's defaults is no larger than the estimate, and the largest
    # configuration's (every numeric dimension at its upper bound) is about the estimate.
    run = TrialRun("naive", space.build({}), stream, seeds=(0,))
    run.step()
    assert run.save(tmp_path).stat().st_size <= estimate * 1.05
    upper = {d.name: d.high if d.kind != "categorical" else d.choices[-1] for d in space.dims}
    run = TrialRun("naive", space.build(upper), stream, seeds=(0,))
    assert 0.5 * estimate < run.save(tmp_path).stat().st_size <= estimate * 1.05
    # Two seeds keep two learners per checkpoint.
    assert checkpoint_bytes(space, stream, seeds=2, orders=1) > 1.8 * estimate
    need, why = storage.needed_bytes(estimate, 10)
    assert need > 10 * 3 * estimate and "10 trials x (3 checkpoints of" in why


def test_a_sweep_larger_than_the_disk_is_refused_before_ray_starts(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    import ray

    started = time.time()
    code, err = sweep(tmp_path, capsys, "--trials", "100000000")
    assert code == 2 and not ray.is_initialized()
    line = one_error_line(err)
    assert "free; the sweep needs about" in line and "100000000 trials x (3 checkpoints of" in line
    assert not (tmp_path / "results" / "s").exists() and time.time() - started < 120


def test_an_object_store_that_does_not_answer_is_refused() -> None:
    # An S3 endpoint on a closed local port: refused in seconds, with or without a network.
    with pytest.raises(UnreachableError, match="cannot be written"):
        storage.check_uri("s3://synaptune-test/results?endpoint_override=127.0.0.1:9&scheme=http"
                          "&access_key=x&secret_key=y&request_timeout=2&connect_timeout=2", timeout_s=60)
    # A store that hangs does not hang the sweep: the probe gives up after its timeout.
    started = time.time()
    assert storage._within(lambda: time.sleep(5), 0.5) == "no answer within 0.5 s"
    assert time.time() - started < 4


def results_folder(tmp_path: Path) -> Path:
    """A sweep's results folder in the layout Tune writes (what --resume looks for)."""
    folder = tmp_path / "results" / "s"
    folder.mkdir(parents=True)
    (folder / "tuner.pkl").write_bytes(b"\x80\x04N.")
    (folder / "searcher-state-2026-11-30_10-00-00.pkl").write_bytes(b"\x80\x04N.")
    (folder / "experiment_state-2026-11-30_10-00-00.json").write_text('{"trial_data": [], "runner_data": {}}')
    return folder


def test_a_damaged_experiment_state_is_refused_not_resumed_into(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    folder = results_folder(tmp_path)
    storage.check_experiment_state(str(folder))
    state = next(folder.glob("experiment_state-*.json"))
    state.write_text(state.read_text()[:10])  # truncated
    with pytest.raises(DamagedResultsError, match="is damaged .*JSONDecodeError"):
        storage.check_experiment_state(str(folder))
    # The killed sweep left its parent run and a mid-stream trial's run RUNNING in MLflow.
    from synaptune.hpo import store

    results = store.SweepStore(f"sqlite:///{tmp_path}/mlflow.db")
    parent = results.start_sweep("s", sweep_path=str(folder.resolve()), settings={}, tags={}, space_yaml="")
    child = results.trial_logger("s", parent, learner="naive", fixed={}, settings={}).child_run("t1", {})
    store.wait_for_logging()
    code, err = sweep(tmp_path, capsys, "--resume")
    assert code == 1  # not a usage error: the sweep cannot go on as it was
    line = one_error_line(err)
    assert "cannot resume" in line and "--name" in line
    # ...and nothing is left RUNNING: nobody will continue them.
    assert results.run(parent).info.status == "FAILED"
    assert "is damaged" in results.run(parent).data.tags["synaptune.error"]
    closed = results.run(child)
    assert closed.info.status == "KILLED" and closed.data.tags["synaptune.status"] == "lost"
    state.unlink()  # missing altogether
    with pytest.raises(DamagedResultsError, match="has no experiment_state"):
        storage.check_experiment_state(str(folder))
    (folder / "experiment_state-2026-11-30_10-00-00.json").write_text("{}")
    (folder / "tuner.pkl").write_bytes(b"")
    with pytest.raises(DamagedResultsError, match="no trial_data|tuner.pkl is empty"):
        storage.check_experiment_state(str(folder))


def test_resuming_a_folder_of_another_user_needs_trust_results(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    folder = results_folder(tmp_path)
    storage.check_owner(str(folder), trusted=False)  # mine
    other = os.getuid() + 4242
    try:
        os.chown(folder / "tuner.pkl", other, -1)
    except PermissionError:
        pytest.skip("chown to another user needs root")
    with pytest.raises(ConfigError, match=rf"belongs to user id {other}.*can run any code.*--trust-results"):
        storage.check_owner(str(folder), trusted=False)
    storage.check_owner(str(folder), trusted=True)
    code, err = sweep(tmp_path, capsys, "--resume")
    assert code == 2 and "--trust-results" in one_error_line(err)
    # With the flag, the owner is no longer the objection (the state, damaged here, is).
    state = next(folder.glob("experiment_state-*.json"))
    state.write_text("{")
    code, err = sweep(tmp_path, capsys, "--resume", "--trust-results")
    assert code == 1 and "is damaged" in one_error_line(err)


def test_a_full_or_unwritable_disk_is_named(tmp_path: Path) -> None:
    assert storage.trouble(str(tmp_path)) is None  # the test disk has room
    full = storage.trouble(str(tmp_path), below=shutil.disk_usage(tmp_path).free + 2**30)
    assert full is not None and full.startswith(f"--storage {tmp_path} is full (")
    assert "is not writable any more" in (storage.trouble("/proc/self", below=0) or "")
    assert storage.trouble("s3://bucket/x") is None



def test_tune_files_cut_short_by_a_kill_are_put_back_from_rays_staging_copy(tmp_path: Path) -> None:
    folder = results_folder(tmp_path)
    state = next(folder.glob("experiment_state-*.json"))
    search = folder / "search_gen_state-2026-11-30_10-00-00.json"
    search.write_bytes(b"\x80\x04}\x94.")  # an empty dict, pickled
    # Ray staged the whole files first (same names: the name carries Tune's session time)...
    staged = tmp_path / "ray" / "session_x" / "artifacts" / "2026-11-30_10-00-00" / "s" / "driver_artifacts"
    staged.mkdir(parents=True)
    for path in (state, search):
        (staged / path.name).write_bytes(path.read_bytes())
    # ...and the kill came while they were copied: one cut, one empty.
    state.write_text(state.read_text()[:7])
    search.write_bytes(b"")
    with pytest.raises(DamagedResultsError):
        storage.check_experiment_state(str(folder))
    repaired = storage.repair_from_staging(str(folder), ray_temp=str(tmp_path / "ray"))
    assert sorted(repaired) == sorted([state.name, search.name])
    storage.check_experiment_state(str(folder))
    assert search.read_bytes() == (staged / search.name).read_bytes()
    # Whole files are left alone; a staged file of another sweep or session is never taken.
    assert storage.repair_from_staging(str(folder), ray_temp=str(tmp_path / "ray")) == []
    state.write_text(state.read_text()[:7])
    (staged / state.name).rename(staged / "experiment_state-2026-11-30_11-11-11.json")
    assert storage.repair_from_staging(str(folder), ray_temp=str(tmp_path / "ray")) == []


def test_a_whole_file_is_never_replaced_by_another_sweeps_staged_copy_of_the_same_name(tmp_path: Path) -> None:
    """Sweeps named alike in other folders stage a tuner.pkl too (found at the 10th try of bench/faults.py:
    a longer folder name made the sizes differ and the resume logged to the 9th try's MLflow)."""
    import pickle

    folder = results_folder(tmp_path)
    tuner = folder / "tuner.pkl"
    tuner.write_bytes(pickle.dumps({"storage": str(tmp_path / "sweep-10")}))
    other = tmp_path / "ray" / "session_b" / "artifacts" / "2026-11-30_09-00-00" / "s" / "driver_artifacts"
    other.mkdir(parents=True)
    (other / "tuner.pkl").write_bytes(pickle.dumps({"storage": str(tmp_path / "sweep-9")}))
    assert storage.repair_from_staging(str(folder), ray_temp=str(tmp_path / "ray")) == []
    # A cut tuner.pkl is refused on resume, and put back only from this sweep's own session time.
    whole = tuner.read_bytes()
    tuner.write_bytes(whole[:-3])
    assert not storage.is_whole(tuner)
    with pytest.raises(DamagedResultsError, match="tuner.pkl is cut short"):
        storage.check_experiment_state(str(folder))
    assert storage.repair_from_staging(str(folder), ray_temp=str(tmp_path / "ray")) == []
    own = tmp_path / "ray" / "session_a" / "artifacts" / "2026-11-30_10-00-00" / "s" / "driver_artifacts"
    own.mkdir(parents=True)
    (own / "tuner.pkl").write_bytes(whole)
    assert storage.repair_from_staging(str(folder), ray_temp=str(tmp_path / "ray")) == ["tuner.pkl"]
    assert tuner.read_bytes() == whole
    storage.check_experiment_state(str(folder))

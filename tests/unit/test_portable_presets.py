# SPDX-License-Identifier: MIT
"""Presets and runs that travel: no machine path in a preset, the sweep's provenance in an exported one,
readable MLflow names for ``run`` / ``compare`` results and for pruned trials.

Sweeps are written through the real :class:`SweepStore` and :class:`TrialLogger` into a SQLite MLflow
store (as in ``test_store.py``) and read back through the CLI in this process.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from synaptune.benchmarks import BenchmarkParams
from synaptune.hpo import store
from synaptune.hpo.presets import (SHIPPED_DIR, load_preset, portable_command, portable_uri, shipped_presets,
                                   sweep_provenance)

pytest.importorskip("mlflow")

#: A machine's path: absolute under the usual roots, a home folder, or an absolute SQLite file.
MACHINE_PATH = re.compile(r"(?<![\w.])(/usr|/tmp|/home|/root|/work|/var|/opt|/mnt|/srv|/data|/Users|~)/|sqlite:////")
FASHION = "/usr/share/datasets/fashion-mnist"
SETTINGS = {"learner": "naive", "benchmark": "split-digits", "benchmark/n_tasks": 2,
            "benchmark/classes_per_task": 2, "benchmark/scenario": "class-il", "benchmark/seed": 0,
            "benchmark/val_fraction": 0.1, "benchmark/data_dir": FASHION, "benchmark/download": False,
            "protocol": "end-of-stream", "seeds": 1, "task_orders": 1, "aggregate": "mean",
            "fixed_by_set": "epochs=1", "stream/tuned_tasks": 2, "stream/classes": "0 1|2 3",
            "stream/val_samples": "28,30"}
PROVENANCE = ("commit", "sweep", "sweep_command", "space", "fixed_by_set", "trials", "budget", "picked", "machine")


def result(tasks_seen: int, accs: list[float]) -> dict:
    """A trial's result after ``tasks_seen`` of 2 tasks."""
    out = {"tasks_seen": tasks_seen, "n_tasks": 2, "val/acc_seen": sum(accs) / len(accs), "train_seconds": 1.5,
           "accuracy_matrix": json.dumps([accs + [None] * (2 - len(accs))])}
    out.update({f"val/acc_task_{j}": a for j, a in enumerate(accs)})
    if tasks_seen == 2:
        out.update({"val/acc": sum(accs) / 2, "objective": sum(accs) / 2})
    return out


def log_sweep(uri: str, name: str, *, origin: bool) -> str:
    """A finished sweep of three trials (two completed, one pruned after 1 of 2 tasks); its parent run's id.

    ``origin``: tag it with its command line as ``synaptune sweep`` does (with machine paths in it).
    """
    results = store.SweepStore(uri)
    parent = results.start_sweep(name, sweep_path=f"/tmp/x/{name}", space_yaml="",
                                 settings={**SETTINGS, "time_budget_s": 600.0, "storage": f"/tmp/x/{name}"},
                                 tags={"synaptune.trials": "3"})
    logger = results.trial_logger(name, parent, learner="naive", fixed={"epochs": 1}, settings=SETTINGS)
    trials = {"a": [result(1, [0.9]), result(2, [0.8, 0.9])], "b": [result(2, [0.6, 0.6])], "p": [result(1, [0.2])]}
    for k, (trial_id, reports) in enumerate(trials.items()):
        config = {"lr": 0.01 * (k + 1)}
        for r in reports:
            logger.on_result(trial_id, config, r)
        logger.on_end(trial_id, config, reports[-1], error=False)
    store.wait_for_logging()
    if origin:
        command = (f"synaptune sweep --learner naive --benchmark split-digits --data-dir {FASHION} --set epochs=1 "
                   f"--trials 3 --name {name} --storage /tmp/x/results --tracking-uri {uri}")
        results.record_sweep_origin(parent, command=command, machine="x86_64, 2 CPUs, 3.11.7, device cpu",
                                    commit="abc1234")
    results.finish_sweep(parent, None, {})
    return parent


@pytest.fixture(scope="module")
def uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store for the module (its schema takes seconds to create): sweep ``trip`` tagged with its
    command line as ``synaptune sweep`` tags it, sweep ``old`` without (logged before it was)."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('portable')}/mlflow.db"
    log_sweep(uri, "trip", origin=True)
    log_sweep(uri, "old", origin=False)
    return uri


# ------------------------------------------------------------------ 1. no machine path in a preset


def test_no_shipped_preset_holds_a_machine_path() -> None:
    found = {path.relative_to(SHIPPED_DIR).as_posix(): m.group(0)
             for path in sorted(SHIPPED_DIR.glob("*/*.yaml"))
             for m in [MACHINE_PATH.search(path.read_text(encoding="utf-8"))] if m}
    assert not found, f"machine paths in shipped presets (see synaptune.hpo.presets.portable_command): {found}"
    assert len(shipped_presets()) >= 10


def test_a_preset_leaves_its_data_dir_to_the_reader(tmp_path: Path) -> None:
    """A shipped preset reads back with the default data_dir, and `run --data-dir` decides where the data are."""
    from synaptune.hpo.preset_stream import StreamRequest, preset_stream

    preset = load_preset(shipped_presets()["split-fashion-mnist/naive"])
    assert preset.benchmark_params.data_dir == BenchmarkParams().data_dir
    assert "data_dir" not in yaml.safe_load(preset.to_yaml())["benchmark"]["params"]
    chosen = preset_stream(preset, "split-fashion-mnist/naive", StreamRequest(options={"data_dir": FASHION}))
    assert chosen.params.data_dir == FASHION and chosen.benchmark == "split-fashion-mnist"


def test_a_missing_dataset_says_how_to_point_data_dir_at_it(synaptune, workdir: Path) -> None:  # noqa: ANN001
    code, out, err = synaptune("run", "--preset", "split-fashion-mnist/naive", "--seeds", "1",
                               "--tracking-uri", f"sqlite:///{workdir}/m.db")
    assert code == 2, (out, err)
    assert "Fashion-MNIST not found in data" in err and "Point --data-dir at the folder that holds them" in err


def test_portable_command_replaces_paths_with_placeholders() -> None:
    argv = shlex.split(f"synaptune sweep --learner satsom --data-dir {FASHION} --set grid=30x30 --name s "
                       "--storage /tmp/ship/f3/results --tracking-uri sqlite:////tmp/ship/f3/mlflow.db "
                       "--space=/home/me/space.yaml --protocol first-tasks:3")
    assert shlex.join(portable_command(argv)) == (
        "synaptune sweep --learner satsom --data-dir DATA_DIR --set grid=30x30 --name s --storage WORK/results "
        "--tracking-uri sqlite:///WORK/mlflow.db --space=WORK/space.yaml --protocol first-tasks:3")
    # Relative paths travel as they are; credentials never do; servers keep their address.
    assert portable_uri("sqlite:///mlflow.db") == "sqlite:///mlflow.db"
    assert portable_uri("postgresql://user:secret@db:5432/mlflow") == "postgresql://db:5432/mlflow"
    assert portable_uri("http://mlflow:5000") == "http://mlflow:5000"
    assert portable_uri("file:///home/me/mlruns") == "WORK/mlruns"


# ------------------------------------------------------------------ 4. export writes the sweep's provenance


def test_export_writes_the_sweeps_provenance_and_no_machine_path(synaptune, uri: str,  # noqa: ANN001
                                                                  workdir: Path) -> None:
    code, out, err = synaptune("export", "--experiment", "trip", "-o", "p.yaml", "--tracking-uri", uri)
    assert code == 0, err
    assert f"--data-dir {FASHION}" in out  # the terminal says how to run it here; the file does not
    text = (workdir / "p.yaml").read_text()
    assert not MACHINE_PATH.search(text), text
    prov = yaml.safe_load(text)["provenance"]
    assert set(PROVENANCE) <= set(prov), set(PROVENANCE) - set(prov)
    assert prov["sweep_command"] == ("synaptune sweep --learner naive --benchmark split-digits --data-dir DATA_DIR "
                                     "--set epochs=1 --trials 3 --name trip --storage WORK/results "
                                     "--tracking-uri sqlite:///WORK/mlflow.db")
    assert prov["tracking_uri"] == "sqlite:///WORK/mlflow.db"
    assert prov["trials"] == {"asked": 3, "completed": 2, "pruned": 1}
    assert prov["budget"]["trials"] == 3 and prov["budget"]["time_budget_s"] == 600.0
    assert prov["budget"]["trial_train_seconds"] == 4.5 and prov["budget"]["sweep_seconds"] >= 0
    assert prov["fixed_by_set"] == {"epochs": "1"}
    assert (prov["commit"], prov["machine"]) == ("abc1234", "x86_64, 2 CPUs, 3.11.7, device cpu")
    assert prov["sweep"] == "trip" and "best objective" in prov["picked"]
    assert "data_dir" not in yaml.safe_load(text)["benchmark"]["params"]
    assert prov["run_id"] == store.SweepStore(uri).best("trip")[0].run_id


def test_provenance_of_a_sweep_that_recorded_no_command_is_rebuilt(uri: str) -> None:
    results = store.SweepStore(uri)
    record = results.best("old")[0]
    sweep = results.sweep_of(record)
    prov = sweep_provenance(sweep, results.records("old", parent_id=sweep.run_id), picked="by hand")
    assert set(PROVENANCE) <= set(prov)
    command = prov["sweep_command"]
    assert command.startswith("synaptune sweep --learner naive --benchmark split-digits --n-tasks 2")
    assert "--data-dir DATA_DIR" in command and "--set epochs=1" in command and "--trials 3" in command
    assert not MACHINE_PATH.search(json.dumps(prov)), prov
    assert prov["commit"].startswith("unknown") and prov["machine"].startswith("unknown")


# ------------------------------------------------------------------ 2. and 3. names in the MLflow UI


def test_pruned_runs_are_named_so_and_still_read_back_as_pruned(uri: str) -> None:
    from mlflow.tracking import MlflowClient

    records = {r.trial_id: r for r in store.SweepStore(uri).records("old")}
    assert records["p"].status is store.TrialStatus.PRUNED
    assert records["p"].name == "naive-3 (pruned after 1 of 2 tasks)"
    assert [records[t].name for t in ("a", "b")] == ["naive-1", "naive-2"]
    run = MlflowClient(tracking_uri=uri).get_run(records["p"].run_id)
    assert run.info.status == "FINISHED" and run.data.tags["synaptune.status"] == "pruned"
    assert [r.trial_id for r in store.rank(records.values())] == ["a", "b"]


def test_pruned_name() -> None:
    from synaptune.hpo.mlflow_trial_logger import pruned_name

    assert pruned_name("ewc-4", {"tasks_seen": 1, "n_tasks": 5}) == "ewc-4 (pruned after 1 of 5 tasks)"
    assert pruned_name("ewc-4", {"tasks_seen": 1}) == "ewc-4 (pruned after 1 task)"
    assert pruned_name("ewc-4", None) == "ewc-4 (pruned)"


def test_run_and_compare_results_get_readable_names(synaptune, workdir: Path) -> None:  # noqa: ANN001
    from mlflow.tracking import MlflowClient

    assert store.seeds_run_name(["split-fashion-mnist/ewc"], 5) == "split-fashion-mnist/ewc seeds 0-4"
    assert store.seeds_run_name(["a", "b"], 2, task_orders=3) == "a vs b seeds 0-1, 3 task orders"
    uri = f"sqlite:///{workdir}/m.db"
    tiny = ("--n-tasks", "2", "--tracking-uri", uri)
    code, out, err = synaptune("run", "--learner", "naive", "--set", "epochs=1", "--set", "hidden_units=8",
                               "--seeds", "2", "--experiment", "r", "--format", "json", *tiny)
    assert code == 0, err
    client = MlflowClient(tracking_uri=uri)
    assert client.get_run(json.loads(out)["run_id"]).info.run_name == "naive seeds 0-1"
    code, out, err = synaptune("compare", "naive:epochs=1,hidden_units=8", "naive:epochs=1,hidden_units=4",
                               "--seeds", "1", "--experiment", "c", "--format", "json",
                               "--output", str(workdir / "cmp"), *tiny)
    assert code == 0, err
    parent = client.get_run(json.loads(out)["parent_run_id"])
    assert parent.info.run_name == "naive:epochs=1,hidden_units=8 vs naive:epochs=1,hidden_units=4 seeds 0"

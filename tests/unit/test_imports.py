# SPDX-License-Identifier: MIT
"""``import synaptune`` (and the CLI module) stays light: no Ray, Optuna, MLflow, torchvision."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("ray", "optuna", "mlflow", "torchvision")


def _loaded_after(code: str) -> list[str]:
    probe = (f"{code}; import sys, json; "
             f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_package_imports_are_light() -> None:
    assert _loaded_after("import synaptune, synaptune.learners, synaptune.benchmarks, "
                         "synaptune.searchspaces, synaptune.cli, synaptune.hpo") == []


def test_listing_and_a_space_stay_light() -> None:
    code = ("from synaptune.learners import LEARNERS; from synaptune.benchmarks import BENCHMARKS; "
            "from synaptune.searchspaces import load_space; "
            "[LEARNERS.get(n) for n in LEARNERS.names()]; BENCHMARKS.names(); load_space('naive'); "
            "from synaptune.cli import build_parser; build_parser()")
    assert _loaded_after(code) == []


#: What `synaptune list` and a usage error must not import: each costs seconds before a line is printed.
ENGINES = ("torch", "ray")


def _engines_loaded_after(argv: list[str]) -> tuple[int, list[str]]:
    """Exit code of ``synaptune ARGV`` run in a fresh interpreter, and the engines it imported."""
    probe = ("import sys, json\nfrom synaptune.cli import main\ntry:\n    code = main(%r)\n"
             "except SystemExit as e:\n    code = e.code\n"
             "print(json.dumps([code, sorted(m for m in sys.modules if m.split('.')[0] in %r)]))" % (argv, ENGINES))
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    code, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    return code, loaded


def test_list_imports_neither_torch_nor_ray() -> None:
    assert _engines_loaded_after(["list"]) == (0, [])


def test_usage_errors_import_neither_torch_nor_ray() -> None:
    for argv in (["sweep", "--trials", "x"], ["sweep", "--bogus"], ["run", "--scenario", "x"], ["nonsense"]):
        assert _engines_loaded_after(argv) == (2, []), argv


def test_space_imports_neither_torch_nor_ray() -> None:
    # Every built-in learner's knobs come from synaptune.learners.hparams, not from its torch module.
    from synaptune.learners import LEARNERS

    for name in LEARNERS.names():
        assert _engines_loaded_after(["space", name]) == (0, []), name
    assert _engines_loaded_after(["--help"]) == (0, [])
    assert _engines_loaded_after(["sweep", "--help"]) == (0, [])


def _small_sweep(uri: str, name: str) -> None:
    """A finished sweep of two complete trials of ``naive`` on split-digits (2 tasks), logged through the store."""
    from synaptune.hpo import store

    settings = {"learner": "naive", "benchmark": "split-digits", "benchmark/n_tasks": 2,
                "benchmark/classes_per_task": 2, "benchmark/scenario": "class-il", "benchmark/seed": 0,
                "benchmark/val_fraction": 0.1, "protocol": "end-of-stream", "seeds": 1, "task_orders": 1,
                "aggregate": "mean", "stream/tuned_tasks": 2, "stream/classes": "0 1|2 3",
                "stream/val_samples": "28,30"}
    results = store.SweepStore(uri)
    parent = results.start_sweep(name, sweep_path=f"/sweeps/{name}", settings=settings, tags={}, space_yaml="")
    trials = results.trial_logger(name, parent, learner="naive", fixed={}, settings=settings)
    for trial_id, acc in (("a", 0.8), ("b", 0.6)):
        config = {"lr": acc / 10}
        result = {"tasks_seen": 2, "n_tasks": 2, "val/acc_seen": acc, "objective_seen": acc, "val/acc": acc,
                  "objective": acc, "val/acc_task_0": acc, "val/acc_task_1": acc, "state_bytes": 1000,
                  "accuracy_matrix": json.dumps([[acc, None], [acc, acc]])}
        trials.on_result(trial_id, config, result)
        trials.on_end(trial_id, config, result, error=False)
    store.wait_for_logging()


def test_export_imports_no_torch(tmp_path: Path) -> None:
    # `export` reads MLflow and writes YAML: the learners' Params are torch-free, and so must be what
    # it imports on the way (hpo.presets -> protocols takes the Stream type for hints only).
    pytest.importorskip("mlflow")
    assert _engines_loaded_after(["export", "--help"]) == (0, [])
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    _small_sweep(uri, "small")
    out = tmp_path / "preset.yaml"
    assert _engines_loaded_after(["export", "--experiment", "small", "--tracking-uri", uri, "-o", str(out)]) == (0, [])
    from synaptune.hpo.presets import load_preset

    preset = load_preset(out)  # a real export: the best trial's preset
    assert (preset.learner, preset.objective["value"], preset.params.lr) == ("naive", 0.8, 0.08)


def test_params_of_a_built_in_learner_is_its_class_params() -> None:
    from synaptune.learners import LEARNERS, params_of
    from synaptune.learners.hparams import __all__ as exported

    names = LEARNERS.names()
    assert len(names) >= 10
    for name in names:
        assert params_of(name) is LEARNERS.get(name).params_cls, name
        assert params_of(name).__name__ in exported, name

# SPDX-License-Identifier: MIT
"""The results store: direction, non-finite values, standard errors, statuses, paging.

Sweeps are constructed through the real :class:`SweepStore` and
:class:`TrialLogger` into a real SQLite MLflow store, then read back the way
users read them (``synaptune best`` / ``export`` as subprocesses). Also: the
one noise rule, typed test-run records, and nothing done at import.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from synaptune.exceptions import ConfigError
from synaptune.hpo import store

pytest.importorskip("mlflow")

SETTINGS = {"benchmark": "split-digits", "benchmark/n_tasks": 2, "benchmark/classes_per_task": 2,
            "benchmark/scenario": "class-il", "benchmark/seed": 0, "benchmark/val_fraction": 0.1,
            "protocol": "end-of-stream", "seeds": 1, "task_orders": 1, "aggregate": "mean",
            "stream/tuned_tasks": 2, "stream/classes": "0 1|2 3", "stream/val_samples": "28,30"}


def result(tasks_seen: int, accs: list[float], *, forgetting: float = 0.1, diverged: bool = False) -> dict:
    """A trial's result after ``tasks_seen`` of 2 tasks, per-task accuracies ``accs``."""
    out = {"tasks_seen": tasks_seen, "n_tasks": 2, "val/acc_seen": sum(accs) / len(accs), "state_bytes": 1000,
           "objective_seen": sum(accs) / len(accs), "accuracy_matrix": json.dumps([accs + [None] * (2 - len(accs))])}
    out.update({f"val/acc_task_{j}": a for j, a in enumerate(accs)})
    if tasks_seen == 2:
        out.update({"val/acc": sum(accs) / 2, "objective": sum(accs) / 2, "val/bwt": -forgetting,
                    "val/forgetting": forgetting})
    if diverged:
        out.update({"diverged": 1, "diverged_reason": "learner state has non-finite values", "objective": math.nan})
    return out


def log_sweep(uri: str, name: str, trials: dict[str, list[dict]]) -> None:
    """A sweep whose trial ``t`` reports ``trials[t]`` in order (its last result ends it)."""
    results = store.SweepStore(uri)
    parent = results.start_sweep(name, sweep_path=f"/x/{name}", settings={"learner": "naive", **SETTINGS}, tags={},
                                 space_yaml="")
    logger = results.trial_logger(name, parent, learner="naive", fixed={}, settings={"learner": "naive", **SETTINGS})
    for k, (trial_id, reports) in enumerate(trials.items()):
        config = {"lr": 0.01 * (k + 1)}
        for r in reports:
            logger.on_result(trial_id, config, r)
        logger.on_end(trial_id, config, reports[-1], error=False)
    store.wait_for_logging()


def cli(synaptune, *args: str) -> SimpleNamespace:  # noqa: ANN001
    """``synaptune ARGS`` in this process (the ``synaptune`` fixture: cwd is the test's tmp_path)."""
    code, out, err = synaptune(*args)
    return SimpleNamespace(returncode=code, stdout=out, stderr=err)


@pytest.fixture(scope="module")
def uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{folder}/mlflow.db"
    log_sweep(uri, "forget", {
        "forgets-most": [result(2, [0.9, 0.9], forgetting=0.98)],
        "forgets-least": [result(2, [0.5, 0.5], forgetting=0.02)],
        "pruned": [result(1, [1.0])],
        "diverged": [result(2, [0.1, 0.1], diverged=True)],
    })
    # Close calls: 0.70 vs 0.68 over 28 / 30 validation samples per task are within one standard error.
    log_sweep(uri, "close", {"a": [result(2, [0.70, 0.70])], "b": [result(2, [0.68, 0.68])],
                             "c": [result(2, [0.20, 0.20])]})
    log_sweep(uri, "apart", {"a": [result(2, [0.95, 0.95])], "b": [result(2, [0.40, 0.40])]})
    return uri


def test_direction_of_built_in_metrics() -> None:
    assert store.parse_metric("val/forgetting") == ("val/forgetting", "min")
    assert store.parse_metric("val/forgetting:max") == ("val/forgetting", "max")
    assert store.parse_metric("val/bwt") == ("val/bwt", "max")
    assert store.parse_metric("state_bytes") == ("state_bytes", "min")
    assert store.parse_metric("train_seconds") == ("train_seconds", "min")
    assert store.parse_metric("val/acc_task_3") == ("val/acc_task_3", "max")
    with pytest.raises(ConfigError, match="direction of my_metric is not known; write my_metric:max"):
        store.parse_metric("my_metric")


def test_best_by_forgetting_ranks_least_forgetting_first(uri: str, tmp_path: Path, synaptune) -> None:  # noqa: ANN001
    for metric in ("val/forgetting", "val/forgetting:min"):
        r = cli(synaptune, "best", "--experiment", "forget", "--metric", metric, "--top", "3", "--format", "json",
                "--tracking-uri", uri)
        assert r.returncode == 0, r.stderr
        assert [b["trial_id"] for b in json.loads(r.stdout)] == ["forgets-least", "forgets-most"]
    r = cli(synaptune, "export", "--experiment", "forget", "--metric", "val/forgetting", "-o", "p.yaml",
            "--tracking-uri", uri)
    assert r.returncode == 0, r.stderr
    preset = yaml.safe_load((tmp_path / "p.yaml").read_text())
    assert preset["objective"]["metric"] == "val/forgetting" and preset["objective"]["mode"] == "min"
    assert preset["objective"]["value"] == pytest.approx(0.02)
    assert preset["benchmark"]["params"]["n_tasks"] == 2 and preset["stream"]["classes"] == "0 1|2 3"


def test_a_metric_typo_lists_the_experiments_metrics(uri: str, tmp_path: Path, synaptune) -> None:  # noqa: ANN001
    r = cli(synaptune, "best", "--experiment", "forget", "--metric", "val/forgeting", "--tracking-uri", uri)
    assert r.returncode == 2
    line = r.stderr.strip().splitlines()[-1]
    assert "no trial of `forget` has metric val/forgeting" in line and "val/forgetting" in line
    assert "objective" in line and "state_bytes" in line


def test_non_finite_and_pruned_trials_are_never_ranked(uri: str, tmp_path: Path, synaptune) -> None:  # noqa: ANN001
    records = {r.trial_id: r for r in store.SweepStore(uri).records("forget")}
    assert records["diverged"].status is store.TrialStatus.FAILED and records["diverged"].reason == "diverged"
    assert records["pruned"].status is store.TrialStatus.PRUNED
    ranked = store.rank(records.values(), "val/acc_seen", "max")  # the trap: a 1-task trial has the best value
    assert [r.trial_id for r in ranked] == ["forgets-most", "forgets-least"]
    r = cli(synaptune, "best", "--experiment", "forget", "--top", "5", "--tracking-uri", uri)
    assert r.returncode == 0, r.stderr
    assert "not shown: 1 pruned, 1 failed (1 diverged)" in r.stdout
    assert "diverged" not in r.stdout.split("not shown")[0]


def test_child_runs_are_named_and_pruned_runs_end_finished_under_a_name_that_says_so(uri: str) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("forget")
    runs = {r.data.tags["trial_id"]: r for r in client.search_runs([exp.experiment_id],
                                                                   "tags.`synaptune.role` = 'trial'")}
    assert sorted(r.info.run_name for r in runs.values()) == ["naive-1", "naive-2", "naive-3 (pruned after 1 of 2 tasks)",
                                                              "naive-4"]
    assert runs["pruned"].info.status == "FINISHED" and runs["pruned"].data.tags["synaptune.status"] == "pruned"
    assert runs["diverged"].info.status == "FAILED"
    assert "objective" not in runs["diverged"].data.metrics  # NaN is not logged as a value
    assert runs["forgets-least"].data.params["learner/lr"] == "0.02"
    assert "lr" not in runs["forgets-least"].data.params


def test_best_shows_standard_errors_and_warns_within_noise(uri: str, tmp_path: Path, synaptune) -> None:  # noqa: ANN001
    record = store.SweepStore(uri).best("close")[0]
    expected = math.sqrt((0.7 * 0.3 / 28 + 0.7 * 0.3 / 30) / 4)
    assert record.standard_error() == pytest.approx(expected)
    r = cli(synaptune, "best", "--experiment", "close", "--top", "2", "--tracking-uri", uri)
    assert r.returncode == 0, r.stderr
    assert f"objective = 0.7 ± {expected:.2g}" in r.stdout
    assert "warning: #1 and #2 differ by 0.02" in r.stdout and "within noise" in r.stdout
    assert "--val-fraction" in r.stdout and "--seeds" in r.stdout
    r = cli(synaptune, "best", "--experiment", "apart", "--top", "2", "--tracking-uri", uri)
    assert r.returncode == 0, r.stderr
    assert "within noise" not in r.stdout  # 0.95 vs 0.40 is far outside the noise


def test_spread_over_seeds_adds_to_the_standard_error() -> None:
    base = dict(run_id="r", trial_id="t", name="n", status=store.TrialStatus.COMPLETED, reason=None, experiment="x",
                learner="naive", params={}, settings={}, tasks_seen=2, n_tasks=2, val_samples=(100, 100))
    metrics = {"val/acc_task_0": 0.5, "val/acc_task_1": 0.5, "objective": 0.5}
    one = store.TrialRecord(metrics=metrics, runs=1, **base)
    three = store.TrialRecord(metrics={**metrics, "val/acc_std": 0.1}, runs=3, **base)
    assert one.standard_error() == pytest.approx(math.sqrt(0.25 / 100 / 2))
    assert three.standard_error() == pytest.approx(math.sqrt(0.25 / 100 / 2 + 0.01 / 2))


def test_records_are_read_page_after_page(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from synaptune.hpo import mlflow_sweeps

    monkeypatch.setattr(mlflow_sweeps, "PAGE_SIZE", 1)
    assert len(store.SweepStore(uri).records("forget")) == 4


def test_a_direction_other_than_min_or_max_is_refused() -> None:
    assert store.split_metric("val/acc") == ("val/acc", None)
    with pytest.raises(ConfigError, match=r"--metric val/forgetting:up: the direction after ':' must be min or max"):
        store.parse_metric("val/forgetting:up")


def test_the_one_noise_rule_serves_best_and_compare() -> None:
    from synaptune.hpo import compare, records

    assert records.difference_within_noise(0.0, 0.0, 0.0)  # a tie is never "beyond" anything
    assert records.difference_within_noise(-0.07, 0.03, 0.04)  # |d| = 0.03 + 0.04
    assert not records.difference_within_noise(0.071, 0.03, 0.04)
    # compare's table judges its spreads by the same rule: 0.06 is within 0.03 + 0.04 (a test of the
    # difference of independent means, sqrt(0.03² + 0.04²) = 0.05, would call it beyond), 0.08 beyond.
    for acc_b, verdict in ((0.77, "-0.0600, within the spread"), (0.75, "-0.0800, beyond the spread")):
        runs = {"a": [0.80, 0.86], "b": [acc_b - 0.04, acc_b + 0.04]}  # stds 0.03 / 0.04
        results = [compare.EntryResult(compare.parse_entry(f"naive:lr={0.1 if k == 'a' else 0.2}"), [
            {"test/acc": a, "test/bwt": 0.0, "test/forgetting": 0.0, "train_seconds": 1.0, "state_bytes": 0,
             "matrix": [[a]], "seed": i, "order": 0} for i, a in enumerate(accs)]) for k, accs in runs.items()]
        assert compare.table_rows(results)[1].versus_best == verdict

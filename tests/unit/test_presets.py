# SPDX-License-Identifier: MIT
"""Presets: YAML round trip, refusing to overwrite, errors that name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import synaptune
from synaptune.benchmarks import BenchmarkParams
from synaptune.exceptions import ConfigError, UnknownNameError
from synaptune.hpo.presets import FORMAT_VERSION, Preset, load_preset, preset_from_record, write_preset
from synaptune.learners import LEARNERS

EWC = LEARNERS.get("ewc").params_cls


def make_preset() -> Preset:
    return Preset(
        learner="ewc",
        params=EWC(lr=0.0123, optimizer="adam", hidden_units=64, epochs=2, ewc_lambda=250.0, multi_head=False),
        benchmark="split-digits",
        benchmark_params=BenchmarkParams(n_tasks=2, seed=3, val_fraction=0.2, scenario="task-il"),
        seeds=3,
        objective={"metric": "val/acc", "value": 0.91, "mode": "max"},
        provenance={"tracking_uri": "sqlite:///m.db", "experiment": "e", "run_id": "abc",
                    "trial_id": "t1", "synaptune_version": synaptune.__version__,
                    "date": "2025-01-01T00:00:00+00:00"},
    )


def write_doc(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def good_doc() -> dict:
    return yaml.safe_load(make_preset().to_yaml())


def test_round_trip(tmp_path: Path) -> None:
    preset = make_preset()
    path = write_preset(preset, tmp_path / "sub" / "p.yaml")
    assert path == tmp_path / "sub" / "p.yaml"
    assert yaml.safe_load(path.read_text())["format_version"] == FORMAT_VERSION
    again = load_preset(path)
    assert again == preset
    assert isinstance(again.params, EWC) and again.params.lr == 0.0123


def test_minimal_preset_uses_defaults(tmp_path: Path) -> None:
    path = write_doc(tmp_path / "p.yaml", {"format_version": 1, "learner": "naive",
                                           "benchmark": {"name": "split-digits"}, "params": {"lr": 0.1}})
    preset = load_preset(path)
    assert preset.params == LEARNERS.get("naive").params_cls(lr=0.1)
    assert preset.benchmark_params == BenchmarkParams()
    assert (preset.seeds, preset.objective, preset.provenance) == (1, {}, {})


def test_write_refuses_existing_file_without_force(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("mine\n")
    with pytest.raises(ConfigError, match=r"p.yaml already exists; pass --force to overwrite it"):
        write_preset(make_preset(), path)
    assert path.read_text() == "mine\n"
    write_preset(make_preset(), path, force=True)
    assert load_preset(path) == make_preset()


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d["params"].update(lrr=0.1),
     r"p.yaml: params: `lrr` is not a parameter of EWCParams. Did you mean `lr`?"),
    (lambda d: d["benchmark"]["params"].update(n_task=2),
     r"p.yaml: benchmark: `n_task` is not a parameter of BenchmarkParams. Did you mean `n_tasks`?"),
    (lambda d: d.update(format_version=99),
     r"p.yaml: unknown preset format_version 99; this synaptune \(.*\) reads format_version 1."),
    (lambda d: d.pop("format_version"), r"p.yaml: unknown preset format_version None"),
    (lambda d: d.update(learner="nope"),
     r"p\.yaml: unknown learner `nope`\. Known learners: .*\bnaive\b"),
    (lambda d: d["benchmark"].update(name="split-mnst"),
     r"p.yaml: unknown benchmark `split-mnst`. Did you mean `split-mnist`?"),
    (lambda d: d.update(benchmark="split-digits"), r"p.yaml: `benchmark` must be \{name: ..., params: \{...\}\}."),
    (lambda d: d.pop("params"), r"p.yaml: missing key `params`."),
    (lambda d: d.update(params=5), r"p.yaml: `params` and `benchmark.params` must map parameter names"),
    (lambda d: d["params"].update(lr=-1), r"p.yaml: params: `lr` must be in \(0, 10\], got -1.0"),
    (lambda d: d["params"].update(epochs="two"), r"p.yaml: params: `epochs` must be int, got 'two'"),
])
def test_load_errors_name_file_and_key(tmp_path: Path, change, expected: str) -> None:  # noqa: ANN001
    doc = good_doc()
    change(doc)
    path = write_doc(tmp_path / "p.yaml", doc)
    with pytest.raises(ConfigError, match=expected) as e:
        load_preset(path)
    assert str(tmp_path / "p.yaml") in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_param_is_an_unknown_name_error(tmp_path: Path) -> None:
    doc = good_doc()
    doc["params"]["lrr"] = 0.1
    with pytest.raises(UnknownNameError):
        load_preset(write_doc(tmp_path / "p.yaml", doc))


def test_load_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="preset .*missing.yaml does not exist"):
        load_preset(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("learner: [naive\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_preset(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: a preset is a mapping"):
        load_preset(bad)


def _record(learner_params: dict, settings: dict, metrics: dict, run_id: str = "r1", trial_id: str = "t9"):
    from synaptune.hpo.store import TrialRecord, TrialStatus

    return TrialRecord(run_id, trial_id, f"{settings.get('learner', 'x')}-1", TrialStatus.COMPLETED, None, "exp",
                       settings.get("learner", ""), {k: str(v) for k, v in learner_params.items()},
                       {k: str(v) for k, v in settings.items()}, metrics, 5, 5)


def test_preset_from_record_parses_logged_strings() -> None:
    preset = make_preset()
    settings = {"learner": "ewc", "benchmark": "split-digits", "seeds": "3", "stream/classes": "0 1|2 3"}
    settings.update({f"benchmark/{k}": str(v) for k, v in vars(preset.benchmark_params).items()})
    out = preset_from_record(_record(vars(preset.params), settings, {"val/acc": 0.9}),
                             tracking_uri="sqlite:///x.db", metric="val/acc", mode="max")
    assert out.params == preset.params
    assert out.benchmark_params == preset.benchmark_params
    assert (out.learner, out.benchmark, out.seeds) == ("ewc", "split-digits", 3)
    assert out.objective == {"metric": "val/acc", "value": 0.9, "mode": "max", "aggregate": "mean",
                             "task_orders": 1}
    assert out.stream == {"classes": "0 1|2 3"}
    assert str(out.protocol) == "end-of-stream"  # runs logged before protocols existed
    assert out.provenance["run_id"] == "r1" and out.provenance["trial_id"] == "t9"
    assert out.provenance["experiment"] == "exp"


def test_a_learner_field_named_like_a_setting_stays_a_learner_param() -> None:
    """Learner params are taken by their prefix, never by filtering names: a `seeds` setting is not a param."""
    preset = make_preset()
    settings = {"learner": "ewc", "benchmark": "split-digits", "seeds": "3", "lr": "999"}
    out = preset_from_record(_record(vars(preset.params), settings, {"objective": 0.5}),
                             tracking_uri="x", metric="objective", mode="max")
    assert out.params == preset.params  # the unprefixed `lr` setting did not leak into the params
    with pytest.raises(ConfigError, match="no `learner/` params"):
        preset_from_record(_record({}, settings, {"objective": 0.5}), tracking_uri="x", metric="objective",
                           mode="max")


def test_preset_records_and_reads_back_its_protocol(tmp_path: Path) -> None:
    preset = make_preset()
    logged = {"learner": "ewc", "benchmark": "split-digits", "seeds": "1", "protocol": "held-out-stream",
                   "protocol/eval_benchmark": "permuted-digits", "protocol/eval_benchmark_seed": "3",
                   "aggregate": "worst", "task_orders": "2"}
    logged.update({f"benchmark/{k}": str(v) for k, v in vars(preset.benchmark_params).items()})
    out = preset_from_record(_record(vars(preset.params), logged, {"objective": 0.5}, run_id="r"),
                             tracking_uri="sqlite:///x.db", metric="objective", mode="max")
    assert (out.protocol.kind, out.protocol.eval_benchmark, out.protocol.eval_benchmark_seed) == \
        ("held-out-stream", "permuted-digits", 3)
    assert out.objective["aggregate"] == "worst" and out.objective["task_orders"] == 2
    again = load_preset(write_preset(out, tmp_path / "p.yaml"))
    assert again.protocol == out.protocol
    doc = yaml.safe_load((tmp_path / "p.yaml").read_text())
    doc["protocol"] = {"name": "first-tasks:x"}
    with pytest.raises(ConfigError, match="give the number of tuning tasks"):
        load_preset(write_doc(tmp_path / "bad.yaml", doc))


def test_preset_from_a_run_that_is_not_a_trial() -> None:
    with pytest.raises(ConfigError, match="MLflow run r1 is not a synaptune trial"):
        preset_from_record(_record({}, {}, {}), tracking_uri="x", metric="val/acc", mode="max")

# SPDX-License-Identifier: MIT
"""The pieces of ``synaptune compare``: entries, overrides, protocol, the table's spread rule."""

from __future__ import annotations

import numpy as np
import pytest

from synaptune.exceptions import ConfigError
from synaptune.hpo import compare
from synaptune.hpo.presets import Preset
from synaptune.protocols import Protocol


def test_an_entry_is_a_learner_with_overrides_converted_by_its_params() -> None:
    e = compare.parse_entry("naive:lr=0.01, epochs=3")
    assert e.learner == "naive" and e.params.lr == 0.01 and e.params.epochs == 3
    assert e.preset is None and e.label == "naive:lr=0.01, epochs=3"


@pytest.mark.parametrize("text, says", [("naiv", "no learner"), ("naive:lr", "NAME=VALUE"),
                                        ("naive:nope=1", "nope"), ("naive:epochs=abc", "epochs")])
def test_bad_entries_name_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        compare.parse_entry(text)


def test_a_missing_preset_file_is_named() -> None:
    with pytest.raises(ConfigError, match="gone.yaml"):
        compare.parse_entry("gone.yaml")


def test_set_applies_to_the_entries_that_have_the_parameter_and_refuses_one_none_has() -> None:
    entries = [compare.parse_entry("naive"), compare.parse_entry("ewc")]
    compare.check_overrides(entries, {"lr": "0.2"})  # both have it
    with pytest.raises(ConfigError, match="no entry's learner has"):
        compare.check_overrides(entries, {"not_a_knob": "1"})
    lr = compare.with_overrides(entries[0], {"lr": "0.2"})
    assert lr.params.lr == 0.2 and "--set lr=0.2" in lr.source
    assert compare.with_overrides(entries[0], {"unrelated": "1"}) is entries[0]


def test_twice_the_same_entry_is_refused() -> None:
    with pytest.raises(ConfigError, match="given twice"):
        compare.check_labels([compare.parse_entry("naive"), compare.parse_entry("naive")])


def test_presets_of_different_protocols_are_refused() -> None:
    from synaptune.benchmarks import BenchmarkParams

    def entry(label: str, protocol: Protocol) -> compare.Entry:
        e = compare.parse_entry("naive")
        preset = Preset(learner="naive", params=e.params, benchmark="split-digits",
                        benchmark_params=BenchmarkParams(), protocol=protocol)
        return compare.Entry(label, "naive", e.params, preset=preset)

    a, b = entry("a", Protocol()), entry("b", Protocol.parse("first-tasks:2"))
    assert compare.common_protocol([a, compare.parse_entry("naive")]) == Protocol()
    assert str(compare.common_protocol([b])) == "first-tasks:2"
    with pytest.raises(ConfigError, match="different protocols"):
        compare.common_protocol([a, b])


def _result(label: str, accs: list[float]) -> compare.EntryResult:
    """Runs whose 2-task matrix has final accuracies ``(acc, acc)``: ACC = acc."""
    e = compare.parse_entry(label)
    runs = [{"test/acc": a, "test/bwt": -0.1, "test/forgetting": 0.1, "train_seconds": 2.0, "state_bytes": 8,
             "matrix": [[0.9, None], [a, a]], "seed": k, "order": 0} for k, a in enumerate(accs)]
    return compare.EntryResult(e, runs)


def test_table_orders_by_acc_and_marks_differences_beyond_the_spread() -> None:
    results = [_result("naive:lr=0.1", [0.50, 0.52]), _result("naive:lr=0.2", [0.80, 0.82]),
               _result("naive:lr=0.3", [0.79, 0.83])]
    rows = compare.table_rows(results)
    assert [r.label for r in rows] == ["naive:lr=0.2", "naive:lr=0.3", "naive:lr=0.1"]
    assert rows[0].versus_best == "best"
    assert rows[0].acc == pytest.approx(0.81) and rows[0].acc_std == pytest.approx(0.01)
    assert rows[1].versus_best == "+0.0000, within the spread"   # 0 < 0.01 + 0.02
    assert rows[2].versus_best == "-0.3000, beyond the spread"   # 0.30 > 0.01 + 0.01
    text = compare.format_table(rows)
    assert "0.8100 ± 0.0100" in text and text.count("\n") == 4


def test_one_run_has_no_spread_to_judge_by() -> None:
    rows = compare.table_rows([_result("naive:lr=0.1", [0.5]), _result("naive:lr=0.2", [0.6])])
    assert rows[1].versus_best == "-0.1000, spread unknown (1 run)"


def test_acc_seen_follows_the_matrix() -> None:
    assert compare.acc_seen([[0.9, None], [0.5, 0.7]]) == pytest.approx([0.9, 0.6])


def test_outputs_are_a_table_json_and_png(tmp_path) -> None:
    results = [_result("naive:lr=0.1", [0.5, 0.6]), _result("naive:lr=0.2", [0.7, 0.7])]
    files = compare.write_outputs(results, compare.table_rows(results), tmp_path / "o", title="t")
    assert files["png"].read_bytes()[:4] == b"\x89PNG"
    assert "naive:lr=0.2" in files["md"].read_text()
    import json

    doc = json.loads(files["json"].read_text())
    assert [e["label"] for e in doc["entries"]] == ["naive:lr=0.1", "naive:lr=0.2"]
    assert np.allclose([r["test/acc"] for r in doc["entries"][0]["runs"]], [0.5, 0.6])


def test_human_bytes() -> None:
    assert compare.human_bytes(0) == "0 B" and compare.human_bytes(1234) == "1.23 kB"
    assert compare.human_bytes(5.6e6) == "5.6 MB"

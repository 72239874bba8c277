# SPDX-License-Identifier: MIT
"""The shipping recipe's transfer check and baseline rows, through the real script (subprocess runs of
`synaptune run` on split-digits)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from synaptune.hpo import shipping
from synaptune.hpo.presets import load_preset


@pytest.mark.slow
def test_from_preset_checks_the_pick_against_the_defaults_on_unseen_streams(tmp_path: Path) -> None:
    out = tmp_path / "presets"
    assert shipping.main(["--from-preset", "split-digits/classp", "--work", str(tmp_path / "w"),
                          "--out", str(out)]) == 0
    path = out / "split-digits" / "classp.yaml"
    doc = yaml.safe_load(path.read_text())
    t = doc["transfer"]
    assert set(t["pick"]["per_stream"]) == set(shipping.TRANSFER_BENCHMARK_SEEDS)
    for side in ("pick", "defaults"):
        runs = [a for accs in t[side]["per_stream"].values() for a in accs]
        assert len(runs) == t[side]["runs"] == len(shipping.TRANSFER_BENCHMARK_SEEDS) * shipping.TRANSFER_SEEDS
        assert t[side]["acc"] == pytest.approx(sum(runs) / len(runs), abs=1e-4)
    assert t["ships"] == shipping.transfer_verdict(t["pick"], t["defaults"])["ships"]
    shipped = load_preset(path)
    defaults = shipping.defaults_preset(shipped, shipping.load_space("classp"))
    picked = load_preset(tmp_path / "w" / "ship-split-digits-classp.yaml")
    assert shipped.params == (picked.params if t["ships"] == "pick" else defaults.params)
    assert doc["test"]["threads"] == 1 and doc["test"]["command"].endswith("--threads 1")
    assert "data_dir" not in doc["benchmark"]["params"]


@pytest.mark.slow
def test_baseline_ships_the_learners_defaults_labelled(tmp_path: Path) -> None:
    out = tmp_path / "presets"
    assert shipping.main(["--baseline", "--learner", "naive", "--benchmark", "split-digits", "--scenario", "task-il",
                          "--work", str(tmp_path / "w"), "--out", str(out)]) == 0
    doc = yaml.safe_load((out / "split-digits-task-il" / "naive.yaml").read_text())
    preset = load_preset(out / "split-digits-task-il" / "naive.yaml")
    assert preset.params == shipping.load_space("naive").build({})
    assert preset.benchmark_params.scenario == "task-il" and preset.benchmark_params.n_tasks == 5
    assert doc["transfer"]["baseline"] is True and "untuned" in doc["provenance"]["params"]
    assert 0.0 <= doc["test"]["acc"] <= 1.0 and doc["test"]["seeds"] == shipping.TEST_SEEDS


# SPDX-License-Identifier: MIT
"""The presets that ship with synaptune: each loads, carries its provenance and test result, and runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from synaptune.benchmarks.streams import outline
from synaptune.hpo import leaderboard
from synaptune.hpo.presets import load_preset, preset_path, shipped_presets
from synaptune.learners import LEARNERS
from synaptune.testing import blob_stream

README = Path(__file__).resolve().parents[2] / "README.md"
SHIPPED = shipped_presets()
PROVENANCE = ("synaptune_version", "commit", "sweep", "sweep_command", "space", "trials", "budget", "picked",
              "machine", "run_id", "date")
TEST = ("seeds", "acc", "acc_std", "bwt", "forgetting", "train_seconds", "state_bytes", "command")
#: A baseline row (``shipping --baseline``) had no sweep: the learner's defaults, untuned.
BASELINE_PROVENANCE = ("synaptune_version", "commit", "date", "params", "machine")


def test_at_least_ten_presets_ship_for_at_least_five_learners() -> None:
    assert len(SHIPPED) >= 10, sorted(SHIPPED)
    assert len({name.split("/")[1] for name in SHIPPED}) >= 5


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_a_shipped_preset_is_valid_has_its_provenance_and_runs_a_task(name: str) -> None:
    preset = load_preset(SHIPPED[name])  # validated against its learner's Params
    assert preset_path(name) == SHIPPED[name]
    assert name.split("/")[1] == preset.learner
    baseline = preset.transfer.get("baseline", False)
    needed = BASELINE_PROVENANCE if baseline else PROVENANCE
    assert set(needed) <= set(preset.provenance), set(needed) - set(preset.provenance)
    assert set(TEST) <= set(preset.test), set(TEST) - set(preset.test)
    assert preset.test["seeds"] == 5 and 0.0 <= preset.test["acc"] <= 1.0
    # The thread count its numbers came from, where recorded (presets shipped before it was have none),
    # and the reader's dataset folder where the data do not come with scikit-learn.
    threads = f" --threads {preset.test['threads']}" if "threads" in preset.test else ""
    data = "" if preset.benchmark == "split-digits" else " --data-dir DATA_DIR"
    assert preset.test["command"] == f"synaptune run --preset {name} --seeds 5{threads}{data}"
    if preset.transfer.get("ships", "pick") == "pick":  # a tuned pick carries its validation objective
        assert preset.objective["metric"] == "objective" and "standard_error" in preset.objective
    if not baseline:
        assert preset.provenance["trials"]["completed"] >= 1

    o = outline(preset.benchmark, preset.benchmark_params)
    per_task = o.classes_per_task if o.family == "split" else 1
    tasks = o.n_classes // per_task
    stream = blob_stream(n_tasks=tasks, classes_per_task=per_task, input_shape=o.input_shape,
                         scenario=o.scenario, per_class=8)
    learner = LEARNERS.get(preset.learner)(preset.params, input_shape=stream.input_shape,
                                           n_classes=stream.n_classes, n_tasks=stream.n_tasks,
                                           scenario=stream.scenario, seed=0)
    learner.fit_task(stream.tasks[0])
    x, _ = stream.tasks[0].tensors("test")
    with torch.no_grad():
        labels = learner.predict(x, task_id=0)
    assert labels.shape == (len(x),) and int(labels.min()) >= 0 and int(labels.max()) < stream.n_classes


def test_presets_command_lists_every_shipped_preset(capsys: pytest.CaptureFixture[str]) -> None:
    from synaptune.cli import main

    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in SHIPPED:
        assert name in out


def test_readme_leaderboard_is_what_make_leaderboard_generates() -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(leaderboard.START), text.index(leaderboard.END) + len(leaderboard.END)
    assert text[start:end] + "\n" == leaderboard.leaderboard_markdown()
    for name in SHIPPED:
        assert f"synaptune run --preset {name} --seeds 5" in text[start:end]


CHECKED = {name: path for name, path in SHIPPED.items()
           if (load_preset(path).transfer and not load_preset(path).transfer.get("baseline"))}


@pytest.mark.parametrize("name", sorted(CHECKED))
def test_a_transfer_checked_preset_ships_what_beats_the_other_on_unseen_streams(name: str) -> None:
    """The shipping rule, checked on what shipped: the tuned pick only where it beat the learner's defaults
    beyond noise on the transfer streams (or the defaults failed there); else exactly the defaults."""
    from synaptune.hpo.shipping import defaults_preset, transfer_verdict
    from synaptune.searchspaces import load_space

    preset = load_preset(CHECKED[name])
    t = preset.transfer
    assert t["ships"] == transfer_verdict(t["pick"], t["defaults"])["ships"]
    for side in ("pick", "defaults"):
        if "failed" not in t[side]:
            runs = [a for accs in t[side]["per_stream"].values() for a in accs]
            assert len(runs) == t[side]["runs"] >= 6 and t[side]["acc"] == pytest.approx(sum(runs) / len(runs), abs=1e-4)
            assert preset.benchmark_params.seed not in t[side]["per_stream"]  # never the tuning stream
    if t["ships"] == "defaults":
        fixed = {str(k): str(v) for k, v in (preset.provenance.get("fixed_by_set") or {}).items()}
        assert preset.params == defaults_preset(preset, load_space(preset.learner).with_fixed(fixed)).params

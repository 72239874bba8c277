# SPDX-License-Identifier: MIT
"""The `state_bytes` metric: what a learner keeps against forgetting, in bytes."""

from __future__ import annotations

from synaptune.hpo.trial import TrialRun
from synaptune.learners import LEARNERS
from synaptune.testing import blob_stream


def test_state_bytes_is_reported_and_compares_classp_with_ewc() -> None:
    stream = blob_stream()
    reported = {}
    for name in ("naive", "ewc", "classp"):
        run = TrialRun(name, LEARNERS.get(name).params_cls(), stream)
        reported[name] = run.step()["state_bytes"]
        n_params = sum(p.numel() for p in run.learners[0].net.parameters())
    assert reported["naive"] == 0
    assert reported["classp"] == n_params * 4  # one float32 accumulator per weight
    assert reported["ewc"] == 3 * n_params * 4  # Fisher, Fisher*theta, Fisher*theta^2

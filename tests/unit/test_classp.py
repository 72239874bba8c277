# SPDX-License-Identifier: MIT
"""CLASSP: reference mode against the upstream fixtures, paper mode against hand-computed cases."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from synaptune.exceptions import ConfigError
from synaptune.learners.classp import CLASSPLearner, CLASSPParams
from synaptune.learners.functional.classp import CLASSP
from synaptune.testing import blob_stream
from tests.conftest import reference_fixtures

FIXTURES = reference_fixtures("classp_")
HP = ("lr", "threshold", "epsilon", "power", "apply_scaling")


# ----------------------------------------------------------------- reference fixtures
class _Net(nn.Module):
    def __init__(self, gating: bool) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 5), nn.Linear(5, 3)
        self.gating = gating
        if gating:
            self.aux, self.unused = nn.Linear(5, 3), nn.Linear(2, 2)

    def forward(self, x: torch.Tensor, t: int) -> torch.Tensor:
        h = torch.tanh(self.fc1(x))
        out = self.fc2(h)
        if self.gating and t % 2 == 1:
            out = out + self.aux(h)
        return out


def _hp(d, prefix: str) -> dict:
    out = {}
    for k in HP:
        v = d[f"{prefix}{k}"][()]
        out[k] = bool(v) if k == "apply_scaling" else int(v) if k == "power" else float(v)
    return out


def _stepcall(d, t: int) -> dict:
    kw = {}
    for k in HP:
        key = f"stepcall_{k}"
        if key in d.files and not math.isnan(float(d[key][t])):
            v = float(d[key][t])
            kw[k] = bool(v) if k == "apply_scaling" else int(v) if k == "power" else v
    return kw


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_reference_mode_reproduces_fixture(path: Path) -> None:
    d = np.load(path, allow_pickle=False)
    gating = "init_aux.weight" in d.files
    net = _Net(gating)
    names = [n for n, _ in net.named_parameters()]
    with torch.no_grad():
        for n, p in net.named_parameters():
            p.copy_(torch.from_numpy(d[f"init_{n}"]))
    params = dict(net.named_parameters())
    if "hp_group0_lr" in d.files:
        groups = []
        for g in range(2):
            idx = d[f"hp_group{g}_param_indices"]
            groups.append({"params": [params[names[i]] for i in idx], **_hp(d, f"hp_group{g}_")})
        opt = CLASSP(groups, mode="reference", **_hp(d, "hp_"))
    else:
        opt = CLASSP(net.parameters(), mode="reference", **_hp(d, "hp_"))
    x, y = torch.from_numpy(d["x"]), torch.from_numpy(d["y"])
    set_to_none = bool(d["hp_zero_grad_set_to_none"])
    tol = dict(rtol=1e-5, atol=2e-6)
    for t in range(int(d["hp_T"])):
        opt.zero_grad(set_to_none=set_to_none)
        loss = F.cross_entropy(net(x, t), y)
        loss.backward()
        np.testing.assert_allclose(loss.item(), d["loss"][t], rtol=1e-5, atol=1e-6)
        before = [p.detach().clone() for p in net.parameters()]
        for n, p in net.named_parameters():
            assert (p.grad is None) == bool(d[f"grad_is_none_{n}"][t]), (n, t)
            if p.grad is not None:
                np.testing.assert_allclose(p.grad.numpy(), d[f"grad_{n}"][t], **tol, err_msg=f"{n} t={t}")
        opt.step(**_stepcall(d, t))
        changed = [not torch.equal(b, p) for b, p in zip(before, net.parameters())]
        np.testing.assert_array_equal(changed, d["param_changed"][t], err_msg=f"t={t}")
        for n, p in net.named_parameters():
            np.testing.assert_allclose(p.detach().numpy(), d[f"param_{n}"][t], **tol, err_msg=f"{n} t={t}")
            exists = "grad_sum" in opt.state[p]
            assert exists == bool(d[f"grad_sum_exists_{n}"][t]), (n, t)
            s = opt.state[p]["grad_sum"].numpy() if exists else np.zeros_like(d[f"grad_sum_{n}"][t])
            np.testing.assert_allclose(s, d[f"grad_sum_{n}"][t], **tol, err_msg=f"{n} t={t}")


def _one_step(values, grads, **kw):
    w = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    opt = CLASSP([w], **kw)
    for g in grads:
        w.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    return w.detach(), opt.state[w]["grad_sum"]


def test_reference_golden_values_from_algorithms_md() -> None:
    for thr in (0.0, 0.5, 0.99):
        w, s = _one_step([1.0, 2.0, 3.0], [[0.001, 0.5, 2.0]], lr=0.1, epsilon=1e-5, power=1,
                         threshold=thr, mode="reference")
        np.testing.assert_allclose(w, [0.90099007, 1.90000200, 2.90000057], rtol=1e-7)
        np.testing.assert_allclose(s, [0.001, 0.5, 2.0])
    for thr in (1.0, 5.0):
        w, s = _one_step([1.0, 2.0, 3.0], [[0.001, 0.5, 2.0]], lr=0.1, threshold=thr, mode="reference")
        assert w.tolist() == [1.0, 2.0, 3.0] and s.tolist() == [0.0, 0.0, 0.0]
    w, s = _one_step([0.0, 0.0], [[3.0, 0.5], [4.0, 0.5]], lr=1.0, epsilon=0.0, power=2, mode="reference")
    np.testing.assert_allclose(w, [-3.24390888, -1.20710678], rtol=1e-7)
    np.testing.assert_allclose(s, [7.0, 1.0])  # |g| accumulated whatever the power
    w, s = _one_step([0.0], [[2.0]], lr=0.2, apply_scaling=False, mode="reference")
    np.testing.assert_allclose(w, [-0.4]) and np.testing.assert_allclose(s, [2.0])


# ------------------------------------------------------------------------ paper mode
def test_paper_gate_is_per_weight() -> None:
    # g**2 = (1e-2, 4e-4, 1e-6) against threshold 1e-3: only the first weight moves.
    w, s = _one_step([1.0, 1.0, 1.0], [[0.1, 0.02, 0.001], [0.1, 0.1, 0.001]],
                     lr=0.1, threshold=1e-3, epsilon=0.0, power=1)
    # step 1: S=(.1,0,0), w0 = 1 - .1*.1/.1 = .9; step 2: S=(.2,.1,0), w0 -= .1*.1/.2, w1 -= .1*.1/.1
    np.testing.assert_allclose(w, [0.85, 0.9, 1.0], rtol=1e-12)
    np.testing.assert_allclose(s, [0.2, 0.1, 0.0], rtol=1e-12)
    # the same gradients in reference mode update every weight (one gate per tensor)
    w_ref, _ = _one_step([1.0, 1.0, 1.0], [[0.1, 0.02, 0.001]], lr=0.1, threshold=1e-3, epsilon=0.0,
                         mode="reference")
    assert (w_ref != 1.0).all()


def test_paper_power_1_vs_2() -> None:
    grads = [[3.0, 0.5], [4.0, 0.5]]
    w, s = _one_step([0.0, 0.0], grads, lr=1.0, epsilon=0.0, power=1, threshold=-1.0)
    np.testing.assert_allclose(w, [-1 - 4 / 7, -1.5], rtol=1e-12)
    np.testing.assert_allclose(s, [7.0, 1.0])
    w, s = _one_step([0.0, 0.0], grads, lr=1.0, epsilon=0.0, power=2, threshold=-1.0)
    np.testing.assert_allclose(w, [-1.8, -1 - 0.5 / math.sqrt(0.5)], rtol=1e-12)
    np.testing.assert_allclose(s, [25.0, 0.5])  # |g|**2 accumulated (reference: (7, 1))
    w, s = _one_step([0.0], [[2.0], [2.0]], lr=1.0, epsilon=0.0, power=3, threshold=0.0)
    np.testing.assert_allclose(w, [-1 - 2 / 16 ** (1 / 3)], rtol=1e-12)
    np.testing.assert_allclose(s, [16.0])


def test_paper_include_current_false_uses_past_steps_only() -> None:
    w, s = _one_step([0.0, 0.0], [[3.0, 0.5], [4.0, 0.5]], lr=1.0, epsilon=1.0, power=1,
                     include_current=False)
    np.testing.assert_allclose(w, [-3 - 4 / 4, -0.5 - 0.5 / 1.5], rtol=1e-12)
    np.testing.assert_allclose(s, [7.0, 1.0])


def test_paper_no_decay_is_gated_sgd_that_accumulates() -> None:
    w, s = _one_step([0.0, 0.0], [[2.0, 1e-3]], lr=0.2, threshold=1e-4, power=2, apply_decay=False)
    np.testing.assert_allclose(w, [-0.4, 0.0])
    np.testing.assert_allclose(s, [4.0, 0.0])


def test_paper_per_group_hyperparameters_and_step_overrides() -> None:
    a = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = CLASSP([{"params": [a]}, {"params": [b], "lr": 0.5, "power": 2, "apply_decay": False}],
                 lr=1.0, epsilon=0.0, power=1, threshold=-1.0)
    a.grad = torch.tensor([3.0, 0.5], dtype=torch.float64)
    b.grad = torch.tensor([3.0, 0.5], dtype=torch.float64)
    opt.step()
    np.testing.assert_allclose(a.detach(), [-1.0, -1.0])          # lr 1, p 1, scaled
    np.testing.assert_allclose(b.detach(), [-1.5, -0.25])         # lr .5, plain SGD
    np.testing.assert_allclose(opt.state[b]["grad_sum"], [9.0, 0.25])  # p=2 accumulation
    opt.step(lr=0.1, apply_decay=True)  # overrides apply to every group for this call
    np.testing.assert_allclose(a.detach(), [-1 - 0.1 * 3 / 6, -1 - 0.1 * 0.5 / 1.0])
    np.testing.assert_allclose(b.detach(), [-1.5 - 0.1 * 3 / math.sqrt(18), -0.25 - 0.1 * 0.5 / math.sqrt(0.5)])
    assert opt.param_groups[1]["lr"] == 0.5  # the override did not stick


def test_paper_skips_none_and_zero_grads_without_nans() -> None:
    a = torch.ones(3, requires_grad=True)
    b = torch.ones(2, requires_grad=True)
    opt = CLASSP([a, b], threshold=0.0, epsilon=0.0)
    a.grad = torch.tensor([0.0, 1.0, 0.0])
    opt.step()
    assert b not in opt.state  # grad None: no state
    assert torch.isfinite(a).all() and a.tolist() == [1.0, pytest.approx(0.8), 1.0]
    assert opt.state[a]["grad_sum"].tolist() == [0.0, 1.0, 0.0]


def test_optimizer_state_dict_round_trip() -> None:
    torch.manual_seed(0)
    w1 = torch.randn(4, requires_grad=True)
    w2 = w1.detach().clone().requires_grad_(True)
    o1, o2 = CLASSP([w1], power=2), CLASSP([w2], power=2)
    for _ in range(3):
        w1.grad = torch.randn(4)
        o1.step()
    with torch.no_grad():
        w2.copy_(w1)
    o2.load_state_dict(copy.deepcopy(o1.state_dict()))  # torch shares the tensors otherwise
    g = torch.randn(4)
    w1.grad, w2.grad = g, g.clone()
    o1.step(), o2.step()
    assert torch.equal(w1, w2) and torch.equal(o1.state[w1]["grad_sum"], o2.state[w2]["grad_sum"])


@pytest.mark.parametrize("kw, match", [
    ({"lr": -1.0}, "`lr`"), ({"power": 0}, "`power`"), ({"epsilon": -1e-3}, "`epsilon`"),
    ({"threshold": float("nan")}, "`threshold`"), ({"mode": "fast"}, "`mode`"),
    ({"lr": float("inf")}, "`lr`"),
])
def test_invalid_hyperparameters(kw, match) -> None:
    with pytest.raises(ValueError, match=match):
        CLASSP([torch.zeros(1, requires_grad=True)], **kw)


def test_invalid_group_and_step_values() -> None:
    w = torch.zeros(1, requires_grad=True)
    with pytest.raises(ConfigError, match="param group.*`power`"):
        CLASSP([{"params": [w], "power": -2}])
    opt = CLASSP([w])
    w.grad = torch.ones(1)
    with pytest.raises(ConfigError, match=r"CLASSP.step.*`lr`"):
        opt.step(lr=-0.1)


@pytest.mark.parametrize("kw", [{"power": 0}, {"epsilon": 0.0}, {"mode": "fast"}, {"lr": 0.0}])
def test_invalid_params(kw) -> None:
    with pytest.raises(ConfigError):
        CLASSPParams(**kw)


# --------------------------------------------------------------------------- learner
def _learner(stream, **kw) -> CLASSPLearner:
    return CLASSPLearner(CLASSPParams(epochs=1, **kw), input_shape=stream.input_shape,
                         n_classes=stream.n_classes, n_tasks=stream.n_tasks, scenario=stream.scenario)


def test_learner_accumulator_persists_across_tasks_and_checkpoints() -> None:
    stream = blob_stream()
    learner = _learner(stream)
    n = sum(p.numel() for p in learner.net.parameters())
    assert learner.state_bytes() == n * 4
    learner.fit_task(stream.tasks[0])
    after_first = learner.classp_grad_sum.clone()
    assert after_first.sum() > 0
    assert "classp_grad_sum" in learner.state_dict()
    learner.fit_task(stream.tasks[1])
    assert (learner.classp_grad_sum >= after_first).all() and learner.classp_grad_sum.sum() > after_first.sum()
    # a fresh optimiser sees the accumulated sums
    opt = learner.make_optimizer()
    first = next(learner.net.parameters())
    assert torch.equal(opt.state[first]["grad_sum"].flatten(), learner.classp_grad_sum[: first.numel()])


@pytest.mark.parametrize("mode", ["paper", "reference"])
def test_learner_modes_train(mode: str) -> None:
    stream = blob_stream()
    learner = _learner(stream, mode=mode, threshold=1e-12 if mode == "paper" else 0.5)
    metrics = learner.fit_task(stream.tasks[0])
    assert math.isfinite(metrics["train/loss"])
    x, _ = stream.tasks[0].tensors("test")
    assert learner.predict(x).shape == (x.shape[0],)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("threshold", [1e-12, 3.7e-6, 1e-3, 0.25])
def test_paper_gate_matches_g_squared_at_the_boundary(dtype, threshold) -> None:
    from synaptune.learners.functional.classp import _cutoff

    c = torch.tensor(_cutoff(threshold, dtype), dtype=dtype)
    up, down = torch.tensor(1.0, dtype=dtype), torch.tensor(0.0, dtype=dtype)
    near = torch.stack([c, torch.nextafter(c, up), torch.nextafter(c, down)])
    g = torch.cat([near, -near, torch.linspace(0, 2 * math.sqrt(threshold), 1001, dtype=dtype)])
    w = torch.zeros_like(g, requires_grad=True)
    opt = CLASSP([w], lr=1.0, threshold=threshold, apply_decay=False)
    w.grad = g.clone()
    opt.step()
    np.testing.assert_array_equal((w != 0).numpy(), (g * g > threshold).numpy())

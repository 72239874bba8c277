# SPDX-License-Identifier: MIT
"""Sparse dynamic synapses: k-winners and sparse weights against the nupic.torch fixtures,
the dense limit, the two modes and bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from synaptune.benchmarks import BenchmarkParams, build_stream
from synaptune.exceptions import ConfigError
from synaptune.learners.naive import NaiveLearner, NaiveParams
from synaptune.learners.modules.kwinners import KWinners, KWinners2d
from synaptune.learners.modules.sparse_weights import SparseWeights, SparseWeights2d
from synaptune.learners.sparse import (
    SparseCNNLearner,
    SparseCNNParams,
    SparseMLPLearner,
    SparseMLPParams,
)
from synaptune.runner import evaluate_row, train_task
from synaptune.testing import blob_stream
from tests.conftest import REFERENCE, reference_fixtures

KW_FIXTURES = reference_fixtures("kwinners")
SW_FIXTURES = reference_fixtures("sparse_weights_")


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a))


# ------------------------------------------------------------------------ k-winners fixtures
def _build_kwinners(d) -> KWinners | KWinners2d:
    kw = dict(k_inference_factor=float(d["hp_k_inference_factor"]), boost_strength=float(d["hp_boost_strength"]),
              boost_strength_factor=float(d["hp_boost_strength_factor"]),
              duty_cycle_period=int(d["hp_duty_cycle_period"]), break_ties=bool(d["hp_break_ties"]),
              relu=bool(d["hp_relu"]))
    if "hp_channels" in d.files:
        return KWinners2d(int(d["hp_channels"]), float(d["hp_percent_on"]), local=bool(d["hp_local"]), **kw)
    return KWinners(int(d["hp_n"]), float(d["hp_percent_on"]), **kw)


@pytest.mark.parametrize("path", KW_FIXTURES, ids=lambda p: p.stem)
def test_kwinners_reproduce_fixture(path: Path) -> None:
    d = np.load(path, allow_pickle=False)
    kw = _build_kwinners(d)
    if isinstance(kw, KWinners):
        assert (kw.k, kw.k_inference) == (int(d["hp_k"]), int(d["hp_k_inference"]))
    else:
        n = int(d["hp_n"]) if not kw.local else kw.channels
        assert kw.ks(n) == (int(d["hp_k"]), int(d["hp_k_inference"]))
    torch.testing.assert_close(kw.duty_cycle, _t(d["init_duty_cycle"]), rtol=0, atol=0)
    for t in range(int(d["hp_T"])):
        assert kw.boost_strength.item() == pytest.approx(float(d["boost_strength_used"][t]), abs=1e-12)
        kw.train()
        x = _t(d["x_train"][t]).requires_grad_(True)
        out = kw(x)
        (out * _t(d["upstream_grad"][t])).sum().backward()
        assert torch.equal(out.detach(), _t(d["out_train"][t])), f"out_train, step {t}"
        assert torch.equal(x.grad, _t(d["grad_x"][t])), f"grad_x, step {t}"
        torch.testing.assert_close(kw.duty_cycle, _t(d["duty_cycle"][t]), rtol=1e-5, atol=1e-6)
        assert int(kw.learning_iterations) == int(d["learning_iterations"][t])
        kw.eval()
        with torch.no_grad():
            assert torch.equal(kw(_t(d["x_eval"][t])), _t(d["out_eval"][t])), f"out_eval, step {t}"
            assert torch.equal(kw(_t(d["x_train"][t])), _t(d["out_eval_on_xtrain"][t]))
        assert int(kw.learning_iterations) == int(d["learning_iterations"][t])  # eval changes nothing
        if bool(d["hp_update_boost_strength_after_each_step"]):
            kw.update_boost_strength()
        assert kw.boost_strength.item() == pytest.approx(float(d["boost_strength"][t]), abs=1e-7)


def test_kwinners_k_rounding_and_limits() -> None:
    assert (KWinners(16, 0.25, k_inference_factor=1.9).k_inference) == 7  # int(4 * 1.9)
    assert KWinners(10, 0.01).k == 1  # at least one winner
    assert KWinners(10, 0.5, k_inference_factor=3.0).k_inference == 10  # at most every unit
    assert KWinners2d(4, 0.25).ks(36) == (9, 14)  # round(13.5) = 14 (half to even)
    x = torch.randn(3, 10)
    assert torch.equal(KWinners(10, 1.0)(x), x)  # percent_on = 1: every unit passes


def test_kwinners_break_ties_gives_exactly_k() -> None:
    x = torch.zeros(2, 8)
    x[:, :5] = 1.0
    assert int((KWinners(8, 0.25, boost_strength=0.0)(x) != 0).sum(1).max()) == 5  # ties all win
    y = KWinners(8, 0.25, boost_strength=0.0, break_ties=True)(x)
    assert (y != 0).sum(1).tolist() == [2, 2]


def test_kwinners2d_local_chooses_per_location() -> None:
    kw = KWinners2d(8, 0.25, local=True, boost_strength=0.0)
    y = kw(torch.randn(3, 8, 5, 5) + 10)  # all positive, no ties
    assert torch.all((y != 0).sum(1) == 2)


def test_kwinners_state_dict_restores_boost_strength() -> None:
    a = KWinners(10, 0.3, boost_strength=2.0, boost_strength_factor=0.5)
    a.update_boost_strength()
    b = KWinners(10, 0.3, boost_strength=2.0, boost_strength_factor=0.5)
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 10)
    a(x), b(x)
    b.update_boost_strength()
    assert b.boost_strength.item() == 0.5


# ------------------------------------------------------------------ sparse-weights fixtures
@pytest.mark.parametrize("path", SW_FIXTURES, ids=lambda p: p.stem)
def test_sparse_weights_reproduce_fixture(path: Path) -> None:
    d = np.load(path, allow_pickle=False)
    dense = _t(d["init_weight_dense"])
    if dense.ndim == 4:
        layer: nn.Module = nn.Conv2d(dense.shape[1], dense.shape[0], dense.shape[2])
        wrap = SparseWeights2d
    else:
        layer = nn.Linear(dense.shape[1], dense.shape[0])
        wrap = SparseWeights
    with torch.no_grad():
        layer.weight.copy_(dense)
        layer.bias.copy_(_t(d["init_bias"]))
    sw = wrap(layer, float(d["hp_sparsity"]), generator=torch.Generator().manual_seed(0))
    kept = (~sw.zero_mask).reshape(dense.shape[0], -1).sum(1)
    assert kept.tolist() == [int(d["hp_num_nonzero_per_output"])] * dense.shape[0]  # our own draw
    # The original draws the mask from numpy's global RNG: load it, re-zero from the dense weight.
    with torch.no_grad():
        layer.weight.copy_(dense)
    sw.set_zero_mask(_t(d["zero_mask"]))
    assert torch.equal(layer.weight.detach(), _t(d["weight_after_construction"]))

    opt = torch.optim.SGD(sw.parameters(), lr=float(d["hp_sgd_lr"]))
    x, target = _t(d["x"]), _t(d["target"])
    tol = dict(rtol=1e-5, atol=1e-6)
    for t in range(int(d["hp_T"])):
        opt.zero_grad()
        out = sw(x)
        loss = F.mse_loss(out, target)
        loss.backward()
        torch.testing.assert_close(out.detach(), _t(d["out"][t]), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(loss.detach(), _t(d["loss"][t]), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(layer.weight.grad, _t(d["grad_weight"][t]), **tol)
        torch.testing.assert_close(layer.bias.grad, _t(d["grad_bias"][t]), **tol)
        opt.step()
        torch.testing.assert_close(layer.weight.detach(), _t(d["weight_after_opt_step"][t]), **tol)
        with torch.no_grad():  # the forward does not mask: the step's leak shows
            torch.testing.assert_close(sw(x), _t(d["out_after_opt_step_before_rezero"][t]), rtol=1e-5, atol=1e-5)
        sw.rezero_weights()
        torch.testing.assert_close(layer.weight.detach(), _t(d["weight_after_rezero"][t]), **tol)
        torch.testing.assert_close(layer.bias.detach(), _t(d["bias_after_step"][t]), **tol)


def test_sparse_weights_kept_counts_of_alternative_settings() -> None:
    d = np.load(REFERENCE / "sparse_weights_linear.npz", allow_pickle=False)
    for key, sparsity in (("alt_s075", 0.75), ("alt_ws03", 1 - 0.3)):  # weight_sparsity 0.3 = sparsity 0.7
        want = int(d[f"{key}_num_nonzero_per_output"])
        assert (~d[f"{key}_zero_mask"]).sum(1).tolist() == [want] * 8
        sw = SparseWeights(nn.Linear(10, 8), sparsity, generator=torch.Generator().manual_seed(1))
        assert (~sw.zero_mask).sum(1).tolist() == [want] * 8
        assert torch.all(sw.module.weight[sw.zero_mask] == 0)


def test_rezero_on_train_forward_is_the_2019_timing() -> None:
    sw = SparseWeights(nn.Linear(20, 4), 0.75, generator=torch.Generator().manual_seed(0),
                       rezero_on_train_forward=True)
    with torch.no_grad():
        sw.module.weight.add_(1.0)  # as an optimizer step would: masked weights leak
    sw.eval()
    sw(torch.randn(2, 20))
    assert int((sw.module.weight != 0).sum()) == 80  # eval forward leaves the leak
    sw.train()
    sw(torch.randn(2, 20))
    assert int((sw.module.weight != 0).sum()) == 20  # a training forward re-zeroes


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, float("nan"), True])
def test_sparsity_outside_unit_interval_is_a_config_error(bad: float) -> None:
    with pytest.raises(ConfigError, match=r"fraction of weights forced to zero and must be in \[0, 1\)"):
        SparseWeights(nn.Linear(4, 2), bad)
    with pytest.raises(ConfigError, match="sparsity_fc"):
        SparseMLPParams(sparsity_fc=bad)


def test_bad_kwinners_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="percent_on"):
        KWinners(10, 0.0)
    with pytest.raises(ConfigError, match="percent_on"):
        KWinners2d(4, 1.5)
    with pytest.raises(ConfigError, match="boost_strength_factor"):
        KWinners(10, 0.1, boost_strength_factor=2.0)
    with pytest.raises(ConfigError, match="nesterov"):
        SparseMLPParams(nesterov=True, momentum=0.0)
    with pytest.raises(ConfigError, match="SparseWeights2d"):
        SparseWeights(nn.Conv2d(1, 1, 3), 0.5)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- dense limit
def _same_training(sparse_cls, sparse_params, naive_params, stream) -> None:
    kw = dict(input_shape=stream.input_shape, n_classes=stream.n_classes, n_tasks=stream.n_tasks,
              scenario=stream.scenario, seed=5)
    a, b = sparse_cls(sparse_params, **kw), NaiveLearner(naive_params, **kw)
    for t in range(stream.n_tasks):
        train_task(a, stream, t)
        train_task(b, stream, t)
    sa, sb = a.state_dict(), b.state_dict()
    for key, value in sb.items():
        assert torch.equal(sa[key], value), key
    x, _ = stream.tasks[0].tensors("test")
    tid = 0 if stream.scenario == "task-il" else None
    assert torch.equal(a.net(x, tid), b.net(x, tid))


@pytest.mark.parametrize("multi_head", [False, True])
def test_percent_on_1_and_sparsity_0_is_exactly_the_dense_mlp(multi_head: bool) -> None:
    stream = blob_stream(scenario="task-il" if multi_head else "class-il")
    common = dict(hidden_units=32, hidden_layers=2, dropout=0.25, lr=0.05, momentum=0.9, weight_decay=1e-4,
                  batch_size=16, multi_head=multi_head)
    sparse = SparseMLPParams(percent_on_fc=1.0, sparsity_fc=0.0, train_ep=2, train_ep_inc=2, **common)
    naive = NaiveParams(arch="mlp", epochs=2, **common)
    _same_training(SparseMLPLearner, sparse, naive, stream)


def test_percent_on_1_and_sparsity_0_is_exactly_the_dense_cnn() -> None:
    stream = blob_stream()
    common = dict(hidden_units=16, hidden_layers=1, conv_channels=4, dropout=0.1, lr=0.05, momentum=0.9,
                  batch_size=16)
    sparse = SparseCNNParams(percent_on_fc=1.0, percent_on_conv=1.0, sparsity_fc=0.0, sparsity_conv=0.0,
                             train_ep=2, train_ep_inc=2, **common)
    naive = NaiveParams(arch="cnn", epochs=2, **common)
    _same_training(SparseCNNLearner, sparse, naive, stream)


# ----------------------------------------------------------------------------- the learners
def _learner(cls, params, stream, seed: int = 0):
    return cls(params, input_shape=stream.input_shape, n_classes=stream.n_classes, n_tasks=stream.n_tasks,
               scenario=stream.scenario, seed=seed)


def _masked_values(learner) -> torch.Tensor:
    layers = [m for m in learner.modules() if isinstance(m, (SparseWeights, SparseWeights2d))]
    assert layers
    return torch.cat([m.module.weight[m.zero_mask].flatten() for m in layers])


@pytest.mark.parametrize("cls, params_cls", [(SparseMLPLearner, SparseMLPParams), (SparseCNNLearner, SparseCNNParams)])
def test_default_mode_rezeroes_after_every_step_and_decays_boost(cls, params_cls) -> None:
    stream = blob_stream()
    extra = dict(sparsity_conv=0.5, percent_on_conv=0.5, conv_channels=4) if cls is SparseCNNLearner else {}
    p = params_cls(hidden_units=32, percent_on_fc=0.25, sparsity_fc=0.5, boost_strength=1.0,
                   boost_strength_factor=0.5, momentum=0.9, weight_decay=1e-3, train_ep=3, train_ep_inc=2,
                   batch_size=16, **extra)
    learner = _learner(cls, p, stream)
    learner.fit_task(stream.tasks[0])
    assert torch.all(_masked_values(learner) == 0)  # what evaluation sees
    kws = [m for m in learner.modules() if isinstance(m, (KWinners, KWinners2d))]
    assert kws and all(kw.boost_strength.item() == 0.5**3 for kw in kws)  # decayed once per epoch
    assert all(int(kw.learning_iterations) == 3 * stream.tasks[0].size("train") for kw in kws)
    learner.fit_task(stream.tasks[1])
    assert all(kw.boost_strength.item() == 0.5**5 for kw in kws)


def test_reference_mode_keeps_the_original_timing() -> None:
    stream = blob_stream()
    p = SparseMLPParams(hidden_units=32, percent_on_fc=0.25, sparsity_fc=0.5, boost_strength=1.0,
                        boost_strength_factor=0.5, momentum=0.9, train_ep=2, batch_size=16, mode="reference")
    learner = _learner(SparseMLPLearner, p, stream)
    learner.fit_task(stream.tasks[0])
    # The last optimizer step leaked into masked weights and nothing re-zeroed them since.
    assert bool((_masked_values(learner) != 0).any())
    kws = [m for m in learner.modules() if isinstance(m, KWinners)]
    assert all(kw.boost_strength.item() == 1.0 for kw in kws)  # the original never decays it
    learner.train()
    learner.net(stream.tasks[0].tensors("train")[0][:4])  # the next training forward re-zeroes
    assert torch.all(_masked_values(learner) == 0)


def test_every_head_is_trained_when_its_task_arrives() -> None:
    stream = blob_stream(n_tasks=3, scenario="task-il")
    p = SparseMLPParams(hidden_units=32, multi_head=True, train_ep=1, train_ep_inc=1, batch_size=16)
    learner = _learner(SparseMLPLearner, p, stream)
    before = [h.weight.detach().clone() for h in learner.net.heads]
    for t in range(stream.n_tasks):
        learner.fit_task(stream.tasks[t])
        assert not torch.equal(learner.net.heads[t].weight, before[t]), f"head {t} untrained"
        for later in range(t + 1, stream.n_tasks):
            assert torch.equal(learner.net.heads[later].weight, before[later])


def test_train_ep_then_train_ep_inc() -> None:
    stream = blob_stream()
    p = SparseMLPParams(hidden_units=16, train_ep=3, train_ep_inc=1, batch_size=16)
    learner = _learner(SparseMLPLearner, p, stream)
    kw = next(m for m in learner.modules() if isinstance(m, KWinners))
    n = stream.tasks[0].size("train")
    learner.fit_task(stream.tasks[0])
    assert int(kw.learning_iterations) == 3 * n
    learner.fit_task(stream.tasks[1])
    assert int(kw.learning_iterations) == 3 * n + stream.tasks[1].size("train")


@pytest.mark.parametrize("cls, params, floor", [
    (SparseMLPLearner, SparseMLPParams(hidden_units=256, train_ep=5, train_ep_inc=5, lr=0.1, momentum=0.9), 0.8),
    (SparseCNNLearner, SparseCNNParams(hidden_units=64, conv_channels=16, percent_on_conv=0.5, sparsity_conv=0.5,
                                       percent_on_fc=0.25, sparsity_fc=0.5, dropout=0.0, batch_size=32,
                                       train_ep=5, train_ep_inc=5, lr=0.05, momentum=0.9), 0.6),
])
def test_learns_8x8_digits(cls, params, floor: float) -> None:
    stream = build_stream("split-digits", BenchmarkParams(n_tasks=2, scenario="task-il"))  # 5 classes a task
    learner = _learner(cls, dataclasses.replace(params, multi_head=True), stream)
    for t in range(stream.n_tasks):
        train_task(learner, stream, t)
    row = evaluate_row(learner, stream, stream.n_tasks - 1)
    assert min(row) > floor, row  # chance is 0.2

# SPDX-License-Identifier: MIT
"""Krotov–Hopfield layers: reference mode against the biopytorch fixtures, plus the learner's knobs."""

from __future__ import annotations

import glob
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from synaptune.exceptions import ConfigError
from synaptune.learners.functional.krotov_hopfield import krotov_hopfield_delta, normalise, winners
from synaptune.learners.hebbian import HebbianLearner, HebbianParams
from synaptune.learners.modules.bio import BioConv2d, BioLinear
from synaptune.runner import evaluate_row, train_task
from synaptune.testing import blob_stream
from tests.conftest import reference_fixtures

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = reference_fixtures("bio_")

TIGHT = {"rtol": 1e-4, "atol": 1e-5}  # weight, bias, delta_weights, x_normalized, bn stats
LOOSE = {"rtol": 1e-4, "atol": 1e-4}  # out_eval, convergence


# ----------------------------------------------------------------- reference fixtures
def _layer_from(d) -> BioLinear | BioConv2d:
    kw = {"lebesgue_p": int(d["hp_lebesgue_p"]), "ranking_param": int(d["hp_ranking_param"]),
          "delta": float(d["hp_delta"]), "mode": "reference"}
    if "hp_in_channels" in d.files:
        layer = BioConv2d(int(d["hp_in_channels"]), int(d["hp_out_channels"]), int(d["hp_kernel_size"]),
                          stride=int(d["hp_stride"]), padding=int(d["hp_padding"]), **kw)
    else:
        layer = BioLinear(int(d["hp_in_features"]), int(d["hp_out_features"]), bias=bool(d["hp_bias"]), **kw)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(d["init_weight"]))
        if "init_bias" in d.files:
            layer.bias.copy_(torch.from_numpy(d["init_bias"]))
        layer.batch_norm.running_mean.copy_(torch.from_numpy(d["init_bn_running_mean"]))
        layer.batch_norm.running_var.copy_(torch.from_numpy(d["init_bn_running_var"]))
    return layer


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_reference_mode_reproduces_fixture(path: Path, dtype: torch.dtype) -> None:
    d = np.load(path, allow_pickle=False)
    layer = _layer_from(d).to(dtype)
    x_eval = torch.from_numpy(d["x_eval"]).to(dtype)
    bias = "init_bias" in d.files
    np.testing.assert_allclose(layer(x_eval).numpy(), d["out_eval_init"], **LOOSE)

    # What the rule sees and returns, captured on the way (README §5.2).
    seen: dict[str, torch.Tensor] = {}
    original = layer._raw_delta if isinstance(layer, BioConv2d) else None

    def spy_conv(x: torch.Tensor) -> torch.Tensor:
        seen["x"] = x.clone()
        raw = original(x)
        seen["dw"] = normalise(-raw, per_unit=True).view_as(layer.weight)  # _raw_delta is -dW
        return raw

    if original is not None:
        layer._raw_delta = spy_conv  # type: ignore[method-assign]

    for t in range(int(d["hp_T"])):
        x = torch.from_numpy(d["x_train"][t]).to(dtype)
        if isinstance(layer, BioLinear):
            # Replay the rule on the normalised batch from the recorded previous state.
            xn = torch.from_numpy(d["x_normalized"][t]).to(dtype)
            prev = torch.from_numpy(d["init_weight"] if t == 0 else d["weight"][t - 1]).to(dtype)
            if bias:
                prev_b = torch.from_numpy(d["init_bias"] if t == 0 else d["bias"][t - 1]).to(dtype)
                prev = torch.cat([prev_b[:, None], prev], 1)
            dw = krotov_hopfield_delta(prev, xn, p=layer.lebesgue_p, k=layer.ranking_param,
                                       delta=layer.delta, per_unit=False)
            np.testing.assert_allclose(dw.numpy(), d["delta_weights"][t], **TIGHT)
        conv = layer.training_step(x, learning_rate=float(d["hp_learning_rate"]))
        assert isinstance(conv, torch.Tensor) and conv.dim() == 0
        if isinstance(layer, BioConv2d):
            np.testing.assert_allclose(seen["x"].numpy(), d["x_normalized"][t], **TIGHT)
            np.testing.assert_allclose(seen["dw"].numpy(), d["delta_weights"][t], **TIGHT)
        np.testing.assert_allclose(float(conv), d["convergence"][t], **LOOSE)
        np.testing.assert_allclose(layer.weight.numpy(), d["weight"][t], **TIGHT)
        if bias:
            np.testing.assert_allclose(layer.bias.numpy(), d["bias"][t], **TIGHT)
        bn = layer.batch_norm
        np.testing.assert_allclose(bn.running_mean.numpy(), d["bn_running_mean"][t], **TIGHT)
        np.testing.assert_allclose(bn.running_var.numpy(), d["bn_running_var"][t], **TIGHT)
        assert int(bn.num_batches_tracked) == int(d["bn_num_batches_tracked"][t])
        np.testing.assert_allclose(layer(x_eval).numpy(), d["out_eval"][t], **LOOSE)
        if "bn_training_flag_after_forward" in d.files:
            assert bn.training == bool(d["bn_training_flag_after_forward"][t])


# Golden values of the original's delta_weights on raw inputs (no BN), float64, the slides' example
# (docs/learners.md#hebbian-fidelity).
SLIDE_W = [[1.62, -0.61, -0.53, -1.07], [0.87, -2.30, 1.74, -0.76], [0.32, -0.25, 1.46, -2.06]]
SLIDE_V = [[.1, .2, .3, .4], [.1, .3, .3, .1], [.4, .1, .1, .4]]


@pytest.mark.parametrize(("p", "k", "delta", "want"), [
    (2, 2, 0.4, [[0.34470574, 0.24863872, 0.23583381, 0.77527082],
                 [-0.03618293, -0.24314228, 0.44103853, 0.20170148],
                 [-0.07881059, 0.46455547, -0.50113704, 0.99998490]]),
    (3, 3, 0.2, [[-0.32360000, 0.30090520, 0.27081218, 0.68827783],
                 [0.16463529, -0.18411442, 0.38642731, 0.17760518],
                 [-0.16199773, 0.29803093, -0.58193364, 0.99999286]]),
])
def test_rule_matches_slide_example(p: int, k: int, delta: float, want: list) -> None:
    w = torch.tensor(SLIDE_W, dtype=torch.float64)
    v = torch.tensor(SLIDE_V, dtype=torch.float64)
    dw = krotov_hopfield_delta(w, v, p=p, k=k, delta=delta, per_unit=False)
    np.testing.assert_allclose(dw.numpy(), want, atol=1e-8)


# ------------------------------------------------- against biopytorch itself, when installed
def _load_upstream(name: str):
    """biopytorch's layer module, loaded straight from its file (its package __init__ pulls in
    pytorch_lightning and wandb). Installed by bench/hebbian_step.py's recipe in bench/.venv."""
    site = ROOT / "bench" / ".venv" / "lib" / "python*" / "site-packages"
    paths = glob.glob(str(site / "biopytorch" / f"{name}.py"))
    if not paths:
        pytest.skip("biopytorch is not installed in bench/.venv (see bench/hebbian_step.py)")
    spec = importlib.util.spec_from_file_location(f"_upstream_{name}", paths[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("stride", "padding", "dilation", "groups", "p", "k"), [
    (1, 0, 1, 1, 3, 2), (2, 1, 1, 1, 2, 3), (1, "same", 1, 1, 4, 2), (1, 1, 2, 1, 3, 4),
    (1, 0, 1, 2, 3, 2), ((2, 1), (1, 0), 1, 1, 2, 2),
])
def test_conv_matches_biopytorch(stride, padding, dilation, groups, p, k) -> None:
    upstream = _load_upstream("bioconv2d")
    torch.manual_seed(0)
    kw = dict(lebesgue_p=p, ranking_param=k, delta=0.1, stride=stride, padding=padding, dilation=dilation,
              groups=groups)
    theirs = upstream.BioConv2d(4, 8, 3, dtype=torch.float64, **kw)
    mine = BioConv2d(4, 8, 3, mode="reference", dtype=torch.float64, **kw)
    mine.load_state_dict(theirs.state_dict())
    for _ in range(4):
        x = torch.randn(3, 4, 9, 10, dtype=torch.float64) * 2 + 1
        want = float(theirs.training_step(x, 0.05))
        got = mine.training_step(x, 0.05)
        np.testing.assert_allclose(float(got), want, rtol=1e-10)
        torch.testing.assert_close(mine.weight, theirs.weight, atol=1e-10, rtol=0)
    torch.testing.assert_close(mine(x), theirs(x), atol=1e-9, rtol=0)


def test_linear_matches_biopytorch() -> None:
    upstream = _load_upstream("biolinear")
    torch.manual_seed(0)
    theirs = upstream.BioLinear(20, 10, bias=True, lebesgue_p=4, ranking_param=3, delta=0.2,
                                dtype=torch.float64)
    mine = BioLinear(20, 10, bias=True, lebesgue_p=4, ranking_param=3, delta=0.2, mode="reference",
                     dtype=torch.float64)
    theirs.bias.data = theirs.bias.data.double()
    mine.load_state_dict(theirs.state_dict())
    for _ in range(4):
        x = torch.randn(16, 20, dtype=torch.float64)
        np.testing.assert_allclose(float(mine.training_step(x, 0.1)), float(theirs.training_step(x, 0.1)),
                                   rtol=1e-10)
    torch.testing.assert_close(mine(x), theirs(x), atol=1e-10, rtol=0)


# --------------------------------------------------------------------------- default mode
def test_default_mode_fixes_the_quirks() -> None:
    torch.manual_seed(0)
    lin = BioLinear(6, 4, bias=True, lebesgue_p=3, ranking_param=2, delta=0.1)
    x = torch.randn(8, 6)
    conv = lin.training_step(x, 0.05)
    # Convergence of the *updated* [bias | W]; forward leaves the BN module's mode alone.
    both = torch.cat([lin.bias[:, None], lin.weight], 1)
    assert float(conv) == pytest.approx(float(((both.abs() ** 3).sum(1) - 1).abs().max()), rel=1e-6)
    lin.train()
    lin(x)
    assert lin.batch_norm.training
    # Per-unit normalisation: every row of dW reaches (just below) 1.
    dw = krotov_hopfield_delta(lin.weight, x, p=3, k=2, delta=0.1, per_unit=True)
    assert torch.allclose(dw.abs().amax(1), torch.ones(4), atol=1e-4)


def test_conv_rule_equals_linear_rule_on_patches() -> None:
    torch.manual_seed(1)
    conv = BioConv2d(2, 5, 3, lebesgue_p=3, ranking_param=2, delta=0.2, padding=1, norm="global")
    x = torch.randn(2, 2, 6, 6)
    patches = torch.nn.functional.unfold(x, 3, padding=1).transpose(1, 2).reshape(-1, 18)
    want = krotov_hopfield_delta(conv.weight.view(5, -1), patches, p=3, k=2, delta=0.2, per_unit=False)
    torch.testing.assert_close(conv.delta_weights(x).view(5, -1), want)


@pytest.mark.parametrize("k", range(1, 10))
def test_winners_agree_with_topk(k: int) -> None:
    torch.manual_seed(k)
    currents = torch.randn(500, 12, dtype=torch.float64)
    values, idx = currents.topk(k, dim=-1)
    i1, v1, ik, vk = winners(currents.clone(), k, overwrite=True)
    assert torch.equal(i1, idx[:, 0]) and torch.equal(v1, values[:, 0])
    assert torch.equal(ik, idx[:, k - 1]) and torch.equal(vk, values[:, k - 1])


def test_layer_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="ranking_param"):
        BioLinear(4, 3, ranking_param=5)
    with pytest.raises(ConfigError, match="bias"):
        BioConv2d(3, 4, 3, bias=True)
    with pytest.raises(ConfigError, match="groups"):
        BioConv2d(3, 4, 3, groups=2)
    with pytest.raises(ConfigError, match="stride 1"):
        BioConv2d(3, 4, 3, stride=2, padding="same")


# ------------------------------------------------------------------------------ learner
def _learner(params: HebbianParams, stream) -> HebbianLearner:
    return HebbianLearner(params, input_shape=stream.input_shape, n_classes=stream.n_classes,
                          n_tasks=stream.n_tasks, scenario=stream.scenario)


@pytest.mark.parametrize("layers", [0, 1, 2, 5])
@pytest.mark.parametrize("arch", ["conv", "linear"])
def test_learner_stacks_fit_8x8_inputs(arch: str, layers: int) -> None:
    stream = blob_stream()
    learner = _learner(HebbianParams(arch=arch, hebbian_layers=layers, linear_units=32, epochs=2), stream)
    for t in range(stream.n_tasks):
        train_task(learner, stream, t)
    row = evaluate_row(learner, stream, 1)
    assert all(0.0 <= v <= 1.0 for v in row)


@pytest.mark.parametrize("extra", [{"mode": "reference"}, {"hebb_order": "together", "hebbian_layers": 3},
                                   {"hebb_lr_schedule": "constant", "norm": "global"},
                                   {"arch": "linear", "hebbian_layers": 2, "linear_own_pkd": True, "linear_k": 3}])
def test_learner_options_train(extra: dict) -> None:
    stream = blob_stream()
    learner = _learner(HebbianParams(linear_units=32, **extra), stream)
    metrics = train_task(learner, stream, 0)
    assert metrics["train/hebbian_convergence"] >= 0.0
    assert learner.hebb_epochs_done.min() > 0  # every layer advanced its schedule
    assert 0.0 <= evaluate_row(learner, stream, 0)[0] <= 1.0


def test_freeze_after_first_task_or_stay_plastic() -> None:
    stream = blob_stream()
    for freeze in (True, False):
        learner = _learner(HebbianParams(hebbian_layers=1, freeze_hebbian=freeze), stream)
        train_task(learner, stream, 0)
        w = learner.hebbian[0].weight.clone()
        train_task(learner, stream, 1)
        assert torch.equal(w, learner.hebbian[0].weight) == freeze


def test_multi_head_task_il() -> None:
    stream = blob_stream(scenario="task-il")
    learner = _learner(HebbianParams(multi_head=True), stream)
    for t in range(stream.n_tasks):
        train_task(learner, stream, t)
    assert min(evaluate_row(learner, stream, 1)) > 0.9
    with pytest.raises(ConfigError, match="task-il"):
        _learner(HebbianParams(multi_head=True), blob_stream())


def test_learner_errors() -> None:
    with pytest.raises(ConfigError, match="too small"):
        HebbianLearner(HebbianParams(hebbian_layers=2, padding="valid"), input_shape=(1, 8, 8), n_classes=4,
                       n_tasks=2)
    with pytest.raises(ConfigError, match="arch=linear"):
        HebbianLearner(HebbianParams(), input_shape=(64,), n_classes=4, n_tasks=2)
    with pytest.raises(ConfigError, match="`k`"):
        HebbianLearner(HebbianParams(arch="linear", linear_units=4, k=6), input_shape=(64,), n_classes=4,
                       n_tasks=2)


@pytest.mark.gpu
@pytest.mark.parametrize("k", [2, 9])
def test_training_step_never_syncs_with_the_host(k: int) -> None:
    torch.manual_seed(0)
    conv = BioConv2d(3, 16, 5, lebesgue_p=3, ranking_param=k, delta=0.1, device="cuda")
    lin = BioLinear(48, 16, bias=True, lebesgue_p=3, ranking_param=k, delta=0.1, device="cuda")
    x, v = torch.rand(8, 3, 12, 12, device="cuda"), torch.rand(8, 48, device="cuda")
    lr = torch.tensor(0.01, device="cuda")  # a tensor learning rate too: schedules computed on the device
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(2):
            conv.training_step(x, lr)
            lin.training_step(v, 0.01)
            conv(x), lin(v)
    finally:
        torch.cuda.set_sync_debug_mode(0)


def test_prototype_images_are_the_first_layer_filters() -> None:
    stream = blob_stream()
    conv = _learner(HebbianParams(), stream).prototype_images()
    assert conv.shape == (96, 1, 5, 5) and float(conv.min()) >= 0.0 and float(conv.max()) <= 1.0
    lin = _learner(HebbianParams(arch="linear", linear_units=16), stream).prototype_images()
    assert lin.shape == (16, 1, 8, 8)
    assert _learner(HebbianParams(hebbian_layers=0), stream).prototype_images() is None

# SPDX-License-Identifier: MIT
"""SOM-masked networks: the SOM rule on hand-computed cases, the limits sigma_fwd -> inf and threshold."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from synaptune.exceptions import ConfigError
from synaptune.learners.naive import NaiveLearner, NaiveParams
from synaptune.learners.functional.som import (
    conv_best_matching_unit,
    near_square,
    patch_best_matching_unit,
    som_update_,
)
from synaptune.learners.modules.som_mask import SOMMask, SOMMaskedConv2d, SOMMaskedLinear
from synaptune.learners.sommask import SOMMaskCNNLearner, SOMMaskCNNParams, SOMMaskMLPLearner, SOMMaskMLPParams
from synaptune.runner import train_task
from synaptune.testing import blob_stream

E = math.exp

# A 2x2 map (lattice (0,0) (0,1) (1,0) (1,1)) with prototypes at the corners of the unit square.
CORNERS = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]


def corner_map(**kwargs) -> SOMMask:
    som = SOMMask(4, 2, **kwargs)
    som.prototypes.copy_(torch.tensor(CORNERS))
    som.initialized.fill_(True)
    return som


def test_winner_and_forward_mask_by_hand() -> None:
    som = corner_map(sigma_fwd=1.0).eval()
    z = torch.tensor([[0.9, 0.2], [0.1, 0.8]])
    assert som.winners(z).tolist() == [1, 2]  # nearest corners (1, 0) and (0, 1)
    # Winner 1 sits at (0, 1): squared lattice distances 1, 0, 2, 1 -> exp(-d^2 / 2)
    expected = torch.tensor([[E(-0.5), 1.0, E(-1.0), E(-0.5)], [E(-0.5), E(-1.0), 1.0, E(-0.5)]])
    torch.testing.assert_close(som(z), expected)
    assert int(som.steps) == 0  # eval: no organisation


@pytest.mark.parametrize(("threshold", "row"), [
    (0.5, [E(-0.5), 1.0, 0.0, E(-0.5)]),
    (0.61, [0.0, 1.0, 0.0, 0.0]),
    (0.9, [0.0, 1.0, 0.0, 0.0]),
])
def test_threshold_keeps_only_mask_above_it(threshold: float, row: list[float]) -> None:
    som = corner_map(sigma_fwd=1.0, threshold=threshold).eval()
    torch.testing.assert_close(som(torch.tensor([[0.9, 0.2]])), torch.tensor([row]))


def test_one_sample_update_is_kohonens_rule() -> None:
    som = corner_map(sigma_org=1.0, sigma_org_final=1.0, som_lr=0.5, som_lr_final=0.5).train()
    z = torch.tensor([[0.9, 0.2]])
    som(z)
    h = [E(-0.5), 1.0, E(-1.0), E(-0.5)]  # winner 1, sigma_org = 1
    expected = [[w + 0.5 * hj * (x - w) for w, x in zip(proto, (0.9, 0.2))] for proto, hj in zip(CORNERS, h)]
    torch.testing.assert_close(som.prototypes, torch.tensor(expected))
    assert som.prototypes[1].tolist() == pytest.approx([0.95, 0.1])
    assert int(som.steps) == 1


def test_batch_update_averages_the_per_sample_updates() -> None:
    z = torch.tensor([[0.9, 0.2], [0.1, 0.8]])
    som = corner_map(sigma_org=0.7, sigma_org_final=0.7, som_lr=0.3, som_lr_final=0.3).train()
    som(z)
    singles = []
    for i in range(2):
        one = corner_map(sigma_org=0.7, sigma_org_final=0.7, som_lr=0.3, som_lr_final=0.3).train()
        one(z[i:i + 1])
        singles.append(one.prototypes)
    torch.testing.assert_close(som.prototypes, (singles[0] + singles[1]) / 2)


def test_som_update_matches_a_loop() -> None:
    g = torch.Generator().manual_seed(0)
    w, x, h = torch.randn(5, 3, generator=g), torch.randn(4, 3, generator=g), torch.rand(4, 5, generator=g)
    expected = w + 0.2 / 4 * sum(h[b, :, None] * (x[b] - w) for b in range(4))
    torch.testing.assert_close(som_update_(w.clone(), x, h, 0.2), expected)


def test_schedule_decays_geometrically_then_stays() -> None:
    som = SOMMask(4, 2, sigma_org=4.0, sigma_org_final=1.0, som_lr=0.5, som_lr_final=0.02, decay_steps=10)
    som.steps.fill_(5)
    sigma, lr = som.schedule()
    assert float(sigma) == pytest.approx(2.0) and float(lr) == pytest.approx(0.1)
    som.steps.fill_(50)
    sigma, lr = som.schedule()
    assert float(sigma) == pytest.approx(1.0) and float(lr) == pytest.approx(0.02)


def test_first_training_batch_moves_prototypes_into_the_data() -> None:
    som = SOMMask(9, 4, generator=torch.Generator().manual_seed(0)).train()
    z = 5.0 + 0.1 * torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
    som(z)
    assert bool(som.initialized)
    assert (som.prototypes.mean(dim=0) - 5.0).abs().max() < 0.2


def test_lattice_is_near_square() -> None:
    assert near_square(100) == (10, 10) and near_square(128) == (8, 16) and near_square(13) == (1, 13)
    assert SOMMask(128, 3).grid_shape == (8, 16)


def test_patch_winners_match_explicit_distances() -> None:
    g = torch.Generator().manual_seed(0)
    x, protos = torch.rand(2, 2, 5, 5, generator=g), torch.rand(6, 2 * 3 * 3, generator=g)
    win = patch_best_matching_unit(F.unfold(x, 3, padding=1), protos)  # (2, 25)
    by_conv = conv_best_matching_unit(x, protos, kernel_size=(3, 3), padding=(1, 1))  # (2, 5, 5)
    assert torch.equal(by_conv.reshape(2, 25), win)
    padded = F.pad(x, (1, 1, 1, 1))
    for b in range(2):
        for i in range(5):
            for j in range(5):
                patch = padded[b, :, i:i + 3, j:j + 3].reshape(-1)
                assert int(win[b, i * 5 + j]) == int(((protos - patch) ** 2).sum(dim=1).argmin())


def test_masked_linear_output_is_zero_where_mask_is_zero() -> None:
    torch.manual_seed(0)
    layer = SOMMaskedLinear(nn.Linear(6, 16), SOMMask(16, 6, sigma_fwd=1.0, threshold=0.5)).eval()
    x = torch.rand(32, 6)
    out = layer(x)
    mask = layer.som.last_mask
    assert mask is not None and ((mask == 0) | (mask > 0.5)).all()
    assert (out[mask == 0] == 0).all()
    # sigma_fwd = 1, threshold 0.5: the winner and its (up to 4) lattice neighbours stay active.
    assert 1 <= int((mask > 0).sum(dim=1).min()) and int((mask > 0).sum(dim=1).max()) <= 5


def test_threshold_near_one_leaves_gradient_only_in_winner_rows() -> None:
    torch.manual_seed(0)
    layer = SOMMaskedLinear(nn.Linear(6, 16), SOMMask(16, 6, sigma_fwd=1.0, threshold=0.9)).eval()
    x = torch.rand(1, 6)
    layer(x).sum().backward()
    winner = int(layer.som.winners(x)[0])
    rows = (layer.linear.weight.grad.abs().sum(dim=1) > 0).nonzero().flatten().tolist()
    assert rows in ([winner], [])  # [] only if the winner's ReLU is off


@pytest.mark.parametrize("position", ["pre", "post"])
def test_infinite_sigma_fwd_is_the_plain_layer(position: str) -> None:
    torch.manual_seed(0)
    lin, conv = nn.Linear(12, 9), nn.Conv2d(2, 4, 3, padding=1)
    x, img = torch.rand(8, 12), torch.rand(3, 2, 6, 6)
    masked = SOMMaskedLinear(lin, SOMMask(9, 12, sigma_fwd=math.inf, threshold=0.9), position=position)
    torch.testing.assert_close(masked(x), F.relu(lin(x)), rtol=0, atol=1e-6)
    for mode, dim in (("patch", 18), ("image", 72)):
        cm = SOMMaskedConv2d(conv, SOMMask(4, dim, sigma_fwd=math.inf), mode=mode, position=position)
        torch.testing.assert_close(cm(img), F.relu(conv(img)), rtol=0, atol=1e-6)


@pytest.mark.parametrize(("cls", "params", "naive"), [
    (SOMMaskMLPLearner, SOMMaskMLPParams(sigma_fwd=math.inf, epochs=1),
     NaiveParams(arch="mlp", hidden_units=100, epochs=1)),
    (SOMMaskCNNLearner, SOMMaskCNNParams(sigma_fwd=math.inf, conv_mask="patch", epochs=1),
     NaiveParams(arch="cnn", epochs=1)),
    (SOMMaskCNNLearner, SOMMaskCNNParams(sigma_fwd=math.inf, conv_mask="image", epochs=1),
     NaiveParams(arch="cnn", epochs=1)),
])
def test_learner_with_infinite_sigma_fwd_is_the_naive_learner(cls, params, naive) -> None:
    stream = blob_stream()
    kw = dict(input_shape=stream.input_shape, n_classes=stream.n_classes, n_tasks=stream.n_tasks, seed=4)
    masked, plain = cls(params, **kw), NaiveLearner(naive, **kw)
    for t in range(stream.n_tasks):
        train_task(masked, stream, t)
        train_task(plain, stream, t)
    x = torch.cat([task.tensors("test")[0] for task in stream.tasks])
    assert torch.equal(masked.predict(x), plain.predict(x))
    torch.testing.assert_close(masked.net.head.weight, plain.net.head.weight, rtol=0, atol=0)
    assert all(f == 1.0 for f in masked.active_fractions(x))


def test_active_fraction_falls_with_the_threshold() -> None:
    stream = blob_stream()
    kw = dict(input_shape=stream.input_shape, n_classes=stream.n_classes, n_tasks=stream.n_tasks, seed=0)
    x = stream.tasks[0].tensors("test")[0]
    fractions = []
    for t in (0.0, 0.5, 0.9):
        learner = SOMMaskMLPLearner(SOMMaskMLPParams(sigma_fwd=1.5, threshold=t), **kw)
        train_task(learner, stream, 0)
        fractions.append(sum(learner.active_fractions(x)) / 2)
    assert fractions[0] > fractions[1] > fractions[2] > 0


def test_prototype_images() -> None:
    stream = blob_stream()
    kw = dict(input_shape=stream.input_shape, n_classes=stream.n_classes, n_tasks=stream.n_tasks)
    mlp = SOMMaskMLPLearner(SOMMaskMLPParams(), **kw)
    train_task(mlp, stream, 0)
    img = mlp.prototype_images()
    assert img.shape == (100, 1, 8, 8) and float(img.min()) == 0.0 and float(img.max()) == 1.0
    assert SOMMaskCNNLearner(SOMMaskCNNParams(conv_mask="patch"), **kw).prototype_images().shape == (16, 1, 3, 3)
    assert SOMMaskCNNLearner(SOMMaskCNNParams(conv_mask="image"), **kw).prototype_images().shape == (16, 1, 8, 8)
    assert NaiveLearner(NaiveParams(), **kw).prototype_images() is None


def test_satsom_prototype_images() -> None:
    from synaptune.learners.satsom import SatSOMLearner, SatSOMParams

    stream = blob_stream()
    kw = dict(input_shape=stream.input_shape, n_classes=stream.n_classes, n_tasks=stream.n_tasks)
    img = SatSOMLearner(SatSOMParams(grid="5x6"), **kw).prototype_images()
    assert img.shape == (30, 1, 8, 8) and 0.0 <= float(img.min()) <= float(img.max()) <= 1.0
    assert SatSOMLearner(SatSOMParams(grid="5x6", features="random-projection"), **kw).prototype_images() is None


def test_bad_settings_say_what_to_do() -> None:
    with pytest.raises(ConfigError, match="threshold"):
        SOMMaskMLPParams(threshold=1.0)
    with pytest.raises(ConfigError, match="mask_position"):
        SOMMaskMLPParams(mask_position="middle")
    with pytest.raises(ConfigError, match="neurons"):
        SOMMaskedLinear(nn.Linear(4, 8), SOMMask(9, 4))


@pytest.mark.parametrize(("cls", "retired"), [(SOMMaskMLPParams, ("arch", "conv_channels")),
                                             (SOMMaskCNNParams, ("arch", "hidden_layers"))])
def test_knobs_that_did_nothing_are_gone_and_old_presets_still_load(
        cls: type, retired: tuple[str, ...], caplog: pytest.LogCaptureFixture) -> None:
    import dataclasses

    from synaptune.params import from_dict

    names = {f.name for f in dataclasses.fields(cls)}
    assert not names & set(retired)  # not sampled, logged to MLflow or exported any more
    old = {"arch": cls.arch, "conv_channels": 16, "hidden_layers": 2, "sigma_fwd": 2.5}
    with caplog.at_level("WARNING", logger="synaptune"):
        params = from_dict(cls, {k: v for k, v in old.items() if k in names or k in retired}, where="old.yaml")
    assert params.sigma_fwd == 2.5
    for name in retired:
        assert f"old.yaml: `{name}` is ignored: it is no longer a parameter of {cls.__name__}" in caplog.text

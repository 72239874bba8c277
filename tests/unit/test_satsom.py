# SPDX-License-Identifier: MIT
"""SatSOM: golden fixtures of the original, the two read-out modes, chunking, params."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from synaptune.exceptions import ConfigError, UnknownNameError
from synaptune.learners.modules import satsom as satsom_mod
from synaptune.learners.modules.satsom import SatSOM
from synaptune.learners.satsom import SatSOMLearner, SatSOMParams, parse_grid
from synaptune.learners.functional.som import grid_locations, lattice_sq_distances, quantile_linear
from synaptune.params import from_dict
from synaptune.runner import evaluate_row, train_task
from synaptune.testing import blob_stream
from tests.conftest import reference_fixtures

FIXTURES = reference_fixtures("satsom_")
STATE = ("weights", "labels", "learning_rates", "sigmas")


def f64(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def blobs(n: int, dim: int, classes: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    means = torch.rand(classes, dim, generator=g)
    y = torch.arange(n) % classes
    return (means[y] + 0.1 * torch.randn(n, dim, generator=g)).clamp(0, 1), y


def trained_som(mode: str = "default", *, grid: str = "6x6", steps: int = 60, **kw) -> SatSOM:
    """A small map trained on blobs; with 60 steps on 6x6 some neurons stay untrained."""
    torch.manual_seed(0)
    som = SatSOM(SatSOMParams(grid=grid, mode=mode, q=0.2, **kw), input_dim=5, output_dim=3)
    x, y = blobs(steps, 5, 3)
    for i in range(steps):
        som.step(x[i], F.one_hot(y[i], 3).float())
    return som


# ------------------------------------------------------------ golden fixtures
def params_from_fixture(z) -> SatSOMParams:
    shape = tuple(int(s) for s in z["hp_grid_shape"])
    return SatSOMParams(grid="x".join(map(str, shape)), initial_lr=float(z["hp_initial_lr"]),
                        initial_sigma_rel=float(z["hp_initial_sigma"]) / max(shape), Lr=float(z["hp_Lr"]),
                        Lr_bias=float(z["hp_Lr_bias"]), Lr_sigma=float(z["hp_Lr_sigma"]),
                        q=float(z["hp_q"]), p=float(z["hp_p"]), mode="reference")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_reference_mode_matches_original(path: Path, dtype: torch.dtype) -> None:
    z = np.load(path, allow_pickle=False)
    som = SatSOM(params_from_fixture(z), input_dim=int(z["hp_input_dim"]), output_dim=int(z["hp_output_dim"]))
    som.to(dtype).train(bool(z["hp_step_in_training_mode"]))
    ref = {k: torch.from_numpy(z[k]).to(dtype) if z[k].dtype.kind == "f" else torch.from_numpy(z[k])
           for k in z.files}
    # Our own initial state agrees with the original's; then copy it exactly (README §0).
    np.testing.assert_array_equal(som.locations.numpy(), z["locations"])
    for k in ("learning_rates", "sigmas"):
        torch.testing.assert_close(getattr(som, k), ref[f"init_{k}"], rtol=1e-6, atol=1e-7)
    for k in STATE:
        getattr(som, k).copy_(ref[f"init_{k}"])
    if bool(z["forward_before_training_raises"]):
        with pytest.raises(RuntimeError, match="no neuron is trained yet"):
            som(ref["x_eval"])

    state_tol, out_tol = {"rtol": 1e-5, "atol": 1e-5}, {"rtol": 1e-4, "atol": 2e-6}
    overrides = [i for i in range(10) if f"out_eval_override{i}" in z.files]
    for t in range(int(z["hp_T"])):
        x, y = ref["x_train"][t], ref["y_train_onehot"][t]
        if t % 2:  # (1, D) / (1, C) must act exactly like (D,) / (C,)
            x, y = x[None], y[None]
        h = som.neighbourhood(ref["bmu"][t])
        torch.testing.assert_close(h, ref["nbh"][t], **state_tol, msg=f"nbh t={t}")
        bmu = som.step(x, y)
        assert int(bmu) == int(z["bmu"][t]), f"BMU at step {t}"
        for k in STATE:
            torch.testing.assert_close(getattr(som, k), ref[k][t], **state_tol, msg=f"{k} after step {t}")
        np.testing.assert_array_equal(som.undersaturated().numpy(), z["undersat_mask"][t], err_msg=f"t={t}")
        torch.testing.assert_close(som(ref["x_eval"]), ref["out_eval"][t], **out_tol, msg=f"out_eval t={t}")
        out_xt = som(ref["x_train"][t][None])
        torch.testing.assert_close(out_xt, ref["out_xt"][t], **out_tol, msg=f"out_xt t={t}")
        for i in overrides:
            out = som(ref["x_eval"], q=float(z[f"override{i}_q"]), p=float(z[f"override{i}_p"]))
            want = ref[f"out_eval_override{i}"][t]
            torch.testing.assert_close(out, want, **out_tol, msg=f"override{i} t={t}")


# Golden values computed with the original code in float64 (docs/learners.md#satsom-fidelity): they
# need no fixture file.
def case_a() -> SatSOM:
    params = SatSOMParams(grid="3x3", initial_lr=0.5, initial_sigma_rel=1 / 3, Lr=0.1, Lr_bias=0.2,
                          Lr_sigma=0.05, q=0.3, p=2, mode="reference")
    som = SatSOM(params, input_dim=2, output_dim=2).double()
    t = torch.linspace(0, 1, 9, dtype=torch.float64)
    som.weights.copy_(torch.stack([t, 1 - t], dim=1))
    bmus = [int(som.step(torch.tensor(x, dtype=torch.float64), F.one_hot(torch.tensor(c), 2)))
            for x, c in (((0.3, 0.7), 1), ((0.9, 0.1), 0), ((0.5, 0.5), 1))]
    assert bmus == [2, 8, 4]
    return som


def test_golden_case_a_state_and_batch_dependence() -> None:
    som = case_a()
    close = {"rtol": 0, "atol": 1e-9}
    torch.testing.assert_close(som.learning_rates[:3], f64(0.4708836348, 0.4302574210, 0.4208602004), **close)
    torch.testing.assert_close(som.sigmas[:3], f64(0.9704469432, 0.9276393922, 0.9174532145), **close)
    expect = {("weights", 0): (0.1287755930, 0.8712244070), ("weights", 8): (0.8477127200, 0.1522872800),
              ("labels", 2): (-0.3230784286, 0.3230784286), ("labels", 8): (0.1601290606, -0.1601290606)}
    for (k, i), v in expect.items():
        torch.testing.assert_close(getattr(som, k)[i], f64(*v), **close)
    som.eval()
    single, batch = f64(0.2, 0.8)[None], torch.stack([f64(0.2, 0.8), f64(0.8, 0.2)])
    torch.testing.assert_close(som(single)[0], f64(-0.0933924205, 0.0933924205), **close)
    # Reference mode: the same sample reads out differently inside a batch (global min-max).
    torch.testing.assert_close(som(batch)[0], f64(-0.0881434207, 0.0881434207), **close)


def test_golden_case_b_quantile_path() -> None:
    som = SatSOM(SatSOMParams(grid="2x6", initial_lr=0.5, Lr=0.1, Lr_bias=0.5, Lr_sigma=0.05, p=3,
                              mode="reference"), input_dim=2, output_dim=3).double()
    som.sigmas.fill_(0.3)
    t = torch.linspace(0, 1, 12, dtype=torch.float64)
    som.weights.copy_(torch.stack([t, t * t], dim=1))
    for x, c in (((0.1, 0.0), 0), ((0.95, 0.9), 2), ((0.12, 0.02), 0)):
        som.step(torch.tensor(x, dtype=torch.float64), F.one_hot(torch.tensor(c), 3))
    assert torch.nonzero(som.undersaturated()).flatten().tolist() == [3, 5, 6, 8]
    torch.testing.assert_close(som.labels[10], f64(-0.25, -0.25, 0.5), rtol=0, atol=1e-15)
    expect = {
        0.5: [(0.0669863175, -0.0335522448, -0.0334340727),
              (-0.0208825417, -0.0209928934, 0.0418754351)],
        0.2: [(0.0668099418, -0.0334049709, -0.0334049709), (-0.0209010453, -0.0209010453, 0.0418020906)],
    }
    for q, outs in expect.items():
        for x, want in zip(((0.1, 0.01), (0.9, 0.8)), outs, strict=True):
            torch.testing.assert_close(som(f64(*x)[None], q=q)[0], f64(*want), rtol=0, atol=1e-9)


# ------------------------------------------------------------------ read-out
def test_default_mode_batched_equals_one_at_a_time() -> None:
    x, _ = blobs(50, 5, 3, seed=1)
    for sigma_rel in (0.1, 0.5):  # some neurons stay untrained / every neuron is trained
        som = trained_som(initial_sigma_rel=sigma_rel)
        assert bool(som.undersaturated().any()) == (sigma_rel == 0.1)
        for dtype, tol in ((torch.float32, 1e-4), (torch.float64, 1e-12)):
            # float32 differs by rounding only (a matrix product vs a matrix-vector one), amplified by p
            som, xd = som.to(dtype), x.to(dtype)
            batched = som(xd)
            single = torch.cat([som(xd[i : i + 1]) for i in range(len(xd))])
            assert torch.equal(batched.argmax(1), single.argmax(1))
            torch.testing.assert_close(batched, single, rtol=tol, atol=tol * 1e-2)
        # While a neuron is untrained, one-at-a-time default == one-at-a-time reference (the original's eval).
        if sigma_rel == 0.1:
            ref = SatSOM(dataclasses.replace(som.params, mode="reference"), input_dim=5, output_dim=3)
            ref.double()
            ref.load_state_dict(som.state_dict())
            torch.testing.assert_close(torch.cat([ref(xd[i : i + 1]) for i in range(len(xd))]), single,
                                       rtol=1e-12, atol=1e-14)


def test_reference_mode_depends_on_the_batch_default_does_not() -> None:
    x, _ = blobs(20, 5, 3, seed=2)
    for mode, depends in (("reference", True), ("default", False)):
        som = trained_som(mode)
        first_alone, first_in_batch = som(x[:1])[0], som(x)[0]
        assert (not torch.allclose(first_alone, first_in_batch, rtol=1e-5, atol=1e-8)) == depends, mode


@pytest.mark.parametrize("mode", ["default", "reference"])
def test_forward_before_training_is_a_clear_error(mode: str) -> None:
    som = SatSOM(SatSOMParams(grid="4x4", mode=mode), input_dim=3, output_dim=2)
    with pytest.raises(RuntimeError, match=r"no neuron is trained yet.*Call step\(x, y\)"):
        som(torch.rand(5, 3))


def test_default_mode_checks_overrides_and_reference_falls_back() -> None:
    som = trained_som()
    x, _ = blobs(4, 5, 3)
    with pytest.raises(ConfigError, match=r"0 <= q <= 1 and p > 0, got q=1.5"):
        som(x, q=1.5)
    with pytest.raises(ConfigError, match=r"p=0"):
        som(x, p=0)
    ref = trained_som("reference")
    assert torch.equal(ref(x, q=0, p=0), ref(x))  # the original's `q or params.q`


def test_shape_errors_say_what_to_do() -> None:
    som = trained_som()
    with pytest.raises(ValueError, match=r"one sample: x of shape \(5,\).*got x \(2, 5\)"):
        som.step(torch.rand(2, 5), torch.tensor([1.0, 0, 0]))
    with pytest.raises(ValueError, match=r"F.one_hot"):
        som.step(torch.rand(5), torch.tensor(1))
    with pytest.raises(ValueError, match=r"batch of shape \(B, 5\), got \(5,\)"):
        som(torch.rand(5))


def test_one_dimensional_grid() -> None:
    som = trained_som(grid="12")
    assert som.locations.shape == (12, 1)
    h = som.neighbourhood(torch.tensor(5))
    assert h.shape == (12,) and int(h.argmax()) == 5
    x, _ = blobs(7, 5, 3)
    assert som(x).shape == (7, 3)
    stream = blob_stream()
    learner = SatSOMLearner(SatSOMParams(grid="40"), input_shape=stream.input_shape,
                            n_classes=stream.n_classes, n_tasks=stream.n_tasks)
    train_task(learner, stream, 0)
    assert evaluate_row(learner, stream, 0)[0] > 0.9


def test_chunked_read_out_equals_unchunked(monkeypatch: pytest.MonkeyPatch) -> None:
    x, _ = blobs(23, 5, 3, seed=3)
    default, reference = trained_som("default"), trained_som("reference")
    whole_default, whole_reference = default(x), reference(x)

    limit = 3 * default.n_neurons  # chunks of 3 rows in default mode
    real_quantile = torch.quantile

    def limited_quantile(t: torch.Tensor, *args, **kwargs):  # torch <= 2.13's behaviour, scaled down
        if t.numel() > limit:
            raise RuntimeError("quantile() input tensor is too large")
        return real_quantile(t, *args, **kwargs)

    monkeypatch.setattr(satsom_mod, "QUANTILE_MAX_NUMEL", limit)
    monkeypatch.setattr(torch, "quantile", limited_quantile)
    seen = []
    real_forward = SatSOM._forward_default

    def counting_forward(self: SatSOM, xs: torch.Tensor, *args) -> torch.Tensor:
        seen.append(len(xs))
        return real_forward(self, xs, *args)

    monkeypatch.setattr(SatSOM, "_forward_default", counting_forward)
    chunked = default(x)
    assert seen == [3] * 7 + [2]
    torch.testing.assert_close(chunked, whole_default, rtol=1e-6, atol=1e-8)
    assert torch.equal(chunked.argmax(1), whole_default.argmax(1))
    # Reference mode pools the quantile over the batch: over the limit it is computed by selection, exactly.
    assert torch.equal(reference(x), whole_reference)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_quantile_linear_is_torch_quantile_bit_for_bit(dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(0)
    for n in (1, 2, 7, 100, 901):
        x = torch.rand(3, n, generator=g, dtype=dtype)
        for q in (0.0, 1e-5, 0.005, 0.25, 0.3, 0.6, 0.9, 1.0):
            assert torch.equal(quantile_linear(x, q, dim=1), torch.quantile(x, q, dim=1)), (n, q)
            kept = quantile_linear(x, q, dim=1, keepdim=True)
            assert torch.equal(kept, torch.quantile(x, q, dim=1, keepdim=True)), (n, q)
            assert torch.equal(quantile_linear(x, q), torch.quantile(x, q)), (n, q)
            assert torch.equal(quantile_linear(x.T, q, dim=0), torch.quantile(x.T, q, dim=0)), (n, q)


def test_som_helpers() -> None:
    loc = grid_locations((2, 3))
    assert loc.tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]  # row-major
    assert grid_locations((2, 2, 2)).shape == (8, 3)
    assert lattice_sq_distances(loc, torch.tensor(4)).tolist() == [2, 1, 2, 1, 0, 1]
    assert lattice_sq_distances(loc, torch.tensor([0, 5])).shape == (2, 6)


def test_lattice_table_of_small_maps_matches_direct_computation() -> None:
    som = trained_som(grid="5x7")
    with_table = som.neighbourhood(torch.tensor(11))
    som._lattice_sq = None  # what maps above 1024 neurons do
    assert torch.equal(som.neighbourhood(torch.tensor(11)), with_table)


# ------------------------------------------------------------------- params
def test_params_grid_and_sigma() -> None:
    p = SatSOMParams(grid="20x30", initial_sigma_rel=0.1)
    assert p.grid_shape == (20, 30) and p.n_neurons == 600 and p.initial_sigma == pytest.approx(3.0)
    assert parse_grid("8 x 8 X 8") == (8, 8, 8) and parse_grid("100") == (100,)
    assert SatSOMParams(grid="8 x 8 X 8").grid == "8x8x8"  # one spelling
    som = SatSOM(p, input_dim=4, output_dim=2)
    assert torch.allclose(som.sigmas, torch.full((600,), 3.0))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"grid": "30*30"}, r"`grid` must be lattice sides joined by 'x', e.g. '30x30'.*got '30\*30'"),
    ({"grid": "0x5"}, r"`grid` sides must be at least 1, got '0x5'"),
    ({"grid": ""}, r"`grid` must be lattice sides"),
    ({"q": 1.5}, r"`q` must be in \[0, 1\], got 1.5"),
    ({"Lr": 0.0}, r"`Lr` must be in \(0, inf\), got 0.0"),
    ({"initial_lr": -1.0}, r"`initial_lr` must be in \(0, inf\)"),
    ({"mode": "fast"}, r"`mode` must be in \{default, reference\}, got 'fast'"),
    ({"epochs": 0}, r"`epochs` must be in \[1, inf\)"),
    ({"features": "resnet"}, r"`features` must be in \{pixels, random-projection\}"),
])
def test_params_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SatSOMParams(**kwargs)


def test_params_unknown_name_suggests() -> None:
    with pytest.raises(UnknownNameError, match=r"`initial_sigma` is not a parameter of SatSOMParams. "
                                               r"Did you mean `initial_sigma_rel`\?"):
        from_dict(SatSOMParams, {"initial_sigma": 3.0})


# ------------------------------------------------------------------ learner
def test_learner_task_il_masks_other_tasks() -> None:
    stream = blob_stream(scenario="task-il")
    learner = SatSOMLearner(SatSOMParams(grid="10x10"), input_shape=stream.input_shape,
                            n_classes=stream.n_classes, n_tasks=stream.n_tasks, scenario="task-il")
    for t in range(stream.n_tasks):
        train_task(learner, stream, t)
    for task in stream.tasks:
        pred = learner.predict(task.tensors("test")[0], task_id=task.id)
        assert set(pred.tolist()) <= set(task.classes)
    with pytest.raises(ValueError, match=r"task_id must be in \[0, 2\)"):
        learner.predict(stream.tasks[0].tensors("test")[0], task_id=2)


def test_learner_random_projection_features() -> None:
    stream = blob_stream()
    params = SatSOMParams(grid="10x10", features="random-projection", feature_dim=16)
    build = lambda seed: SatSOMLearner(params, input_shape=stream.input_shape,  # noqa: E731
                                       n_classes=stream.n_classes, n_tasks=stream.n_tasks, seed=seed)
    a, b = build(0), build(5)
    assert a.projection.shape == (64, 16) and a.som.weights.shape == (100, 16)
    b.load_state_dict(a.state_dict())  # the projection is state: a restored learner sees the same features
    x = stream.tasks[0].tensors("test")[0]
    assert torch.equal(a.features(x), b.features(x))
    train_task(a, stream, 0)
    assert evaluate_row(a, stream, 0)[0] > 0.9


@pytest.mark.gpu
def test_step_does_not_synchronise_on_cuda() -> None:
    som = SatSOM(SatSOMParams(grid="10x10"), input_dim=8, output_dim=3).cuda()
    x, y = torch.rand(8, device="cuda"), torch.tensor([0.0, 1.0, 0.0], device="cuda")
    som.step(x, y)  # warm-up allocations
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            som.step(x, y)
    finally:
        torch.cuda.set_sync_debug_mode("default")

# SPDX-License-Identifier: MIT
"""Krotov–Hopfield Hebbian layers and the ``hebbian`` learner.

:class:`BioLinear` and :class:`BioConv2d` are shaped like ``nn.Linear`` and
``nn.Conv2d`` and learn without labels through :meth:`~BioLinear.training_step`
(the "fast" minibatch form of Krotov & Hopfield's rule, as in the biopytorch
package). :class:`HebbianLearner` (registered as ``hebbian``) stacks them,
trains them on each task without labels, then trains a linear classifier head
on their features with labels. Spec: ALGORITHMS.md §5; golden fixtures
``shared/reference/bio_*.npz`` (README §5).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synaptune.exceptions import ConfigError
from synaptune.learners.base import restrict_to_task
from synaptune.learners.gradient import Batch, GradientLearner
from synaptune.learners.networks import check_multi_head
from synaptune.params import param, validate

if TYPE_CHECKING:
    from synaptune.benchmarks.base import Split, Task

__all__ = [
    "CONV_STACK",
    "BioConv2d",
    "BioLinear",
    "HebbianLearner",
    "HebbianParams",
    "effective_weight",
    "krotov_hopfield_delta",
    "normalise",
    "rule_terms",
    "winners",
]


MODES = ("default", "reference")
NORMS = ("per-unit", "global")

#: Added to max|dW| before dividing, as in biopytorch.
NORM_EPS = 1e-5

#: Up to this k, :func:`winners` takes k successive row maxima (masking each winner) instead
#: of ``topk``: on one CPU thread a pass costs ~1/7 of a topk over 96 units.
_ITERATED_MAX_UP_TO = 6

#: The convolutional layers of seed 004's benchmark (Amato et al. 2019, BioPyTorch's README):
#: ``(out_channels, kernel_size, max-pool 2x2 after the ReLU)``. Layer 5 is a BioLinear.
CONV_STACK: tuple[tuple[int, int, bool], ...] = (
    (96, 5, True), (128, 3, False), (192, 3, True), (256, 3, False))


# ------------------------------------------------------------------------------ the rule
def winners(currents: Tensor, k: int, *, overwrite: bool = False) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Each sample's most active unit and its k-th most active unit.

    Args:
        currents: (N, H), the current of each of H units for each of N samples.
        k: ranking parameter, 1 <= k <= H.
        overwrite: ``currents`` may be clobbered (saves a copy).

    Returns:
        ``(i1, v1, ik, vk)``: int64 (N,) indices and (N,) currents of the largest
        and of the k-th largest current of each sample.
    """
    if k <= _ITERATED_MAX_UP_TO:
        # A few masked maxima are cheaper than topk on CPU (one pass over (N, H) each).
        v1, i1 = currents.max(dim=-1)
        if k == 1:
            return i1, v1, i1, v1
        masked = currents if overwrite else currents.clone()
        ik = i1
        for _ in range(k - 1):
            masked.scatter_(-1, ik.unsqueeze(-1), float("-inf"))
            vk, ik = masked.max(dim=-1)
        return i1, v1, ik, vk
    values, idx = currents.topk(k, dim=-1)
    return idx[:, 0], values[:, 0], idx[:, k - 1], values[:, k - 1]


def effective_weight(weight: Tensor, p: float) -> Tensor:
    """``sign(W) |W|^(p-1)``: what the layer transmits and how currents are measured."""
    n = p - 1
    if n == 1:
        return weight
    if float(n).is_integer() and int(n) % 2 == 1:
        return weight.pow(int(n))  # an odd power keeps the sign: one pass
    if n == 2:
        return weight * weight.abs()
    return torch.sign(weight) * weight.abs().pow(n)


def rule_terms(currents: Tensor, samples: Tensor, *, k: int, delta: float, n_units: int,
               offset: Tensor | None = None, overwrite: bool = False) -> tuple[Tensor, Tensor]:
    r"""The two sums of the rule, :math:`g V` (n_units, D) and :math:`\sum_s g_{\mu s} I_{\mu s}` (n_units,).

    g is +1 on each sample's largest current and ``-delta`` on its k-th largest
    (with k = 1 the ``-delta`` replaces the +1, as upstream). g is never built:
    both sums are ``index_add_`` of the samples (rows) onto their two units.

    Args:
        currents: (N, H) currents of H competing units per sample.
        samples: (N, D) the samples (rows of V).
        offset: (N,) added to the unit indices (groups of units compete separately), or ``None``.
        overwrite: ``currents`` may be clobbered.
    """
    neg_hebb, neg_second = _neg_rule_terms(currents, samples, k=k, delta=delta, n_units=n_units,
                                           offset=offset, overwrite=overwrite)
    return neg_hebb.neg_(), neg_second.neg_()


def _neg_rule_terms(currents: Tensor, samples: Tensor, *, k: int, delta: float, n_units: int,
                    offset: Tensor | None, overwrite: bool) -> tuple[Tensor, Tensor]:
    """:func:`rule_terms`, negated.

    Accumulated negated because ``index_add_`` with alpha == 1 takes a much slower path
    on CPU (through scatter_add_); flipping signs is exact.
    """
    i1, v1, ik, vk = winners(currents, k, overwrite=overwrite)
    if offset is not None:
        i1, ik = i1 + offset, ik + offset
    neg_hebb = samples.new_zeros(n_units, samples.shape[1])
    neg_second = samples.new_zeros(n_units)
    if k > 1:
        neg_hebb.index_add_(0, i1, samples, alpha=-1.0)
        neg_second.index_add_(0, i1, v1, alpha=-1.0)
    neg_hebb.index_add_(0, ik, samples, alpha=delta)
    neg_second.index_add_(0, ik, vk, alpha=delta)
    return neg_hebb, neg_second


def krotov_hopfield_delta(weight: Tensor, samples: Tensor, *, p: float, k: int, delta: float,
                          per_unit: bool) -> Tensor:
    r"""Normalised update of the Krotov–Hopfield rule for a batch of samples.

    .. math::

        I = W_{\mathrm{eff}} V^\top, \quad
        \Delta W = g V - \operatorname{diag}\big(\textstyle\sum_s g_{\mu s} I_{\mu s}\big) W, \quad
        \Delta W \leftarrow \Delta W / (\max |\Delta W| + 10^{-5})

    Args:
        weight: (H, D), one row per hidden unit.
        samples: (S, D), one sample (or image patch) per row; each competes on its own.
        p, k, delta: Lebesgue exponent, ranking parameter, anti-Hebbian strength.
        per_unit: divide each row by its own max |dW| (else by the global max).

    Returns:
        dW, (H, D), largest absolute entry (per row, or overall) just below 1.
    """
    neg_dw = _raw_delta(weight, effective_weight(weight, p), samples, k=k, delta=delta)
    return neg_dw.div_(-(_max_abs(neg_dw, per_unit=per_unit) + NORM_EPS))


def _raw_delta(weight: Tensor, weff: Tensor, samples: Tensor, *, k: int, delta: float) -> Tensor:
    """``-(g V - diag(sum_s g I) W)`` (H, D) before normalisation: the update, *negated*."""
    currents = samples @ weff.t()  # (S, H)
    i1, v1, ik, vk = winners(currents, k, overwrite=True)
    second = weight.new_zeros(weight.shape[0])
    if k > 1:
        second.index_add_(0, i1, v1, alpha=-1.0)
    second.index_add_(0, ik, vk, alpha=delta)
    # -dW = second * W - g V: one pass over W, then the samples added row by row onto their
    # two units (cheaper than building g V in a zeroed matrix when samples are few).
    neg_dw = weight * second.neg_().unsqueeze(1)
    if k > 1:
        neg_dw.index_add_(0, i1, samples, alpha=-1.0)
    return neg_dw.index_add_(0, ik, samples, alpha=delta)


def _max_abs(dw: Tensor, *, per_unit: bool) -> Tensor:
    """max |dw| per row of (H, D) ``dw`` (H, 1), or over all of it (0-d); one pass."""
    low, high = torch.aminmax(dw, dim=1, keepdim=True) if per_unit else torch.aminmax(dw)
    return torch.maximum(high, -low)


def normalise(dw: Tensor, *, per_unit: bool) -> Tensor:
    """``dw / (max|dw| + 1e-5)``, the max taken per row of (H, D) ``dw`` or over all of it (in place)."""
    return dw.div_(_max_abs(dw, per_unit=per_unit) + NORM_EPS)


def _apply(weight: Tensor, neg_dw: Tensor, learning_rate: float | Tensor, *, per_unit: bool) -> None:
    """``weight += learning_rate * dw / (max|dw| + 1e-5)`` in one pass, given ``neg_dw = -dw``."""
    factor = learning_rate / (_max_abs(neg_dw, per_unit=per_unit) + NORM_EPS)
    weight.view_as(neg_dw).addcmul_(neg_dw, factor, value=-1.0)


class _EffectiveWeight:
    """``sign(W)|W|^(p-1)`` of a layer's weight, recomputed only when the weight changed.

    Keyed on the weight's version counter (bumped by every in-place change, including
    ``load_state_dict``), storage and dtype. One step then computes it once: after the
    update, for the convergence metric, the next step's currents and forward.
    """

    def __init__(self) -> None:
        self.key: tuple[Any, ...] | None = None
        self.value: Tensor | None = None

    def __call__(self, weight: Tensor, p: float) -> Tensor:
        key = (weight._version, weight.data_ptr(), weight.dtype, weight.device, p)
        if key != self.key or self.value is None:
            self.value, self.key = effective_weight(weight, p), key
        return self.value


def _convergence_from(weight: Tensor, weff: Tensor) -> Tensor:
    """``max_mu |sum_i |W_mu,i|^p - 1|`` using ``|W|^p = W * Weff`` (0-d, no host sync)."""
    norm = (weight * weff).reshape(weight.shape[0], -1).sum(1)
    return (norm - 1).abs().amax()


def _convergence(weight: Tensor, p: float) -> Tensor:
    """``max_mu |sum_i |W_mu,i|^p - 1|`` as a 0-d tensor (no host sync)."""
    w = weight.reshape(weight.shape[0], -1)
    norm = (w * w).sum(1) if p == 2 else w.abs().pow(p).sum(1)
    return (norm - 1).abs().amax()


def _check_rule(name: str, *, units: int, p: float, k: int, delta: float) -> None:
    if not (isinstance(p, (int, float)) and math.isfinite(p) and p >= 1):
        raise ConfigError(f"{name}: `lebesgue_p` must be a number >= 1 (e.g. 2 or 3), got {p!r}.")
    if not (isinstance(k, int) and 1 <= k <= units):
        raise ConfigError(f"{name}: `ranking_param` must be an int in [1, {units}] (the units that "
                          f"compete), got {k!r}. Use k >= 2, e.g. 2.")
    if not (isinstance(delta, (int, float)) and math.isfinite(delta)):
        raise ConfigError(f"{name}: `delta` must be a finite number (e.g. 0.05), got {delta!r}.")


def _batch_norm(bn: nn.modules.batchnorm._BatchNorm, x: Tensor, *, training: bool, reference: bool) -> Tensor:
    """BatchNorm without affine: batch statistics (and a running-stats update) when
    ``training``, else the running statistics.

    Computed here rather than by ``bn(x)``: ``torch.var_mean`` is several times faster
    than the CPU batch-norm kernel for few channels, and the result is the same (to
    rounding). Reference mode also sets ``bn.training`` as upstream leaves it.
    """
    if reference:
        bn.train(training)
    view = (1, -1) + (1,) * (x.dim() - 2)
    if not training:
        return (x - bn.running_mean.view(view)) * torch.rsqrt(bn.running_var.view(view) + bn.eps)
    dims = (0, *range(2, x.dim()))
    var, mean = torch.var_mean(x, dim=dims, correction=0)
    n = x.numel() // x.shape[1]
    with torch.no_grad():
        m = bn.momentum
        bn.running_mean.mul_(1 - m).add_(mean, alpha=m)
        bn.running_var.mul_(1 - m).add_(var, alpha=m * n / max(n - 1, 1))
        bn.num_batches_tracked.add_(1)
    return (x - mean.view(view)) * torch.rsqrt(var.view(view) + bn.eps)


def _check_mode(name: str, mode: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"{name}: `mode` must be one of {', '.join(MODES)}, got {mode!r}.")


class BioLinear(nn.Module):
    r"""A linear layer trained without labels by the Krotov–Hopfield rule.

    Shaped like ``nn.Linear(in_features, out_features, bias)``: :meth:`forward`
    flattens (B, ...) to (B, in_features) and returns (B, out_features), no
    nonlinearity. :meth:`training_step` normalises the batch (BatchNorm, batch
    statistics), applies :func:`krotov_hopfield_delta` and adds ``learning_rate``
    times it to the weight. With ``bias``, a constant-1 input column is
    prepended and ``[bias | W]`` learns as one matrix (as biopytorch does).

    Modes:

    - ``reference`` reproduces ``biopytorch==0.0.1`` ``BioLinear`` exactly:
      the update is divided by its *global* max, :meth:`forward` switches the
      BatchNorm module to eval mode (and leaves it there), and with a bias the
      returned convergence is that of the weights *before* the update (one step late).
    - ``default``: the update is normalised per unit or globally (``norm``,
      per-unit by default, like BioConv2d), forward reads the running
      statistics without changing the module's mode, and convergence is that of
      the updated ``[bias | W]``.

    Reference: D. Krotov, J. J. Hopfield, "Unsupervised learning by competing
    hidden units", PNAS 116(16) 7723 (2019).

    Example::

        layer = BioLinear(784, 300, lebesgue_p=3, ranking_param=2, delta=0.05)
        for x in batches:                        # (B, 1, 28, 28), B >= 2
            conv = layer.training_step(x, learning_rate=0.01)
        features = torch.relu(layer(x))          # (B, 300)

    State:
        weight: (out_features, in_features), N(0, 1) at init, no gradient.
        bias: (out_features,) or ``None``.
        batch_norm.running_mean, .running_var: (in_features,); .num_batches_tracked.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = False, *, delta: float = 0.05,
                 ranking_param: int = 2, lebesgue_p: float = 3, mode: str = "default",
                 norm: str = "per-unit", device: Any = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        _check_mode("BioLinear", mode)
        _check_rule("BioLinear", units=out_features, p=lebesgue_p, k=ranking_param, delta=delta)
        if norm not in NORMS:
            raise ConfigError(f"BioLinear: `norm` must be one of {', '.join(NORMS)}, got {norm!r}.")
        self.in_features, self.out_features = in_features, out_features
        self.delta, self.ranking_param, self.lebesgue_p = float(delta), int(ranking_param), lebesgue_p
        self.mode = mode
        self.per_unit = mode == "default" and norm == "per-unit"
        kw = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.randn(out_features, in_features, **kw), requires_grad=False)
        self.bias = nn.Parameter(torch.randn(out_features, **kw), requires_grad=False) if bias else None
        self.batch_norm = nn.BatchNorm1d(in_features, affine=False, **kw)
        self._weff = _EffectiveWeight()

    def _normalise(self, x: Tensor, *, training: bool) -> Tensor:
        return _batch_norm(self.batch_norm, x, training=training, reference=self.mode == "reference")

    def forward(self, x: Tensor) -> Tensor:
        """(B, ...) -> (B, out_features): BN with running stats, then ``x Weff^T (+ bias)``."""
        x = self._normalise(x.reshape(x.shape[0], -1), training=False)
        return F.linear(x, self._weff(self.weight, self.lebesgue_p), self.bias)

    @torch.no_grad()
    def training_step(self, x: Tensor, learning_rate: float | Tensor = 0.1) -> Tensor:
        """One update on batch ``x`` (B >= 2, ...); returns the convergence as a 0-d tensor.

        Convergence is ``max_mu |sum_i |W_mu,i|^p - 1|`` (0 when every unit has
        unit p-norm; upstream calls <= 1e-2 converged). It stays on the device:
        ``float()`` it when needed, not every step.
        """
        x = self._normalise(x.reshape(x.shape[0], -1), training=True)
        kw = {"p": self.lebesgue_p, "k": self.ranking_param, "delta": self.delta, "per_unit": self.per_unit}
        if self.bias is None:
            dw = _raw_delta(self.weight, self._weff(self.weight, self.lebesgue_p), x, k=self.ranking_param,
                            delta=self.delta)
            _apply(self.weight, dw, learning_rate, per_unit=self.per_unit)
            return _convergence_from(self.weight, self._weff(self.weight, self.lebesgue_p))
        ones = torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)
        both = torch.cat([self.bias.unsqueeze(1), self.weight], dim=1)
        dw = krotov_hopfield_delta(both, torch.cat([ones, x], dim=1), **kw) * learning_rate
        self.bias.add_(dw[:, 0])
        self.weight.add_(dw[:, 1:])
        if self.mode == "reference":
            return _convergence(both, self.lebesgue_p)  # upstream measures the pre-update copy
        return _convergence(torch.cat([self.bias.unsqueeze(1), self.weight], dim=1), self.lebesgue_p)

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.out_features}, bias={self.bias is not None}, "
                f"lebesgue_p={self.lebesgue_p}, ranking_param={self.ranking_param}, delta={self.delta}, "
                f"mode={self.mode!r}")


def _pair(v: int | tuple[int, ...], name: str) -> tuple[int, int]:
    t = (v, v) if isinstance(v, int) else tuple(v)
    if len(t) == 1:
        t = (t[0], t[0])
    if len(t) != 2 or not all(isinstance(i, int) and i >= 0 for i in t):
        raise ConfigError(f"BioConv2d: `{name}` must be an int or a pair of ints >= 0, got {v!r}.")
    return (int(t[0]), int(t[1]))


class BioConv2d(nn.Module):
    r"""A 2-D convolution trained without labels by the Krotov–Hopfield rule.

    Shaped like ``nn.Conv2d`` (bias-free, as biopytorch): input (B, C_in, H, W),
    output (B, C_out, H_out, W_out). Every patch of every image is a sample; the
    ``C_out`` kernels compete per patch. :meth:`training_step` computes the rule
    on all B·H_out·W_out patches at once with batched matrix products over
    ``F.unfold`` patches (and groups), with no Python loop over patches or channels.

    Modes (see :class:`BioLinear`): ``reference`` reproduces biopytorch's
    ``BioConv2d`` (update normalised per output channel, forward switches the
    BatchNorm module to eval); ``default`` normalises per channel or globally
    (``norm``) and leaves the module's mode alone.

    Args:
        padding: an int, a pair, ``"valid"`` or ``"same"`` (stride 1 only; an odd
            total is padded one more on the right/bottom, as upstream).
        padding_mode: ``zeros``, ``reflect``, ``replicate`` or ``circular``.

    Example::

        conv = BioConv2d(3, 96, 5, lebesgue_p=2, ranking_param=9, delta=0.08)
        conv.training_step(images, learning_rate=0.007)   # images (B, 3, 32, 32)
        out = F.max_pool2d(torch.relu(conv(images)), 2)   # (B, 96, 14, 14)

    State:
        weight: (C_out, C_in / groups, kh, kw), N(0, 1) at init, no gradient.
        batch_norm.running_mean, .running_var: (C_in,); .num_batches_tracked.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], *,
                 lebesgue_p: float = 3, ranking_param: int = 2, delta: float = 0.05,
                 stride: int | tuple[int, int] = 1, padding: str | int | tuple[int, int] = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = False,
                 padding_mode: str = "zeros", mode: str = "default", norm: str = "per-unit",
                 device: Any = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        _check_mode("BioConv2d", mode)
        if bias:
            raise ConfigError("BioConv2d: `bias` is not supported (as in biopytorch); its BatchNorm "
                              "already centres the input. Use bias=False.")
        if groups < 1 or in_channels % groups or out_channels % groups or out_channels // groups < 2:
            raise ConfigError(
                f"BioConv2d: `groups`={groups} must divide in_channels={in_channels} and "
                f"out_channels={out_channels}, with at least 2 kernels per group to compete.")
        _check_rule("BioConv2d", units=out_channels // groups, p=lebesgue_p, k=ranking_param, delta=delta)
        if norm not in NORMS:
            raise ConfigError(f"BioConv2d: `norm` must be one of {', '.join(NORMS)}, got {norm!r}.")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ConfigError(f"BioConv2d: `padding_mode` must be zeros, reflect, replicate or "
                              f"circular, got {padding_mode!r}.")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.dilation = _pair(dilation, "dilation")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.dilation) < 1:
            raise ConfigError("BioConv2d: `kernel_size`, `stride` and `dilation` must be >= 1.")
        self.padding = padding
        self.padding_mode = padding_mode
        self._pad4 = self._resolve_padding(padding)  # (left, right, top, bottom)
        self.delta, self.ranking_param, self.lebesgue_p = float(delta), int(ranking_param), lebesgue_p
        self.mode = mode
        self.per_unit = mode == "reference" or norm == "per-unit"
        kw = {"device": device, "dtype": dtype}
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = nn.Parameter(torch.randn(shape, **kw), requires_grad=False)
        self.batch_norm = nn.BatchNorm2d(in_channels, affine=False, **kw)
        self._weff = _EffectiveWeight()

    def _resolve_padding(self, padding: str | int | tuple[int, int]) -> tuple[int, int, int, int]:
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if self.stride != (1, 1):
                raise ConfigError("BioConv2d: padding='same' needs stride 1; give an explicit padding.")
            (kh, kw), (dh, dw) = self.kernel_size, self.dilation
            th, tw = dh * (kh - 1), dw * (kw - 1)
            return (tw // 2, tw - tw // 2, th // 2, th - th // 2)
        if isinstance(padding, str):
            raise ConfigError(f"BioConv2d: `padding` must be an int, a pair, 'valid' or 'same', "
                              f"got {padding!r}.")
        ph, pw = _pair(padding, "padding")
        return (pw, pw, ph, ph)

    def _pad(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """``x`` padded by hand where conv2d/unfold cannot, and the padding left for them."""
        left, right, top, bottom = self._pad4
        if self.padding_mode == "zeros" and left == right and top == bottom:
            return x, (top, left)
        mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
        return F.pad(x, self._pad4, mode=mode), (0, 0)

    def _normalise(self, x: Tensor, *, training: bool) -> Tensor:
        return _batch_norm(self.batch_norm, x, training=training, reference=self.mode == "reference")

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) -> (B, C_out, H_out, W_out): BN with running stats, then conv2d with Weff."""
        x, pad = self._pad(self._normalise(x, training=False))
        return F.conv2d(x, self._weff(self.weight, self.lebesgue_p), stride=self.stride,
                        padding=pad, dilation=self.dilation, groups=self.groups)

    def patches(self, x: Tensor) -> Tensor:
        """Every patch of ``x`` (B, C_in, H, W) as a row: (B * H_out * W_out, C_in * kh * kw).

        Rows are ordered (image, row, column); columns (channel, kh, kw), like
        ``weight.view(C_out, -1)``. One copy of the (padded) input.
        """
        left, right, top, bottom = self._pad4
        if left or right or top or bottom:
            mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
            x = F.pad(x, self._pad4, mode=mode)
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        # (B, C, H_out, W_out, span_h, span_w), then keep every dilation-th tap.
        win = x.unfold(2, dh * (kh - 1) + 1, sh).unfold(3, dw * (kw - 1) + 1, sw)[..., ::dh, ::dw]
        b, c, ho, wo = win.shape[:4]
        return win.permute(0, 2, 3, 1, 4, 5).reshape(b * ho * wo, c * kh * kw)

    def delta_weights(self, x: Tensor) -> Tensor:
        """Normalised update (C_out, C_in/groups, kh, kw) for an already normalised batch ``x``."""
        dw = self._raw_delta(x).neg_()
        return normalise(dw, per_unit=self.per_unit).view_as(self.weight)

    def _raw_delta(self, x: Tensor) -> Tensor:
        """The update (C_out, C_in/groups * kh * kw) before normalisation, *negated*."""
        h, g = self.out_channels, self.groups
        rows = self.patches(x)  # (S, D)
        if g == 1:
            w = self.weight.view(h, -1)
            return _raw_delta(w, self._weff(self.weight, self.lebesgue_p).view(h, -1), rows,
                              k=self.ranking_param, delta=self.delta)
        # Groups: the columns of group j are a contiguous block (channel-major); its H/G
        # kernels compete among themselves, so their unit indices are offset by j * H/G.
        s = rows.shape[0]
        grouped = rows.view(s, g, -1).transpose(0, 1)  # (G, S, D/G)
        w = self.weight.view(g, h // g, -1)
        currents = torch.matmul(grouped, effective_weight(w, self.lebesgue_p).transpose(1, 2))  # (G, S, H/G)
        offset = torch.arange(g, device=x.device).repeat_interleave(s) * (h // g)
        neg_hebb, neg_second = _neg_rule_terms(currents.reshape(g * s, -1), grouped.reshape(g * s, -1),
                                               k=self.ranking_param, delta=self.delta, n_units=h,
                                               offset=offset, overwrite=True)
        return neg_hebb.addcmul_(neg_second.unsqueeze(1), self.weight.view(h, -1), value=-1.0)

    @torch.no_grad()
    def training_step(self, x: Tensor, learning_rate: float | Tensor = 0.1) -> Tensor:
        """One update on batch ``x`` (B, C_in, H, W); returns the convergence as a 0-d tensor."""
        x = self._normalise(x, training=True)
        _apply(self.weight, self._raw_delta(x), learning_rate, per_unit=self.per_unit)
        return _convergence_from(self.weight, self._weff(self.weight, self.lebesgue_p))

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, "
                f"padding={self.padding!r}, dilation={self.dilation}, groups={self.groups}, "
                f"lebesgue_p={self.lebesgue_p}, ranking_param={self.ranking_param}, delta={self.delta}, "
                f"mode={self.mode!r}")


# ------------------------------------------------------------------------------ the learner
@dataclass(frozen=True, kw_only=True)
class HebbianParams:
    """Hyperparameters of :class:`HebbianLearner`.

    Defaults: seed 004's benchmark (BioPyTorch README, ALGORITHMS.md §5.5) at its
    best depth, one BioConv2d 96x5x5 with p=2, k=9, delta=0.08, dropout 0.2, the
    conv learning-rate schedule (0.007 -> 1e-4, speed 0.8) and the classifier's
    SGD (lr 0.05, momentum 0.9, batch 64).
    """

    arch: str = param("conv", choices=("conv", "linear"),
                      help="conv: seed 004's stack (BioConv2d 96x5x5+pool, 128x3x3, 192x3x3+pool, 256x3x3, "
                           "then BioLinear); linear: BioLinear layers of `linear_units` each.")
    hebbian_layers: int = param(1, low=0, high=5,
                                help="Hebbian layers before the classifier (0: a linear classifier on the "
                                     "raw input, the control).")
    padding: str = param("auto", choices=("auto", "valid", "same"),
                         help="Conv padding: valid (as the seed), same, or auto (valid when the image is "
                              "large enough for the stack, else same).")
    linear_units: int = param(300, low=2, help="Units of each BioLinear layer.")
    p: int = param(2, low=2, high=16, help="Lebesgue exponent p of every Hebbian layer (shared).")
    k: int = param(9, low=2, high=64,
                   help="Ranking parameter: the k-th most active unit is pushed away (anti-Hebbian); "
                        "at most the units of the smallest layer.")
    delta: float = param(0.08, low=0.0, high=1.0, help="Anti-Hebbian strength Delta.")
    linear_own_pkd: bool = param(False, help="BioLinear layers use linear_p / linear_k / linear_delta "
                                             "instead of the shared p / k / delta.")
    linear_p: int = param(3, low=2, high=16, help="p of the BioLinear layers (with linear_own_pkd).")
    linear_k: int = param(2, low=2, high=64, help="k of the BioLinear layers (with linear_own_pkd).")
    linear_delta: float = param(0.05, low=0.0, high=1.0, help="Delta of the BioLinear layers (with "
                                                               "linear_own_pkd).")
    hebb_lr_schedule: str = param("exp", choices=("exp", "constant"),
                                  help="Hebbian learning rate: exp is end - (end - start) * exp(-speed * "
                                       "epochs_done), constant is start.")
    hebb_lr: float = param(0.007, low=0.0, low_open=True, help="Start Hebbian learning rate of conv layers.")
    hebb_lr_end: float = param(1e-4, low=0.0, help="End Hebbian learning rate of conv layers (exp).")
    hebb_lr_speed: float = param(0.8, low=0.0, low_open=True, unit="1/epoch",
                                 help="Decay speed of the conv layers' exp schedule.")
    linear_lr: float = param(0.1, low=0.0, low_open=True,
                             help="Start Hebbian learning rate of BioLinear layers.")
    linear_lr_end: float = param(0.005, low=0.0, help="End Hebbian learning rate of BioLinear layers (exp).")
    linear_lr_speed: float = param(0.1, low=0.0, low_open=True, unit="1/epoch",
                                   help="Decay speed of the BioLinear layers' exp schedule.")
    hebb_epochs: int = param(1, low=1, help="Most unsupervised passes per layer and task.")
    hebb_tol: float = param(0.01, low=0.0,
                            help="A layer stops early once its convergence max|sum|W|^p - 1| at the end of "
                                 "an epoch is at most this (0: never).")
    hebb_order: str = param("sequential", choices=("sequential", "together"),
                            help="sequential: train layer n on the outputs of trained layers 1..n-1; "
                                 "together: every layer steps on each batch.")
    freeze_hebbian: bool = param(True, help="Train the Hebbian layers on the first task only (true) or on "
                                            "every task (false).")
    norm: str = param("per-unit", choices=NORMS,
                      help="Default mode: divide each update by its unit's max (per-unit) or the "
                           "layer's max (global).")
    mode: str = param("default", choices=MODES,
                      help="reference: layers bit-compatible with biopytorch (global norm for BioLinear, "
                           "per-channel for BioConv2d); default: `norm` for both.")
    dropout: float = param(0.2, low=0.0, high=1.0, high_open=True, help="Dropout before the classifier head.")
    lr: float = param(0.05, low=0.0, high=10.0, low_open=True,
                      help="SGD learning rate of the classifier head.")
    momentum: float = param(0.9, low=0.0, high=1.0, high_open=True, help="SGD momentum of the head.")
    epochs: int = param(3, low=1, help="Passes of supervised head training per task.")
    batch_size: int = param(64, low=2, help="Mini-batch size of both phases.")
    multi_head: bool = param(False, help="One head per task (task-il only) instead of one shared head.")

    def __post_init__(self) -> None:
        validate(self)


class _Head(nn.Module):
    """BatchNorm (no affine) -> Flatten -> Dropout -> Linear, shared or one per task.

    With one head per task each head has its own BatchNorm too: a shared one would
    keep the statistics of the last task's features and shift the earlier heads'
    inputs. Masks logits to the task's classes when a task id is given, as
    :class:`~synaptune.learners.networks.Classifier` does.

    State:
        norms.*: BatchNorm running statistics, one per head.
        task_classes: bool (n_tasks, n_classes); row t marks the classes of task t.
    """

    def __init__(self, feature_shape: tuple[int, ...], *, n_classes: int, n_tasks: int, dropout: float,
                 multi_head: bool) -> None:
        super().__init__()
        # Images keep one statistic per channel (as upstream); flat features one per feature.
        self.per_channel = len(feature_shape) == 3
        width = math.prod(feature_shape)
        n_heads = n_tasks if multi_head else 1

        def norm() -> nn.Module:
            if self.per_channel:
                return nn.BatchNorm2d(feature_shape[0], affine=False)
            return nn.BatchNorm1d(width, affine=False)

        self.norms = nn.ModuleList(norm() for _ in range(n_heads))
        self.dropout = nn.Dropout(dropout)
        self.multi_head = multi_head
        self.heads = nn.ModuleList(nn.Linear(width, n_classes) for _ in range(n_heads))
        self.register_buffer("task_classes", torch.zeros(n_tasks, n_classes, dtype=torch.bool))

    def forward(self, f: Tensor, task_id: int | None) -> Tensor:
        if self.multi_head and task_id is None:
            raise ValueError("a multi-head classifier needs the task id (task-il scenario)")
        h = task_id if self.multi_head else 0
        f = self.norms[h](f).flatten(1) if self.per_channel else self.norms[h](f.flatten(1))
        out = self.heads[h](self.dropout(f))
        if task_id is None:
            return out
        return restrict_to_task(out, self.task_classes, task_id)


class HebbianLearner(GradientLearner):
    r"""Krotov–Hopfield Hebbian layers learned without labels, then a supervised linear head.

    For each task: (1) unless frozen (``freeze_hebbian`` after the first task),
    the Hebbian layers learn from the task's inputs alone, with the rule of
    :func:`krotov_hopfield_delta` and learning rate :math:`\eta`
    (``hebb_lr_schedule=exp``: :math:`\eta = \eta_{end} - (\eta_{end} -
    \eta_{start}) e^{-s\, e}`, :math:`e` = epochs this layer has trained, so
    plastic layers keep decaying across tasks); (2) the classifier head
    (BatchNorm, dropout, linear) is trained with cross-entropy and SGD on the
    frozen features. Each Hebbian layer is followed by a ReLU (and a 2x2
    max-pool where seed 004's architecture has one, see :data:`CONV_STACK`).
    In task-il the logits are restricted to the task's classes (or its own head).

    Reference: Krotov & Hopfield, PNAS 116(16) 7723 (2019); architecture and
    search space from BioPyTorch (github.com/Einlar/biopytorch), after
    Amato et al., "Hebbian Learning Meets Deep Convolutional Neural Networks" (2019).

    Example (``stream`` is any :class:`~synaptune.benchmarks.base.Stream`)::

        learner = HebbianLearner(HebbianParams(p=2, k=9, delta=0.08), input_shape=stream.input_shape,
                                 n_classes=stream.n_classes, n_tasks=stream.n_tasks)
        for task in stream.tasks:
            learner.fit_task(task)

    State:
        hebbian.*: the BioConv2d / BioLinear layers (weights, BatchNorm buffers).
        head.*: the classifier and its ``task_classes``.
        hebb_epochs_done: float64 (n_layers,), epochs each layer has trained (drives the schedule).
        tasks_done: int64, tasks trained so far (freezing after the first).
        rng_state: the shuffling generator's state (:class:`~synaptune.learners.base.Learner`).
    """

    params_cls = HebbianParams

    def __init__(self, params: Any, **kwargs: Any) -> None:
        """Arguments as :class:`~synaptune.learners.base.Learner`."""
        super().__init__(params, **kwargs)
        check_multi_head(params, self.scenario)
        layers, pools, shape = self._build_stack(params, self.input_shape)
        self.hebbian = nn.ModuleList(layers)
        self.pools = tuple(pools)
        self.head = _Head(shape, n_classes=self.n_classes, n_tasks=self.n_tasks, dropout=params.dropout,
                          multi_head=params.multi_head)
        self.register_buffer("hebb_epochs_done", torch.zeros(len(layers), dtype=torch.float64))
        self.register_buffer("tasks_done", torch.zeros((), dtype=torch.int64))
        self.to(self.device)

    # ------------------------------------------------------------------ architecture
    @staticmethod
    def _build_stack(p: HebbianParams, input_shape: tuple[int, ...]
                     ) -> tuple[list[nn.Module], list[bool], tuple[int, ...]]:
        """The Hebbian layers, whether each is followed by a max-pool, and the feature shape."""
        n = p.hebbian_layers
        own = p.linear_own_pkd
        lin_rule = dict(lebesgue_p=p.linear_p if own else p.p, ranking_param=p.linear_k if own else p.k,
                        delta=p.linear_delta if own else p.delta)
        conv_rule = dict(lebesgue_p=p.p, ranking_param=p.k, delta=p.delta)
        common = dict(mode=p.mode, norm=p.norm)
        n_conv = min(n, len(CONV_STACK)) if p.arch == "conv" else 0
        n_lin = n - n_conv
        for units, what in ([(c, "conv") for c, _, _ in CONV_STACK[:n_conv]]
                            + [(p.linear_units, "linear")] * n_lin):
            k = conv_rule["ranking_param"] if what == "conv" else lin_rule["ranking_param"]
            if k > units:
                raise ConfigError(f"`k` (or `linear_k`) must be at most the {units} units of each {what} "
                                  f"layer, got {k}. Lower k or widen the layer.")
        layers: list[nn.Module] = []
        pools: list[bool] = []
        shape = tuple(input_shape)
        if n_conv:
            if len(shape) != 3:
                raise ConfigError(f"`arch`=conv needs image inputs shaped (C, H, W), got input_shape "
                                  f"{shape}. Use arch=linear for this stream.")
            padding = p.padding
            if padding == "auto":
                padding = "valid" if HebbianLearner._fits(shape, n_conv, "valid") else "same"
            if not HebbianLearner._fits(shape, n_conv, padding):
                raise ConfigError(
                    f"input_shape {shape} is too small for {n_conv} conv layer(s) with padding={padding} "
                    "(kernels 5,3,3,3 and two 2x2 max-pools). Use padding=same or auto, fewer "
                    "`hebbian_layers`, or arch=linear.")
            c, h, w = shape
            for out, ks, pool in CONV_STACK[:n_conv]:
                layers.append(BioConv2d(c, out, ks, padding=padding, **conv_rule, **common))
                pools.append(pool)
                c = out
                if padding == "valid":
                    h, w = h - ks + 1, w - ks + 1
                if pool:
                    h, w = h // 2, w // 2
            shape = (c, h, w)
        width = math.prod(shape)
        for _ in range(n_lin):
            layers.append(BioLinear(width, p.linear_units, **lin_rule, **common))
            pools.append(False)
            width = p.linear_units
            shape = (width,)
        return layers, pools, shape

    @staticmethod
    def _fits(shape: tuple[int, ...], n_conv: int, padding: str) -> bool:
        _, h, w = shape
        for _, ks, pool in CONV_STACK[:n_conv]:
            if padding == "valid":
                h, w = h - ks + 1, w - ks + 1
            if pool:
                h, w = h // 2, w // 2
            if min(h, w) < 1:
                return False
        return True

    def _block(self, i: int, h: Tensor) -> Tensor:
        """Output of Hebbian layer ``i`` (ReLU, pool) for its input ``h``."""
        h = torch.relu(self.hebbian[i](h))
        return F.max_pool2d(h, 2) if self.pools[i] else h

    def features(self, x: Tensor, upto: int | None = None) -> Tensor:
        """Outputs of the first ``upto`` Hebbian blocks (all by default), no gradient."""
        with torch.no_grad():
            for i in range(len(self.hebbian) if upto is None else upto):
                x = self._block(i, x)
        return x

    # ---------------------------------------------------------------------- training
    def _lr(self, i: int, epochs_done: float) -> float:
        p = self.params
        if isinstance(self.hebbian[i], BioConv2d):
            start, end, speed = p.hebb_lr, p.hebb_lr_end, p.hebb_lr_speed
        else:
            start, end, speed = p.linear_lr, p.linear_lr_end, p.linear_lr_speed
        if p.hebb_lr_schedule == "constant":
            return start
        return end - (end - start) * math.exp(-speed * epochs_done)

    @torch.no_grad()
    def _hebbian_phase(self, task: Task, split: Split) -> dict[str, float]:
        n = len(self.hebbian)
        if n == 0:
            return {}
        p = self.params
        per_epoch = max(1, math.ceil(task.size(split) / p.batch_size))
        done = self.hebb_epochs_done.tolist()
        last = torch.zeros(n, device=self.device)

        def batches() -> Any:
            for x, _ in task.batches(split, p.batch_size, shuffle=True, generator=self.generator):
                if x.shape[0] >= 2:  # batch statistics need two samples
                    yield x.to(self.device)

        if p.hebb_order == "together":
            for _ in range(p.hebb_epochs):
                for x in batches():
                    for i in range(n):
                        last[i] = self.hebbian[i].training_step(x, self._lr(i, done[i]))
                        done[i] += 1 / per_epoch
                        if i + 1 < n:
                            x = self._block(i, x)
                if p.hebb_tol > 0 and float(last.max()) <= p.hebb_tol:
                    break
        else:
            for i in range(n):
                for _ in range(p.hebb_epochs):
                    for x in batches():
                        for j in range(i):
                            x = self._block(j, x)
                        last[i] = self.hebbian[i].training_step(x, self._lr(i, done[i]))
                        done[i] += 1 / per_epoch
                    if p.hebb_tol > 0 and float(last[i]) <= p.hebb_tol:
                        break
        self.hebb_epochs_done.copy_(torch.tensor(done, dtype=torch.float64))
        return {"train/hebbian_convergence": float(last.max())}

    # ---------------------------------------------- the head, trained by GradientLearner
    def remember(self, task: Task, seen: tuple[Task, ...]) -> None:
        self.head.task_classes[task.id, list(task.classes)] = True

    def on_task_start(self, task: Task, split: Split) -> dict[str, float]:
        if self.params.freeze_hebbian and int(self.tasks_done) > 0:
            return {}
        return self._hebbian_phase(task, split)

    def epoch_batches(self, task: Task, split: Split, seen: tuple[Task, ...]) -> Callable[[], Iterator[Batch]]:
        tid = self.train_task_id(task.id)

        def batches() -> Iterator[Batch]:
            for x, y in task.batches(split, self.params.batch_size, shuffle=True, generator=self.generator):
                if x.shape[0] >= 2:  # the head's BatchNorm needs two samples in training mode
                    yield x, y, tid

        return batches

    def make_optimizer(self) -> torch.optim.Optimizer:
        params = [w for w in self.head.parameters() if w.requires_grad]
        return torch.optim.SGD(params, lr=self.params.lr, momentum=self.params.momentum)

    def logits(self, x: Tensor, task_id: int | Tensor | None) -> Tensor:
        return self.head(self.features(x), task_id)

    def on_task_end(self, task: Task, split: Split) -> dict[str, float]:
        self.tasks_done += 1
        return {}

    def prototype_images(self) -> Tensor | None:
        """The first Hebbian layer's filters as images, each min-max scaled to [0, 1].

        BioConv2d: its kernels (C_out, C_in, kh, kw); BioLinear: its rows reshaped to
        the input image (units, C, H, W). ``None`` without Hebbian layers, or for a
        BioLinear on non-image inputs.
        """
        if len(self.hebbian) == 0:
            return None
        w = self.hebbian[0].weight.detach().float().cpu()
        if isinstance(self.hebbian[0], BioLinear):
            if len(self.input_shape) != 3:
                return None
            w = w.view(-1, *self.input_shape)
        flat = w.flatten(1)
        low, high = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
        return ((flat - low) / (high - low).clamp_min(1e-12)).view_as(w)


# SPDX-License-Identifier: MIT
"""Krotov–Hopfield Hebbian layers: :class:`BioLinear` and :class:`BioConv2d`.

Shaped like ``nn.Linear`` and ``nn.Conv2d``, they learn without labels through
:meth:`~BioLinear.training_step` (the rule of
:mod:`synaptune.learners.functional.krotov_hopfield`, as in the biopytorch
package). The ``hebbian`` learner stacks them (docs/learners.md#hebbian); golden
fixtures ``tests/fixtures/reference/bio_*.npz``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synaptune.exceptions import ConfigError
from synaptune.learners.functional.krotov_hopfield import (
    EffectiveWeightCache,
    apply_delta_,
    convergence,
    convergence_from,
    effective_weight,
    krotov_hopfield_delta,
    neg_rule_terms,
    normalise,
    raw_delta,
)
from synaptune.learners.hparams import MODES, NORMS

__all__ = ["BioConv2d", "BioLinear"]




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
        self._weff = EffectiveWeightCache()

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
            dw = raw_delta(self.weight, self._weff(self.weight, self.lebesgue_p), x, k=self.ranking_param,
                            delta=self.delta)
            apply_delta_(self.weight, dw, learning_rate, per_unit=self.per_unit)
            return convergence_from(self.weight, self._weff(self.weight, self.lebesgue_p))
        ones = torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)
        both = torch.cat([self.bias.unsqueeze(1), self.weight], dim=1)
        dw = krotov_hopfield_delta(both, torch.cat([ones, x], dim=1), **kw) * learning_rate
        self.bias.add_(dw[:, 0])
        self.weight.add_(dw[:, 1:])
        if self.mode == "reference":
            return convergence(both, self.lebesgue_p)  # upstream measures the pre-update copy
        return convergence(torch.cat([self.bias.unsqueeze(1), self.weight], dim=1), self.lebesgue_p)

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
        self._weff = EffectiveWeightCache()

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
            return raw_delta(w, self._weff(self.weight, self.lebesgue_p).view(h, -1), rows,
                              k=self.ranking_param, delta=self.delta)
        # Groups: the columns of group j are a contiguous block (channel-major); its H/G
        # kernels compete among themselves, so their unit indices are offset by j * H/G.
        s = rows.shape[0]
        grouped = rows.view(s, g, -1).transpose(0, 1)  # (G, S, D/G)
        w = self.weight.view(g, h // g, -1)
        currents = torch.matmul(grouped, effective_weight(w, self.lebesgue_p).transpose(1, 2))  # (G, S, H/G)
        offset = torch.arange(g, device=x.device).repeat_interleave(s) * (h // g)
        neg_hebb, neg_second = neg_rule_terms(currents.reshape(g * s, -1), grouped.reshape(g * s, -1),
                                               k=self.ranking_param, delta=self.delta, n_units=h,
                                               offset=offset, overwrite=True)
        return neg_hebb.addcmul_(neg_second.unsqueeze(1), self.weight.view(h, -1), value=-1.0)

    @torch.no_grad()
    def training_step(self, x: Tensor, learning_rate: float | Tensor = 0.1) -> Tensor:
        """One update on batch ``x`` (B, C_in, H, W); returns the convergence as a 0-d tensor."""
        x = self._normalise(x, training=True)
        apply_delta_(self.weight, self._raw_delta(x), learning_rate, per_unit=self.per_unit)
        return convergence_from(self.weight, self._weff(self.weight, self.lebesgue_p))

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, "
                f"padding={self.padding!r}, dilation={self.dilation}, groups={self.groups}, "
                f"lebesgue_p={self.lebesgue_p}, ranking_param={self.ranking_param}, delta={self.delta}, "
                f"mode={self.mode!r}")

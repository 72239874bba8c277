# SPDX-License-Identifier: MIT
"""The Krotov–Hopfield learning rule as pure tensor functions.

Krotov & Hopfield, "Unsupervised learning by competing hidden units", PNAS
116(16) 7723 (2019), in the "fast" minibatch form of the biopytorch package:
the winners of each sample's currents, the rule's two terms, the weight change
and its normalisation, and the convergence measure. Used by
:class:`~synaptune.learners.modules.bio.BioLinear` and
:class:`~synaptune.learners.modules.bio.BioConv2d`; see docs/learners.md#hebbian.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = [
    "EffectiveWeightCache",
    "apply_delta_",
    "convergence",
    "convergence_from",
    "effective_weight",
    "krotov_hopfield_delta",
    "max_abs",
    "neg_rule_terms",
    "normalise",
    "raw_delta",
    "rule_terms",
    "winners",
]


#: Added to max|dW| before dividing, as in biopytorch.
NORM_EPS = 1e-5


#: Up to this k, :func:`winners` takes k successive row maxima (masking each winner) instead
#: of ``topk``: on one CPU thread a pass costs ~1/7 of a topk over 96 units.
_ITERATED_MAX_UP_TO = 6


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
    neg_hebb, neg_second = neg_rule_terms(currents, samples, k=k, delta=delta, n_units=n_units,
                                           offset=offset, overwrite=overwrite)
    return neg_hebb.neg_(), neg_second.neg_()


def neg_rule_terms(currents: Tensor, samples: Tensor, *, k: int, delta: float, n_units: int,
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
    neg_dw = raw_delta(weight, effective_weight(weight, p), samples, k=k, delta=delta)
    return neg_dw.div_(-(max_abs(neg_dw, per_unit=per_unit) + NORM_EPS))


def raw_delta(weight: Tensor, weff: Tensor, samples: Tensor, *, k: int, delta: float) -> Tensor:
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


def max_abs(dw: Tensor, *, per_unit: bool) -> Tensor:
    """max |dw| per row of (H, D) ``dw`` (H, 1), or over all of it (0-d); one pass."""
    low, high = torch.aminmax(dw, dim=1, keepdim=True) if per_unit else torch.aminmax(dw)
    return torch.maximum(high, -low)


def normalise(dw: Tensor, *, per_unit: bool) -> Tensor:
    """``dw / (max|dw| + 1e-5)``, the max taken per row of (H, D) ``dw`` or over all of it (in place)."""
    return dw.div_(max_abs(dw, per_unit=per_unit) + NORM_EPS)


def apply_delta_(weight: Tensor, neg_dw: Tensor, learning_rate: float | Tensor, *, per_unit: bool) -> None:
    """``weight += learning_rate * dw / (max|dw| + 1e-5)`` in one pass, given ``neg_dw = -dw``."""
    factor = learning_rate / (max_abs(neg_dw, per_unit=per_unit) + NORM_EPS)
    weight.view_as(neg_dw).addcmul_(neg_dw, factor, value=-1.0)


class EffectiveWeightCache:
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


def convergence_from(weight: Tensor, weff: Tensor) -> Tensor:
    """``max_mu |sum_i |W_mu,i|^p - 1|`` using ``|W|^p = W * Weff`` (0-d, no host sync)."""
    norm = (weight * weff).reshape(weight.shape[0], -1).sum(1)
    return (norm - 1).abs().amax()


def convergence(weight: Tensor, p: float) -> Tensor:
    """``max_mu |sum_i |W_mu,i|^p - 1|`` as a 0-d tensor (no host sync)."""
    w = weight.reshape(weight.shape[0], -1)
    norm = (w * w).sum(1) if p == 2 else w.abs().pow(p).sum(1)
    return (norm - 1).abs().amax()

# SPDX-License-Identifier: MIT
"""Sparse dynamic synapses: k-winners activations and fixed sparse weights.

The layers (:class:`KWinners`, :class:`KWinners2d`, :class:`SparseWeights`,
:class:`SparseWeights2d`) follow nupic.torch (ALGORITHMS.md §4,
``shared/reference/README.md`` §2-§3); they are re-implemented here from that
description. :class:`SparseMLPLearner` (``sparse-mlp``) and
:class:`SparseCNNLearner` (``sparse-cnn``) put them in the networks of
"The Unreasonable Effectiveness of Sparse Dynamic Synapses for Continual
Learning" (Pervasive-AI-Lab/sparse-dynamic-synapses, seed 003). With
``percent_on = 1`` and ``sparsity = 0`` they are the dense networks, layer for
layer, which is the comparison the original draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from synaptune.exceptions import ConfigError
from synaptune.learners.gradient import GradientLearner
from synaptune.learners.networks import Classifier, FeatureStack, check_multi_head, image_shape
from synaptune.params import param, validate

if TYPE_CHECKING:
    from synaptune.benchmarks.base import Split, Task

__all__ = [
    "KWinners",
    "KWinners2d",
    "SparseCNNLearner",
    "SparseCNNParams",
    "SparseMLPLearner",
    "SparseMLPParams",
    "SparseWeights",
    "SparseWeights2d",
    "rezero_weights",
]


MODES = ("default", "reference")

BAD_SPARSITY = (
    "`sparsity` is the fraction of weights forced to zero and must be in [0, 1), got {value!r}. "
    "Use e.g. 0.9 to keep 10% of each unit's inputs (nupic's old `weight_sparsity` is the kept "
    "fraction: pass sparsity = 1 - weight_sparsity)."
)


def _check_percent_on(percent_on: Any) -> None:
    if not (isinstance(percent_on, (int, float)) and 0.0 < percent_on <= 1.0):
        raise ConfigError(
            f"`percent_on` is the fraction of units kept on and must be in (0, 1], got {percent_on!r}. "
            "Use e.g. 0.1 for 10% active units (1 keeps every unit)."
        )


def _check_boost(k_inference_factor: Any, boost_strength: Any, boost_strength_factor: Any,
                 duty_cycle_period: Any) -> None:
    if not (isinstance(k_inference_factor, (int, float)) and k_inference_factor > 0):
        raise ConfigError(f"`k_inference_factor` must be > 0 (usually >= 1), got {k_inference_factor!r}.")
    if not (isinstance(boost_strength, (int, float)) and boost_strength >= 0):
        raise ConfigError(f"`boost_strength` must be >= 0 (0 turns boosting off), got {boost_strength!r}.")
    if not (isinstance(boost_strength_factor, (int, float)) and 0 <= boost_strength_factor <= 1):
        raise ConfigError(
            f"`boost_strength_factor` must be in [0, 1] (1 keeps the boost constant), got {boost_strength_factor!r}."
        )
    if not (isinstance(duty_cycle_period, int) and duty_cycle_period >= 1):
        raise ConfigError(f"`duty_cycle_period` must be an int >= 1 (in samples), got {duty_cycle_period!r}.")


def _keep_mask(boosted: Tensor, k: int, *, break_ties: bool, relu: bool) -> Tensor:
    """0/1 mask (dtype of ``boosted``) of the units that win, choosing along dim 1.

    Without ``break_ties`` a unit wins iff it is at or above the k-th largest value
    of its row, so ties at that value all win (nupic.torch); with it exactly the
    top k win. ``relu`` also turns off non-positive units (threshold clamped at 0).
    A float mask rather than ``masked_fill``: multiplying is several times faster
    on CPU, and ``x * mask`` passes the gradient of winners only.
    """
    if break_ties:
        idx = boosted.topk(k, dim=1, sorted=False).indices
        keep = torch.zeros_like(boosted).scatter_(1, idx, 1.0)
        return keep * (boosted > 0) if relu else keep
    thr = boosted.topk(k, dim=1, sorted=False).values.amin(dim=1, keepdim=True)  # k-th largest
    if relu:
        thr = thr.clamp(min=0)
    return (boosted >= thr).to(boosted.dtype)


class _KWinnersBase(nn.Module):
    """Boosting, duty cycle and the explicit boost-strength schedule shared by both k-winners."""

    def __init__(self, percent_on: float, *, k_inference_factor: float, boost_strength: float,
                 boost_strength_factor: float, duty_cycle_period: int, break_ties: bool, relu: bool,
                 duty_shape: tuple[int, ...]) -> None:
        super().__init__()
        _check_percent_on(percent_on)
        _check_boost(k_inference_factor, boost_strength, boost_strength_factor, duty_cycle_period)
        self.percent_on = float(percent_on)
        self.k_inference_factor = float(k_inference_factor)
        self.boost_strength_factor = float(boost_strength_factor)
        self.duty_cycle_period = int(duty_cycle_period)
        self.break_ties = bool(break_ties)
        self.relu = bool(relu)
        # Fraction of training samples in which each unit (channel) was a positive winner,
        # a running mean over the last `duty_cycle_period` samples.
        self.register_buffer("duty_cycle", torch.zeros(duty_shape))
        # float64, so repeated decays are computed as nupic does (in Python floats).
        self.register_buffer("boost_strength", torch.tensor(float(boost_strength), dtype=torch.float64))
        self.register_buffer("learning_iterations", torch.zeros((), dtype=torch.int64))
        self._boost = float(boost_strength)  # host copy: deciding to boost needs no device sync

    def update_boost_strength(self) -> None:
        """Multiply the boost strength by ``boost_strength_factor`` (call once per epoch)."""
        self._boost *= self.boost_strength_factor
        self.boost_strength.fill_(self._boost)

    def _boosted(self, x: Tensor) -> Tensor:
        """Scores used to choose winners (never transmitted): ``x * exp(-beta * duty_cycle)``."""
        x = x.detach()
        if self._boost > 0:
            return x * torch.exp(-self._boost * self.duty_cycle)
        return x

    @torch.no_grad()
    def _update_duty_cycle(self, y: Tensor, count: Tensor) -> None:
        batch = y.shape[0]
        self.learning_iterations += batch
        # The period ramps up over the first `duty_cycle_period` samples.
        period = self.learning_iterations.clamp(max=self.duty_cycle_period).to(self.duty_cycle.dtype)
        self.duty_cycle.mul_(period - batch)
        self.duty_cycle.view(-1).add_(count)
        self.duty_cycle.div_(period)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._boost = float(self.boost_strength)


class KWinners(_KWinnersBase):
    r"""k-winners-take-all over the units of a (B, n) input.

    In training mode the ``k = round(n * percent_on)`` units with the highest
    boosted score win; in eval mode ``k_inference = int(k * k_inference_factor)``
    (truncated, at most n). Winners transmit their raw input, losers 0, and the
    gradient flows through winners only:

    .. math::

        s_j = x_j \, e^{-\beta d_j}, \qquad y_j = x_j \,[s_j \ge s_{(k)}]

    where :math:`s_{(k)}` is the k-th largest score of the row and :math:`d_j` the
    duty cycle, updated after each training forward with ``B`` samples as
    :math:`d \leftarrow (d\,(P - B) + \sum_b [y_{bj} > 0]) / P`,
    :math:`P = \min(\text{duty\_cycle\_period}, \text{samples seen})`.
    :math:`\beta` changes only through :meth:`update_boost_strength`.

    Reference: Ahmad & Scheinkman, "How Can We Be So Dense?" (2019); nupic.torch.

    Args:
        n: units per sample.
        percent_on: fraction of units on in training, in (0, 1]; k is at least 1.
        k_inference_factor: eval-mode k is ``int(k * k_inference_factor)``.
        boost_strength: :math:`\beta` >= 0; 0 turns boosting off.
        boost_strength_factor: :meth:`update_boost_strength` multiplies :math:`\beta` by it.
        duty_cycle_period: samples over which the duty cycle averages.
        break_ties: exactly k winners per row (otherwise ties at the k-th value all win).
        relu: non-positive units never win.

    Example::

        kw = KWinners(2048, percent_on=0.1)
        y = kw(torch.randn(256, 2048))          # (256, 2048), >= 205 non-zeros per row
        kw.update_boost_strength()               # once per epoch

    State:
        duty_cycle: float32 (n,), mean rate of positive wins per unit.
        boost_strength: float64 (), current :math:`\beta`.
        learning_iterations: int64 (), training samples seen.
    """

    def __init__(self, n: int, percent_on: float, *, k_inference_factor: float = 1.5,
                 boost_strength: float = 1.0, boost_strength_factor: float = 0.9,
                 duty_cycle_period: int = 1000, break_ties: bool = False, relu: bool = False) -> None:
        if not (isinstance(n, int) and n >= 1):
            raise ConfigError(f"KWinners: `n` (units) must be an int >= 1, got {n!r}.")
        super().__init__(percent_on, k_inference_factor=k_inference_factor, boost_strength=boost_strength,
                         boost_strength_factor=boost_strength_factor, duty_cycle_period=duty_cycle_period,
                         break_ties=break_ties, relu=relu, duty_shape=(n,))
        self.n = n
        self.k = max(1, int(round(n * self.percent_on)))
        self.k_inference = min(n, max(1, int(self.k * self.k_inference_factor)))

    def forward(self, x: Tensor) -> Tensor:
        """``x`` (B, n) -> (B, n), the winners' values and zeros."""
        k = self.k if self.training else self.k_inference
        y = x * _keep_mask(self._boosted(x), k, break_ties=self.break_ties, relu=self.relu)
        if self.training:
            self._update_duty_cycle(y, (y > 0).sum(dim=0, dtype=self.duty_cycle.dtype))
        return y

    def extra_repr(self) -> str:
        return (f"n={self.n}, percent_on={self.percent_on}, k={self.k}, k_inference={self.k_inference}, "
                f"boost_strength={self._boost}, boost_strength_factor={self.boost_strength_factor}, "
                f"duty_cycle_period={self.duty_cycle_period}, break_ties={self.break_ties}, relu={self.relu}")


class KWinners2d(_KWinnersBase):
    r"""k-winners-take-all over (B, C, H, W) feature maps.

    ``local=False`` (nupic's default): the winners are chosen among all C·H·W
    values of a sample, ``k = round(C·H·W · percent_on)`` and
    ``k_inference = round(C·H·W · percent_on · k_inference_factor)``.
    ``local=True``: among the C channels at each location, with the same formulas
    for n = C. Rounding is Python's (half to even); k is at least 1 and
    k_inference at most n. Boosting and the duty cycle are per channel; a
    channel's count is its positive winners divided by H·W. Otherwise as
    :class:`KWinners`.

    Args:
        channels: C.
        percent_on: fraction of values on in training, in (0, 1].
        local: choose per location instead of per sample.
        (the rest as :class:`KWinners`)

    Example::

        kw = KWinners2d(64, percent_on=0.1, local=True)
        y = kw(torch.randn(8, 64, 16, 16))      # >= 6 winners per location

    State:
        duty_cycle: float32 (1, C, 1, 1).
        boost_strength, learning_iterations: as :class:`KWinners`.
    """

    def __init__(self, channels: int, percent_on: float = 0.1, *, k_inference_factor: float = 1.5,
                 boost_strength: float = 1.0, boost_strength_factor: float = 0.9,
                 duty_cycle_period: int = 1000, local: bool = False, break_ties: bool = False,
                 relu: bool = False) -> None:
        if not (isinstance(channels, int) and channels >= 1):
            raise ConfigError(f"KWinners2d: `channels` must be an int >= 1, got {channels!r}.")
        super().__init__(percent_on, k_inference_factor=k_inference_factor, boost_strength=boost_strength,
                         boost_strength_factor=boost_strength_factor, duty_cycle_period=duty_cycle_period,
                         break_ties=break_ties, relu=relu, duty_shape=(1, channels, 1, 1))
        self.channels = channels
        self.local = bool(local)

    def ks(self, n: int) -> tuple[int, int]:
        """``(k, k_inference)`` for ``n`` candidates per choice (C if local, else C·H·W)."""
        k = max(1, int(round(n * self.percent_on)))
        k_inf = min(n, max(1, int(round(n * self.percent_on * self.k_inference_factor))))
        return k, k_inf

    def forward(self, x: Tensor) -> Tensor:
        """``x`` (B, C, H, W) -> same shape, the winners' values and zeros."""
        b, c, h, w = x.shape
        k, k_inf = self.ks(c if self.local else c * h * w)
        k = k if self.training else k_inf
        boosted = self._boosted(x)
        if self.local:
            keep = _keep_mask(boosted, k, break_ties=self.break_ties, relu=self.relu)
        else:
            keep = _keep_mask(boosted.reshape(b, -1), k, break_ties=self.break_ties,
                              relu=self.relu).view(b, c, h, w)
        y = x * keep
        if self.training:
            count = (y > 0).sum(dim=(0, 2, 3), dtype=self.duty_cycle.dtype) / float(h * w)
            self._update_duty_cycle(y, count)
        return y

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, percent_on={self.percent_on}, local={self.local}, "
                f"k_inference_factor={self.k_inference_factor}, boost_strength={self._boost}, "
                f"boost_strength_factor={self.boost_strength_factor}, "
                f"duty_cycle_period={self.duty_cycle_period}, break_ties={self.break_ties}, relu={self.relu}")


class _SparseWeightsBase(nn.Module):
    """A layer whose weight keeps a fixed random subset of zeros (``zero_mask``)."""

    #: The layer type a subclass wraps, and the subclass that wraps the other one.
    wraps: type[nn.Module]
    other: str

    def __init__(self, module: nn.Linear | nn.Conv2d, sparsity: float, *, generator: torch.Generator | None = None,
                 rezero_on_train_forward: bool = False) -> None:
        if not isinstance(module, self.wraps):
            raise ConfigError(f"{type(self).__name__} wraps an nn.{self.wraps.__name__}, got "
                              f"{type(module).__name__}; use {self.other} for other layers.")
        super().__init__()
        if isinstance(sparsity, bool) or not (isinstance(sparsity, (int, float)) and 0.0 <= sparsity < 1.0):
            raise ConfigError(BAD_SPARSITY.format(value=sparsity))
        self.module = module
        self.sparsity = float(sparsity)
        self.rezero_on_train_forward = bool(rezero_on_train_forward)
        weight = module.weight
        out, fan_in = weight.shape[0], weight[0].numel()
        # Kept entries per output unit; at least one, so no unit is cut off from its input.
        self.num_nonzero = max(1, int(round((1.0 - self.sparsity) * fan_in)))
        scores = torch.rand(out, fan_in, generator=generator)
        kept = scores.topk(self.num_nonzero, dim=1).indices
        mask = torch.ones(out, fan_in, dtype=torch.bool).scatter_(1, kept, False)
        self.register_buffer("zero_mask", mask.view(weight.shape).to(weight.device))
        # The same mask as 0/1 in the weight's dtype (derived, not saved): multiplying
        # by it is several times faster on CPU than masked_fill_ with the bool mask.
        self.register_buffer("_keep", (~self.zero_mask).to(weight.dtype), persistent=False)
        self.rezero_weights()

    @torch.no_grad()
    def set_zero_mask(self, zero_mask: Tensor) -> None:
        """Replace the mask (bool, the weight's shape; True = forced to zero) and re-zero."""
        self.zero_mask.copy_(zero_mask)
        self._keep.copy_(~self.zero_mask)
        self.rezero_weights()

    @torch.no_grad()
    def rezero_weights(self) -> None:
        """Set the masked weights back to 0 (they move whenever an optimizer steps)."""
        self.module.weight.mul_(self._keep)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._keep.copy_(~self.zero_mask)

    def forward(self, x: Tensor) -> Tensor:
        if self.rezero_on_train_forward and self.training:
            self.rezero_weights()
        return self.module(x)

    def extra_repr(self) -> str:
        return (f"sparsity={self.sparsity}, num_nonzero={self.num_nonzero}, "
                f"rezero_on_train_forward={self.rezero_on_train_forward}")


class SparseWeights(_SparseWeightsBase):
    """A ``nn.Linear`` with a fixed fraction ``sparsity`` of each output unit's weights at 0.

    ``sparsity`` is the fraction of **zeros** (nupic.torch's current meaning, the
    complement of its deprecated ``weight_sparsity``). Each of the ``out_features``
    rows keeps ``round((1 - sparsity) * in_features)`` entries (half to even, at
    least 1), drawn uniformly at construction from ``generator``; the others are
    zeroed then and by every :meth:`rezero_weights`. The forward pass does not mask:
    gradients reach masked weights, so call :meth:`rezero_weights` after each
    optimizer step (:func:`rezero_weights` does it for a whole model). With
    ``rezero_on_train_forward`` the layer instead re-zeroes at the start of each
    training-mode forward, the timing of the 2019 nupic.torch (eval then sees the
    last step's leak). The bias is never masked.

    Args:
        module: the ``nn.Linear`` to sparsify (its weight is zeroed in place).
        sparsity: fraction of zeros per output unit, in [0, 1).
        generator: CPU generator drawing the mask (``None``: torch's global one).
        rezero_on_train_forward: see above.

    Example::

        layer = SparseWeights(nn.Linear(784, 1024), sparsity=0.9)   # 78 inputs per unit
        loss(layer(x)).backward(); opt.step(); layer.rezero_weights()

    State:
        zero_mask: bool, the weight's shape; True = forced to zero.
    """

    wraps, other = nn.Linear, "SparseWeights2d (nn.Conv2d)"


class SparseWeights2d(_SparseWeightsBase):
    """An ``nn.Conv2d`` with a fixed fraction ``sparsity`` of each output channel's weights at 0.

    As :class:`SparseWeights`, with the fan-in of an output channel being its
    flattened ``in_channels / groups * kh * kw`` weights.

    State:
        zero_mask: bool (out_channels, in_channels / groups, kh, kw); True = forced to zero.
    """

    wraps, other = nn.Conv2d, "SparseWeights (nn.Linear)"


def rezero_weights(model: nn.Module) -> None:
    """Call :meth:`SparseWeights.rezero_weights` on every sparse layer of ``model``."""
    for m in model.modules():
        if isinstance(m, _SparseWeightsBase):
            m.rezero_weights()


# ------------------------------------------------------------------------------- params
@dataclass(frozen=True, kw_only=True)
class SparseMLPParams:
    """Hyperparameters of ``sparse-mlp``: seed 003's knobs, defaults from its configuration.

    The defaults are the ``[DEFAULT]`` section of the original's
    ``exps/exps_params.cfg`` (the "default preset"): 10% of hidden units on, 10% of
    each unit's weights kept (``weight_sparsity_fc = 0.1``, so sparsity 0.9), no
    boosting, k_inference_factor 1, one hidden layer of 1024 units, dropout 0.5,
    plain SGD lr 0.01, mini-batches of 128 and 30 epochs per task. Names differ
    from the original only for the weight sparsity, which is the fraction of zeros
    here (``sparsity_fc = 1 - weight_sparsity_fc``), and ``mb_size`` (``batch_size``).
    """

    percent_on_fc: float = param(0.1, low=0.0, high=1.0, low_open=True,
                                 help="Fraction of each hidden dense layer's units on (k-winners); "
                                      "1 = dense ReLU layer.")
    k_inference_factor: float = param(1.0, low=1.0, high=10.0,
                                      help="At test time k is multiplied by this (capped at all units).")
    boost_strength: float = param(0.0, low=0.0, high=100.0,
                                  help="Boosting beta: units that won rarely score higher; 0 = off.")
    boost_strength_factor: float = param(1.0, low=0.0, high=1.0,
                                         help="beta is multiplied by this after every epoch "
                                              "(default mode; the original never decays it).")
    duty_cycle_period: int = param(1000, low=1, unit="samples",
                                   help="Samples over which each unit's win rate is averaged.")
    break_ties: bool = param(False, help="Exactly k winners (otherwise ties at the k-th value all win).")
    sparsity_fc: float = param(0.9, low=0.0, high=1.0, high_open=True,
                               help="Fraction of each dense unit's weights fixed at zero, in [0, 1); "
                                    "0 = dense.")
    hidden_units: int = param(1024, low=1, help="Width of each hidden dense layer.")
    hidden_layers: int = param(1, low=1, high=8, help="Number of hidden dense layers.")
    dropout: float = param(0.5, low=0.0, high=1.0, high_open=True,
                           help="Dropout probability after each hidden dense layer; use a value below 1.")
    lr: float = param(0.01, low=0.0, high=10.0, low_open=True, help="SGD learning rate.")
    momentum: float = param(0.0, low=0.0, high=1.0, high_open=True, help="SGD momentum, below 1.")
    nesterov: bool = param(False, help="Nesterov momentum (needs momentum > 0).")
    weight_decay: float = param(0.0, low=0.0, high=1.0, help="SGD L2 weight decay.")
    batch_size: int = param(128, low=1, help="Training mini-batch size (the original's mb_size).")
    train_ep: int = param(30, low=1, help="Epochs on the first task.")
    train_ep_inc: int = param(30, low=1, help="Epochs on each later task.")
    multi_head: bool = param(False, help="One output head per task (task-il only); every head is trained "
                                         "when its task arrives.")
    mode: str = param("default", choices=MODES,
                      help="default: re-zero masked weights after every optimizer step and decay the "
                           "boost every epoch; reference: the original's timing (re-zero at each "
                           "training forward, no decay).")

    def __post_init__(self) -> None:
        validate(self)
        if self.nesterov and self.momentum == 0:
            raise ConfigError("`nesterov`=true needs `momentum` > 0, got momentum=0. "
                              "Either set momentum (e.g. 0.9) or nesterov=false.")


@dataclass(frozen=True, kw_only=True)
class SparseCNNParams(SparseMLPParams):
    """Hyperparameters of ``sparse-cnn``: those of ``sparse-mlp`` plus the convolutions'.

    Defaults again from the original's ``[DEFAULT]`` (which is a CNN):
    ``percent_on_conv = 0.99`` and ``weight_sparsity_conv = 0.99`` (sparsity 0.01),
    k-winners per location (``KWinners2d(local=True)``).
    """

    percent_on_conv: float = param(0.99, low=0.0, high=1.0, low_open=True,
                                   help="Fraction of conv activations on (k-winners); 1 = dense.")
    sparsity_conv: float = param(0.01, low=0.0, high=1.0, high_open=True,
                                 help="Fraction of each conv filter's weights fixed at zero, in [0, 1).")
    local: bool = param(True, help="Conv k-winners among the channels at each location (else per sample).")
    conv_channels: int = param(32, low=1, help="Channels of each of the two 3x3 convolutions.")


# ------------------------------------------------------------------------------ networks
def _kwinners(n: int, percent_on: float, p: SparseMLPParams) -> KWinners:
    return KWinners(n, percent_on, k_inference_factor=p.k_inference_factor, boost_strength=p.boost_strength,
                    boost_strength_factor=p.boost_strength_factor, duty_cycle_period=p.duty_cycle_period,
                    break_ties=p.break_ties)


def _sparse(layer: nn.Linear | nn.Conv2d, sparsity: float, p: SparseMLPParams,
            g: torch.Generator) -> nn.Module:
    if sparsity == 0:
        return layer  # the dense layer itself
    wrap = SparseWeights2d if isinstance(layer, nn.Conv2d) else SparseWeights
    return wrap(layer, sparsity, generator=g, rezero_on_train_forward=p.mode == "reference")


def _hidden_layer(width: int, p: SparseMLPParams, g: torch.Generator, *, relu_first: bool) -> list[nn.Module]:
    """SparseWeights(Linear(width, hidden_units)) -> activation -> Dropout, as modules in order.

    The activation differs as in the originals: the MLP's k-winners *replace*
    the ReLU (``relu_first=False``: negative winners pass), the CNN's dense layer
    has a ReLU and *then* k-winners (``relu_first=True``). With ``percent_on_fc = 1``
    both are a plain ReLU.
    """
    layers = [_sparse(nn.Linear(width, p.hidden_units), p.sparsity_fc, p, g)]
    if relu_first or p.percent_on_fc == 1:
        layers.append(nn.ReLU())
    if p.percent_on_fc < 1:
        layers.append(_kwinners(p.hidden_units, p.percent_on_fc, p))
    if p.dropout > 0:
        layers.append(nn.Dropout(p.dropout))
    return layers


class SparseMLP(FeatureStack):
    """Flatten, then ``hidden_layers`` x (SparseWeights(Linear) -> KWinners -> Dropout).

    As in the original, the k-winners replace the ReLU (negative winners pass).
    With ``percent_on_fc = 1`` the layer is a ReLU and with ``sparsity_fc = 0`` a
    plain Linear, so the network is :class:`~synaptune.learners.networks.MLP`.

    Attributes:
        out_features: ``hidden_units``.
    """

    def __init__(self, input_shape: tuple[int, ...], p: SparseMLPParams, *, generator: torch.Generator) -> None:
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for _ in range(p.hidden_layers):
            layers += _hidden_layer(width, p, generator, relu_first=False)
            width = p.hidden_units
        super().__init__(layers, width)


class SparseCNN(FeatureStack):
    """Two blocks of SparseWeights2d(Conv3x3) -> ReLU -> KWinners2d -> MaxPool2, then
    ``hidden_layers`` x (SparseWeights(Linear) -> ReLU -> KWinners -> Dropout).

    The blocks are those of :class:`~synaptune.learners.networks.SmallCNN` (3x3,
    ``padding=1``, so 8x8 inputs work) rather than the original's 5x5 convolutions
    without pooling, which only fit 32x32 images. Each k-winners is left out when
    its ``percent_on`` is 1 and each mask when its sparsity is 0, giving SmallCNN
    (for ``hidden_layers = 1``).

    Attributes:
        out_features: ``hidden_units``.
    """

    def __init__(self, input_shape: tuple[int, ...], p: SparseCNNParams, *, generator: torch.Generator) -> None:
        c, h, w = image_shape(input_shape, needs="sparse-cnn", instead="sparse-mlp")
        k = p.conv_channels
        layers: list[nn.Module] = []
        for c_in in (c, k):
            layers += [_sparse(nn.Conv2d(c_in, k, 3, padding=1), p.sparsity_conv, p, generator), nn.ReLU()]
            if p.percent_on_conv < 1:
                layers.append(KWinners2d(k, p.percent_on_conv, k_inference_factor=p.k_inference_factor,
                                         boost_strength=p.boost_strength,
                                         boost_strength_factor=p.boost_strength_factor,
                                         duty_cycle_period=p.duty_cycle_period, local=p.local,
                                         break_ties=p.break_ties))
            layers.append(nn.MaxPool2d(2))
        layers.append(nn.Flatten())
        width = k * (h // 4) * (w // 4)
        for _ in range(p.hidden_layers):
            layers += _hidden_layer(width, p, generator, relu_first=True)
            width = p.hidden_units
        super().__init__(layers, width)


class SparseClassifier(Classifier):
    """:class:`~synaptune.learners.networks.Classifier` over given features (built in the same order)."""

    def __init__(self, features: SparseMLP | SparseCNN, *, multi_head: bool, n_classes: int,
                 n_tasks: int) -> None:
        nn.Module.__init__(self)
        self.features = features
        width = features.out_features
        self.multi_head = multi_head
        self.n_tasks = n_tasks
        if multi_head:
            self.heads = nn.ModuleList(nn.Linear(width, n_classes) for _ in range(n_tasks))
        else:
            self.head = nn.Linear(width, n_classes)
        self.register_buffer("task_classes", torch.zeros(n_tasks, n_classes, dtype=torch.bool))


# ------------------------------------------------------------------------------ learners
class SparseMLPLearner(GradientLearner):
    r"""Fine-tuning of a sparse network (k-winners activations, fixed sparse weights).

    Nothing else protects against forgetting: the claim of the original is that
    sparse activations and connections make tasks interfere less. Each task gets
    a fresh SGD optimiser over every parameter (so each new head is trained,
    unlike the original, ALGORITHMS.md §4.8), ``train_ep`` epochs on the first
    task and ``train_ep_inc`` on later ones, with cross-entropy loss:

    .. math::

        h = \mathrm{kWTA}_k\big((W \odot M)\,x + b\big), \qquad
        \theta \leftarrow \theta - \eta \nabla_\theta \mathrm{CE}(f_\theta(x), y)

    ``mode="default"`` re-zeroes the masked weights after every optimiser step
    (so evaluation never sees leaked weights) and multiplies the boost strength
    by ``boost_strength_factor`` after every epoch. ``mode="reference"`` keeps the
    original's timing (nupic.torch of 2019): masked weights are re-zeroed at the
    start of each training forward, so after training they carry one step of
    leak at evaluation, and the boost strength never decays. Neither mode
    reproduces the original's untrained later heads nor its data padding.

    Reference: Pervasive-AI-Lab/sparse-dynamic-synapses (2019); Ahmad &
    Scheinkman, "How Can We Be So Dense?" (2019).

    Example (``stream`` is any :class:`~synaptune.benchmarks.base.Stream`)::

        learner = SparseMLPLearner(SparseMLPParams(train_ep=2, train_ep_inc=2),
                                   input_shape=stream.input_shape, n_classes=stream.n_classes,
                                   n_tasks=stream.n_tasks)
        for task in stream.tasks:
            learner.fit_task(task)

    State:
        net.*: weights, ``zero_mask`` of each sparse layer, ``duty_cycle``,
            ``boost_strength`` and ``learning_iterations`` of each k-winners.
        net.task_classes: bool (n_tasks, n_classes), the classes of each task seen.
        tasks_done: int64 (), tasks trained so far (picks train_ep or train_ep_inc).
        rng_state: the shuffling generator's state (:class:`~synaptune.learners.base.Learner`).
    """

    params_cls: Any = SparseMLPParams

    def __init__(self, params: Any, **kwargs: Any) -> None:
        """Arguments as :class:`~synaptune.learners.base.Learner`."""
        super().__init__(params, **kwargs)
        check_multi_head(params, self.scenario)
        features = self._features()
        self.net = SparseClassifier(features, multi_head=params.multi_head, n_classes=self.n_classes,
                                    n_tasks=self.n_tasks)
        self.register_buffer("tasks_done", torch.zeros((), dtype=torch.int64))
        self.to(self.device)
        self._sparse_layers = [m for m in self.net.modules() if isinstance(m, _SparseWeightsBase)]
        self._kwinners = [m for m in self.net.modules() if isinstance(m, _KWinnersBase)]

    def _features(self) -> nn.Module:
        return SparseMLP(self.input_shape, self.params, generator=self.generator)

    # ----------------------------------------------------------------- training
    def epochs_for(self, task: Task) -> int:
        p = self.params
        return p.train_ep if int(self.tasks_done) == 0 else p.train_ep_inc

    def make_optimizer(self) -> torch.optim.Optimizer:
        p = self.params
        return torch.optim.SGD(self.net.parameters(), lr=p.lr, momentum=p.momentum, nesterov=p.nesterov,
                               weight_decay=p.weight_decay)

    def on_batch_end(self) -> None:
        if self.params.mode == "default":
            self.rezero_weights()

    def on_epoch_end(self, epoch: int) -> None:
        if self.params.mode == "default":
            for kw in self._kwinners:
                kw.update_boost_strength()

    def on_task_end(self, task: Task, split: Split) -> dict[str, float]:
        self.tasks_done += 1
        return {}

    def rezero_weights(self) -> None:
        """Set every masked weight back to 0."""
        for m in self._sparse_layers:
            m.rezero_weights()


class SparseCNNLearner(SparseMLPLearner):
    """Fine-tuning of a sparse CNN (k-winners after ReLU, fixed sparse weights), else as sparse-mlp.

    :class:`SparseMLPLearner` with the :class:`SparseCNN` features.

    State: as :class:`SparseMLPLearner` (with the conv layers' masks and duty cycles).
    """

    params_cls: Any = SparseCNNParams

    def _features(self) -> nn.Module:
        return SparseCNN(self.input_shape, self.params, generator=self.generator)

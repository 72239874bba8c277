# SPDX-License-Identifier: MIT
"""Fixed sparse weights: :class:`SparseWeights` (``nn.Linear``) and :class:`SparseWeights2d` (``nn.Conv2d``).

Following nupic.torch (docs/learners.md#sparse, ``tests/fixtures/reference/README.md``
§3), re-implemented from that description: a fixed random mask zeroes a fraction
of each unit's inputs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from synaptune.exceptions import ConfigError

__all__ = ["SparseWeights", "SparseWeights2d", "SparseWeightsBase", "rezero_weights"]


BAD_SPARSITY = (
    "`sparsity` is the fraction of weights forced to zero and must be in [0, 1), got {value!r}. "
    "Use e.g. 0.9 to keep 10% of each unit's inputs (nupic's old `weight_sparsity` is the kept "
    "fraction: pass sparsity = 1 - weight_sparsity)."
)


class SparseWeightsBase(nn.Module):
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


class SparseWeights(SparseWeightsBase):
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


class SparseWeights2d(SparseWeightsBase):
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
        if isinstance(m, SparseWeightsBase):
            m.rezero_weights()

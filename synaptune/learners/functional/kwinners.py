# SPDX-License-Identifier: MIT
"""k-winners-take-all as a pure tensor function: which units of each row stay on.

Used by :class:`~synaptune.learners.modules.kwinners.KWinners` and
:class:`~synaptune.learners.modules.kwinners.KWinners2d` (nupic.torch's
semantics, docs/learners.md#sparse).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["keep_mask"]


def keep_mask(boosted: Tensor, k: int, *, break_ties: bool, relu: bool) -> Tensor:
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

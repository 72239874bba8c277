# SPDX-License-Identifier: MIT
"""The Saturation Self-Organizing Map (SatSOM) as a ``torch.nn.Module``.

:class:`SatSOM` keeps all its state in buffers, learns one sample at a time
(:meth:`SatSOM.step`) and reads out a batch (:meth:`SatSOM.forward`). It is
configured by :class:`~synaptune.learners.hparams.SatSOMParams` and built on the
SOM kernels of :mod:`synaptune.learners.functional.som` (lattice, BMU, Gaussian
neighbourhood, quantile). The registered learner ``satsom``
(:class:`~synaptune.learners.satsom.SatSOMLearner`) drives it through a stream;
the algorithm is described in docs/learners.md#satsom.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from synaptune.exceptions import ConfigError
from synaptune.learners.functional.som import (
    gaussian,
    grid_locations,
    lattice_sq_distances,
    pairwise_distances,
    quantile_linear,
)
from synaptune.learners.hparams import SatSOMParams

__all__ = ["NEGLIGIBLE_UPDATE", "NOT_TRAINED", "QUANTILE_MAX_NUMEL", "UNDERSATURATED", "SatSOM"]

#: Most elements handed to one quantile: torch.quantile refuses more than 2**24
#: up to torch 2.13. The default mode also reads out at most this many
#: (sample, neuron) distances at a time, which bounds its memory.
QUANTILE_MAX_NUMEL = 2**24

#: A neuron whose saturation is below this counts as never trained (the original's threshold).
UNDERSATURATED = 1e-4

#: Update factors lr_i * h_i below this are applied as 0. Adding less than 1e-30 cannot
#: change a float32 (or float64) weight or logit above 1e-14 in magnitude, and far from the
#: BMU the factor is otherwise a denormal number, which is ~4x slower on x86 CPUs.
NEGLIGIBLE_UPDATE = 1e-30

#: Maps up to this many neurons precompute their squared lattice distances.
_LATTICE_TABLE_MAX_NEURONS = 1024

NOT_TRAINED = (
    "SatSOM.forward: no neuron is trained yet (every saturation (initial_lr - lr_i) / initial_lr is "
    "below 1e-4), so there are no labels to read out. Call step(x, y) on at least one sample "
    "first (SatSOMLearner: fit_task); if you already did, `Lr` is too small for one step to "
    "saturate the best matching unit past 1e-4, so raise it."
)


class SatSOM(nn.Module):
    r"""Saturation Self-Organizing Map: per-neuron learning rates and widths that decay with use.

    Each neuron :math:`i` has a prototype :math:`W_i`, label logits :math:`L_i`, a
    learning rate :math:`\lambda_i` and a width :math:`\sigma_i`. One training
    sample :math:`(x, y)`, :math:`y` one-hot, updates every neuron
    (:meth:`step`):

    .. math::

        b &= \arg\min_i \lVert x - W_i \rVert, \qquad
        h_i = \exp\!\Big(-\frac{\lVert r_i - r_b \rVert^2}{2 \max(\sigma_b \sigma_i, 10^{-8})}\Big)
              \big(1 + \beta (1 - s_i)\big), \qquad s_i = \frac{\lambda_0 - \lambda_i}{\lambda_0} \\
        W_i &\leftarrow W_i + \lambda_i h_i (x - W_i), \qquad
        L_i \leftarrow L_i - \lambda_i h_i (\operatorname{softmax}(L_i) - y) \\
        \lambda_i &\leftarrow \lambda_i e^{-\mathrm{Lr}\, h_i}, \qquad
        \sigma_i \leftarrow \sigma_i e^{-\mathrm{Lr_\sigma} h_i}

    with :math:`\beta` = ``Lr_bias`` (the boost applies only in ``train()`` mode)
    and :math:`r_i` the lattice coordinates. The read-out (:meth:`forward`)
    min-max normalises the distances :math:`D`, sets them to 1 for untrained
    neurons (:math:`s_i < 10^{-4}`) and for those beyond the ``q``-quantile of
    the trained neurons' distances, and returns
    :math:`o = \frac{1}{N} \sum_i (1 - D_i)^p L_i` (argmax = prediction).

    Reference: "Saturation Self-Organizing Map" (SatSOM), arXiv:2506.10680;
    original code github.com/Radinyn/satsom @ 150a2bb. See docs/learners.md#satsom.

    Modes (``params.mode``; :meth:`step` is the same in both):

    - ``reference`` reproduces the original's read-out exactly, quirks included,
      and is what the golden fixtures check: the min-max normalisation is over
      the whole batch (so a sample's output depends on the other samples), the
      quantile is pooled over the batch and applied only while some neuron is
      untrained, and ``q=0`` / ``p=0`` passed to ``forward`` fall back to the
      configured values (Python ``or``). Use it to compare with the original.
    - ``default`` normalises and cuts each sample on its own, so predicting a
      test set in batches gives the same answer as one sample at a time (the
      original's eval scripts call it with batches of one, which this equals
      while some neuron is untrained), and applies the quantile cut always, so
      the read-out does not change character once the last neuron saturates.
      ``q=0`` and ``p`` passed to ``forward`` mean what they say. Batches are
      read out in chunks of at most :data:`QUANTILE_MAX_NUMEL` distances.

    Other differences from the original: 1-D grids work (the original fails
    in ``step``); ``forward`` before any neuron is trained raises a
    ``RuntimeError`` saying so (the original fails inside ``torch.quantile``);
    ``step`` computes some expressions in an equal but cheaper form (e.g.
    ``lerp`` for the prototype update), so values differ by rounding only, and
    applies update factors :math:`\lambda_i h_i` below
    :data:`NEGLIGIBLE_UPDATE` (1e-30) as 0: they cannot change a weight or
    logit above 1e-14 in magnitude, but far from the BMU they are denormal
    numbers that slow the CPU down ~4x (a logit that is exactly 0 stays 0
    rather than becoming ~1e-31). In reference mode a pooled quantile over more
    than :data:`QUANTILE_MAX_NUMEL` values is computed exactly by selection
    instead of failing. ``step`` never synchronises with the device (no
    ``.item()``, no branching on tensor values).

    Example::

        som = SatSOM(SatSOMParams(grid="10x10"), input_dim=64, output_dim=10)
        for x, y in zip(xs, ys):                      # x (64,), y int label
            som.step(x, F.one_hot(y, 10).float())
        labels = som(xs_test).argmax(dim=1)           # (B, 64) -> (B,)

    Args:
        params: the map's hyperparameters (``grid``, ``initial_lr``, ...).
        input_dim: D, size of one input vector.
        output_dim: C, number of classes.
        generator: draws the initial prototypes (default: the global generator).

    State:
        weights: (N, D) prototypes, initialised i.i.d. N(0, 1).
        labels: (N, C) label logits, initialised to 0.
        learning_rates: (N,) per-neuron lambda_i, initialised to ``initial_lr``.
        sigmas: (N,) per-neuron sigma_i, initialised to ``params.initial_sigma``.
        locations: (N, G) lattice coordinates, row-major (last axis fastest).
    """

    weights: Tensor
    labels: Tensor
    learning_rates: Tensor
    sigmas: Tensor
    locations: Tensor
    _lattice_sq: Tensor | None

    def __init__(self, params: SatSOMParams, *, input_dim: int, output_dim: int,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if input_dim < 1 or output_dim < 1:
            raise ConfigError(f"SatSOM needs input_dim >= 1 and output_dim >= 1, "
                              f"got {input_dim=}, {output_dim=}.")
        self.params = params
        n = params.n_neurons
        self.register_buffer("weights", torch.randn(n, input_dim, generator=generator))
        self.register_buffer("labels", torch.zeros(n, output_dim))
        self.register_buffer("learning_rates", torch.full((n,), params.initial_lr))
        self.register_buffer("sigmas", torch.full((n,), params.initial_sigma))
        self.register_buffer("locations", grid_locations(params.grid_shape))
        # Small maps keep every squared lattice distance (N x N, at most 4 MB): one
        # gather per step instead of six small ops. Derived, so not in the state_dict.
        table = None
        if n <= _LATTICE_TABLE_MAX_NEURONS:
            table = lattice_sq_distances(self.locations, torch.arange(n))
        self.register_buffer("_lattice_sq", table, persistent=False)

    @property
    def input_dim(self) -> int:
        return self.weights.shape[1]

    @property
    def output_dim(self) -> int:
        return self.labels.shape[1]

    @property
    def n_neurons(self) -> int:
        return self.weights.shape[0]

    def extra_repr(self) -> str:
        return f"input_dim={self.input_dim}, output_dim={self.output_dim}, {self.params!r}"

    # ------------------------------------------------------------------ state
    def saturation(self) -> Tensor:
        """Per-neuron saturation ``(initial_lr - lr_i) / initial_lr`` in [0, 1), shape (N,)."""
        lr0 = self.params.initial_lr
        return (lr0 - self.learning_rates) / lr0

    def undersaturated(self) -> Tensor:
        """Bool (N,): neurons that count as never trained (saturation below 1e-4)."""
        return self.saturation() < UNDERSATURATED

    # --------------------------------------------------------------- training
    def neighbourhood(self, bmu: Tensor) -> Tensor:
        """The update factor h (N,) that :meth:`step` uses around BMU ``bmu`` (0-d int64).

        Includes the ``Lr_bias`` boost in training mode, from the current (pre-step) state.
        """
        if self._lattice_sq is None:
            sq = lattice_sq_distances(self.locations, bmu)
        else:
            sq = self._lattice_sq.index_select(0, bmu.reshape(1)).reshape(-1)
        # The width mixes the BMU's sigma with each neuron's own: 2 * sigma_b * sigma_i, not 2 * sigma^2.
        width = (self.sigmas.index_select(0, bmu.reshape(1)) * self.sigmas).clamp_min_(1e-8)
        h = gaussian(sq, width)
        if self.training:
            # 1 + Lr_bias * (1 - saturation_i), with 1 - saturation_i = lr_i / initial_lr
            boost = self.learning_rates * (self.params.Lr_bias / self.params.initial_lr)
            h = h.mul_(boost.add_(1.0))
        return h

    @torch.no_grad()
    def step(self, x: Tensor, y: Tensor) -> Tensor:
        """One update with sample ``x`` (D,) or (1, D) and one-hot target ``y`` (C,) or (1, C).

        Returns the BMU index as a 0-d int64 tensor (left on the device).

        Raises:
            ValueError: ``x`` or ``y`` of the wrong size.
        """
        W = self.weights
        if x.numel() != W.shape[1] or y.numel() != self.labels.shape[1]:
            raise ValueError(
                f"SatSOM.step takes one sample: x of shape ({W.shape[1]},) and one-hot y of shape "
                f"({self.labels.shape[1]},), got x {tuple(x.shape)} and y {tuple(y.shape)}. "
                "Loop over a batch, one step per sample; for an int label use F.one_hot(y, C)."
            )
        # Python checks, not no-op calls: at small sizes every dispatched op counts.
        if x.dim() != 1 or x.dtype != W.dtype:
            x = x.reshape(-1).to(W.dtype)
        if y.dim() != 1 or y.dtype != W.dtype:
            y = y.reshape(-1).to(W.dtype)
        # Three passes over W and no (N, D) temporary: a fresh one per sample costs
        # more than the arithmetic on large maps (allocation and page faults).
        w_sq = torch.linalg.vector_norm(W, dim=1).square_()
        d = torch.addmv(w_sq, W, x, alpha=-2.0).add_(torch.dot(x, x)).clamp_min_(0.0).sqrt_()
        bmu = d.argmin()
        h = self.neighbourhood(bmu)
        # Pre-step learning rates for both updates, as the original.
        c = torch.threshold(self.learning_rates * h, NEGLIGIBLE_UPDATE, 0.0).unsqueeze(1)
        W.lerp_(x.expand_as(W), c)  # W_i + c_i (x - W_i) in one pass
        L = self.labels
        # softmax by hand: torch.softmax over a short last axis is ~3x slower on CPU.
        e = (L - L.amax(dim=1, keepdim=True)).exp_()
        pi = e.div_(e.sum(dim=1, keepdim=True))
        L.addcmul_(c, pi.sub_(y), value=-1.0)
        self.learning_rates.mul_(torch.exp(h * -self.params.Lr))
        self.sigmas.mul_(torch.exp(h * -self.params.Lr_sigma))
        return bmu

    # -------------------------------------------------------------- read-out
    @torch.no_grad()
    def forward(self, x: Tensor, q: float | None = None, p: float | None = None) -> Tensor:
        """Label scores (B, C) for inputs ``x`` (B, D); argmax over C is the prediction.

        ``q`` / ``p`` override the configured quantile and exponent for this call
        (in reference mode with the original's ``or``, so 0 means "configured").

        Raises:
            RuntimeError: no neuron has been trained yet (see :meth:`step`).
            ValueError: ``x`` not of shape (B, D); ``q`` outside [0, 1] or ``p <= 0``
                (default mode).
        """
        if x.dim() != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"SatSOM.forward takes a batch of shape (B, {self.input_dim}), got "
                             f"{tuple(x.shape)}; use x.reshape(len(x), -1), or x[None] for one sample.")
        x = x.to(self.weights.dtype)
        under = self.undersaturated()
        trained = torch.nonzero(~under).flatten()
        if trained.numel() == 0:
            raise RuntimeError(NOT_TRAINED)
        if self.params.mode == "reference":
            return self._forward_reference(x, under, trained, q or self.params.q, p or self.params.p)
        q = self.params.q if q is None else q
        p = self.params.p if p is None else p
        if not 0.0 <= q <= 1.0 or not p > 0:
            raise ConfigError(f"SatSOM.forward needs 0 <= q <= 1 and p > 0, got {q=}, {p=}.")
        # Every row is independent, so chunks give the same result as one pass.
        rows = max(1, QUANTILE_MAX_NUMEL // self.n_neurons)
        chunks = torch.split(x, rows)
        return torch.cat([self._forward_default(chunk, under, trained, q, p) for chunk in chunks])

    def _forward_default(self, x: Tensor, under: Tensor, trained: Tensor, q: float, p: float) -> Tensor:
        d = pairwise_distances(x, self.weights)
        lo = d.amin(dim=1, keepdim=True)
        d = (d - lo) / (d.amax(dim=1, keepdim=True) - lo + 1e-6)
        d.masked_fill_(under, 1.0)
        kept = d if trained.numel() == d.shape[1] else d.index_select(1, trained)
        threshold = quantile_linear(kept, q, dim=1, keepdim=True)
        d.masked_fill_(d > threshold, 1.0)
        return (1 - d).pow_(p) @ self.labels / self.n_neurons

    def _forward_reference(self, x: Tensor, under: Tensor, trained: Tensor, q: float, p: float) -> Tensor:
        d = pairwise_distances(x, self.weights)
        lo, hi = d.min(), d.max()
        d = (d - lo) / (hi - lo + 1e-6)  # over the whole batch: the original's quirk
        d.masked_fill_(under, 1.0)
        if trained.numel() < d.shape[1]:  # the quantile only while some neuron is untrained
            kept = d.index_select(1, trained)
            if kept.numel() <= QUANTILE_MAX_NUMEL:
                threshold = torch.quantile(kept, q)  # the original's call, same values
            else:  # torch <= 2.13 would refuse: select exactly instead
                threshold = quantile_linear(kept, q)
            d.masked_fill_(d > threshold, 1.0)
        return (1 - d).pow_(p) @ self.labels / self.n_neurons

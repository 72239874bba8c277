# SPDX-License-Identifier: MIT
"""Self-organizing-map building blocks as pure tensor functions.

Shared by :mod:`synaptune.learners.satsom` and the SOM-masked networks: the
lattice coordinates of the neurons, distances to the prototypes, the best
matching unit (BMU), the Gaussian neighbourhood, and an exact linear-interpolation
quantile without ``torch.quantile``'s input-size limit. None of them keeps
state, draws random numbers or synchronises with the device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "best_matching_unit",
    "gaussian",
    "grid_locations",
    "lattice_sq_distances",
    "near_square",
    "pairwise_distances",
    "conv_best_matching_unit",
    "patch_best_matching_unit",
    "quantile_linear",
    "som_update_",
]


def grid_locations(grid_shape: Sequence[int], *, dtype: torch.dtype | None = None,
                   device: torch.device | str | None = None) -> Tensor:
    """Coordinates of every neuron of a lattice, shape (N, G), N = prod(grid_shape).

    Row-major order (the last axis changes fastest): neuron ``n`` of a 2-D grid
    (H, W) sits at ``(n // W, n % W)``. A 1-D grid gives shape (N, 1), so code
    that sums over the coordinate axis works for every dimension.

    Example::

        >>> grid_locations((2, 3))[4]
        tensor([1., 1.])
    """
    if not grid_shape or any(int(s) < 1 for s in grid_shape):
        raise ValueError(f"grid_shape must be a non-empty sequence of positive sides, "
                         f"got {tuple(grid_shape)}")
    axes = [torch.arange(int(s), dtype=dtype or torch.get_default_dtype(), device=device) for s in grid_shape]
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], dim=1)


def pairwise_distances(x: Tensor, weights: Tensor) -> Tensor:
    """Euclidean distances (B, N) from each row of ``x`` (B, D) to each prototype (N, D).

    Uses the expanded form ``sqrt(max(|x|^2 + |w|^2 - 2 x.w, 0))`` (one matrix
    product, as SatSOM's original does); it differs from ``torch.cdist`` only by
    rounding.
    """
    x_sq = (x * x).sum(dim=1, keepdim=True)
    w_sq = (weights * weights).sum(dim=1)
    d2 = torch.addmm(w_sq.unsqueeze(0), x, weights.T, alpha=-2.0).add_(x_sq)
    return d2.clamp_min_(0.0).sqrt_()


def best_matching_unit(x: Tensor, weights: Tensor) -> Tensor:
    """Index of the closest prototype to each row of ``x``: int64 (B,). First index wins ties."""
    return pairwise_distances(x, weights).argmin(dim=1)


def lattice_sq_distances(locations: Tensor, index: Tensor) -> Tensor:
    """Squared lattice distances ``||r_i - r_index||^2``, shape ``(*index.shape, N)``.

    ``index`` is an int64 tensor (0-d or 1-d) of neuron indices; it stays on the
    device (no ``.item()``), so this is safe inside a CUDA step.
    """
    centre = locations.index_select(0, index.reshape(-1))  # (K, G)
    d = (locations.unsqueeze(0) - centre.unsqueeze(1)).pow_(2).sum(dim=-1)  # (K, N)
    return d.reshape(*index.shape, locations.shape[0])


def gaussian(sq_dist: Tensor, width: Tensor | float) -> Tensor:
    """Gaussian neighbourhood ``exp(-sq_dist / (2 * width))``.

    ``width`` is the squared scale (``sigma**2`` for a classic SOM; SatSOM
    passes ``sigma_bmu * sigma_i``), broadcast against ``sq_dist``.
    """
    return torch.exp(sq_dist / (-2.0 * width))


def quantile_linear(x: Tensor, q: float, *, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """``torch.quantile(x, q, dim=dim, keepdim=keepdim)`` (linear interpolation), any size.

    Gives the same values as ``torch.quantile`` bit for bit (same rank and
    weight arithmetic, the two order statistics blended with :func:`torch.lerp`,
    as torch does), but selects the two order statistics with :func:`torch.topk`
    instead of sorting everything, and has no input-size limit (torch up to
    2.13 refuses more than 2**24 elements). NaNs are not supported.

    Args:
        x: values; flattened when ``dim`` is ``None``.
        q: the quantile, in [0, 1].
        dim: reduce along this dimension instead of over all elements.
        keepdim: keep the reduced dimension (size 1).
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile q must be in [0, 1], got {q!r}")
    if dim is None:
        out = quantile_linear(x.reshape(-1), q, dim=0)
        return out.reshape([1] * x.dim()) if keepdim else out
    n = x.shape[dim]
    if n == 0:
        raise ValueError("quantile of an empty set: the reduced dimension has size 0")
    # Same arithmetic as torch.quantile (checked bit for bit in the unit tests): q is
    # first rounded to x's dtype, the rank q * (n - 1) is taken in double precision,
    # and the fractional weight is rounded back to x's dtype for the lerp.
    rank = float(torch.tensor(q, dtype=x.dtype)) * (n - 1)
    below = math.floor(rank)
    above = math.ceil(rank)
    weight = rank - below
    # Partial selection with topk from whichever end is closer: linear-ish in n for
    # the small q SatSOM uses, where a full sort (torch.quantile) is n log n.
    if above + 1 <= n - below:
        ordered = torch.topk(x, above + 1, dim=dim, largest=False, sorted=True).values
        i_below, i_above = below, above
    else:
        ordered = torch.topk(x, n - below, dim=dim, largest=True, sorted=True).values
        i_below, i_above = n - 1 - below, n - 1 - above
    v_below = ordered.narrow(dim, i_below, 1)
    v_above = ordered.narrow(dim, i_above, 1)
    if above == below:
        out = v_below.clone()
    else:
        out = torch.lerp(v_below, v_above, torch.tensor(weight, dtype=x.dtype, device=x.device))
    return out if keepdim else out.squeeze(dim)


def near_square(n: int) -> tuple[int, int]:
    """The most square 2-D lattice with exactly ``n`` neurons: ``(rows, cols)``, rows <= cols.

    ``near_square(100) == (10, 10)``, ``near_square(128) == (8, 16)``, ``near_square(7) == (1, 7)``.
    """
    if n < 1:
        raise ValueError(f"a lattice needs at least one neuron, got {n}")
    rows = math.isqrt(n)
    while n % rows:
        rows -= 1
    return rows, n // rows


def patch_best_matching_unit(patches: Tensor, weights: Tensor) -> Tensor:
    """Best matching unit of every patch of an image batch (a convolutional SOM).

    For each patch ``z`` the winner is ``argmin_j |z - w_j|^2 = argmin_j (|w_j|^2 - 2 w_j.z)``
    (``|z|^2`` is the same for every ``j``), for all patches of all images at once
    with one batched matrix product; first index wins ties.

    Args:
        patches: ``F.unfold`` of the images, (B, D, L): L patches of D values each
            (the patches a ``Conv2d`` of the same geometry sees).
        weights: prototypes (N, D), flattened in ``F.unfold``'s order.

    Returns:
        int64 (B, L): the winner of each patch.
    """
    w_sq = (weights * weights).sum(dim=1)
    scores = torch.matmul(weights, patches).mul_(-2.0).add_(w_sq.unsqueeze(1))  # (B, N, L)
    return scores.argmin(dim=1)


def conv_best_matching_unit(x: Tensor, weights: Tensor, *, kernel_size: tuple[int, int],
                            padding: tuple[int, int], stride: tuple[int, int] = (1, 1),
                            dilation: tuple[int, int] = (1, 1)) -> Tensor:
    """:func:`patch_best_matching_unit` of the patches of ``x`` (B, C, H, W), without unfolding them.

    The dot products of every patch with every prototype are one convolution
    with the prototypes as kernels (the same batched matrix product, done by the
    convolution backend); the argmin runs over the last axis (channels last),
    which is several times faster on CPU than over the channel axis.

    Args:
        x: images (B, C, H, W).
        weights: prototypes (N, C * kh * kw), in ``F.unfold``'s order.
        kernel_size, padding, stride, dilation: the patch geometry, as for ``Conv2d``.

    Returns:
        int64 (B, H', W'): the winner of each patch; first index wins ties.
    """
    import torch.nn.functional as F

    n = weights.shape[0]
    kernels = weights.reshape(n, x.shape[1], *kernel_size)
    dots = F.conv2d(x, kernels, None, stride, padding, dilation)  # (B, N, H', W')
    w_sq = (weights * weights).sum(dim=1)
    scores = dots.mul_(-2.0).add_(w_sq[:, None, None])
    # A copy to channels last first: argmin over a strided axis is ~3x slower than the copy.
    return scores.permute(0, 2, 3, 1).contiguous().argmin(dim=-1)


@torch.no_grad()
def som_update_(weights: Tensor, x: Tensor, h: Tensor, lr: Tensor | float) -> Tensor:
    r"""The classic SOM rule, averaged over a batch, applied in place to ``weights``.

    .. math::

        w_j \leftarrow w_j + \frac{\eta}{B} \sum_b h_{bj} (x_b - w_j)

    For one sample (B = 1) this is Kohonen's rule ``w_j += eta h_j (x - w_j)``;
    for a batch, every sample's update is computed from the same (pre-batch)
    prototypes and the updates are averaged. Two matrix products, no loop.

    Args:
        weights: prototypes (N, D), updated in place.
        x: samples (B, D).
        h: neighbourhood of each sample's winner (B, N), e.g.
            ``gaussian(lattice_sq_distances(locations, bmu), sigma**2)``.
        lr: eta, a float or a 0-d tensor.

    Returns:
        ``weights``.
    """
    b = x.shape[0]
    pull = h.T @ x.to(weights.dtype)  # (N, D): sum_b h_bj x_b
    pull.sub_(h.sum(dim=0).unsqueeze(1) * weights)
    return weights.add_(pull.mul_(lr / b))

# SPDX-License-Identifier: MIT
"""A self-organizing map that gates each unit (or channel) of a layer, and the layers it gates.

A :class:`SOMMask` has as many neurons as the layer it gates has units (or
channels), laid out on a near-square 2-D lattice. For each input it finds the
winner among its prototypes and returns a Gaussian neighbourhood around it,
which multiplies the layer's output. The map organises itself on the layer's
input with the classic SOM rule (no gradients) while the network trains by
backpropagation; units far from the winner get (almost) no gradient, so
different inputs train different parts of the layer.

- :class:`SOMMaskedLinear`: SOM+FC, the mask before the ReLU (``pre``, the
  note's SOM-ReLU) or after it (``post``, ReLU-SOM).
- :class:`SOMMaskedConv2d`: SOM+CNN, one SOM on the whole input image giving a
  per-channel mask (``image``), or a convolutional SOM on the patches the
  convolution sees giving a per-location channel mask (``patch``, the note's CSOM).

The SOM pieces are :mod:`synaptune.learners.functional.som`. Source: the HackMD
note "SOM Network" (Shaofan Lai); the design is described in docs/learners.md#sommask.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synaptune.exceptions import ConfigError
from synaptune.learners.functional.som import (
    best_matching_unit,
    conv_best_matching_unit,
    gaussian,
    grid_locations,
    lattice_sq_distances,
    near_square,
    som_update_,
)

__all__ = ["SOMMask", "SOMMaskedConv2d", "SOMMaskedLinear"]


class SOMMask(nn.Module):
    r"""A self-organizing map that turns each input into a mask over a layer's units.

    For an input :math:`z` (the layer's input, never differentiated) with winner
    :math:`j^* = \arg\min_j \lVert z - w_j \rVert`, the mask of unit :math:`j` is

    .. math::

        m_j = g_j \, [g_j > \tau], \qquad g_j = \exp\!\Big(-\frac{\lVert r_j - r_{j^*} \rVert^2}
        {2 \sigma_f^2}\Big)

    with :math:`r_j` the lattice coordinates, :math:`\sigma_f` = ``sigma_fwd`` and
    :math:`\tau` = ``threshold``. In ``train()`` mode every call then organises
    the map with the classic SOM rule averaged over the batch
    (:func:`~synaptune.learners.functional.som.som_update_`), with the organising width
    :math:`\sigma_o(t)` and rate :math:`\eta(t)`:

    .. math::

        w_j \leftarrow w_j + \frac{\eta(t)}{B} \sum_b
        \exp\!\Big(-\frac{\lVert r_j - r_{j^*_b} \rVert^2}{2 \sigma_o(t)^2}\Big) (z_b - w_j),
        \qquad x(t) = x_0 (x_1 / x_0)^{\min(t / T, 1)}

    Prototypes start as N(0, 1) noise that the first training batch rescales to
    its per-feature mean and standard deviation, so they start inside the data.

    Args:
        n_units: M, neurons of the map = units (or channels) of the masked layer.
        input_dim: D, size of what the map sees (a flattened input or one patch).
        sigma_org, sigma_org_final, sigma_fwd, som_lr, som_lr_final, decay_steps,
        threshold: as the fields of :class:`SOMMaskParams`.
        image_shape: (C, H, W) when a prototype is an image or a patch, so
            :meth:`prototype_images` can draw it; ``None`` otherwise.
        generator: draws the initial noise (default: the global generator).

    State:
        prototypes: (M, D) the map's prototypes w_j.
        locations: (M, 2) lattice coordinates, row-major.
        steps: int64 0-d, SOM updates done (t).
        initialized: bool 0-d, whether the first batch has rescaled the prototypes.
    """

    prototypes: Tensor
    locations: Tensor
    steps: Tensor
    initialized: Tensor
    lattice_sq: Tensor
    mask_table: Tensor

    def __init__(self, n_units: int, input_dim: int, *, sigma_org: float = 2.0, sigma_org_final: float = 0.5,
                 sigma_fwd: float = 3.0, som_lr: float = 0.5, som_lr_final: float = 0.01,
                 decay_steps: int = 500, threshold: float = 0.0,
                 image_shape: tuple[int, ...] | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if n_units < 1 or input_dim < 1:
            raise ConfigError(f"SOMMask needs n_units >= 1 and input_dim >= 1, got {n_units=}, {input_dim=}.")
        if not 0.0 <= threshold < 1.0:
            raise ConfigError(f"`threshold` must be in [0, 1), got {threshold!r}: a mask value is at most 1, "
                              "so a threshold of 1 or more would switch every unit off.")
        #: M and D: the prototypes' fixed shape (a state_dict of another shape does not load).
        self.n_units, self.input_dim = n_units, input_dim
        self.grid_shape = near_square(n_units)
        self.sigma_org, self.sigma_org_final, self.sigma_fwd = sigma_org, sigma_org_final, sigma_fwd
        self.som_lr, self.som_lr_final, self.decay_steps = som_lr, som_lr_final, decay_steps
        self.threshold = threshold
        self.image_shape = image_shape
        self.register_buffer("prototypes", torch.randn(n_units, input_dim, generator=generator))
        self.register_buffer("locations", grid_locations(self.grid_shape))
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        # Derived from the lattice and the fixed sigma_fwd / threshold, so not in the state_dict:
        # the forward mask of winner j is row j of mask_table (one gather per input).
        sq = lattice_sq_distances(self.locations, torch.arange(n_units))
        self.register_buffer("lattice_sq", sq, persistent=False)
        g = gaussian(sq, sigma_fwd**2)
        self.register_buffer("mask_table", g * (g > threshold), persistent=False)
        #: The last mask computed (not state): read by ``active_fraction``.
        self.last_mask: Tensor | None = None

    def extra_repr(self) -> str:
        return (f"grid={self.grid_shape}, input_dim={self.input_dim}, sigma_org={self.sigma_org}"
                f"->{self.sigma_org_final}, sigma_fwd={self.sigma_fwd}, som_lr={self.som_lr}"
                f"->{self.som_lr_final}, decay_steps={self.decay_steps}, threshold={self.threshold}")

    def schedule(self) -> tuple[Tensor, Tensor]:
        """``(sigma_org(t), eta(t))`` at the current step, as 0-d tensors (no host sync)."""
        frac = (self.steps.to(self.prototypes.dtype) / self.decay_steps).clamp_(max=1.0)
        sigma = self.sigma_org * (self.sigma_org_final / self.sigma_org) ** frac
        lr = self.som_lr * (self.som_lr_final / self.som_lr) ** frac
        return sigma, lr

    def winners(self, z: Tensor) -> Tensor:
        """Winner of each input ``z`` (B, D): int64 (B,)."""
        return best_matching_unit(z.to(self.prototypes.dtype), self.prototypes)

    def mask_of(self, winners: Tensor) -> Tensor:
        """Masks ``(*winners.shape, M)`` of winners given as int64 indices."""
        rows = self.mask_table.index_select(0, winners.reshape(-1))
        return rows.reshape(*winners.shape, self.n_units)

    def forward(self, z: Tensor) -> Tensor:
        """The mask (B, M) for each input of ``z`` (B, D).

        In ``train()`` mode the map is then organised on ``z`` (one SOM update).
        """
        z = z.detach()
        if self.training and not bool(self.initialized):
            self._initialize(z)
        win = self.winners(z)
        mask = self.mask_of(win)
        if self.training:
            self.organise(z, win)
        self.last_mask = mask
        return mask

    def forward_patches(self, x: Tensor, conv: nn.Conv2d) -> Tensor:
        """Convolutional SOM: the mask (B, H', W', M) of every patch ``conv`` sees in ``x`` (B, C, H, W).

        Winners come from :func:`~synaptune.learners.functional.som.conv_best_matching_unit`;
        in ``train()`` mode the map is then organised on all B*H'*W' patches (one
        SOM update, the patches unfolded once).
        """
        x = x.detach().to(self.prototypes.dtype)
        geometry = dict(padding=conv.padding, stride=conv.stride, dilation=conv.dilation)
        patches = None
        if self.training:
            unfolded = F.unfold(x, conv.kernel_size, **geometry)  # (B, D, L)
            patches = unfolded.transpose(1, 2).reshape(-1, unfolded.shape[1])
            if not bool(self.initialized):
                self._initialize(patches)
        win = conv_best_matching_unit(x, self.prototypes, kernel_size=conv.kernel_size, **geometry)
        mask = self.mask_of(win)
        if patches is not None:
            self.organise(patches, win.reshape(-1))
        self.last_mask = mask
        return mask

    @torch.no_grad()
    def _initialize(self, z: Tensor) -> None:
        z = z.to(self.prototypes.dtype)
        mean, std = z.mean(dim=0), z.std(dim=0, correction=0)
        self.prototypes.mul_(std).add_(mean)
        self.initialized.fill_(True)

    @torch.no_grad()
    def organise(self, z: Tensor, winners: Tensor) -> None:
        """One SOM update on inputs ``z`` (B, D) whose winners are ``winners`` (B,)."""
        sigma, lr = self.schedule()
        h = gaussian(self.lattice_sq.index_select(0, winners), sigma * sigma)  # (B, M)
        som_update_(self.prototypes, z, h, lr)
        self.steps.add_(1)

    @torch.no_grad()
    def prototype_images(self) -> Tensor | None:
        """Prototypes as images (M, C, H, W) scaled to [0, 1] together, or ``None`` if not images."""
        if self.image_shape is None:
            return None
        p = self.prototypes.reshape(self.n_units, *self.image_shape).float()
        lo, hi = p.min(), p.max()
        return (p - lo) / (hi - lo).clamp_min(1e-12)


class SOMMaskedLinear(nn.Module):
    """A dense layer, its ReLU and a :class:`SOMMask` on its input (SOM+FC).

    ``post`` (ReLU-SOM): ``mask * relu(W x + b)``; ``pre`` (SOM-ReLU):
    ``relu(mask * (W x) + b)``, the note's :math:`y_j = m_j \\sum_i x_i W_{ij}`
    with the bias after the mask. (A mask is never negative, so masking
    ``W x + b`` before the ReLU would equal ``post``; the bias is the difference.)

    Args:
        linear: the layer to gate (its parameters are kept, not copied).
        som: a map with ``linear.out_features`` neurons and ``linear.in_features`` inputs.
        position: ``pre`` or ``post``.
    """

    def __init__(self, linear: nn.Linear, som: SOMMask, *, position: str = "post") -> None:
        super().__init__()
        if som.n_units != linear.out_features or som.input_dim != linear.in_features:
            raise ConfigError(f"SOMMaskedLinear: the SOM must have {linear.out_features} neurons over "
                              f"{linear.in_features} inputs, got {som.n_units} over {som.input_dim}.")
        _check_position(position)
        self.linear, self.som, self.position = linear, som, position

    def extra_repr(self) -> str:
        return f"position={self.position}"

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_features) -> (B, out_features)."""
        mask = self.som(x)
        if self.position == "post":
            return F.relu(self.linear(x)) * mask  # not in place: relu's backward reads its output
        out = F.linear(x, self.linear.weight).mul_(mask)
        if self.linear.bias is not None:
            out = out.add_(self.linear.bias)
        return F.relu(out)


class SOMMaskedConv2d(nn.Module):
    """A convolution, its ReLU and a :class:`SOMMask` (SOM+CNN or CSOM).

    ``image`` mode: the map sees the whole flattened input image (C*H*W values)
    and masks each output channel, the same over all locations. ``patch`` mode
    (convolutional SOM): the map sees every patch the convolution sees
    (C*kh*kw values) and masks the channels of that patch's output location;
    all patches' winners come from one convolution with the prototypes as
    kernels (:func:`~synaptune.learners.functional.som.conv_best_matching_unit`, a batched
    matrix product over the patches, no Python loop). ``position`` as
    in :class:`SOMMaskedLinear`.

    Args:
        conv: the layer to gate (``groups=1``, integer padding).
        som: a map with ``conv.out_channels`` neurons over C*H*W (image) or C*kh*kw (patch) inputs.
        mode: ``image`` or ``patch``.
        position: ``pre`` or ``post``.
    """

    def __init__(self, conv: nn.Conv2d, som: SOMMask, *, mode: str = "patch", position: str = "post") -> None:
        super().__init__()
        if mode not in ("image", "patch"):
            raise ConfigError(f"`conv_mask` must be 'image' or 'patch', got {mode!r}.")
        if conv.groups != 1 or isinstance(conv.padding, str):
            raise ConfigError("SOMMaskedConv2d needs a Conv2d with groups=1 and integer padding, got "
                              f"groups={conv.groups}, padding={conv.padding!r}.")
        patch_dim = conv.in_channels * math.prod(conv.kernel_size)
        if som.n_units != conv.out_channels or (mode == "patch" and som.input_dim != patch_dim):
            raise ConfigError(f"SOMMaskedConv2d: the SOM must have {conv.out_channels} neurons"
                              + (f" over {patch_dim} inputs" if mode == "patch" else "")
                              + f", got {som.n_units} over {som.input_dim}.")
        _check_position(position)
        self.conv, self.som, self.mode, self.position = conv, som, mode, position

    def extra_repr(self) -> str:
        return f"mode={self.mode}, position={self.position}"

    def channel_mask(self, x: Tensor) -> Tensor:
        """The mask for input ``x`` (B, C, H, W): (B, M, 1, 1) (image) or (B, M, H', W') (patch)."""
        if self.mode == "image":
            return self.som(x.flatten(1))[:, :, None, None]
        return self.som.forward_patches(x, self.conv).permute(0, 3, 1, 2)  # a view, no copy

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, out_channels, H', W')."""
        c = self.conv
        if self.position == "post":
            out = F.relu(c(x))
            return out * self.channel_mask(x)
        out = F.conv2d(x, c.weight, None, c.stride, c.padding, c.dilation)
        out = out.mul_(self.channel_mask(x))
        if c.bias is not None:
            out = out.add_(c.bias[:, None, None])
        return F.relu(out)


def _check_position(position: str) -> None:
    if position not in ("pre", "post"):
        raise ConfigError(f"`mask_position` must be 'pre' (SOM-ReLU) or 'post' (ReLU-SOM), got {position!r}.")

# SPDX-License-Identifier: MIT
"""Figures of what a learner has learned: its prototypes as one PNG grid.

:meth:`synaptune.learners.base.Learner.prototype_images` gives the images;
:func:`prototype_grid` lays them out as the map is laid out (a near-square
lattice, row-major) and :func:`save_png` / :func:`png_bytes` encode the grid.
torchvision and PIL are imported inside the functions, so importing this
module stays light.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import Tensor

from synaptune.learners.functional.som import near_square

__all__ = ["png_bytes", "prototype_grid", "save_png"]

#: Images smaller than this (in pixels, per side) are enlarged by an integer factor, so an
#: 8x8 digit prototype stays visible in the grid.
MIN_CELL = 32


def prototype_grid(images: Tensor, *, ncol: int | None = None, padding: int = 1) -> Tensor:
    """One image (3, H', W'), uint8, of ``images`` (N, C, H, W) in [0, 1] laid out in a grid.

    Args:
        images: N images with C = 1 (gray) or 3 (RGB) channels, values in [0, 1]
            (values outside are clipped).
        ncol: images per row; default the columns of the near-square lattice of N
            neurons (:func:`~synaptune.learners.functional.som.near_square`), i.e. the SOM's layout.
        padding: pixels between images (drawn white).

    Raises:
        ValueError: ``images`` is not (N, 1 or 3, H, W) with N >= 1.
    """
    if images.dim() != 4 or images.shape[0] < 1 or images.shape[1] not in (1, 3):
        raise ValueError(f"prototype images must be shaped (N, C, H, W) with N >= 1 and C in (1, 3), "
                         f"got {tuple(images.shape)}.")
    from torchvision.utils import make_grid

    imgs = images.detach().float().cpu().clamp(0.0, 1.0)
    factor = max(1, -(-MIN_CELL // max(imgs.shape[2], imgs.shape[3])))  # ceil division
    if factor > 1:
        imgs = imgs.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)
    ncol = ncol or near_square(imgs.shape[0])[1]
    grid = make_grid(imgs, nrow=ncol, padding=padding, pad_value=1.0)  # (3, H', W'), gray -> RGB
    return grid.mul(255).round_().to(torch.uint8)


def png_bytes(images: Tensor, *, ncol: int | None = None) -> bytes:
    """The grid of :func:`prototype_grid` encoded as PNG."""
    from PIL import Image

    grid = prototype_grid(images, ncol=ncol)
    buf = io.BytesIO()
    Image.fromarray(grid.permute(1, 2, 0).numpy()).save(buf, format="PNG")
    return buf.getvalue()


def save_png(images: Tensor, path: str | Path, *, ncol: int | None = None) -> Path:
    """Write the grid of :func:`prototype_grid` to ``path`` as PNG; returns the path."""
    path = Path(path)
    path.write_bytes(png_bytes(images, ncol=ncol))
    return path

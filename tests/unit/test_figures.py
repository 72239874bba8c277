# SPDX-License-Identifier: MIT
"""The prototype picture: a grid laid out like the SOM lattice, encoded as PNG."""

from __future__ import annotations

import io

import pytest
import torch

from synaptune.figures import png_bytes, prototype_grid, save_png


def test_grid_follows_the_lattice_and_enlarges_small_images() -> None:
    images = torch.rand(12, 1, 8, 8)  # 12 neurons: a 3x4 lattice; 8x8 cells enlarged 4x to 32x32
    grid = prototype_grid(images, padding=1)
    assert grid.dtype == torch.uint8 and grid.shape == (3, 3 * 33 + 1, 4 * 33 + 1)
    # Gray becomes RGB; cell (row 1, col 2) holds image 1 * 4 + 2, enlarged.
    cell = grid[0, 1 + 33:1 + 33 + 32, 1 + 2 * 33:1 + 2 * 33 + 32]
    expected = (images[6, 0].repeat_interleave(4, 0).repeat_interleave(4, 1) * 255).round().to(torch.uint8)
    assert torch.equal(cell, expected)


def test_png_round_trip(tmp_path) -> None:
    from PIL import Image

    images = torch.rand(4, 3, 40, 40)
    data = png_bytes(images, ncol=4)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as im:
        assert im.size == (4 * 41 + 1, 41 + 1) and im.mode == "RGB"  # 40 px: not enlarged
    path = save_png(images, tmp_path / "p.png", ncol=4)
    assert path.read_bytes() == data


def test_bad_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        prototype_grid(torch.rand(4, 2, 8, 8))

# SPDX-License-Identifier: MIT
"""The epoch loop that every gradient-trained learner shares (naive and its subclasses
ewc, classp, joint, sommask; sparse; the Hebbian learner's head)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor


def fit_epochs(
    loss_of: Callable[..., Tensor],
    batches: Callable[[], Iterable[tuple[Any, ...]]],
    optimizer: torch.optim.Optimizer,
    epochs: int,
    *,
    device: torch.device,
    on_epoch_end: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """``epochs`` passes over ``batches()``, one optimiser step per batch.

    Args:
        loss_of: ``loss_of(*batch)`` -> the 0-d loss of one batch (moved to ``device``).
        batches: called once per epoch; yields tuples whose second item is the
            labels ``y`` (B,) (it counts the samples): ``(x, y)`` or ``(x, y, task_id)``.
        optimizer: stepped after each batch's backward pass.
        epochs: passes over the data (0 trains nothing).
        device: where the batches go and the loss is summed.
        on_epoch_end: called with the epoch index after each pass.

    Returns:
        ``{"train/loss": mean loss over the last epoch's samples}`` (0 if it had none).
    """
    total = torch.zeros((), device=device)
    count = 0
    for epoch in range(epochs):
        total.zero_()
        count = 0
        for batch in batches():
            batch = tuple(b.to(device) if isinstance(b, Tensor) else b for b in batch)
            loss = loss_of(*batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            n = batch[1].shape[0]
            total += loss.detach() * n  # summed on the device: no host sync per batch
            count += n
        if on_epoch_end is not None:
            on_epoch_end(epoch)
    return {"train/loss": float(total / max(count, 1))}

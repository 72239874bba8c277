# SPDX-License-Identifier: MIT
"""The SOM-masked learners ``sommask-mlp`` and ``sommask-cnn``.

The naive fine-tuning learner with each layer gated by a self-organizing map
(:class:`~synaptune.learners.modules.som_mask.SOMMaskedLinear`, SOM+FC;
:class:`~synaptune.learners.modules.som_mask.SOMMaskedConv2d`, SOM+CNN and CSOM)
in place of the plain ones.

Source: the HackMD note "SOM Network" (Shaofan Lai), sections "SOM as a Mask",
"SOM-ReLU vs ReLU-SOM", "SOM+CNN", "CSOM", "Threshold Mask". No code was
published; the design is described in docs/learners.md#sommask.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from synaptune.learners.naive import NaiveLearner
from synaptune.learners.modules.som_mask import SOMMask, SOMMaskedConv2d, SOMMaskedLinear
from synaptune.learners.hparams import SOMMaskCNNParams, SOMMaskMLPParams, SOMMaskParams

__all__ = [
    "SOMMaskCNNLearner",
    "SOMMaskCNNParams",
    "SOMMaskMLPLearner",
    "SOMMaskMLPParams",
    "SOMMaskParams",
    "mask_layers",
]


def mask_layers(layers: nn.Sequential, params: SOMMaskParams, input_shape: tuple[int, ...]) -> nn.Sequential:
    """``layers`` with each gated ``Linear``/``Conv2d`` + ``ReLU`` pair replaced by its masked version.

    Which pairs: the first one, or all (``params.masked_layers``). The original
    layers (and their initial weights) are kept inside the masked modules. The
    SOMs' initial noise comes from the global generator, drawn after the
    network's own initialisation, so the network starts exactly as the
    unmasked one would under the same seed.
    """
    mods = list(layers)
    device = next(layers.parameters()).device
    x = torch.zeros(1, *input_shape, device=device)  # traced to learn each layer's input shape
    conv_mode = getattr(params, "conv_mask", "patch")
    out: list[nn.Module] = []
    masked = 0
    i = 0
    with torch.no_grad():
        while i < len(mods):
            layer = mods[i]
            gated = (isinstance(layer, (nn.Linear, nn.Conv2d)) and i + 1 < len(mods)
                     and isinstance(mods[i + 1], nn.ReLU) and (params.masked_layers == "all" or masked == 0))
            if not gated:
                out.append(layer)
                x = x if isinstance(layer, nn.Dropout) else layer(x)
                i += 1
                continue
            image = tuple(x.shape[1:]) if x.dim() == 4 else (
                tuple(input_shape) if masked == 0 and len(input_shape) == 3 else None)
            if isinstance(layer, nn.Linear):
                som = _som(params, layer.out_features, layer.in_features, image)
                out.append(SOMMaskedLinear(layer, som, position=params.mask_position))
            else:
                if conv_mode == "patch":
                    patch = (layer.in_channels, *layer.kernel_size)
                    som = _som(params, layer.out_channels, math.prod(patch), patch)
                else:
                    som = _som(params, layer.out_channels, x[0].numel(), image)
                out.append(SOMMaskedConv2d(layer, som, mode=conv_mode, position=params.mask_position))
            x = mods[i + 1](layer(x))
            masked += 1
            i += 2
    return nn.Sequential(*out).to(device)


def _som(params: SOMMaskParams, n_units: int, input_dim: int, image: tuple[int, ...] | None) -> SOMMask:
    return SOMMask(n_units, input_dim, sigma_org=params.sigma_org, sigma_org_final=params.sigma_org_final,
                   sigma_fwd=params.sigma_fwd, som_lr=params.som_lr, som_lr_final=params.som_lr_final,
                   decay_steps=params.decay_steps, threshold=params.threshold,
                   image_shape=image if image is not None and len(image) == 3 else None)


class _SOMMaskLearnerMixin:
    """What the two SOM-masked learners add to :class:`NaiveLearner`."""

    net: Any
    device: torch.device
    input_shape: tuple[int, ...]

    def __init__(self, params: Any, **kwargs: Any) -> None:
        """Arguments as :class:`~synaptune.learners.base.Learner`: the naive network, then its
        layers replaced by their SOM-masked versions (:func:`mask_layers`)."""
        super().__init__(params, **kwargs)  # type: ignore[call-arg]
        feats = self.net.features
        feats.layers = mask_layers(feats.layers, params, self.input_shape)

    def masked_modules(self) -> list[SOMMaskedLinear | SOMMaskedConv2d]:
        """The masked layers, input to output."""
        return [m for m in self.net.features.layers if isinstance(m, (SOMMaskedLinear, SOMMaskedConv2d))]

    @torch.no_grad()
    def active_fractions(self, x: Tensor) -> list[float]:
        """Per masked layer, the fraction of mask entries above 0 (= above the threshold) on ``x``.

        An entry is one (sample, unit) pair, or one (sample, channel, location)
        for a convolutional SOM. Runs the features in ``eval()`` mode.
        """
        self.net.eval()
        self.net.features(x.to(self.device))
        out = []
        for m in self.masked_modules():
            mask = m.som.last_mask
            assert mask is not None  # set by the forward just run
            out.append(float((mask > 0).float().mean()))
        return out

    def prototype_images(self) -> Tensor | None:
        """The first masked layer's SOM prototypes as images (M, C, H, W) in [0, 1], lattice order."""
        return self.masked_modules()[0].som.prototype_images()


class SOMMaskMLPLearner(_SOMMaskLearnerMixin, NaiveLearner):
    r"""Fine-tunes an MLP whose hidden units are gated by a self-organising map per layer (SOM+FC).

    Each masked hidden layer computes :math:`m(x) \odot \mathrm{relu}(W x + b)`
    (``post``) or :math:`\mathrm{relu}(m(x) \odot W x + b)` (``pre``), with
    :math:`m(x)` the :class:`SOMMask` of its input; training is otherwise
    :class:`~synaptune.learners.naive.NaiveLearner`'s (cross-entropy, fresh
    optimiser per task), and each training batch also takes one SOM update per
    map. With ``sigma_fwd=inf`` the mask is 1 and the learner is the naive one
    with the same seed, bit for bit.

    Example (``stream`` is any :class:`~synaptune.benchmarks.base.Stream`)::

        learner = SOMMaskMLPLearner(SOMMaskMLPParams(sigma_fwd=2.0), input_shape=stream.input_shape,
                                    n_classes=stream.n_classes, n_tasks=stream.n_tasks)
        for task in stream.tasks:
            learner.fit_task(task)
        labels = learner.predict(stream.tasks[0].tensors("test")[0])  # int64 (B,)

    State:
        net.*: the classifier, with ``features.layers.<i>.linear.*`` and the maps'
            ``features.layers.<i>.som.{prototypes, locations, steps, initialized}``.
        rng_state: as :class:`~synaptune.learners.naive.NaiveLearner`.
    """

    params_cls = SOMMaskMLPParams


class SOMMaskCNNLearner(_SOMMaskLearnerMixin, NaiveLearner):
    r"""Fine-tunes the small CNN with its convolutions gated by self-organising maps (SOM+CNN, CSOM).

    Each masked convolution's output channels are multiplied by a mask from a
    :class:`SOMMask`: per channel from a map of the whole input (``conv_mask=image``)
    or per channel and location from a convolutional map of the patches
    (``conv_mask=patch``); with ``masked_layers=all`` the dense hidden layer is
    masked too (as in :class:`SOMMaskMLPLearner`). Training as
    :class:`~synaptune.learners.naive.NaiveLearner`, plus one SOM update per map
    per batch. ``sigma_fwd=inf`` gives the naive CNN learner, bit for bit.

    Example::

        learner = SOMMaskCNNLearner(SOMMaskCNNParams(threshold=0.5), input_shape=(1, 28, 28),
                                    n_classes=10, n_tasks=5)

    State:
        net.*: the classifier, with ``features.layers.<i>.conv.*`` (or ``.linear.*``)
            and the maps' ``features.layers.<i>.som.*`` buffers.
        rng_state: as :class:`~synaptune.learners.naive.NaiveLearner`.
    """

    params_cls = SOMMaskCNNParams

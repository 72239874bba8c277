# SPDX-License-Identifier: MIT
"""The ``sparse-mlp`` and ``sparse-cnn`` learners: networks of k-winners and fixed sparse weights.

:class:`SparseMLPLearner` and :class:`SparseCNNLearner` put the layers of
:mod:`synaptune.learners.modules.kwinners` and
:mod:`synaptune.learners.modules.sparse_weights` (nupic.torch's, docs/learners.md#sparse)
in the networks of "The Unreasonable Effectiveness of Sparse Dynamic Synapses
for Continual Learning" (Pervasive-AI-Lab/sparse-dynamic-synapses, seed 003).
With ``percent_on = 1`` and ``sparsity = 0`` they are the dense networks, layer
for layer, which is the comparison the original draws.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from synaptune.learners.functional.task_classes import task_classes_table
from synaptune.learners.gradient import GradientLearner
from synaptune.learners.modules.kwinners import KWinners, KWinners2d, KWinnersBase
from synaptune.learners.modules.sparse_weights import SparseWeights, SparseWeights2d, SparseWeightsBase
from synaptune.learners.networks import Classifier, FeatureStack, check_multi_head, image_shape
from synaptune.learners.hparams import SparseCNNParams, SparseMLPParams

if TYPE_CHECKING:
    from synaptune.benchmarks.base import Split, Task

__all__ = ["SparseCNN", "SparseCNNLearner", "SparseCNNParams", "SparseMLP", "SparseMLPLearner", "SparseMLPParams"]


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
        self.register_buffer("task_classes", task_classes_table(n_tasks, n_classes))


# ------------------------------------------------------------------------------ learners
class SparseMLPLearner(GradientLearner):
    r"""Fine-tuning of a sparse network (k-winners activations, fixed sparse weights).

    Nothing else protects against forgetting: the claim of the original is that
    sparse activations and connections make tasks interfere less. Each task gets
    a fresh SGD optimiser over every parameter (so each new head is trained,
    unlike the original, docs/learners.md#sparse-modes), ``train_ep`` epochs on the first
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
        self._sparse_layers = [m for m in self.net.modules() if isinstance(m, SparseWeightsBase)]
        self._kwinners = [m for m in self.net.modules() if isinstance(m, KWinnersBase)]

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

# SPDX-License-Identifier: MIT
"""The ``hebbian`` learner: Krotov–Hopfield Hebbian layers learned without labels, then a head.

:class:`HebbianLearner` stacks :class:`~synaptune.learners.modules.bio.BioConv2d`
and :class:`~synaptune.learners.modules.bio.BioLinear` layers (the rule is in
:mod:`synaptune.learners.functional.krotov_hopfield`), trains them on each task
without labels, then trains a linear classifier head on their features with
labels (docs/learners.md#hebbian); golden fixtures
``tests/fixtures/reference/bio_*.npz`` (README §5).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synaptune.exceptions import ConfigError
from synaptune.learners.gradient import Batch, GradientLearner
from synaptune.learners.modules.bio import BioConv2d, BioLinear
from synaptune.learners.modules.bio_head import BioHead
from synaptune.learners.networks import check_multi_head
from synaptune.learners.hparams import HebbianParams

if TYPE_CHECKING:
    from synaptune.benchmarks.base import Split, Task

__all__ = ["CONV_STACK", "HebbianLearner", "HebbianParams"]


#: The convolutional layers of seed 004's benchmark (Amato et al. 2019, BioPyTorch's README):
#: ``(out_channels, kernel_size, max-pool 2x2 after the ReLU)``. Layer 5 is a BioLinear.
CONV_STACK: tuple[tuple[int, int, bool], ...] = (
    (96, 5, True), (128, 3, False), (192, 3, True), (256, 3, False))


class HebbianLearner(GradientLearner):
    r"""Krotov–Hopfield Hebbian layers learned without labels, then a supervised linear head.

    For each task: (1) unless frozen (``freeze_hebbian`` after the first task),
    the Hebbian layers learn from the task's inputs alone, with the rule of
    :func:`~synaptune.learners.functional.krotov_hopfield.krotov_hopfield_delta` and learning rate :math:`\eta`
    (``hebb_lr_schedule=exp``: :math:`\eta = \eta_{end} - (\eta_{end} -
    \eta_{start}) e^{-s\, e}`, :math:`e` = epochs this layer has trained, so
    plastic layers keep decaying across tasks); (2) the classifier head
    (BatchNorm, dropout, linear) is trained with cross-entropy and SGD on the
    frozen features. Each Hebbian layer is followed by a ReLU (and a 2x2
    max-pool where seed 004's architecture has one, see :data:`CONV_STACK`).
    In task-il the logits are restricted to the task's classes (or its own head).

    Reference: Krotov & Hopfield, PNAS 116(16) 7723 (2019); architecture and
    search space from BioPyTorch (github.com/Einlar/biopytorch), after
    Amato et al., "Hebbian Learning Meets Deep Convolutional Neural Networks" (2019).

    Example (``stream`` is any :class:`~synaptune.benchmarks.base.Stream`)::

        learner = HebbianLearner(HebbianParams(p=2, k=9, delta=0.08), input_shape=stream.input_shape,
                                 n_classes=stream.n_classes, n_tasks=stream.n_tasks)
        for task in stream.tasks:
            learner.fit_task(task)

    State:
        hebbian.*: the BioConv2d / BioLinear layers (weights, BatchNorm buffers).
        head.*: the classifier (:class:`~synaptune.learners.modules.bio_head.BioHead`) and its
            ``task_classes``.
        hebb_epochs_done: float64 (n_layers,), epochs each layer has trained (drives the schedule).
        tasks_done: int64, tasks trained so far (freezing after the first).
        rng_state: the shuffling generator's state (:class:`~synaptune.learners.base.Learner`).
    """

    params_cls = HebbianParams

    def __init__(self, params: Any, **kwargs: Any) -> None:
        """Arguments as :class:`~synaptune.learners.base.Learner`."""
        super().__init__(params, **kwargs)
        check_multi_head(params, self.scenario)
        layers, pools, shape = self._build_stack(params, self.input_shape)
        self.hebbian = nn.ModuleList(layers)
        self.pools = tuple(pools)
        self.head = BioHead(shape, n_classes=self.n_classes, n_tasks=self.n_tasks, dropout=params.dropout,
                          multi_head=params.multi_head)
        self.register_buffer("hebb_epochs_done", torch.zeros(len(layers), dtype=torch.float64))
        self.register_buffer("tasks_done", torch.zeros((), dtype=torch.int64))
        self.to(self.device)

    # ------------------------------------------------------------------ architecture
    @staticmethod
    def _build_stack(p: HebbianParams, input_shape: tuple[int, ...]
                     ) -> tuple[list[nn.Module], list[bool], tuple[int, ...]]:
        """The Hebbian layers, whether each is followed by a max-pool, and the feature shape."""
        n = p.hebbian_layers
        own = p.linear_own_pkd
        lin_rule = dict(lebesgue_p=p.linear_p if own else p.p, ranking_param=p.linear_k if own else p.k,
                        delta=p.linear_delta if own else p.delta)
        conv_rule = dict(lebesgue_p=p.p, ranking_param=p.k, delta=p.delta)
        common = dict(mode=p.mode, norm=p.norm)
        n_conv = min(n, len(CONV_STACK)) if p.arch == "conv" else 0
        n_lin = n - n_conv
        for units, what in ([(c, "conv") for c, _, _ in CONV_STACK[:n_conv]]
                            + [(p.linear_units, "linear")] * n_lin):
            k = conv_rule["ranking_param"] if what == "conv" else lin_rule["ranking_param"]
            if k > units:
                raise ConfigError(f"`k` (or `linear_k`) must be at most the {units} units of each {what} "
                                  f"layer, got {k}. Lower k or widen the layer.")
        layers: list[nn.Module] = []
        pools: list[bool] = []
        shape = tuple(input_shape)
        if n_conv:
            if len(shape) != 3:
                raise ConfigError(f"`arch`=conv needs image inputs shaped (C, H, W), got input_shape "
                                  f"{shape}. Use arch=linear for this stream.")
            padding = p.padding
            if padding == "auto":
                padding = "valid" if HebbianLearner._fits(shape, n_conv, "valid") else "same"
            if not HebbianLearner._fits(shape, n_conv, padding):
                raise ConfigError(
                    f"input_shape {shape} is too small for {n_conv} conv layer(s) with padding={padding} "
                    "(kernels 5,3,3,3 and two 2x2 max-pools). Use padding=same or auto, fewer "
                    "`hebbian_layers`, or arch=linear.")
            c, h, w = shape
            for out, ks, pool in CONV_STACK[:n_conv]:
                layers.append(BioConv2d(c, out, ks, padding=padding, **conv_rule, **common))
                pools.append(pool)
                c = out
                if padding == "valid":
                    h, w = h - ks + 1, w - ks + 1
                if pool:
                    h, w = h // 2, w // 2
            shape = (c, h, w)
        width = math.prod(shape)
        for _ in range(n_lin):
            layers.append(BioLinear(width, p.linear_units, **lin_rule, **common))
            pools.append(False)
            width = p.linear_units
            shape = (width,)
        return layers, pools, shape

    @staticmethod
    def _fits(shape: tuple[int, ...], n_conv: int, padding: str) -> bool:
        _, h, w = shape
        for _, ks, pool in CONV_STACK[:n_conv]:
            if padding == "valid":
                h, w = h - ks + 1, w - ks + 1
            if pool:
                h, w = h // 2, w // 2
            if min(h, w) < 1:
                return False
        return True

    def _block(self, i: int, h: Tensor) -> Tensor:
        """Output of Hebbian layer ``i`` (ReLU, pool) for its input ``h``."""
        h = torch.relu(self.hebbian[i](h))
        return F.max_pool2d(h, 2) if self.pools[i] else h

    def features(self, x: Tensor, upto: int | None = None) -> Tensor:
        """Outputs of the first ``upto`` Hebbian blocks (all by default), no gradient."""
        with torch.no_grad():
            for i in range(len(self.hebbian) if upto is None else upto):
                x = self._block(i, x)
        return x

    # ---------------------------------------------------------------------- training
    def _lr(self, i: int, epochs_done: float) -> float:
        p = self.params
        if isinstance(self.hebbian[i], BioConv2d):
            start, end, speed = p.hebb_lr, p.hebb_lr_end, p.hebb_lr_speed
        else:
            start, end, speed = p.linear_lr, p.linear_lr_end, p.linear_lr_speed
        if p.hebb_lr_schedule == "constant":
            return start
        return end - (end - start) * math.exp(-speed * epochs_done)

    @torch.no_grad()
    def _hebbian_phase(self, task: Task, split: Split) -> dict[str, float]:
        n = len(self.hebbian)
        if n == 0:
            return {}
        p = self.params
        per_epoch = max(1, math.ceil(task.size(split) / p.batch_size))
        done = self.hebb_epochs_done.tolist()
        last = torch.zeros(n, device=self.device)

        def batches() -> Any:
            for x, _ in task.batches(split, p.batch_size, shuffle=True, generator=self.generator):
                if x.shape[0] >= 2:  # batch statistics need two samples
                    yield x.to(self.device)

        if p.hebb_order == "together":
            for _ in range(p.hebb_epochs):
                for x in batches():
                    for i in range(n):
                        last[i] = self.hebbian[i].training_step(x, self._lr(i, done[i]))
                        done[i] += 1 / per_epoch
                        if i + 1 < n:
                            x = self._block(i, x)
                if p.hebb_tol > 0 and float(last.max()) <= p.hebb_tol:
                    break
        else:
            for i in range(n):
                for _ in range(p.hebb_epochs):
                    for x in batches():
                        for j in range(i):
                            x = self._block(j, x)
                        last[i] = self.hebbian[i].training_step(x, self._lr(i, done[i]))
                        done[i] += 1 / per_epoch
                    if p.hebb_tol > 0 and float(last[i]) <= p.hebb_tol:
                        break
        self.hebb_epochs_done.copy_(torch.tensor(done, dtype=torch.float64))
        return {"train/hebbian_convergence": float(last.max())}

    # ---------------------------------------------- the head, trained by GradientLearner
    def remember(self, task: Task, seen: tuple[Task, ...]) -> None:
        self.head.remember(task.id, task.classes)

    def on_task_start(self, task: Task, split: Split) -> dict[str, float]:
        if self.params.freeze_hebbian and int(self.tasks_done) > 0:
            return {}
        return self._hebbian_phase(task, split)

    def epoch_batches(self, task: Task, split: Split, seen: tuple[Task, ...]) -> Callable[[], Iterator[Batch]]:
        tid = self.train_task_id(task.id)

        def batches() -> Iterator[Batch]:
            for x, y in task.batches(split, self.params.batch_size, shuffle=True, generator=self.generator):
                if x.shape[0] >= 2:  # the head's BatchNorm needs two samples in training mode
                    yield x, y, tid

        return batches

    def make_optimizer(self) -> torch.optim.Optimizer:
        params = [w for w in self.head.parameters() if w.requires_grad]
        return torch.optim.SGD(params, lr=self.params.lr, momentum=self.params.momentum)

    def logits(self, x: Tensor, task_id: int | Tensor | None) -> Tensor:
        return self.head(self.features(x), task_id)

    def on_task_end(self, task: Task, split: Split) -> dict[str, float]:
        self.tasks_done += 1
        return {}

    def prototype_images(self) -> Tensor | None:
        """The first Hebbian layer's filters as images, each min-max scaled to [0, 1].

        BioConv2d: its kernels (C_out, C_in, kh, kw); BioLinear: its rows reshaped to
        the input image (units, C, H, W). ``None`` without Hebbian layers, or for a
        BioLinear on non-image inputs.
        """
        if len(self.hebbian) == 0:
            return None
        w = self.hebbian[0].weight.detach().float().cpu()
        if isinstance(self.hebbian[0], BioLinear):
            if len(self.input_shape) != 3:
                return None
            w = w.view(-1, *self.input_shape)
        flat = w.flatten(1)
        low, high = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
        return ((flat - low) / (high - low).clamp_min(1e-12)).view_as(w)


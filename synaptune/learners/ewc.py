# SPDX-License-Identifier: MIT
"""Elastic Weight Consolidation: fine-tuning plus a Fisher-weighted anchor to past solutions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call, grad, vmap

from synaptune.learners.naive import NaiveLearner
from synaptune.learners.hparams import EWCParams

if TYPE_CHECKING:
    from synaptune.benchmarks.base import Split, Task

#: Samples per vmapped chunk when estimating the Fisher: bounds memory to
#: chunk x n_parameters floats of per-sample gradients.
_FISHER_CHUNK = 64


class EWCLearner(NaiveLearner):
    r"""Fine-tuning with a quadratic penalty that anchors weights important to past tasks.

    After each task :math:`t` the learner estimates the diagonal empirical
    Fisher information :math:`F_t` (mean squared per-sample gradient of
    :math:`\log p(y \mid x)` at the true label, over ``fisher_samples``
    training samples of the task) at the weights :math:`\theta^*_t` reached.
    Training on later tasks minimises

    .. math::

        \mathcal{L}(\theta) = \mathrm{CE}(\theta)
            + \frac{\lambda}{2} \sum_{t} \sum_i F_{t,i} (\theta_i - \theta^*_{t,i})^2

    which is the classic multi-task EWC sum (one anchor per past task). Its
    state has a fixed size, independent of the number of tasks: expanding the
    square, the penalty is
    :math:`\sum_i \theta_i^2 S_i - 2 \theta_i S^{\theta}_i + S^{\theta^2}_i` with
    :math:`S = \sum_t F_t`, :math:`S^{\theta} = \sum_t F_t \theta^*_t` and
    :math:`S^{\theta^2} = \sum_t F_t {\theta^*_t}^2`, three vectors the size of
    the network, updated once per task.

    Reference: Kirkpatrick et al., "Overcoming catastrophic forgetting in neural
    networks", PNAS 114(13), 2017.

    Example (``stream`` is any :class:`~synaptune.benchmarks.base.Stream`)::

        learner = EWCLearner(EWCParams(ewc_lambda=100.0), input_shape=stream.input_shape,
                             n_classes=stream.n_classes, n_tasks=stream.n_tasks)
        for task in stream.tasks:
            learner.fit_task(task)
        labels = learner.predict(stream.tasks[0].tensors("test")[0])  # int64 (B,)

    State:
        net.*, net.task_classes, rng_state: as in :class:`NaiveLearner`.
        ewc_fisher: float (n_parameters,), :math:`S = \sum_t F_t` over the flattened parameters.
        ewc_fisher_theta: float (n_parameters,), :math:`\sum_t F_t \theta^*_t`.
        ewc_fisher_theta_sq: float (n_parameters,), :math:`\sum_t F_t {\theta^*_t}^2`.
        ewc_tasks: int64 scalar, the number of tasks consolidated so far.
        ewc_seed: int64 scalar, seeds the choice of each task's Fisher samples.
    """

    params_cls = EWCParams

    def __init__(self, params: Any, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        n = sum(p.numel() for p in self.net.parameters())
        for name in ("ewc_fisher", "ewc_fisher_theta", "ewc_fisher_theta_sq"):
            self.register_buffer(name, torch.zeros(n, device=self.device))
        self.register_buffer("ewc_tasks", torch.zeros((), dtype=torch.long, device=self.device))
        # Seeds the choice of Fisher samples; a buffer, so a restored learner picks the same ones.
        self.register_buffer("ewc_seed", torch.tensor(self.seed, dtype=torch.long, device=self.device))
        self._use_penalty = False  # set per task by on_task_start

    def state_bytes(self) -> int:
        """Bytes of the three fixed-size consolidation buffers (3 x the parameter count)."""
        return sum(b.numel() * b.element_size()
                   for b in (self.ewc_fisher, self.ewc_fisher_theta, self.ewc_fisher_theta_sq))

    def _flat_params(self) -> Tensor:
        return torch.cat([p.reshape(-1) for p in self.net.parameters()])

    def penalty(self) -> Tensor:
        r""":math:`\sum_t \sum_i F_{t,i} (\theta_i - \theta^*_{t,i})^2` at the current weights."""
        theta = self._flat_params()
        # Per element before summing, so the large terms cancel element by element.
        return ((self.ewc_fisher * theta - 2 * self.ewc_fisher_theta) * theta
                + self.ewc_fisher_theta_sq).sum()

    def on_task_start(self, task: Task, split: Split) -> dict[str, float]:
        # One host sync per task, so the penalty (and its cost) is skipped when it is zero.
        self._use_penalty = self.params.ewc_lambda > 0 and int(self.ewc_tasks) > 0
        return {}

    def regularizer(self) -> Tensor | None:
        if not self._use_penalty:
            return None
        return 0.5 * self.params.ewc_lambda * self.penalty()

    def on_task_end(self, task: Task, split: Split) -> dict[str, float]:
        self.consolidate(task, split)
        if not self._use_penalty:
            return {}
        with torch.no_grad():
            return {"train/penalty": float(self.penalty())}

    def fisher_data(self, task: Task, split: Split) -> tuple[Tensor, Tensor]:
        """The ``fisher_samples`` samples ``(x, y)`` of ``task`` used for its Fisher.

        Drawn with a generator of their own, seeded by (``ewc_seed``, task id): the choice is
        reproducible and leaves the shuffling generator untouched, so EWC with
        ``ewc_lambda=0`` trains exactly like :class:`NaiveLearner`.
        """
        g = torch.Generator().manual_seed(int(self.ewc_seed) * 1_000_003 + task.id)
        n = min(self.params.fisher_samples, task.size(split))
        x, y = next(task.batches(split, n, shuffle=True, generator=g))
        return x.to(self.device), y.to(self.device)

    def estimate_fisher(self, x: Tensor, y: Tensor, *, task_id: int | None = None) -> Tensor:
        r"""Diagonal empirical Fisher at the current weights, flattened like the parameters.

        The mean over samples of the squared gradient of :math:`-\log p(y \mid x)`,
        one gradient per sample (``torch.func.vmap``), in eval mode (no dropout).
        """
        was_training = self.training
        self.eval()
        names = [name for name, _ in self.net.named_parameters()]
        params = {name: p.detach() for name, p in self.net.named_parameters()}
        buffers = dict(self.net.named_buffers())

        def nll(p: dict[str, Tensor], xi: Tensor, yi: Tensor) -> Tensor:
            out = functional_call(self.net, (p, buffers), (xi.unsqueeze(0), task_id))
            return F.cross_entropy(out, yi.unsqueeze(0))

        per_sample_grad = vmap(grad(nll), in_dims=(None, 0, 0))
        total = torch.zeros(sum(p.numel() for p in params.values()), device=self.device)
        for start in range(0, x.shape[0], _FISHER_CHUNK):
            g = per_sample_grad(params, x[start : start + _FISHER_CHUNK], y[start : start + _FISHER_CHUNK])
            total += torch.cat([g[name].pow(2).flatten(1) for name in names], dim=1).sum(0)
        self.train(was_training)
        return total / max(x.shape[0], 1)

    def consolidate(self, task: Task, split: Split = "train") -> None:
        r"""Add task ``task``'s anchor :math:`F_t (\theta - \theta^*_t)^2` to the penalty."""
        x, y = self.fisher_data(task, split)
        fisher = self.estimate_fisher(x, y, task_id=self.train_task_id(task.id))
        with torch.no_grad():
            theta = self._flat_params()
            self.ewc_fisher += fisher
            self.ewc_fisher_theta += fisher * theta
            self.ewc_fisher_theta_sq += fisher * theta * theta
            self.ewc_tasks += 1

# SPDX-License-Identifier: MIT
"""The ``classp`` learner: the naive network trained with the CLASSP optimiser.

The optimiser, :class:`~synaptune.learners.functional.classp.CLASSP`, lives in
:mod:`synaptune.learners.functional.classp`; this module keeps its accumulator
across tasks and checkpoints. The algorithm, its knobs and its two modes are
described in docs/learners.md#classp; Ludwig, arXiv 2405.09637.
"""

from __future__ import annotations

from typing import Any

import torch

from synaptune.learners.functional.classp import CLASSP
from synaptune.learners.hparams import CLASSPParams
from synaptune.learners.naive import NaiveLearner

__all__ = ["CLASSPLearner", "CLASSPParams"]


class CLASSPLearner(NaiveLearner):
    r"""The naive network (MLP or small CNN) trained with the CLASSP optimizer, which damps updates to weights used before.

    That is, the ``naive`` network, single- or multi-head, trained with
    :class:`~synaptune.learners.functional.classp.CLASSP`.

    Nothing is added to the loss: protection against forgetting comes from the
    optimiser alone. Its accumulator :math:`S` (one value per weight) persists
    across tasks and checkpoints, so weights that moved much on earlier tasks
    move less later. The optimiser object itself is rebuilt for every task (as in
    ``naive``), but its ``grad_sum`` states are views into the ``classp_grad_sum``
    buffer, so they are saved and restored with the learner's ``state_dict``.

    Reference: O. Ludwig, "CLASSP: a Biologically-Inspired Approach to Continual
    Learning through Adjustment Suppression and Sparsity Promotion", arXiv 2405.09637.

    Example (``stream`` is any :class:`~synaptune.benchmarks.base.Stream`)::

        learner = CLASSPLearner(CLASSPParams(lr=0.2, threshold=1e-10), input_shape=stream.input_shape,
                                n_classes=stream.n_classes, n_tasks=stream.n_tasks)
        for task in stream.tasks:
            learner.fit_task(task)

    State:
        net.*, net.task_classes, rng_state: as in :class:`NaiveLearner`.
        classp_grad_sum: float (n_parameters,), the accumulator :math:`S` over the
            flattened parameters (in ``net.parameters()`` order).
    """

    params_cls = CLASSPParams

    def __init__(self, params: Any, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        n = sum(p.numel() for p in self.net.parameters())
        dtype = next(self.net.parameters()).dtype
        self.register_buffer("classp_grad_sum", torch.zeros(n, dtype=dtype, device=self.device))

    def make_optimizer(self) -> torch.optim.Optimizer:
        p = self.params
        opt = CLASSP(self.net.parameters(), lr=p.lr, threshold=p.threshold, power=p.power,
                     epsilon=p.epsilon, apply_decay=p.apply_decay, mode=p.mode,
                     include_current=p.include_current)
        offset = 0
        flat = self.classp_grad_sum
        for w in self.net.parameters():
            n = w.numel()
            view = flat[offset : offset + n].view_as(w)
            if view.dtype != w.dtype or view.device != w.device:
                raise RuntimeError("classp_grad_sum must match the network's dtype and device")
            opt.state[w]["grad_sum"] = view
            offset += n
        return opt

    def state_bytes(self) -> int:
        """Bytes of the optimiser state kept across tasks (the accumulator ``classp_grad_sum``)."""
        return self.classp_grad_sum.numel() * self.classp_grad_sum.element_size()

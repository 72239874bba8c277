# SPDX-License-Identifier: MIT
"""Helpers for testing learners, shipped so plugin authors can reuse them.

``tests/conformance`` runs every registered learner through the same checks;
a new learner gets that coverage by being registered.
"""

from __future__ import annotations

import torch

from synaptune.benchmarks.base import Pool, Stream, Task


def blob_stream(*, n_tasks: int = 2, classes_per_task: int = 2, input_shape: tuple[int, ...] = (1, 8, 8),
                scenario: str = "class-il", per_class: int = 40, seed: int = 0) -> Stream:
    """A tiny stream of well-separated Gaussian blobs, ``classes_per_task`` new classes per task.

    Inputs are float32 in about [0, 1] with shape ``input_shape``; each class has
    ``per_class`` train, ``per_class // 4`` val and ``per_class // 2`` test samples.
    """
    g = torch.Generator().manual_seed(seed)
    n_classes = n_tasks * classes_per_task
    means = torch.rand(n_classes, *input_shape, generator=g)

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n_classes).repeat_interleave(n)
        return (means[y] + 0.05 * torch.randn(len(y), *input_shape, generator=g)).clamp(0, 1), y

    n_val = per_class // 4
    train_x, train_y = sample(per_class + n_val)
    test_x, test_y = sample(per_class // 2)
    pool = Pool(train_x, train_y, test_x, test_y)
    tasks = []
    for t in range(n_tasks):
        classes = tuple(range(t * classes_per_task, (t + 1) * classes_per_task))
        in_task = torch.isin(train_y, torch.tensor(classes))
        idx = torch.nonzero(in_task).flatten()
        is_val = (idx % (per_class + n_val)) >= per_class
        test_idx = torch.nonzero(torch.isin(test_y, torch.tensor(classes))).flatten()
        tasks.append(Task(id=t, classes=classes, pool=pool, train_idx=idx[~is_val], val_idx=idx[is_val],
                          test_idx=test_idx))
    return Stream(name="blobs", tasks=tuple(tasks), scenario=scenario,  # type: ignore[arg-type]
                  input_shape=tuple(input_shape), n_classes=n_classes)

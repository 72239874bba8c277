# SPDX-License-Identifier: MIT
"""Feature extractors, heads and the hyperparameters the gradient baselines share.

The ``naive``, ``ewc`` and ``joint`` learners all train a :class:`Classifier`:
a feature extractor (:class:`MLP` or :class:`SmallCNN`) followed by one linear
head over every class, or one head per task (``multi_head``, task-il only).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from synaptune.exceptions import ConfigError
from synaptune.learners.functional.task_classes import (
    mark_task_classes,
    restrict_to_task,
    task_classes_table,
)

# NetworkParams and TrainingParams live in the torch-free hparams module; imported here too, where
# learners from other packages have always found them.
from synaptune.learners.hparams import NetworkParams, TrainingParams  # noqa: F401

MULTI_HEAD_NEEDS_TASK_IL = (
    "`multi_head` needs the task-il scenario (one head per task, chosen by the task id "
    "given at test time), got scenario {scenario!r}. Either set multi_head=false or use "
    "a task-il stream."
)


def check_multi_head(params: TrainingParams, scenario: str) -> None:
    """Raise :class:`ConfigError` if ``multi_head`` is asked for outside task-il."""
    if params.multi_head and scenario != "task-il":
        raise ConfigError(MULTI_HEAD_NEEDS_TASK_IL.format(scenario=scenario))


class FeatureStack(nn.Module):
    """A feature extractor that is one ``nn.Sequential`` (state keys ``layers.<i>.*``).

    Attributes:
        out_features: width of the output features.
    """

    def __init__(self, layers: list[nn.Module], out_features: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(*layers)
        self.out_features = out_features

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


def image_shape(input_shape: tuple[int, ...], *, needs: str, instead: str) -> tuple[int, int, int]:
    """``(C, H, W)`` of an image input with H, W >= 4 (two 2x2 poolings); else :class:`ConfigError`.

    ``needs`` names what asked for images, ``instead`` what to use for this stream.
    """
    if len(input_shape) != 3 or input_shape[1] < 4 or input_shape[2] < 4:
        raise ConfigError(f"{needs} needs image inputs shaped (C, H, W) with H, W >= 4, got input_shape "
                          f"{tuple(input_shape)}. Use {instead} for this stream.")
    c, h, w = input_shape
    return c, h, w


class MLP(FeatureStack):
    """Flatten, then ``hidden_layers`` x (Linear -> ReLU -> Dropout); ``out_features`` = ``hidden_units``."""

    def __init__(self, input_shape: tuple[int, ...], *, hidden_units: int, hidden_layers: int,
                 dropout: float = 0.0) -> None:
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for _ in range(hidden_layers):
            layers += [nn.Linear(width, hidden_units), nn.ReLU()]
            if dropout > 0:  # p=0 adds no module, so no random draw either
                layers.append(nn.Dropout(dropout))
            width = hidden_units
        super().__init__(layers, width)


class SmallCNN(FeatureStack):
    """Two blocks of Conv3x3 -> ReLU -> MaxPool2, then Linear -> ReLU -> Dropout.

    ``padding=1`` keeps the spatial size through each convolution, so inputs as
    small as 8x8 work (8 -> 4 -> 2); 28x28 gives 7x7 and 32x32 gives 8x8.
    ``out_features`` = ``hidden_units``.
    """

    def __init__(self, input_shape: tuple[int, ...], *, conv_channels: int, hidden_units: int,
                 dropout: float = 0.0) -> None:
        c, h, w = image_shape(input_shape, needs="`arch`=cnn", instead="arch=mlp")
        k = conv_channels
        layers: list[nn.Module] = [
            nn.Conv2d(c, k, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(k, k, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(k * (h // 4) * (w // 4), hidden_units), nn.ReLU(),
        ]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        super().__init__(layers, hidden_units)


def build_features(params: TrainingParams, input_shape: tuple[int, ...]) -> MLP | SmallCNN:
    """The feature extractor ``params.arch`` names, sized by its ``hidden_layers`` (mlp) or
    ``conv_channels`` (cnn)."""
    if params.arch == "cnn":
        return SmallCNN(input_shape, conv_channels=params.conv_channels,
                        hidden_units=params.hidden_units, dropout=params.dropout)
    return MLP(input_shape, hidden_units=params.hidden_units,
               hidden_layers=params.hidden_layers, dropout=params.dropout)


class Classifier(nn.Module):
    """Features plus one shared head, or one head per task.

    When a task id is given, logits of classes outside that task are set to
    ``-inf``, so training and prediction stay within the task's labels (the
    task-il protocol). The task -> classes map is the ``task_classes`` buffer,
    filled by :meth:`remember`, so it survives ``state_dict`` round trips
    (:mod:`synaptune.learners.functional.task_classes`).

    Args:
        params: network hyperparameters.
        input_shape: shape of one input, e.g. (1, 8, 8).
        n_classes: labels over the whole stream (width of every head).
        n_tasks: tasks in the stream (rows of ``task_classes``; heads if multi-head).

    State:
        task_classes: bool (n_tasks, n_classes); row t marks the classes of task t.
    """

    def __init__(self, params: TrainingParams, *, input_shape: tuple[int, ...], n_classes: int,
                 n_tasks: int) -> None:
        super().__init__()
        self.features = build_features(params, input_shape)
        width = self.features.out_features
        self.multi_head = params.multi_head
        self.n_tasks = n_tasks
        if self.multi_head:
            # Every head exists from the start, so a fresh learner accepts any checkpoint.
            self.heads = nn.ModuleList(nn.Linear(width, n_classes) for _ in range(n_tasks))
        else:
            self.head = nn.Linear(width, n_classes)
        self.register_buffer("task_classes", task_classes_table(n_tasks, n_classes))

    def remember(self, task_id: int, classes: tuple[int, ...]) -> None:
        """Record that task ``task_id`` uses labels ``classes``."""
        mark_task_classes(self.task_classes, task_id, classes)

    def forward(self, x: Tensor, task_id: int | Tensor | None = None) -> Tensor:
        """Logits (B, n_classes); ``task_id`` is an int or an int64 (B,) tensor, or ``None``."""
        return self.logits(x, task_id)

    def logits(self, x: Tensor, task_id: int | Tensor | None = None) -> Tensor:
        f = self.features(x)
        if self.multi_head:
            if task_id is None:
                raise ValueError("a multi-head classifier needs the task id (task-il scenario)")
            if isinstance(task_id, int):
                out = self.heads[task_id](f)
            else:  # one task id per sample (joint training over several tasks)
                every = torch.stack([head(f) for head in self.heads], dim=1)  # (B, T, C)
                pick = task_id.view(-1, 1, 1).expand(-1, 1, every.shape[-1])
                out = every.gather(1, pick).squeeze(1)
        else:
            out = self.head(f)
        if task_id is None:
            return out
        return restrict_to_task(out, self.task_classes, task_id)

# SPDX-License-Identifier: MIT
"""The learner protocol: what every continual learner implements.

A learner is a ``torch.nn.Module`` built from its frozen Params dataclass plus
the stream's shapes. It learns one task at a time and only ever sees that
task's data (except the ``joint`` upper bound, which says so with
``trains_on_seen_tasks = True``). All state that must survive a checkpoint
lives in parameters and buffers, so ``state_dict`` / ``load_state_dict`` are
enough to resume.
"""

from __future__ import annotations

import inspect
from abc import ABC, ABCMeta, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

# restrict_to_task is kept importable from here, where learners of other packages found it.
from synaptune.learners.functional.task_classes import restrict_to_task  # noqa: F401

if TYPE_CHECKING:
    from synaptune.benchmarks.base import Split, Task


def _cuda_devices(device: torch.device | str) -> list[int]:
    """The CUDA device ``device`` names, as the list of indices ``fork_rng`` takes (``[]`` off CUDA)."""
    device = torch.device(device)
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


class SeededConstruction(ABCMeta):
    """Metaclass of :class:`Learner`: a learner is built with torch's global generator seeded, then restored.

    Layers draw their initial weights from torch's global generator (``nn.Linear``
    has no ``generator`` argument). So that a seed gives the same learner, the
    whole construction (the subclass's ``__init__`` included) runs inside
    ``torch.random.fork_rng`` with that generator seeded by the ``seed`` keyword
    (default 0): the draws are those of ``torch.manual_seed(seed)`` followed by
    the constructor, and the caller's generator state is the same afterwards as
    before. The CPU generator is forked, and the CUDA device named by ``device``
    when there is one.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        given = _constructor_arguments(cls, args, kwargs)
        seed = int(given.get("seed", 0))
        devices = _cuda_devices(given.get("device", "cpu"))
        with torch.random.fork_rng(devices=devices):
            torch.default_generator.manual_seed(seed)
            for index in devices:
                with torch.cuda.device(index):
                    torch.cuda.manual_seed(seed)
            return super().__call__(*args, **kwargs)


def _constructor_arguments(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments of ``cls(*args, **kwargs)`` by name, whether given by keyword or by position."""
    try:
        bound = inspect.signature(cls.__init__).bind_partial(None, *args, **kwargs).arguments
    except TypeError:  # the constructor itself will say what is wrong
        return kwargs
    for name, value in list(bound.items()):  # a subclass's **kwargs passed on to Learner.__init__
        if isinstance(value, dict) and inspect.signature(cls.__init__).parameters[name].kind is \
                inspect.Parameter.VAR_KEYWORD:
            bound = {**value, **bound}
    return bound


class Learner(nn.Module, ABC, metaclass=SeededConstruction):
    """Base class of continual learners.

    Args:
        params: an instance of ``params_cls``.
        input_shape: shape of one input, e.g. (1, 8, 8).
        n_classes: number of labels over the whole stream.
        n_tasks: number of tasks in the stream (multi-head learners make one
            head per task).
        scenario: ``class-il``, ``task-il`` or ``domain-il``.
        device: where parameters live and training happens.
        seed: seeds the learner's own ``torch.Generator`` (init, shuffling) and,
            during construction only, torch's global generator (layers' initial
            weights; see :class:`SeededConstruction`). Constructing a learner leaves
            torch's global generator as it found it.

    State (every learner):
        rng_state: uint8, the state of ``generator`` when the state_dict was taken.
    """

    params_cls: ClassVar[type]
    #: The learner's YAML search space, for a learner from another package (one shipped with
    #: synaptune lives in ``synaptune/searchspaces/<name>.yaml``); e.g.
    #: ``Path(__file__).with_name("space.yaml")``.
    space_file: ClassVar[str | Path | None] = None
    #: ``True`` only for learners that train on every task seen so far.
    trains_on_seen_tasks: ClassVar[bool] = False

    def __init__(
        self,
        params: Any,
        *,
        input_shape: tuple[int, ...],
        n_classes: int,
        n_tasks: int,
        scenario: str = "class-il",
        device: torch.device | str = "cpu",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(params, self.params_cls):
            raise TypeError(f"{type(self).__name__} needs {self.params_cls.__name__}, got {type(params).__name__}")
        self.params = params
        self.input_shape = tuple(input_shape)
        self.n_classes = n_classes
        self.n_tasks = n_tasks
        self.scenario = scenario
        self.device = torch.device(device)
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        # The generator's state travels in the state_dict, so a learner restored from a
        # checkpoint shuffles (and reseeds dropout) exactly as the original would have.
        self.register_buffer("rng_state", self.generator.get_state())

    @abstractmethod
    def fit_task(self, task: Task, *, split: Split = "train", seen: tuple[Task, ...] = ()) -> dict[str, float]:
        """Train on ``task`` (its ``split``: ``train`` in sweeps, ``trainval`` in ``run``).

        ``seen`` holds earlier tasks and is non-empty only for learners with
        ``trains_on_seen_tasks``. Returns training metrics, e.g. ``{"train/loss": 0.3}``.
        """

    @abstractmethod
    def predict(self, x: Tensor, *, task_id: int | None = None) -> Tensor:
        """Predicted labels, int64 of shape (B,), for inputs ``x`` (B, *input_shape).

        ``task_id`` is given only in the task-il scenario.
        """

    def check_task_id(self, task_id: int | None) -> None:
        """Raise ``ValueError`` unless ``task_id`` is ``None`` or a task of the stream."""
        if task_id is not None and not 0 <= task_id < self.n_tasks:
            raise ValueError(f"task_id must be in [0, {self.n_tasks}), got {task_id}")

    def seed_global_rng(self) -> None:
        """Reseed torch's global generator from the learner's own ``generator``.

        Dropout and some initialisations draw from the global generator; reseeding it
        at the start of each task makes a run reproducible from the learner's own
        state, whatever else ran in the process before.
        """
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=self.generator)))

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        self.rng_state.copy_(self.generator.get_state())
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self.generator.set_state(self.rng_state.cpu())

    def state_bytes(self) -> int:
        """Bytes of what the learner keeps against forgetting (optimizer or regularizer
        state carried across tasks), reported as the ``state_bytes`` metric; 0 here."""
        return 0

    def prototype_images(self) -> Tensor | None:
        """What the learner has learned to look for, as images for a figure; ``None`` here.

        Learners with prototypes (SOMs) return them as a float tensor
        (n_units, C, H, W) with values in [0, 1], in lattice order (row-major), so
        :func:`synaptune.figures.prototype_grid` draws the map as laid out.
        """
        return None

    def extra_repr(self) -> str:
        return repr(self.params)

# SPDX-License-Identifier: MIT
"""Helpers for testing learners, shipped so authors of learners can reuse them.

:class:`LearnerConformance` holds the checks every learner passes;
``tests/conformance`` runs synaptune's own learners through it, and a learner
from another package gets the same coverage by subclassing it.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any, ClassVar

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


def task_accuracy(learner: Any, stream: Stream, t: int, *, task_id: int | None = None) -> float:
    """Accuracy of ``learner`` on task ``t``'s test split, passing ``task_id`` to ``predict``."""
    x, y = stream.tasks[t].tensors("test")
    with torch.no_grad():
        return float((learner.predict(x, task_id=task_id) == y).float().mean())


class LearnerConformance:
    """The checks every learner passes, shipped for authors of learners.

    Subclass it in a test module, naming a registered learner (synaptune's own,
    or one of your package's, registered through the ``synaptune.learners``
    entry-point group)::

        from synaptune.testing import LearnerConformance

        class TestMyLearner(LearnerConformance):
            learner = "my-learner"

    pytest collects the subclass (its name starts with ``Test``) and runs every
    ``test_*`` method: the learner builds from its defaults and from samples of
    its search space; learns each task of a well-separated blob stream clearly
    above chance in the class-il and task-il scenarios (and with one head per
    task when its Params have ``multi_head``); predicts int64 labels of the
    right task; is deterministic under a seed; resumes exactly from
    ``state_dict``; its Params survive a dict, YAML, the strings MLflow logs and
    a preset file; its search space validates. Class attributes tune the checks.
    """

    #: The registered learner name.
    learner: ClassVar[str]
    #: Accuracy the learner must reach on the task it has just learned: two
    #: well-separated classes per task, so chance is 0.5 (and a constant guess 0.5).
    min_accuracy: ClassVar[float] = 0.8
    #: Search-space samples built and trained on one task.
    space_samples: ClassVar[int] = 3
    #: Params overrides for every check but the space samples (e.g. fewer epochs).
    overrides: ClassVar[dict[str, Any]] = {}

    # ------------------------------------------------------------------ helpers

    @property
    def learner_cls(self) -> type:
        from synaptune.learners import LEARNERS

        return LEARNERS.get(self.learner)

    def params(self, **changes: Any) -> Any:
        return dataclasses.replace(self.learner_cls.params_cls(), **{**self.overrides, **changes})

    def stream(self, scenario: str = "class-il") -> Stream:
        """2 tasks x 2 classes of (1, 8, 8) blobs; 160 training samples a class, so that
        learners with a small step (or large batches) get enough updates to learn."""
        return blob_stream(scenario=scenario, per_class=160)

    def build(self, stream: Stream, params: Any = None, *, seed: int = 0) -> Any:
        return self.learner_cls(params if params is not None else self.params(), input_shape=stream.input_shape,
                                n_classes=stream.n_classes, n_tasks=stream.n_tasks, scenario=stream.scenario,
                                seed=seed)

    def check_predictions(self, learner: Any, stream: Stream, t: int, *, task_id: int | None) -> None:
        x, _ = stream.tasks[t].tensors("test")
        with torch.no_grad():
            pred = learner.predict(x, task_id=task_id)
        assert pred.dtype == torch.int64 and pred.shape == (x.shape[0],), (pred.dtype, pred.shape)
        allowed = stream.tasks[t].classes if task_id is not None else range(stream.n_classes)
        outside = sorted(set(pred.tolist()) - set(allowed))
        assert not outside, f"predicted labels {outside} outside {list(allowed)}"

    def learn_stream(self, learner: Any, stream: Stream) -> list[float]:
        """Train task by task; returns the accuracy on each task just after learning it."""
        from synaptune.runner import train_task

        task_il = stream.scenario == "task-il"
        just_learned = []
        for t in range(stream.n_tasks):
            train_task(learner, stream, t)
            self.check_predictions(learner, stream, t, task_id=t if task_il else None)
            just_learned.append(task_accuracy(learner, stream, t, task_id=t if task_il else None))
        return just_learned

    def check_learns(self, stream: Stream, params: Any = None) -> None:
        learner = self.build(stream, params)
        assert isinstance(learner, torch.nn.Module)
        accuracies = self.learn_stream(learner, stream)
        assert min(accuracies) >= self.min_accuracy, (
            f"{self.learner} reached {[round(a, 3) for a in accuracies]} on the tasks it had just learned "
            f"({stream.scenario}); at least {self.min_accuracy} expected (chance: 0.5)")

    # ------------------------------------------------------------------ checks

    def test_learns_each_task_class_il(self) -> None:
        self.check_learns(self.stream("class-il"))

    def test_learns_each_task_task_il_with_the_task_id(self) -> None:
        self.check_learns(self.stream("task-il"))

    def test_multi_head_uses_the_task_id(self) -> None:
        if "multi_head" not in {f.name for f in dataclasses.fields(self.learner_cls.params_cls)}:
            return  # one head by design
        import pytest  # only a test run gets here

        stream = self.stream("task-il")
        self.check_learns(stream, self.params(multi_head=True))
        with pytest.raises(ValueError, match="task id"):
            self.build(stream, self.params(multi_head=True)).predict(stream.tasks[0].tensors("test")[0])

    def test_builds_from_search_space_samples(self) -> None:
        from synaptune.runner import train_task
        from synaptune.searchspaces import load_space

        space, stream, rng = load_space(self.learner), self.stream(), random.Random(0)
        for _ in range(self.space_samples):
            learner = self.build(stream, space.build(space.sample(rng)))
            train_task(learner, stream, 0)
            self.check_predictions(learner, stream, 0, task_id=None)

    def test_deterministic_under_a_seed(self) -> None:
        stream = self.stream()
        a, b = self.build(stream, seed=3), self.build(stream, seed=3)
        assert self.learn_stream(a, stream) == self.learn_stream(b, stream)
        for key, value in a.state_dict().items():
            assert torch.equal(value, b.state_dict()[key]), key

    def test_resumes_exactly_from_state_dict(self) -> None:
        from synaptune.runner import train_task

        stream = self.stream()
        whole = self.build(stream)
        self.learn_stream(whole, stream)
        first = self.build(stream)
        train_task(first, stream, 0)
        resumed = self.build(stream, seed=99)  # another seed: everything must come from the state
        resumed.load_state_dict(first.state_dict())
        train_task(resumed, stream, 1)
        x, _ = stream.tasks[0].tensors("test")
        with torch.no_grad():
            assert torch.equal(resumed.predict(x), whole.predict(x))

    def test_params_round_trip_through_dict_yaml_mlflow_strings_and_a_preset(self) -> None:
        import tempfile

        import yaml

        from synaptune.benchmarks import BenchmarkParams
        from synaptune.hpo.presets import Preset, load_preset, write_preset
        from synaptune.params import from_dict
        from synaptune.searchspaces import load_space

        cls = self.learner_cls.params_cls
        params = load_space(self.learner).build(load_space(self.learner).sample(random.Random(1)))
        assert from_dict(cls, dataclasses.asdict(params)) == params
        assert from_dict(cls, yaml.safe_load(yaml.safe_dump(dataclasses.asdict(params)))) == params
        as_logged = {k: str(v) for k, v in dataclasses.asdict(params).items()}  # MLflow logs params as strings
        assert from_dict(cls, as_logged) == params
        with tempfile.TemporaryDirectory() as folder:
            preset = Preset(learner=self.learner, params=params, benchmark="split-digits",
                            benchmark_params=BenchmarkParams())
            assert load_preset(write_preset(preset, f"{folder}/preset.yaml")).params == params

    def test_search_space_validates(self) -> None:
        from synaptune.searchspaces import load_space

        space = load_space(self.learner)
        assert space.learner == self.learner
        assert space.dims, "a search space should sample something"


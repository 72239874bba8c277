# SPDX-License-Identifier: MIT
"""Every registered learner passes :class:`synaptune.testing.LearnerConformance`
(registering one is enough to get the checks), and the suite can fail."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import torch

from synaptune.learners import LEARNERS
from synaptune.learners.base import Learner
from synaptune.params import param
from synaptune.testing import LearnerConformance


# Found by this suite (2026-11-30), not yet explained: with their default Params the two
# CNN learners learn task 0 of the class-il blob stream, then answer one class (2) for all
# of task 1 (accuracy 0.5); task-il and multi-head pass, and so do the MLP variants.
# sommask-cnn passes at lr 0.01 (its default: 0.05, momentum 0.9); sparse-cnn fails at
# lr 0.005-0.01 with or without momentum. Strict: an xfail that starts passing fails.
CNN_COLLAPSE = pytest.mark.xfail(strict=True, reason="the small CNN answers one class on task 1 of the "
                                                     "class-il blobs (see the comment above)")
KNOWN_FAILURES = {"sommask-cnn": ["test_learns_each_task_class_il"],
                  "sparse-cnn": ["test_learns_each_task_class_il"]}


def conformance_class(name: str) -> type:
    title = "".join(part.capitalize() for part in name.replace("-", "_").split("_"))
    body: dict = {"learner": name, "__module__": __name__}
    for method in KNOWN_FAILURES.get(name, []):
        def known_failure(self, _method: str = method) -> None:  # noqa: ANN001
            getattr(LearnerConformance, _method)(self)

        known_failure.__name__ = method
        body[method] = CNN_COLLAPSE(known_failure)
    return type(f"Test{title}", (LearnerConformance,), body)


for _name in LEARNERS.names():
    if _name not in LEARNERS.plugins:  # an installed plugin is tested by its own package
        globals()[conformance_class(_name).__name__] = conformance_class(_name)


# ------------------------------------------------------------------ the suite catches a learner that does not learn


@dataclasses.dataclass(frozen=True)
class ConstantParams:
    label: int = param(0, low=0, help="The class it always predicts.")
    lr: float = param(0.1, low=0.0, help="Unused.")


class ConstantLearner(Learner):
    """Predicts one class whatever the input (and learns nothing)."""

    params_cls = ConstantParams

    def fit_task(self, task, *, split="train", seen=()):  # noqa: ANN001, ANN201
        return {}

    def predict(self, x: torch.Tensor, *, task_id: int | None = None) -> torch.Tensor:
        return torch.full((x.shape[0],), self.params.label, dtype=torch.int64)


@pytest.fixture
def constant_learner(tmp_path: Path) -> Iterator[str]:
    space = tmp_path / "constant.yaml"
    space.write_text("learner: constant\nparams:\n  lr: {float: [0.01, 1.0], log: true}\nfixed: {}\n")
    LEARNERS.register("constant", ConstantLearner)
    ConstantLearner.space_file = space
    yield "constant"
    LEARNERS.unregister("constant")


class ConstantConformance(LearnerConformance):
    learner: ClassVar[str] = "constant"


def test_the_suite_fails_a_learner_that_predicts_a_constant_class(constant_learner: str) -> None:
    suite = ConstantConformance()
    suite.test_search_space_validates()  # the parts it can pass, it passes
    suite.test_params_round_trip_through_dict_yaml_mlflow_strings_and_a_preset()
    with pytest.raises(AssertionError, match=r"constant reached \[0\.5, 0\.0\] .*class-il.* at least 0\.8"):
        suite.test_learns_each_task_class_il()
    with pytest.raises(AssertionError, match=r"outside \[2, 3\]"):  # task-il: class 0 is not in task 1
        suite.test_learns_each_task_task_il_with_the_task_id()

# SPDX-License-Identifier: MIT
"""Constructing a learner seeds only the learner: torch's global generator is left as it was.

Every built-in learner is built with torch's global generator seeded by its
``seed`` for the layers' initial weights (see
:class:`synaptune.learners.base.SeededConstruction`), inside ``fork_rng``: the
caller's generator state is the same before and after, the same seed gives the
same learner whatever the caller's generator held, and another seed another one.
"""

from __future__ import annotations

import pytest
import torch

from synaptune.benchmarks.base import Stream
from synaptune.learners import LEARNERS
from synaptune.learners.base import Learner
from synaptune.testing import blob_stream

BUILTIN = [name for name in LEARNERS.names() if name not in LEARNERS.plugins]


@pytest.fixture(scope="module")
def stream() -> Stream:
    return blob_stream(per_class=8)


def build(name: str, stream: Stream, seed: int) -> Learner:
    cls = LEARNERS.get(name)
    learner: Learner = cls(cls.params_cls(), input_shape=stream.input_shape, n_classes=stream.n_classes,
                           n_tasks=stream.n_tasks, scenario=stream.scenario, seed=seed)
    return learner


def assert_same_state(a: Learner, b: Learner) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key, value in sa.items():
        assert torch.equal(value, sb[key]), key


def test_every_builtin_learner_is_checked() -> None:
    assert {"naive", "ewc", "joint", "satsom", "classp", "sommask-mlp", "sommask-cnn", "sparse-mlp",
            "sparse-cnn", "hebbian"} <= set(BUILTIN)


@pytest.mark.parametrize("name", BUILTIN)
def test_construction_leaves_the_global_generator_unchanged(name: str, stream: Stream) -> None:
    torch.manual_seed(12345)
    torch.rand(7)  # some state that no seed gives
    before = torch.get_rng_state()
    build(name, stream, seed=3)
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("name", BUILTIN)
def test_same_seed_same_learner_whatever_the_global_generator_held(name: str, stream: Stream) -> None:
    torch.manual_seed(1)
    a = build(name, stream, seed=3)
    torch.manual_seed(2)
    torch.rand(11)
    b = build(name, stream, seed=3)
    assert_same_state(a, b)


@pytest.mark.parametrize("name", BUILTIN)
def test_another_seed_another_learner(name: str, stream: Stream) -> None:
    a, b = build(name, stream, seed=3), build(name, stream, seed=4)
    sa, sb = a.state_dict(), b.state_dict()
    differ = [k for k, v in sa.items() if v.is_floating_point() and not torch.equal(v, sb[k])]
    assert differ, f"{name}: seeds 3 and 4 gave the same initial state"

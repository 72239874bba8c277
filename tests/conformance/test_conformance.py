# SPDX-License-Identifier: MIT
"""Every registered learner passes the same checks (registering one is enough to get them)."""

from __future__ import annotations

import dataclasses
import random

import numpy as np

import pytest
import torch
import yaml

from synaptune.learners import LEARNERS
from synaptune.params import from_dict
from synaptune.runner import evaluate_row, train_task
from synaptune.searchspaces import load_space
from synaptune.testing import blob_stream

NAMES = LEARNERS.names()


@pytest.fixture(scope="module")
def stream():
    return blob_stream()


def build(name: str, stream, params=None, seed: int = 0):
    cls = LEARNERS.get(name)
    return cls(params if params is not None else cls.params_cls(), input_shape=stream.input_shape,
               n_classes=stream.n_classes, n_tasks=stream.n_tasks, scenario=stream.scenario, seed=seed)


def space_sample(name: str, rng: random.Random) -> dict:
    """A random point of the learner's shipped search space (inclusive bounds, `when` honoured)."""
    space = load_space(name)
    values = dict(space.fixed)
    for d in space.dims:
        if not d.active(values):
            continue
        if d.kind == "categorical":
            values[d.name] = rng.choice(d.choices)
        elif d.kind == "int":
            values[d.name] = rng.randint(int(d.low), int(d.high))
        else:
            values[d.name] = rng.uniform(d.low, d.high)
    return values


def run_two_tasks(learner, stream) -> list[list[float]]:
    rows = []
    for t in range(stream.n_tasks):
        train_task(learner, stream, t)
        rows.append(evaluate_row(learner, stream, t))
    return rows


@pytest.mark.parametrize("name", NAMES)
def test_builds_from_defaults_trains_and_predicts(name: str, stream) -> None:
    learner = build(name, stream)
    assert isinstance(learner, torch.nn.Module)
    rows = run_two_tasks(learner, stream)
    assert all(0.0 <= v <= 1.0 for v in rows[-1])
    x, _ = stream.tasks[0].tensors("test")
    pred = learner.predict(x)
    assert pred.dtype == torch.int64 and pred.shape == (x.shape[0],)
    assert int(pred.min()) >= 0 and int(pred.max()) < stream.n_classes


@pytest.mark.parametrize("name", NAMES)
def test_builds_from_search_space_samples(name: str, stream) -> None:
    rng = random.Random(0)
    for _ in range(3):
        params = load_space(name).build(space_sample(name, rng))
        learner = build(name, stream, params)
        train_task(learner, stream, 0)
        assert learner.predict(stream.tasks[0].tensors("val")[0]).dtype == torch.int64


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_under_seed(name: str, stream) -> None:
    a, b = build(name, stream, seed=3), build(name, stream, seed=3)
    np.testing.assert_array_equal(run_two_tasks(a, stream), run_two_tasks(b, stream))
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_resumes_exactly(name: str, stream) -> None:
    whole = build(name, stream)
    run_two_tasks(whole, stream)

    first = build(name, stream)
    train_task(first, stream, 0)
    resumed = build(name, stream, seed=99)  # a different seed: everything must come from the state
    resumed.load_state_dict(first.state_dict())
    train_task(resumed, stream, 1)
    x, _ = stream.tasks[0].tensors("test")
    assert torch.equal(resumed.predict(x), whole.predict(x))


@pytest.mark.parametrize("name", NAMES)
def test_params_round_trip_through_dict_and_yaml(name: str) -> None:
    cls = LEARNERS.get(name).params_cls
    params = load_space(name).build(space_sample(name, random.Random(1)))
    as_yaml = yaml.safe_dump(dataclasses.asdict(params))
    assert from_dict(cls, yaml.safe_load(as_yaml)) == params
    as_strings = {k: str(v) for k, v in dataclasses.asdict(params).items()}  # as MLflow logs them
    assert from_dict(cls, as_strings) == params


@pytest.mark.parametrize("name", NAMES)
def test_search_space_validates(name: str) -> None:
    space = load_space(name)
    assert space.learner == name
    assert space.dims, "a search space should sample something"

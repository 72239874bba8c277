# SPDX-License-Identifier: MIT
"""The baseline learners: naive fine-tuning, EWC and joint training."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from synaptune.benchmarks.base import Stream, Task
from synaptune.exceptions import ConfigError
from synaptune.learners import LEARNERS
from synaptune.learners.ewc import EWCLearner, EWCParams
from synaptune.learners.joint import JointLearner, JointParams
from synaptune.learners.naive import NaiveLearner, NaiveParams
from synaptune.searchspaces import load_space
from synaptune.testing import blob_stream

NAMES = ["naive", "ewc", "joint"]
SHAPE = (1, 8, 8)


def make_stream(scenario: str = "class-il") -> Stream:
    """2 tasks x 2 classes of well-separated Gaussian blobs shaped (1, 8, 8)."""
    return blob_stream(scenario=scenario, per_class=60, input_shape=SHAPE)


@pytest.fixture(scope="module", autouse=True)
def _warm_torch() -> None:
    # The first optimiser built in a process imports torch._dynamo (~1 s); pay it once
    # here so the per-test timings measure the learners.
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


@pytest.fixture(scope="module")
def stream() -> Stream:
    return make_stream()


def build(name: str, stream: Stream, seed: int = 0, **overrides):
    cls = LEARNERS.get(name)
    return cls(cls.params_cls(**overrides), input_shape=stream.input_shape, n_classes=stream.n_classes,
               n_tasks=stream.n_tasks, scenario=stream.scenario, seed=seed)


def fit_all(learner, stream: Stream, upto: int | None = None) -> None:
    tasks = stream.tasks[:upto]
    for t, task in enumerate(tasks):
        seen = stream.tasks[:t] if learner.trains_on_seen_tasks else ()
        learner.fit_task(task, seen=seen)


def accuracy(learner, task: Task, *, task_id: int | None = None) -> float:
    x, y = task.tensors("test")
    return (learner.predict(x, task_id=task_id) == y).float().mean().item()


# ------------------------------------------------------------------ basics
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_builds_trains_and_predicts(name: str, arch: str, stream: Stream) -> None:
    learner = build(name, stream, arch=arch)
    metrics = learner.fit_task(stream.tasks[0])
    assert set(metrics) >= {"train/loss"} and metrics["train/loss"] >= 0
    x, _ = stream.tasks[0].tensors("test")
    labels = learner.predict(x)
    assert labels.dtype == torch.int64 and labels.shape == (x.shape[0],)
    assert learner.params_cls is type(learner.params)


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_under_seed(name: str, stream: Stream) -> None:
    a, b = build(name, stream, seed=3, dropout=0.2), build(name, stream, seed=3, dropout=0.2)
    fit_all(a, stream)
    torch.rand(10)  # global RNG use in between must not matter
    fit_all(b, stream)
    x = torch.cat([t.tensors("test")[0] for t in stream.tasks])
    assert torch.equal(a.predict(x), b.predict(x))
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip(name: str, stream: Stream) -> None:
    a = build(name, stream, seed=1)
    fit_all(a, stream, upto=1)
    b = build(name, stream, seed=99)
    b.load_state_dict(a.state_dict())
    x = torch.cat([t.tensors("test")[0] for t in stream.tasks])
    assert torch.equal(a.predict(x), b.predict(x))
    # The restored learner also continues exactly as the original (same shuffles).
    a.fit_task(stream.tasks[1], seen=stream.tasks[:1] if a.trains_on_seen_tasks else ())
    b.fit_task(stream.tasks[1], seen=stream.tasks[:1] if b.trains_on_seen_tasks else ())
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


# --------------------------------------------------------------- task-il
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("multi_head", [False, True])
def test_task_il_predicts_only_the_given_tasks_classes(name: str, multi_head: bool) -> None:
    stream = make_stream("task-il")
    learner = build(name, stream, multi_head=multi_head)
    fit_all(learner, stream)
    x = torch.cat([t.tensors("test")[0] for t in stream.tasks])
    for task in stream.tasks:
        labels = learner.predict(x, task_id=task.id)
        assert set(labels.tolist()) <= set(task.classes)
        assert accuracy(learner, task, task_id=task.id) > 0.9


def test_multi_head_state_dict_has_every_head(stream: Stream) -> None:
    learner = build("naive", make_stream("task-il"), multi_head=True)
    fresh = build("naive", make_stream("task-il"), multi_head=True, seed=5)
    fresh.load_state_dict(learner.state_dict())  # strict: same keys before any training
    assert len(learner.net.heads) == stream.n_tasks


def test_multi_head_needs_task_il(stream: Stream) -> None:
    for name in NAMES:
        with pytest.raises(ConfigError, match="multi_head.*task-il"):
            build(name, stream, multi_head=True)


# ------------------------------------------------------------------- EWC
def per_sample_fisher(learner: EWCLearner, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Diagonal empirical Fisher by a plain loop, one backward pass per sample."""
    learner.eval()
    total = None
    for xi, yi in zip(x, y, strict=True):
        learner.net.zero_grad()
        F.cross_entropy(learner.net(xi[None]), yi[None]).backward()
        g = torch.cat([p.grad.reshape(-1) for p in learner.net.parameters()]).pow(2)
        total = g if total is None else total + g
    return total / len(x)


def test_ewc_fisher_matches_a_per_sample_loop(stream: Stream) -> None:
    learner = build("ewc", stream, fisher_samples=20)
    learner.fit_task(stream.tasks[0])
    x, y = learner.fisher_data(stream.tasks[0], "train")
    assert x.shape[0] == 20
    torch.testing.assert_close(learner.estimate_fisher(x, y), per_sample_fisher(learner, x, y))


def test_ewc_penalty_is_the_sum_over_tasks(stream: Stream) -> None:
    learner = build("ewc", stream, fisher_samples=30, ewc_lambda=10.0)
    anchors = []
    for task in stream.tasks:
        learner.fit_task(task)
        theta = learner._flat_params().detach().clone()
        fisher = learner.estimate_fisher(*learner.fisher_data(task, "train"))
        anchors.append((fisher, theta))
    assert int(learner.ewc_tasks) == 2
    torch.testing.assert_close(learner.ewc_fisher, anchors[0][0] + anchors[1][0])
    with torch.no_grad():  # move away from both anchors, then compare with the explicit sum
        for p in learner.net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    theta = learner._flat_params().detach()
    by_hand = sum((f * (theta - star) ** 2).sum() for f, star in anchors)
    assert by_hand > 0
    torch.testing.assert_close(learner.penalty().detach(), by_hand, rtol=1e-4, atol=1e-7)


def test_ewc_with_lambda_zero_equals_naive(stream: Stream) -> None:
    naive = build("naive", stream, seed=7)
    ewc = build("ewc", stream, seed=7, ewc_lambda=0.0)
    fit_all(naive, stream)
    fit_all(ewc, stream)
    sn, se = naive.net.state_dict(), ewc.net.state_dict()
    assert all(torch.equal(sn[k], se[k]) for k in sn)


def test_ewc_penalty_anchors_the_weights_important_to_the_first_task(stream: Stream) -> None:
    """The mechanism, not an accuracy: in class-il on these blobs both forget task 0 entirely
    (the shared head's new classes win; EWC is known not to help there), so the check is that
    the penalty keeps the weights that task 0's Fisher marks as important near task 0's
    solution, while plain fine-tuning moves them."""
    naive, ewc = build("naive", stream), build("ewc", stream, ewc_lambda=1e4)
    fit_all(naive, stream, upto=1)
    fit_all(ewc, stream, upto=1)
    theta_0 = ewc._flat_params().detach().clone()
    assert torch.equal(theta_0, torch.cat([p.reshape(-1) for p in naive.net.parameters()]))  # same seed, task
    fisher_0 = ewc.ewc_fisher.clone()

    def drift(learner) -> float:  # noqa: ANN001
        """Fisher-weighted squared distance from task 0's weights after learning task 1."""
        learner.fit_task(stream.tasks[1])
        theta = torch.cat([p.detach().reshape(-1) for p in learner.net.parameters()])
        return float((fisher_0 * (theta - theta_0) ** 2).sum())

    naive_drift, ewc_drift = drift(naive), drift(ewc)
    assert ewc_drift < 0.5 * naive_drift, (ewc_drift, naive_drift)


# ----------------------------------------------------------------- joint
def test_joint_remembers_the_first_task(stream: Stream) -> None:
    learner = build("joint", stream)
    assert JointLearner.trains_on_seen_tasks and not NaiveLearner.trains_on_seen_tasks
    fit_all(learner, stream)
    assert accuracy(learner, stream.tasks[0]) > 0.9
    assert accuracy(learner, stream.tasks[1]) > 0.9


# ---------------------------------------------------------------- params
@pytest.mark.parametrize("cls", [NaiveParams, EWCParams, JointParams])
@pytest.mark.parametrize(("field", "value"), [("lr", 0.0), ("dropout", 1.0), ("arch", "rnn"),
                                              ("hidden_layers", 9), ("optimizer", "rmsprop")])
def test_bad_params_name_the_field(cls: type, field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"`{field}`"):
        cls(**{field: value})


def test_bad_ewc_params() -> None:
    with pytest.raises(ConfigError, match="`ewc_lambda`"):
        EWCParams(ewc_lambda=-1.0)
    with pytest.raises(ConfigError, match="`fisher_samples`"):
        EWCParams(fisher_samples=0)


def test_cnn_needs_images() -> None:
    with pytest.raises(ConfigError, match="`arch`=cnn"):
        NaiveLearner(NaiveParams(arch="cnn"), input_shape=(64,), n_classes=4, n_tasks=2)


def test_params_classes_and_registry() -> None:
    assert LEARNERS.get("naive") is NaiveLearner and NaiveLearner.params_cls is NaiveParams
    assert LEARNERS.get("ewc") is EWCLearner and EWCLearner.params_cls is EWCParams
    assert LEARNERS.get("joint") is JointLearner and JointLearner.params_cls is JointParams
    with pytest.raises(TypeError):
        NaiveLearner(EWCParams(), input_shape=SHAPE, n_classes=4, n_tasks=2)

# SPDX-License-Identifier: MIT
"""SOM-masked networks: forward time against the same network unmasked.

Builds the ``sommask-mlp`` / ``sommask-cnn`` classifiers and the ``naive``
classifier of the same architecture (MLP 784-100-100-10; CNN with 16-channel
convolutions and a 128-unit dense layer) and times a forward pass on
MNIST-shaped batches (256, 1, 28, 28). Column ``eval``: inference forward
(``eval()``, no grad), the quantity the target (<= 1.5x unmasked) is about;
column ``train``: a training-mode forward, which adds one SOM update per map
(no backward). Ratios are masked / unmasked of the same column. Timings are the
best of ``--repeats`` interleaved rounds of ``--steps`` forwards. Run::

    python bench/sommask.py                 # full run, about a minute
    python bench/sommask.py --smoke-test    # seconds: checks that it runs
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import torch
from torch import nn

from synaptune.learners.naive import NaiveLearner, NaiveParams
from synaptune.learners.sommask import SOMMaskCNNLearner, SOMMaskCNNParams, SOMMaskMLPLearner, SOMMaskMLPParams

SHAPE = (1, 28, 28)


def build(kind: str) -> nn.Module:
    kw = dict(input_shape=SHAPE, n_classes=10, n_tasks=1, seed=0)
    mlp = dict(hidden_units=100, hidden_layers=2)
    cnn = dict(conv_channels=16, hidden_units=128)
    learners = {
        "mlp": lambda: NaiveLearner(NaiveParams(arch="mlp", **mlp), **kw),
        "mlp masked first": lambda: SOMMaskMLPLearner(SOMMaskMLPParams(masked_layers="first", **mlp), **kw),
        "mlp masked all": lambda: SOMMaskMLPLearner(SOMMaskMLPParams(masked_layers="all", **mlp), **kw),
        "cnn": lambda: NaiveLearner(NaiveParams(arch="cnn", **cnn), **kw),
        "cnn image first": lambda: SOMMaskCNNLearner(
            SOMMaskCNNParams(conv_mask="image", masked_layers="first", **cnn), **kw),
        "cnn image all": lambda: SOMMaskCNNLearner(
            SOMMaskCNNParams(conv_mask="image", masked_layers="all", **cnn), **kw),
        "cnn patch first": lambda: SOMMaskCNNLearner(
            SOMMaskCNNParams(conv_mask="patch", masked_layers="first", **cnn), **kw),
        "cnn patch all": lambda: SOMMaskCNNLearner(
            SOMMaskCNNParams(conv_mask="patch", masked_layers="all", **cnn), **kw),
    }
    return learners[kind]().net


def timer(fn: Callable[[], object], steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=256, help="batch size")
    ap.add_argument("--steps", type=int, default=20, help="forwards per timing round")
    ap.add_argument("--repeats", type=int, default=7, help="interleaved timing rounds (best kept)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--smoke-test", action="store_true", help="small batch, one round: checks that it runs")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.smoke_test:
        args.batch, args.steps, args.repeats = 8, 2, 1

    x = torch.rand(args.batch, *SHAPE, generator=torch.Generator().manual_seed(0))
    kinds = ["mlp", "mlp masked first", "mlp masked all", "cnn", "cnn image first", "cnn image all",
             "cnn patch first", "cnn patch all"]
    nets = {k: build(k) for k in kinds}
    best = {(k, mode): float("inf") for k in kinds for mode in ("eval", "train")}

    def forward(net: nn.Module, training: bool) -> Callable[[], object]:
        def run() -> object:
            net.train(training)
            with torch.no_grad():
                return net(x)
        return run

    for net in nets.values():  # warm-up, and the SOMs' first-batch initialisation
        forward(net, True)()
    for _ in range(args.repeats):
        for k, net in nets.items():
            for mode in ("eval", "train"):
                best[(k, mode)] = min(best[(k, mode)], timer(forward(net, mode == "train"), args.steps))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
          f"batch {args.batch}, best of {args.repeats} x {args.steps}")
    print(f"{'network':<18} {'eval ms':>8} {'ratio':>6} {'train ms':>9} {'ratio':>6}")
    for k in kinds:
        base = "mlp" if k.startswith("mlp") else "cnn"
        e, t = best[(k, "eval")], best[(k, "train")]
        print(f"{k:<18} {e * 1e3:8.3f} {e / best[(base, 'eval')]:6.2f} {t * 1e3:9.3f} "
              f"{t / best[(base, 'train')]:6.2f}")


if __name__ == "__main__":
    main()

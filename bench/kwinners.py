# SPDX-License-Identifier: MIT
"""k-winners speed, and the sparse MLP's epoch time against the dense MLP.

1. Forward + backward (training mode: boosting, duty-cycle update) of
   :class:`KWinners` on (256, 2048) and :class:`KWinners2d` (global and local) on
   (256, 64, 16, 16), against the same computation written directly with
   ``torch.topk`` + a scattered mask (the obvious implementation, below).
   Target: within 1.2x of it.
2. One epoch of ``sparse-mlp`` with its default preset (1024 hidden units, 10%
   on, 90% of weights zero, dropout 0.5, batches of 128) on random tensors of
   Permuted-MNIST shape, against the same learner dense (percent_on_fc = 1,
   sparsity_fc = 0: Linear -> ReLU -> Dropout). Target: within 1.3x.

Timings are the best of ``--repeats`` interleaved rounds (robust to other load
on the machine). Run::

    python bench/kwinners.py                 # about a minute on 2 cores
    python bench/kwinners.py --smoke-test    # seconds: tiny shapes, one round
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import torch

from synaptune.benchmarks.base import Pool, Task
from synaptune.learners.modules.kwinners import KWinners, KWinners2d
from synaptune.learners.sparse import SparseMLPLearner, SparseMLPParams


class ObviousKWinners:
    """k-winners written directly: boosted scores, topk indices, a scattered 0/1 mask, duty cycle.

    ``dims`` are the dimensions winners are chosen over after flattening:
    ``"row"`` (B, n) or (B, C*H*W) flattened, ``"channel"`` the C of (B, C, H, W).
    """

    def __init__(self, shape: tuple[int, ...], percent_on: float, boost: float, period: int, local: bool) -> None:
        self.local = local
        self.c = shape[1]
        n = self.c if local or len(shape) == 2 else shape[1] * shape[2] * shape[3]
        self.k = round(n * percent_on)
        self.duty = torch.zeros(self.c) if len(shape) == 2 else torch.zeros(1, self.c, 1, 1)
        self.boost, self.period, self.seen = boost, period, 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        boosted = x.detach() * torch.exp(-self.boost * self.duty)
        if x.dim() == 2 or self.local:
            idx = boosted.topk(self.k, dim=1).indices
            mask = torch.zeros_like(x).scatter_(1, idx, 1.0)
        else:
            flat = boosted.flatten(1)
            idx = flat.topk(self.k, dim=1).indices
            mask = torch.zeros_like(flat).scatter_(1, idx, 1.0).view_as(x)
        y = x * mask
        with torch.no_grad():
            b = x.shape[0]
            self.seen += b
            p = min(self.period, self.seen)
            if x.dim() == 2:
                count = (y > 0).sum(0, dtype=torch.float32)
            else:
                count = ((y > 0).sum((0, 2, 3), dtype=torch.float32) / (x.shape[2] * x.shape[3])).view_as(self.duty)
            self.duty = (self.duty * (p - b) + count) / p
        return y


def fwd_bwd(layer: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, g: torch.Tensor,
            steps: int) -> Callable[[], float]:
    def run() -> float:
        t = time.perf_counter()
        for _ in range(steps):
            x.grad = None
            layer(x).backward(g)
        return (time.perf_counter() - t) / steps
    return run


def epoch_runner(percent_on: float, sparsity: float, task: Task) -> Callable[[], float]:
    p = SparseMLPParams(percent_on_fc=percent_on, sparsity_fc=sparsity, train_ep=1, train_ep_inc=1)
    learner = SparseMLPLearner(p, input_shape=(1, 28, 28), n_classes=10, n_tasks=1, seed=0)

    def run() -> float:
        t = time.perf_counter()
        learner.fit_task(task)
        return time.perf_counter() - t
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=20, help="forward+backward passes per timing round")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds (best kept)")
    ap.add_argument("--samples", type=int, default=6400, help="samples in the timed epoch")
    ap.add_argument("--epoch-repeats", type=int, default=3, help="timed epochs per network (best kept)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--smoke-test", action="store_true", help="tiny shapes, one round: checks that it runs")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    shape1, shape2 = (256, 2048), (256, 64, 16, 16)
    if args.smoke_test:
        shape1, shape2 = (8, 64), (4, 8, 4, 4)
        args.steps, args.repeats, args.samples, args.epoch_repeats = 2, 1, 256, 1

    torch.manual_seed(0)
    rows: dict[str, tuple[Callable[[], float], Callable[[], float]]] = {}
    for name, shape, ours, local in (
        (f"KWinners {shape1}", shape1, KWinners(shape1[1], 0.1, boost_strength=1.0), False),
        (f"KWinners2d global {shape2}", shape2, KWinners2d(shape2[1], 0.1, boost_strength=1.0), False),
        (f"KWinners2d local {shape2}", shape2, KWinners2d(shape2[1], 0.1, boost_strength=1.0, local=True), True),
    ):
        x = torch.randn(shape, requires_grad=True)
        g = torch.randn(shape)
        obvious = ObviousKWinners(shape, 0.1, 1.0, 1000, local)
        rows[name] = (fwd_bwd(ours, x, g, args.steps), fwd_bwd(obvious, x, g, args.steps))
    best = {k: [float("inf"), float("inf")] for k in rows}
    for run in [r for pair in rows.values() for r in pair]:
        run()  # warm-up
    for _ in range(args.repeats):
        for k, (ours, obvious) in rows.items():
            best[k][0] = min(best[k][0], ours())
            best[k][1] = min(best[k][1], obvious())

    g = torch.Generator().manual_seed(0)
    n_val = 0
    pool = Pool(torch.rand(args.samples, 1, 28, 28, generator=g), torch.randint(0, 10, (args.samples,), generator=g),
                torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,)))
    task = Task(id=0, classes=tuple(range(10)), pool=pool, train_idx=torch.arange(args.samples),
                val_idx=torch.arange(n_val), test_idx=torch.arange(16), permutation=torch.randperm(784, generator=g))
    sparse, dense = epoch_runner(0.1, 0.9, task), epoch_runner(1.0, 0.0, task)
    sparse(), dense()  # warm-up
    t_sparse = t_dense = float("inf")
    for _ in range(args.epoch_repeats):
        t_sparse = min(t_sparse, sparse())
        t_dense = min(t_dense, dense())

    cpu = platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu}, float32, "
          f"best of {args.repeats} rounds x {args.steps} forward+backward passes (training mode, boosting on)")
    print()
    print("| layer | synaptune (ms) | obvious topk + mask (ms) | ratio |")
    print("|---|---|---|---|")
    for k, (ours, obvious) in best.items():
        print(f"| {k} | {ours * 1e3:.3f} | {obvious * 1e3:.3f} | {ours / obvious:.2f}x |")
    print()
    print(f"epoch of {args.samples} Permuted-MNIST-shaped samples, batch 128, best of {args.epoch_repeats}:")
    print(f"sparse-mlp default preset {t_sparse:.3f} s, dense (percent_on 1, sparsity 0) {t_dense:.3f} s, "
          f"ratio {t_sparse / t_dense:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()

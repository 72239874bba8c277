# SPDX-License-Identifier: MIT
"""CLASSP speed: optimiser step time (paper mode) against ``torch.optim.Adagrad``.

Both optimisers step the same ~1M-parameter MLP (784-1024-256-10 by default)
with the same gradients (one backward pass on a random batch, kept in ``.grad``).
Rows: CLASSP paper mode p=1 with a positive threshold (the per-weight gate is
computed), with threshold 0 (gating only exact zeros, which needs no mask), p=2,
and reference mode; the ratio column is CLASSP time / Adagrad time (target <= 1.5).
Timings are the best of ``--repeats`` interleaved rounds of ``--steps`` steps
(robust to other load on the machine). Run::

    python bench/classp_step.py                 # full run, under a minute
    python bench/classp_step.py --smoke-test    # seconds: tiny model, one round
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import torch
from torch import nn

from synaptune.learners.functional.classp import CLASSP


def mlp(sizes: list[int]) -> nn.Module:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[784, 1024, 256, 10], help="MLP layer widths")
    ap.add_argument("--steps", type=int, default=50, help="steps per timing round")
    ap.add_argument("--repeats", type=int, default=7, help="interleaved timing rounds (best kept)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--smoke-test", action="store_true", help="tiny model, one round: checks that it runs")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.smoke_test:
        args.sizes, args.steps, args.repeats = [32, 16, 4], 3, 1

    torch.manual_seed(0)
    model = mlp(args.sizes)
    x, y = torch.randn(64, args.sizes[0]), torch.randint(0, args.sizes[-1], (64,))
    nn.functional.cross_entropy(model(x), y).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    n_params = sum(p.numel() for p in model.parameters())

    def make(kind: str) -> tuple[torch.optim.Optimizer, list[torch.Tensor]]:
        params = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
        for p, g in zip(params, grads):
            p.grad = g
        if kind == "adagrad":
            return torch.optim.Adagrad(params, lr=0.01, eps=1e-10), params
        cfg = {"paper p=1 thr=1e-10": dict(threshold=1e-10, power=1),
               "paper p=1 thr=0": dict(threshold=0.0, power=1),
               "paper p=2 thr=1e-10": dict(threshold=1e-10, power=2),
               "reference p=1": dict(threshold=0.5, power=1, mode="reference")}[kind]
        return CLASSP(params, lr=0.01, epsilon=1e-5, **cfg), params

    kinds = ["adagrad", "paper p=1 thr=1e-10", "paper p=1 thr=0", "paper p=2 thr=1e-10", "reference p=1"]
    opts = {k: make(k) for k in kinds}

    def timed(opt: torch.optim.Optimizer) -> Callable[[], float]:
        def run() -> float:
            t = time.perf_counter()
            for _ in range(args.steps):
                opt.step()
            return (time.perf_counter() - t) / args.steps
        return run

    for k in kinds:  # warm-up: allocate state, first-touch memory
        opts[k][0].step()
    best = {k: float("inf") for k in kinds}
    for _ in range(args.repeats):
        for k in kinds:
            best[k] = min(best[k], timed(opts[k][0])())

    cpu = platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu}, float32, "
          f"MLP {'-'.join(map(str, args.sizes))} ({n_params:,} parameters), "
          f"best of {args.repeats} rounds x {args.steps} steps")
    print()
    print("| optimiser | step (ms) | / Adagrad |")
    print("|---|---|---|")
    for k in kinds:
        print(f"| {'torch.optim.Adagrad' if k == 'adagrad' else 'CLASSP ' + k} | {best[k] * 1e3:.3f} "
              f"| {best[k] / best['adagrad']:.2f}x |")
    ratio = best["paper p=1 thr=1e-10"] / best["adagrad"]
    print()
    print(f"CLASSP paper (p=1, threshold 1e-10) / Adagrad step time: {ratio:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()

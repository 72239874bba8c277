# SPDX-License-Identifier: MIT
"""SatSOM speed: training steps and read-out, against a straightforward version and the floor.

For each square grid (10x10, 30x30, 100x100 by default) on 784-dim inputs it measures:

- ``step`` samples/s of :meth:`SatSOM.step` against (a) a straightforward
  re-implementation written here from the update rule (docs/learners.md#satsom), one
  operation per line as the original does them, and (b) the floor: one in-place
  ``W += a * (x - W)`` over the same (N, 784) matrix (as written, with its two
  temporaries), plus the single-kernel ``W.lerp_(x, a)`` for reference;
- that both step versions give identical results from the same initial state
  (same BMU at every step; states equal to float32 rounding);
- read-out samples/s: the default mode batched against the reference mode
  called one sample at a time (how the original's eval scripts run), and that
  their predictions agree.

Timings are the best of ``--repeats`` interleaved rounds (robust to other load
on the machine). Run::

    python bench/satsom_step.py                 # full run, a few minutes on 2 cores
    python bench/satsom_step.py --smoke-test    # seconds: tiny sizes, checks only
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import torch

from synaptune.learners.hparams import SatSOMParams
from synaptune.learners.modules.satsom import SatSOM


def straightforward_step(s: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                         p: SatSOMParams) -> torch.Tensor:
    """The SatSOM update rule line by line (train mode), updating the tensors in ``s`` in place."""
    W, L, lr, sig, loc = s["weights"], s["labels"], s["learning_rates"], s["sigmas"], s["locations"]
    d = torch.sqrt(torch.clamp_min((x * x).sum() + (W * W).sum(1) - 2 * (W @ x), 0))
    b = torch.argmin(d)
    nbh = torch.exp(-((loc - loc[b]) ** 2).sum(1) / (2 * torch.clamp_min(sig[b] * sig, 1e-8)))
    sat = (p.initial_lr - lr) / p.initial_lr
    nbh = nbh * (1 + p.Lr_bias * (1 - sat))
    a = (lr * nbh)[:, None]
    W += a * (x - W)
    L -= a * (torch.softmax(L, dim=1) - y)
    lr *= torch.exp(-p.Lr * nbh)
    sig *= torch.exp(-p.Lr_sigma * nbh)
    return b


def blobs(n: int, dim: int, classes: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-like data: class means in [0, 1] plus noise, clamped to [0, 1]."""
    means = torch.rand(classes, dim, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return (means[y] + 0.15 * torch.randn(n, dim, generator=g)).clamp(0, 1), y


def best_time(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_grid(side: int, args: argparse.Namespace) -> dict[str, float]:
    g = torch.Generator().manual_seed(0)
    params = SatSOMParams(grid=f"{side}x{side}")
    x, y = blobs(args.steps + args.infer, args.dim, args.classes, g)
    onehot = torch.nn.functional.one_hot(y, args.classes).float()
    x_train, y_train = x[: args.steps], onehot[: args.steps]
    x_test = x[args.steps:]

    som = SatSOM(params, input_dim=args.dim, output_dim=args.classes, generator=g)
    init = {k: v.clone() for k, v in som.state_dict().items()}

    # --- identical results: both versions from the same initial state, same samples
    ours = SatSOM(params, input_dim=args.dim, output_dim=args.classes)
    ours.load_state_dict(init)
    plain = {k: v.clone() for k, v in init.items()}
    bmu_same = 0
    for i in range(args.steps):
        b1 = ours.step(x_train[i], y_train[i])
        b2 = straightforward_step(plain, x_train[i], y_train[i], params)
        bmu_same += int(b1 == b2)
    diffs = {k: float((ours.state_dict()[k] - plain[k]).abs().max()) for k in
             ("weights", "labels", "learning_rates", "sigmas")}
    identical = bmu_same == args.steps and all(
        torch.allclose(ours.state_dict()[k], plain[k], rtol=1e-5, atol=1e-5) for k in diffs)

    # --- step timing: interleaved rounds of args.timed steps each, best round kept
    k = min(args.timed, args.steps)
    a = torch.rand(params.n_neurons, 1, generator=g) * 0.01
    floor_w = init["weights"].clone()
    lerp_w = init["weights"].clone()
    xs = x_train[:k]

    def run_ours() -> None:
        for i in range(k):
            som.step(xs[i], y_train[i])

    def run_plain() -> None:
        for i in range(k):
            straightforward_step(plain, xs[i], y_train[i], params)

    def run_floor() -> None:
        W = floor_w
        for i in range(k):
            W += a * (xs[i] - W)

    def run_lerp() -> None:
        for i in range(k):
            lerp_w.lerp_(xs[i].expand_as(lerp_w), a)

    times: dict[str, float] = {}
    for _ in range(args.repeats):
        for name, fn in (("step", run_ours), ("plain", run_plain), ("floor", run_floor), ("lerp", run_lerp)):
            times[name] = min(times.get(name, float("inf")), best_time(fn) / k)

    # --- read-out: default mode batched vs reference mode one sample at a time
    trained = SatSOM(params, input_dim=args.dim, output_dim=args.classes)
    trained.load_state_dict(ours.state_dict())
    reference = SatSOM(SatSOMParams(grid=params.grid, mode="reference"), input_dim=args.dim,
                       output_dim=args.classes)
    reference.load_state_dict(ours.state_dict())
    pred_batched = trained(x_test).argmax(1)
    pred_single = torch.cat([reference(x_test[i : i + 1]).argmax(1) for i in range(len(x_test))])
    for _ in range(args.repeats):
        tb = best_time(lambda: trained(x_test)) / len(x_test)
        ts = best_time(lambda: [reference(x_test[i : i + 1]) for i in range(len(x_test))]) / len(x_test)
        times["infer_batched"] = min(times.get("infer_batched", float("inf")), tb)
        times["infer_single"] = min(times.get("infer_single", float("inf")), ts)
    agree = float((pred_batched == pred_single).float().mean())
    return {"side": side, **times, "identical": identical, "bmu_same": bmu_same, "steps": args.steps,
            "max_state_diff": max(diffs.values()), "agree": agree,
            "untrained": int(trained.undersaturated().sum()), "n": params.n_neurons}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sides", type=int, nargs="+", default=[10, 30, 100], help="square grid sides")
    ap.add_argument("--dim", type=int, default=784, help="input size")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--steps", type=int, default=300, help="training samples (identity check and timing)")
    ap.add_argument("--timed", type=int, default=100, help="steps per timing round")
    ap.add_argument("--infer", type=int, default=500, help="test samples for the read-out timing")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds (best kept)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--smoke-test", action="store_true", help="tiny sizes, one round: checks that it runs")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.smoke_test:
        args.sides, args.dim, args.steps, args.timed, args.infer, args.repeats = [4, 10], 32, 20, 10, 20, 1

    cpu = platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu}, float32, "
          f"inputs {args.dim}-dim, {args.classes} classes, best of {args.repeats} rounds")
    print()
    print("| grid | step (samples/s) | straightforward | floor `W += a*(x-W)` | 1-kernel `W.lerp_` "
          "| step speed-up vs straightforward | step time / floor time | same results "
          "| read-out: default, batched (samples/s) | reference, 1 at a time | speed-up | same predictions |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    ok = True
    for side in args.sides:
        r = bench_grid(side, args)
        ok &= bool(r["identical"]) and r["agree"] == 1.0
        same = (f"{'yes' if r['identical'] else 'NO'} ({r['bmu_same']}/{r['steps']} BMUs, "
                f"max abs diff {r['max_state_diff']:.1e})")
        print(f"| {side}x{side} | {1 / r['step']:,.0f} | {1 / r['plain']:,.0f} | {1 / r['floor']:,.0f} | "
              f"{1 / r['lerp']:,.0f} | {r['plain'] / r['step']:.2f}x | {r['step'] / r['floor']:.2f}x | "
              f"{same} | {1 / r['infer_batched']:,.0f} | {1 / r['infer_single']:,.0f} | "
              f"{r['infer_single'] / r['infer_batched']:.1f}x | "
              f"{r['agree']:.1%} ({r['untrained']}/{r['n']} untrained) |",
              flush=True)
    if not ok:
        raise SystemExit("results differ between the implementations (see the table)")


if __name__ == "__main__":
    main()

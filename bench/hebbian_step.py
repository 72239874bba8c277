# SPDX-License-Identifier: MIT
"""Hebbian layers' speed: ``training_step`` of BioConv2d / BioLinear against biopytorch itself.

Both implementations start from the same weights and step on the same batches
(CIFAR-10 shaped, (64, 3, 32, 32) in [0, 1)). Before timing, one step from equal
states is checked to give the same weights, BatchNorm statistics and convergence
(float32, atol 1e-4). Rows: BioConv2d 3->96 5x5 with seed 004's best one-layer
rule (p=2, k=9, delta=0.08) and with biopytorch's defaults (p=3, k=2,
delta=0.05); BioLinear 3072->2000 (Krotov & Hopfield's CIFAR-10 layer) and
2304->300 (seed 004's layer 5, p=8, k=2, delta=0.335). Our layers run in
``reference`` mode (the default mode costs the same). Ratio = biopytorch time /
ours (target >= 2 on CPU). Timings are the best of ``--repeats`` interleaved
rounds of ``--steps`` steps. On CUDA the step of ours also runs under
``torch.cuda.set_sync_debug_mode("error")``, which fails on any host-device sync.

biopytorch goes in its own environment, at a git-ignored path (``.venv/`` is
ignored at any depth), without its heavy dependencies: the two layer files
import only torch, and are loaded here straight from their files (the package's
``__init__`` would import pytorch_lightning and wandb)::

    .venv/bin/python -m venv --system-site-packages bench/.venv
    bench/.venv/bin/pip install --no-deps biopytorch==0.0.1
    .venv/bin/python bench/hebbian_step.py                # about a minute
    .venv/bin/python bench/hebbian_step.py --smoke-test   # seconds
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import platform
import sys
import time
from pathlib import Path
from types import ModuleType

import torch

from synaptune.learners.modules.bio import BioConv2d, BioLinear

HERE = Path(__file__).resolve().parent


def load_upstream(where: str | None) -> tuple[ModuleType, ModuleType]:
    """biopytorch's ``bioconv2d`` and ``biolinear`` modules, loaded from their files."""
    site = HERE / ".venv" / "lib" / "python*" / "site-packages"
    pattern = str(Path(where) if where else site / "biopytorch")
    dirs = sorted(glob.glob(pattern))
    if not dirs:
        sys.exit(f"biopytorch not found at {pattern}; install it as the module docstring says, "
                 "or give --biopytorch DIR (the package folder).")
    mods = []
    for name in ("bioconv2d", "biolinear"):
        spec = importlib.util.spec_from_file_location(f"upstream_{name}", Path(dirs[0]) / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mods.append(mod)
    return mods[0], mods[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=64, help="images per batch")
    ap.add_argument("--steps", type=int, default=5, help="steps per timing round")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds (best kept)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--biopytorch", help="folder of the biopytorch package (default: bench/.venv's)")
    ap.add_argument("--smoke-test", action="store_true", help="small batch, one round: checks that it runs")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.smoke_test:
        args.batch, args.steps, args.repeats = 8, 1, 1
    up_conv, up_lin = load_upstream(args.biopytorch)
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"

    torch.manual_seed(0)
    images = [torch.rand(args.batch, 3, 32, 32, device=dev) for _ in range(4)]
    flat = {n: [torch.rand(args.batch, n, device=dev) for _ in range(4)] for n in (3072, 2304)}
    cases = {
        "BioConv2d 3->96 5x5, p=2 k=9 d=0.08": (
            lambda: up_conv.BioConv2d(3, 96, 5, lebesgue_p=2, ranking_param=9, delta=0.08),
            lambda: BioConv2d(3, 96, 5, lebesgue_p=2, ranking_param=9, delta=0.08, mode="reference"),
            images, 0.007),
        "BioConv2d 3->96 5x5, p=3 k=2 d=0.05": (
            lambda: up_conv.BioConv2d(3, 96, 5, lebesgue_p=3, ranking_param=2, delta=0.05),
            lambda: BioConv2d(3, 96, 5, lebesgue_p=3, ranking_param=2, delta=0.05, mode="reference"),
            images, 0.007),
        "BioLinear 3072->2000, p=3 k=2 d=0.05": (
            lambda: up_lin.BioLinear(3072, 2000, lebesgue_p=3, ranking_param=2, delta=0.05),
            lambda: BioLinear(3072, 2000, lebesgue_p=3, ranking_param=2, delta=0.05, mode="reference"),
            flat[3072], 0.1),
        "BioLinear 2304->300, p=8 k=2 d=0.335": (
            lambda: up_lin.BioLinear(2304, 300, lebesgue_p=8, ranking_param=2, delta=0.335),
            lambda: BioLinear(2304, 300, lebesgue_p=8, ranking_param=2, delta=0.335, mode="reference"),
            flat[2304], 0.1),
    }

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    results = {}
    for name, (make_up, make_ours, batches, lr) in cases.items():
        theirs = make_up().to(dev)
        ours = make_ours().to(dev)
        ours.load_state_dict(theirs.state_dict())
        # Same results: one step from equal states on the same batch.
        want = float(theirs.training_step(batches[0], lr))
        got = float(ours.training_step(batches[0], lr))
        for key, value in theirs.state_dict().items():
            if not torch.allclose(ours.state_dict()[key].float(), value.float(), rtol=1e-4, atol=1e-4):
                sys.exit(f"{name}: `{key}` differs from biopytorch after one step")
        if abs(got - want) > 1e-4 * max(1.0, abs(want)):
            sys.exit(f"{name}: convergence {got} != biopytorch's {want}")

        def run(layer: torch.nn.Module, debug_sync: bool = False) -> float:
            sync()
            t = time.perf_counter()
            for i in range(args.steps):
                layer.training_step(batches[i % len(batches)], lr)
            sync()
            return (time.perf_counter() - t) / args.steps

        if cuda:
            torch.cuda.set_sync_debug_mode("error")  # any .item() / bool(tensor) in our step raises
            ours.training_step(batches[1], lr)
            torch.cuda.set_sync_debug_mode(0)
        best = {"biopytorch": float("inf"), "synaptune": float("inf")}
        for _ in range(args.repeats):
            best["biopytorch"] = min(best["biopytorch"], run(theirs))
            best["synaptune"] = min(best["synaptune"], run(ours))
        results[name] = best

    cpu = platform.processor() or platform.machine()
    where = torch.cuda.get_device_name(dev) if cuda else f"{torch.get_num_threads()} threads, {cpu}"
    print(f"torch {torch.__version__}, {where}, float32, batch {args.batch}, "
          f"best of {args.repeats} rounds x {args.steps} steps; same results checked (atol 1e-4)")
    print()
    print("| layer | biopytorch (ms) | synaptune (ms) | speed-up |")
    print("|---|---|---|---|")
    for name, best in results.items():
        print(f"| {name} | {best['biopytorch'] * 1e3:.2f} | {best['synaptune'] * 1e3:.2f} "
              f"| {best['biopytorch'] / best['synaptune']:.2f}x |")
    conv = [b["biopytorch"] / b["synaptune"] for n, b in results.items() if n.startswith("BioConv2d")]
    print()
    print(f"BioConv2d training_step speed-up over biopytorch: {min(conv):.2f}x to {max(conv):.2f}x "
          "(target >= 2x)")


if __name__ == "__main__":
    main()

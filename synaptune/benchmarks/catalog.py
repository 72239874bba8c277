# SPDX-License-Identifier: MIT
"""The built-in streams by name (no torch: the CLI lists them without building one)."""

from __future__ import annotations

#: The built-in streams: name -> (family, dataset). A family is "split" (disjoint classes per task) or
#: "permuted" (every class, a pixel permutation per task).
STREAMS: dict[str, tuple[str, str]] = {
    "split-digits": ("split", "digits"),
    "permuted-digits": ("permuted", "digits"),
    "split-mnist": ("split", "mnist"),
    "permuted-mnist": ("permuted", "mnist"),
    "split-fashion-mnist": ("split", "fashion-mnist"),
    "permuted-fashion-mnist": ("permuted", "fashion-mnist"),
    "split-cifar10": ("split", "cifar10"),
    "split-cifar100": ("split", "cifar100"),
}

# SPDX-License-Identifier: MIT
"""Options of a continual benchmark (shared by every stream)."""

from __future__ import annotations

from dataclasses import dataclass

from synaptune.params import param, validate


@dataclass(frozen=True, kw_only=True)
class BenchmarkParams:
    """How a stream is cut. Zero / empty values mean "the benchmark's default"."""

    n_tasks: int = param(0, low=0, help="Number of tasks; 0 = the benchmark's default (5 split, 10 permuted).")
    classes_per_task: int = param(0, low=0, help="Classes per task of a split stream; 0 = n_classes / n_tasks.")
    seed: int = param(0, low=0, flag="--benchmark-seed",
                      help="Seeds the class order, the permutations and the train/val split.")
    val_fraction: float = param(0.1, low=0.0, high=1.0, high_open=True,
                                help="Fraction of each task's training data held out as validation.")
    scenario: str = param("", choices=("", "class-il", "task-il", "domain-il"),
                          help="class-il, task-il or domain-il; empty = the benchmark's default.")
    data_dir: str = param("./data", help="Directory holding the dataset files (torchvision layout).")
    download: bool = param(False, help="Download the dataset into data_dir if it is missing.")

    def __post_init__(self) -> None:
        validate(self)

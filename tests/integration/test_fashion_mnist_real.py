# SPDX-License-Identifier: MIT
"""The real Fashion-MNIST from the Debian package ``dataset-fashion-mnist``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from synaptune.benchmarks import BenchmarkParams, build_stream

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.slow
@pytest.mark.skipif(
    not FASHION_DIR.is_dir(),
    reason=f"{FASHION_DIR} is absent; apt-get install dataset-fashion-mnist to run this test",
)
def test_split_fashion_mnist_real() -> None:
    stream = build_stream("split-fashion-mnist", BenchmarkParams(data_dir=str(FASHION_DIR)))
    assert stream.n_tasks == 5
    assert stream.input_shape == (1, 28, 28)
    assert stream.n_classes == 10
    pool = stream.tasks[0].pool
    assert pool.train_x.shape == (60000, 1, 28, 28)
    assert pool.test_x.shape == (10000, 1, 28, 28)
    assert pool.train_x.dtype == torch.float32
    assert 0.0 <= float(pool.train_x.min()) and float(pool.train_x.max()) <= 1.0
    # Fashion-MNIST is balanced: 6000 train and 1000 test images per class
    assert torch.bincount(pool.train_y, minlength=10).tolist() == [6000] * 10
    assert torch.bincount(pool.test_y, minlength=10).tolist() == [1000] * 10
    assert sum(t.size("trainval") for t in stream.tasks) == 60000
    assert sum(t.size("test") for t in stream.tasks) == 10000
    for task in stream.tasks:
        assert task.size("trainval") == 12000 and task.size("test") == 2000
        assert task.size("val") == 1200  # val_fraction 0.1 of each class
        x, y = next(task.batches("train", 256, shuffle=True, generator=torch.Generator().manual_seed(0)))
        assert x.shape == (256, 1, 28, 28)
        assert set(y.tolist()) <= set(task.classes)
    # real images, not blank: mean pixel intensity of Fashion-MNIST is about 0.286
    assert float(pool.train_x.mean()) == pytest.approx(0.286, abs=0.01)


@pytest.mark.slow
@pytest.mark.skipif(
    not FASHION_DIR.is_dir(),
    reason=f"{FASHION_DIR} is absent; apt-get install dataset-fashion-mnist to run this test",
)
def test_naive_baseline_trains_on_real_split_fashion_mnist(tmp_path: Path, cli) -> None:
    import json

    
    r = cli("run", "--learner", "naive", "--benchmark", "split-fashion-mnist",
            "--data-dir", str(FASHION_DIR), "--scenario", "task-il",
            "--set", "multi_head=true", "--set", "epochs=1", "--set", "hidden_units=64",
            "--format", "json", "--tracking-uri", f"sqlite:///{tmp_path}/m.db", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    # Task-incremental Fashion-MNIST pairs are easy for an MLP (published numbers: > 0.9);
    # chance is 0.5, so this fails if the data or the heads are wrong.
    assert out["test/acc"] > 0.85
    assert -0.2 < out["test/bwt"] <= 0.05

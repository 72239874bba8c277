# SPDX-License-Identifier: MIT
"""A sweep of each seed learner over its own knobs on split-digits, through the CLI, logged to
MLflow: every run logs every Params field, its sampled values lie in the space, its fixed values
are the space's, Optuna chose a different point each time, and SOM learners log their prototypes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from synaptune.learners import LEARNERS
from synaptune.searchspaces import load_space

HERE = Path(__file__).parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

#: Learners whose trials log ``prototypes.png`` (README: SOM maps, the Hebbian filters).
DRAWS_PROTOTYPES = {"satsom", "sommask-cnn", "hebbian"}
#: learner, its space (None: the shipped one), trials
SWEEPS = [
    ("hebbian", HERE / "hebbian_pkd.yaml", 3),       # p / k / Delta of one BioConv2d
    ("satsom", None, 2),                              # the shipped space
    ("sommask-cnn", HERE / "sommask_sigmas.yaml", 2),  # the two sigmas; prototypes.png
    ("sparse-mlp", HERE / "sparse_digits.yaml", 3),    # percent_on / sparsity
]


def in_space(dim, logged: str) -> bool:  # noqa: ANN001
    if dim.kind == "categorical":
        return logged in {str(c) for c in dim.choices}
    value = float(logged)
    return float(dim.low) - 1e-12 <= value <= float(dim.high) + 1e-12 and (dim.kind != "int" or value.is_integer())


@pytest.mark.slow
@pytest.mark.parametrize(("learner", "space_file", "trials"), SWEEPS, ids=[s[0] for s in SWEEPS])
def test_a_sweep_over_the_learners_knobs_logs_them_to_mlflow(learner: str, space_file: Path | None, trials: int,
                                                             tmp_path: Path, cli) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    space_args = ["--space", str(space_file)] if space_file else []
    r = cli("sweep", "--learner", learner, "--benchmark", "split-digits", "--n-tasks", "2", *space_args,
            "--trials", str(trials), "--concurrency", "2", "--num-cpus", "2", "--scheduler", "none",
            "--name", "s", "--storage", str(tmp_path / "results"), "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]

    from mlflow.tracking import MlflowClient

    space = load_space(learner, space_file)
    fields = {f.name for f in dataclasses.fields(LEARNERS.get(learner).params_cls)}
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("s")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'trial'")
    assert len(runs) == trials
    points = set()
    for run in runs:
        assert run.data.params["learner"] == learner
        assert run.data.tags["synaptune.status"] == "completed"
        assert 0.0 <= run.data.metrics["val/acc"] <= 1.0
        params = {k.removeprefix("learner/"): v for k, v in run.data.params.items() if k.startswith("learner/")}
        assert fields <= set(params)
        for name, value in space.fixed.items():
            assert params[name] == str(value), name
        for dim in space.dims:
            if all(params.get(k) in {str(v) for v in accepted} for k, accepted in dim.when.items()):
                assert in_space(dim, params[dim.name]), (dim, params[dim.name])
        points.add(tuple(params[d.name] for d in space.dims))
        if learner in DRAWS_PROTOTYPES:
            png = Path(client.download_artifacts(run.info.run_id, "prototypes.png", str(tmp_path / run.info.run_id)))
            assert png.read_bytes()[:8] == PNG_MAGIC
    assert len(points) == trials  # Optuna chose a different point each time

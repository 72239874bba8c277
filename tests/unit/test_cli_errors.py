# SPDX-License-Identifier: MIT
"""Bad input to the CLI: one line ``synaptune: error: ...``, exit code 2, before any
trial starts, and nothing the user already has is overwritten.

``synaptune.cli.main`` runs in-process (fast). Every test runs in its own
``tmp_path`` as the working directory, with a SQLite tracking URI and a results
directory under it, so nothing lands in the repository.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from synaptune import cli
from synaptune.learners import LEARNERS
from tests.conftest import free_port
from tests.unit.conftest import error_line, run_args, sweep_args, tree



@pytest.fixture(scope="module")
def mlflow_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised MLflow SQLite store: creating one takes seconds, copying it does not."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "m.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments(max_results=1)
    return path


@pytest.fixture
def mlflow_db(workdir: Path, mlflow_db_template: Path) -> Path:
    """``workdir/m.db``, the store ``sweep_args`` / ``run_args`` point at, ready to use.

    Tests whose bad input must be refused before the tracking store is touched do
    not use it, and check that no ``m.db`` appeared.
    """
    shutil.copy(mlflow_db_template, workdir / "m.db")
    return workdir / "m.db"


def unreachable_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound and released)."""
    return free_port()


def write_space(workdir: Path, params: dict, fixed: dict | None = None, name: str = "space.yaml") -> str:
    path = workdir / name
    path.write_text(yaml.safe_dump({"learner": "naive", "params": params, "fixed": fixed or {}}))
    return str(path)


def write_preset(workdir: Path, **changes: object) -> str:
    doc = {"format_version": 1, "learner": "naive",
           "benchmark": {"name": "split-digits", "params": {"n_tasks": 2}},
           "params": {"lr": 0.05, "epochs": 1}, "seeds": 1}
    doc.update(changes)
    path = workdir / "preset.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


# ------------------------------------------------------------------ unknown names


@pytest.mark.parametrize("command", ["sweep", "run", "space"])
def test_unknown_learner(synaptune, workdir: Path, command: str) -> None:  # noqa: ANN001
    before = tree(workdir)
    if command == "sweep":
        args = sweep_args(workdir, "--learner", "naiv")
    elif command == "run":
        args = run_args(workdir, "--learner", "naiv")
    else:
        args = ["space", "naiv"]
    msg = error_line(synaptune(*args))
    assert re.search(r"unknown learner `naiv`\. did you mean `naive`\?", msg, re.IGNORECASE), msg
    assert f"Known learners: {', '.join(LEARNERS.names())}." in msg
    assert tree(workdir) == before  # nothing written: no results dir, no MLflow store


@pytest.mark.parametrize("command", ["sweep", "run"])
def test_unknown_benchmark(synaptune, workdir: Path, command: str) -> None:  # noqa: ANN001
    args = (sweep_args(workdir, "--benchmark", "split-mnst") if command == "sweep"
            else run_args(workdir, "--learner", "naive", "--benchmark", "split-mnst"))
    msg = error_line(synaptune(*args))
    assert re.search(r"unknown benchmark `split-mnst`\. did you mean `split-mnist`\?", msg, re.IGNORECASE), msg
    assert "Known benchmarks:" in msg and "split-digits" in msg
    assert tree(workdir) == {}


def test_unknown_param_in_set(synaptune, workdir: Path) -> None:  # noqa: ANN001
    msg = error_line(synaptune(*run_args(workdir, "--learner", "naive", "--set", "lrr=0.1")))
    assert msg.startswith("--set: `lrr` is not a parameter of NaiveParams."), msg
    assert re.search(r"did you mean `lr`\?", msg, re.IGNORECASE), msg
    assert "Its parameters: hidden_units," in msg
    assert tree(workdir) == {}


@pytest.mark.parametrize(("value", "expected"), [
    ("lr=abc", "--set: `lr` must be float, got 'abc'."),
    ("lr=0", "--set: `lr` must be in (0, 10], got 0.0."),
    ("lr=nan", "--set: `lr` must be in (0, 10], got nan."),
    ("epochs=1e-3", "--set: `epochs` must be int, got '1e-3'."),
    ("multi_head=maybe", "--set: `multi_head` must be true or false, got 'maybe'."),
    ("lr", "--set expects NAME=VALUE, got 'lr'."),
])
def test_bad_set_value(synaptune, workdir: Path, value: str, expected: str) -> None:  # noqa: ANN001
    msg = error_line(synaptune(*run_args(workdir, "--learner", "naive", "--set", value)))
    assert msg.startswith(expected), msg


def test_run_without_learner_or_preset(synaptune, workdir: Path) -> None:  # noqa: ANN001
    assert "give --preset FILE, or --learner NAME" in error_line(synaptune(*run_args(workdir)))


# ------------------------------------------------------------------ search space files


SPACE_ERRORS = [
    ({"lrr": {"float": [0.01, 0.1]}}, None, r"params: `lrr` is not a parameter of NaiveParams\. Did you mean `lr`\?"),
    ({"lr": {"float": [0.1, 0.1]}}, None, r"`lr`: range \[0\.1, 0\.1\] is empty"),
    ({"lr": {"float": [0.5, 0.1]}}, None, r"`lr`: range \[0\.5, 0\.1\] is inverted"),
    ({"epochs": {"int": [5, 1]}}, None, r"`epochs`: range \[5, 1\] is inverted"),
    ({"weight_decay": {"float": [0.0, 0.1], "log": True}}, None, r"log range \[0\.0, 0\.1\] touches 0"),
    ({"momentum": {"float": [0.0, 0.9], "when": {"optimiser": "sgd"}}}, None,
     r"`momentum` has a `when` on `optimiser`, which is neither sampled nor fixed.*Did you mean `optimizer`\?"),
    ({"momentum": {"float": [0.0, 0.9], "when": {"optimizer": "sgd"}}}, None,
     r"`momentum` has a `when` on `optimizer`, which is neither sampled nor fixed in this space\."),
    ({"optimizer": {"categorical": ["sgd", "rmsprop"]}}, None, r"choice 'rmsprop' is outside the domain \{sgd, adam\}"),
    ({}, {"optimizer": "rmsprop"}, r"fixed `optimizer` = 'rmsprop' is outside its domain"),
    ({"lr": {"float": [0.001, 0.1], "log": True, "step": 0.01}}, None, r"`step` and `log` cannot be combined"),
]


@pytest.mark.parametrize(("params", "fixed", "pattern"), SPACE_ERRORS)
@pytest.mark.parametrize("command", ["sweep", "space"])
def test_bad_space_file(synaptune, workdir: Path, command: str, params: dict, fixed: dict | None,  # noqa: ANN001
                        pattern: str) -> None:
    space = write_space(workdir, params, fixed)
    before = tree(workdir)
    args = (sweep_args(workdir, "--space", space) if command == "sweep"
            else ["space", "naive", "--space", space])
    msg = error_line(synaptune(*args))
    assert msg.startswith(f"{space}: "), msg  # names the file
    assert re.search(pattern, msg), msg
    assert tree(workdir) == before


def test_space_file_missing_or_not_yaml(synaptune, workdir: Path) -> None:  # noqa: ANN001
    msg = error_line(synaptune(*sweep_args(workdir, "--space", "nope.yaml")))
    assert "search space file nope.yaml does not exist" in msg
    (workdir / "bad.yaml").write_text("params: {lr: {float: [1, 2}\n")
    msg = error_line(synaptune("space", "naive", "--space", "bad.yaml"))  # one line despite YAML's own
    assert msg.startswith("bad.yaml: not valid YAML"), msg


def test_space_for_another_learner(synaptune, workdir: Path) -> None:  # noqa: ANN001
    (workdir / "ewc.yaml").write_text("learner: ewc\nparams: {ewc_lambda: {float: [1, 10]}}\n")
    msg = error_line(synaptune(*sweep_args(workdir, "--learner", "naive", "--space", "ewc.yaml")))
    assert "this space is for learner `ewc`, not `naive`" in msg


# ------------------------------------------------------------------ numbers


@pytest.mark.parametrize(("flag", "value", "expected"), [
    ("--trials", "0", "--trials must be at least 1, got 0."),
    ("--concurrency", "0", "--concurrency must be at least 1, got 0."),
    ("--seeds", "0", "--seeds must be at least 1, got 0."),
    ("--grace-period", "0", "--grace-period must be at least 1, got 0."),
    ("--reduction-factor", "1", "--reduction-factor must be at least 2, got 1."),
    ("--max-failures", "-1", "--max-failures must be at least 0, got -1."),
    ("--cpus-per-trial", "0", "--cpus-per-trial must be > 0, got 0.0."),
    ("--gpus-per-trial", "-1", "--gpus-per-trial must be >= 0, got -1.0."),
    ("--cpus-per-trial", "nan", "--cpus-per-trial must be a finite number, got nan."),
    ("--gpus-per-trial", "nan", "--gpus-per-trial must be a finite number, got nan."),
    ("--time-budget", "nan", "--time-budget must be a finite number, got nan."),
    ("--gpu-hours", "inf", "--gpu-hours must be a finite number, got inf."),
    ("--name", "../../etc/x", "--name '../../etc/x': a sweep name is a plain name (letters, digits, . _ - + = @; "
                              "no path separators, quotes or '..'), since it names a folder under --storage. "
                              "Choose another."),
])
def test_bad_sweep_numbers(synaptune, workdir: Path, flag: str, value: str, expected: str) -> None:  # noqa: ANN001
    assert error_line(synaptune(*sweep_args(workdir, flag, value))) == expected
    assert tree(workdir) == {}  # no results directory, no MLflow store


@pytest.mark.parametrize("name", ["/abs/path", "it's", "a/b", ".hidden", "x..y"])
def test_sweep_name_is_a_plain_name(synaptune, workdir: Path, name: str) -> None:  # noqa: ANN001
    assert "a sweep name is a plain name" in error_line(synaptune(*sweep_args(workdir, "--name", name)))
    assert tree(workdir) == {}


def test_bad_benchmark_numbers(synaptune, workdir: Path) -> None:  # noqa: ANN001
    msg = error_line(synaptune(*sweep_args(workdir, "--val-fraction", "1")))
    assert "`val_fraction` must be in [0, 1), got 1.0." in msg
    assert tree(workdir) == {}


def test_other_commands_numbers(synaptune, workdir: Path) -> None:  # noqa: ANN001
    assert error_line(synaptune(*run_args(workdir, "--learner", "naive", "--seeds", "0"))) == \
        "--seeds must be at least 1, got 0."
    assert error_line(synaptune("best", "--experiment", "x", "--top", "0")) == "--top must be at least 1, got 0."
    assert tree(workdir) == {}


# ------------------------------------------------------------------ results directory


def test_resume_with_nothing_to_resume(synaptune, workdir: Path) -> None:  # noqa: ANN001
    msg = error_line(synaptune(*sweep_args(workdir, "--resume", "--name", "gone")))
    assert msg.startswith(f"--resume: no sweep to resume at {workdir / 'res' / 'gone'}."), msg
    assert "drop --resume" in msg
    assert tree(workdir) == {}


def test_new_sweep_over_an_existing_one_is_refused(synaptune, workdir: Path) -> None:  # noqa: ANN001
    existing = workdir / "res" / "naive-split-digits"
    existing.mkdir(parents=True)
    (existing / "tuner.pkl").write_bytes(b"precious")
    before = tree(workdir)
    msg = error_line(synaptune(*sweep_args(workdir)))
    assert f"{existing} already holds a sweep named `naive-split-digits`" in msg
    assert "Pass --resume to continue it, or --name NEW" in msg
    assert tree(workdir) == before
    # The same with an explicit --name
    (workdir / "res" / "mine").mkdir()
    assert "--resume" in error_line(synaptune(*sweep_args(workdir, "--name", "mine")))


# ------------------------------------------------------------------ dataset


def test_missing_dataset_directory(synaptune, workdir: Path, mlflow_db: Path) -> None:  # noqa: ANN001
    empty = workdir / "empty"
    empty.mkdir()
    msg = error_line(synaptune(*sweep_args(workdir, "--benchmark", "split-mnist", "--data-dir", str(empty))))
    assert msg.startswith(f"MNIST not found in {empty}"), msg
    assert f"pass --download (download=True) to fetch it into {empty}" in msg
    assert not (workdir / "res").exists()
    assert list(empty.iterdir()) == []  # nothing downloaded


def test_missing_fashion_mnist_says_how_to_get_it_offline(synaptune, workdir: Path, mlflow_db: Path) -> None:  # noqa: ANN001
    msg = error_line(synaptune(*sweep_args(workdir, "--benchmark", "split-fashion-mnist",
                                           "--data-dir", str(workdir / "nowhere"))))
    assert "Fashion-MNIST not found in" in msg and "--download" in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    assert not (workdir / "res").exists() and not (workdir / "nowhere").exists()


def test_missing_dataset_in_run(synaptune, workdir: Path, mlflow_db: Path) -> None:  # noqa: ANN001
    msg = error_line(synaptune(*run_args(workdir, "--learner", "naive", "--benchmark", "split-mnist",
                                         "--data-dir", "empty")))
    assert msg.startswith("MNIST not found in empty") and "--download" in msg


# ------------------------------------------------------------------ tracking URI and Ray address


@pytest.mark.parametrize("command", ["sweep", "run", "best"])
def test_unreachable_tracking_uri(synaptune, workdir: Path, command: str) -> None:  # noqa: ANN001
    port = unreachable_port()
    uri = f"http://127.0.0.1:{port}"
    if command == "sweep":
        args = ["sweep", "--storage", str(workdir / "res"), "--tracking-uri", uri]
    elif command == "run":
        args = ["run", "--learner", "naive", "--tracking-uri", uri]
    else:
        args = ["best", "--experiment", "x", "--tracking-uri", uri]
    msg = error_line(synaptune(*args))
    assert msg.startswith(f"MLflow tracking server {uri} is unreachable"), msg
    assert f"mlflow server --host 127.0.0.1 --port {port}" in msg
    assert tree(workdir) == {}


def test_tracking_uri_from_environment(synaptune, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    uri = f"http://127.0.0.1:{unreachable_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    msg = error_line(synaptune("sweep", "--storage", str(workdir / "res")))
    assert f"{uri} is unreachable" in msg


def test_unreachable_ray_address(synaptune, workdir: Path, mlflow_db: Path) -> None:  # noqa: ANN001
    address = f"127.0.0.1:{unreachable_port()}"
    msg = error_line(synaptune(*sweep_args(workdir, "--address", address)))
    assert msg.startswith(f"Ray cluster at {address} is unreachable"), msg
    assert "ray start --head" in msg
    assert not (workdir / "res").exists()
    import ray

    assert not ray.is_initialized()


def test_malformed_ray_address(synaptune, workdir: Path, mlflow_db: Path) -> None:  # noqa: ANN001
    msg = error_line(synaptune(*sweep_args(workdir, "--address", "localhost")))
    assert msg == "--address must be host:port, ray://host:port or auto, got 'localhost'."


# ------------------------------------------------------------------ presets


def test_preset_unknown_format_version(synaptune, workdir: Path) -> None:  # noqa: ANN001
    preset = write_preset(workdir, format_version=99)
    msg = error_line(synaptune(*run_args(workdir, "--preset", preset)))
    assert msg.startswith(f"{preset}: unknown preset format_version 99;"), msg
    assert "reads format_version 1" in msg


def test_preset_unknown_learner(synaptune, workdir: Path) -> None:  # noqa: ANN001
    preset = write_preset(workdir, learner="nope")
    msg = error_line(synaptune(*run_args(workdir, "--preset", preset)))
    assert msg == f"{preset}: unknown learner `nope`. Known learners: {', '.join(LEARNERS.names())}."


def test_preset_unknown_param(synaptune, workdir: Path) -> None:  # noqa: ANN001
    preset = write_preset(workdir, params={"lrr": 0.1})
    msg = error_line(synaptune(*run_args(workdir, "--preset", preset)))
    assert msg.startswith(f"{preset}: params: `lrr` is not a parameter of NaiveParams. Did you mean `lr`?"), msg


def test_preset_contradicting_learner(synaptune, workdir: Path) -> None:  # noqa: ANN001
    preset = write_preset(workdir)
    msg = error_line(synaptune(*run_args(workdir, "--preset", preset, "--learner", "ewc")))
    assert msg == "--learner ewc contradicts the preset's learner naive."


def test_preset_missing(synaptune, workdir: Path) -> None:  # noqa: ANN001
    assert error_line(synaptune(*run_args(workdir, "--preset", "none.yaml"))) == "preset file none.yaml does not exist."


# ------------------------------------------------------------------ export


def test_export_to_existing_file_without_force(synaptune, workdir: Path) -> None:  # noqa: ANN001
    target = workdir / "preset.yaml"
    target.write_text("my tuned preset\n")
    # An unreachable tracking server: the file check comes first, so MLflow is never asked.
    uri = f"http://127.0.0.1:{unreachable_port()}"
    msg = error_line(synaptune("export", "--experiment", "x", "-o", str(target), "--tracking-uri", uri))
    assert msg == f"{target} already exists; pass --force to overwrite it, or choose another -o."
    assert target.read_text() == "my tuned preset\n"
    assert tree(workdir) == {"preset.yaml": b"my tuned preset\n"}


def test_export_with_force_still_checks_tracking(synaptune, workdir: Path) -> None:  # noqa: ANN001
    target = workdir / "preset.yaml"
    target.write_text("my tuned preset\n")
    uri = f"http://127.0.0.1:{unreachable_port()}"
    msg = error_line(synaptune("export", "--experiment", "x", "-o", str(target), "--force", "--tracking-uri", uri))
    assert "is unreachable" in msg
    assert target.read_text() == "my tuned preset\n"


def test_export_unknown_experiment(synaptune, workdir: Path, mlflow_db: Path) -> None:  # noqa: ANN001
    msg = error_line(synaptune("export", "--experiment", "nothing", "-o", "p.yaml",
                               "--tracking-uri", f"sqlite:///{mlflow_db}"))
    assert msg.startswith("no MLflow experiment `nothing` at sqlite:///"), msg
    assert not (workdir / "p.yaml").exists()


# ------------------------------------------------------------------ the error line itself


def test_debug_shows_the_exception(workdir: Path) -> None:
    from synaptune.exceptions import UnknownNameError

    with pytest.raises(UnknownNameError):
        cli.main(["--debug", "space", "naiv"])


def test_stderr_is_one_line_even_for_a_multiline_message(synaptune, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from synaptune.exceptions import ConfigError

    def boom(args: object) -> int:
        raise ConfigError("first line\n  second line\n")

    monkeypatch.setitem(cli.HANDLERS, "env", boom)
    assert error_line(synaptune("env")) == "first line second line"


def test_mlflow_log_level_follows_the_cli_unless_set(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_LOGGING_LEVEL")
    assert cli.main(["list", "learners"]) == 0
    assert os.environ["MLFLOW_LOGGING_LEVEL"] == "WARNING"
    monkeypatch.setenv("MLFLOW_LOGGING_LEVEL", "DEBUG")
    assert cli.main(["list", "learners"]) == 0
    assert os.environ["MLFLOW_LOGGING_LEVEL"] == "DEBUG"


@pytest.mark.slow
def test_one_line_in_a_fresh_process_creating_the_mlflow_store(workdir: Path) -> None:
    """MLflow logs "Creating initial MLflow database tables..." at INFO when it makes a
    SQLite store; a bad command that got that far still prints only its error line."""
    import subprocess

    from tests.conftest import synaptune_cmd

    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    r = subprocess.run([*synaptune_cmd(), "sweep", "--benchmark", "split-mnist", "--data-dir", "empty",
                        "--storage", "res", "--tracking-uri", "sqlite:///fresh.db"],
                       cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("synaptune: error: MNIST not found in empty") and r.stderr.count("\n") == 1, r.stderr
    assert r.stdout == ""
    assert not (workdir / "fresh.db").exists()  # refused before the tracking store was made
    assert not (workdir / "res").exists()

    r = subprocess.run([*synaptune_cmd(), "best", "--experiment", "nope", "--tracking-uri", "sqlite:///fresh.db"],
                       cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("synaptune: error: no MLflow store at sqlite:///fresh.db") and \
        r.stderr.count("\n") == 1, r.stderr
    assert not (workdir / "fresh.db").exists()  # reading does not create an empty store


def test_tracking_check_leaves_mlflow_retries_to_the_sweep(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          mlflow_db_template: Path) -> None:
    """The fail-fast settings of the tracking check must not leak into the sweep's logging."""
    from synaptune.hpo.store import check_tracking_uri

    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
    shutil.copy(mlflow_db_template, tmp_path / "m.db")
    check_tracking_uri(f"sqlite:///{tmp_path}/m.db")  # an existing store: a real search_experiments call
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ
    assert "MLFLOW_HTTP_REQUEST_TIMEOUT" not in os.environ


def test_compare_refuses_a_preset_of_another_stream_before_training(synaptune, workdir: Path) -> None:
    from synaptune.benchmarks import BenchmarkParams
    from synaptune.hpo.presets import Preset
    from synaptune.learners.naive import NaiveParams

    preset = Preset(learner="naive", params=NaiveParams(), benchmark="split-digits",
                    benchmark_params=BenchmarkParams(n_tasks=3, classes_per_task=3))
    (workdir / "a.yaml").write_text(preset.to_yaml(), encoding="utf-8")
    line = error_line(synaptune("compare", "a.yaml", "naive", "--benchmark", "permuted-digits",
                                "--tracking-uri", f"sqlite:///{workdir}/m.db"))
    assert "was tuned on split-digits" in line and "--other-stream" in line
    assert not (workdir / "m.db").exists()

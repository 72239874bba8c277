# SPDX-License-Identifier: MIT
"""`synaptune report`: a static HTML page of a sweep, checked in a real headless Chromium.

Two sources of MLflow data: sweeps logged through the store's own writers,
:class:`~synaptune.hpo.store.SweepStore` and its
:class:`~synaptune.hpo.store.TrialLogger`, with made-up results (fast; covers a
prototype picture, pruned and failed trials, and the refusals), and a real
small ASHA sweep through the CLI (slow).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from synaptune.exceptions import ConfigError
from synaptune.hpo.store import SweepStore, TrialStatus, rank

pytest.importorskip("mlflow")
pytest.importorskip("optuna")
pytest.importorskip("matplotlib")

REPORT_SPACE = str(Path(__file__).with_name("report_naive.yaml"))
FIGURES = {"history.png", "importance.png", "parallel.png", "matrix.png", "curves.png"}
SPACE_YAML = """learner: naive
params:
  lr: {float: [0.00001, 0.5], log: true}
  hidden_units: {int: [16, 64], step: 16}
  optimizer: {categorical: [sgd, adam]}
fixed:
  epochs: 1
"""


# --------------------------------------------------------------------------- Chromium


def chromium_exe() -> str:
    """The Chromium binary; a missing one fails the test (CI installs it), it never skips."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("Chromium is not installed, and the report test opens the page in it: "
                "apt-get install chromium (.ci/run does).")


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    # --no-sandbox: Chromium's sandbox refuses to run as root (CI containers).
    cmd = [chromium_exe(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           f"--user-data-dir={profile}", "--hide-scrollbars", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, f"chromium failed ({r.returncode}):\n{r.stderr[-3000:]}"
    return r


def check_in_browser(index: Path, tmp_path: Path, *, images: int) -> None:
    """Open ``index`` from the file system: every image loads, and the screenshot is not blank."""
    url = index.resolve().as_uri()
    profile = tmp_path / "chromium-profile"
    dom = chromium("--virtual-time-budget=10000", "--dump-dom", url, profile=profile).stdout
    body = re.search(r"<body[^>]*>", dom)
    assert body, dom[:2000]
    total = re.search(r'data-images-total="(\d+)"', body.group(0))
    loaded = re.search(r'data-images-loaded="(\d+)"', body.group(0))
    assert total and loaded, f"the page's load script did not run: {body.group(0)}"
    assert int(total.group(1)) == images, body.group(0)
    assert int(loaded.group(1)) == images, f"some images did not load: {body.group(0)}"

    shot = tmp_path / "screenshot.png"
    chromium("--window-size=1000,2400", f"--screenshot={shot}", url, profile=profile)
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1000, 2400)
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    # Text, tables and plots give thousands of colours; a blank or failed page gives a handful.
    assert colours is not None and len(colours) > 200, f"screenshot has only {len(colours or [])} colours"


# --------------------------------------------------------------------------- hand-logged sweeps


def _png(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 30, 30)).save(path)
    return path


def _log_sweep(results: SweepStore, name: str, folder: Path, trials: list[dict]) -> str:
    """A sweep logged as ``synaptune sweep`` logs it: the parent run through ``results``, one child run per
    entry of ``trials`` through the sweep's :class:`TrialLogger` (a result per task seen, then the trial's end)."""
    settings = {"learner": "naive", "benchmark": "split-digits", "scheduler": "asha", "seeds": 1,
                "stream/tuned_tasks": 3}
    parent = results.start_sweep(name, sweep_path=str(folder / name), settings=settings, tags={},
                                 space_yaml=SPACE_YAML)
    logger = results.trial_logger(name, parent, learner="naive", fixed={"epochs": 1}, settings=settings)
    for i, t in enumerate(trials):
        trial_id, config = f"t{i}", {"lr": t["lr"], "hidden_units": t["hidden_units"], "optimizer": t["optimizer"]}
        result: dict = {}
        for step, acc in enumerate(t["seen"], 1):
            result = {"tasks_seen": step, "n_tasks": 3, "val/acc_seen": acc}
            if t["status"] == "completed" and step == 3:
                R = [[0.9, None, None], [0.4, 0.8, None], [0.3, 0.5, acc * 3 - 0.8]]
                result.update({"val/acc": acc, "objective": acc, "val/bwt": -0.2, "val/forgetting": 0.2,
                               "accuracy_matrix": json.dumps(R)})
            logger.on_result(trial_id, config, result)
        if t.get("prototypes"):
            results.log_artifact(logger.child_run(trial_id, config), _png(folder / "prototypes.png"))
        assert logger.on_end(trial_id, config, result, error=t["status"] == "failed").value == t["status"]
    results.wait_for_logging()
    records = results.records(name, parent_id=parent)
    counts = {s.value: sum(r.status is s for r in records) for s in TrialStatus}
    ranked = rank(records)
    results.finish_sweep(parent, ranked[0] if ranked else None, counts)
    return parent


def _trial(status: str, seen: list[float], lr: float, hu: int, opt: str, **kw) -> dict:
    return {"status": status, "seen": seen, "lr": lr, "hidden_units": hu, "optimizer": opt, **kw}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """One SQLite MLflow store with sweeps `full`, `one-done` and `all-pruned`; yields (uri, folder)."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder}/mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)  # MLflow's default artifact folder (./mlruns) goes there, as in a user's sweep folder
        _log_sweeps(SweepStore(uri), folder)
    return uri, folder


def _log_sweeps(results: SweepStore, folder: Path) -> None:
    _log_sweep(results, "full", folder, [
        _trial("completed", [0.9, 0.6, 0.5], 0.01, 32, "adam"),
        _trial("pruned", [0.5], 1e-4, 16, "sgd"),
        _trial("completed", [0.9, 0.7, 0.6], 0.003, 64, "adam", prototypes=True),  # the best
        _trial("completed", [0.8, 0.5, 0.4], 0.2, 48, "sgd"),
        _trial("failed", [0.7], 0.05, 16, "sgd"),
        _trial("completed", [0.8, 0.5, 0.45], 0.1, 16, "sgd"),
    ])
    _log_sweep(results, "one-done", folder, [_trial("completed", [0.9, 0.6, 0.5], 0.01, 32, "adam"),
                                             _trial("pruned", [0.4], 0.3, 16, "sgd")])
    _log_sweep(results, "all-pruned", folder, [_trial("pruned", [0.4], 0.3, 16, "sgd")])


def _artifacts(uri: str, run_id: str, path: str) -> set[str]:
    from mlflow.tracking import MlflowClient

    return {Path(a.path).name for a in MlflowClient(tracking_uri=uri).list_artifacts(run_id, path)}


def _parent_id(uri: str, experiment: str) -> str:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`synaptune.role` = 'sweep'")
    assert len(runs) == 1
    return runs[0].info.run_id


def test_report_of_logged_sweep_opens_in_chromium(store: tuple[str, Path], tmp_path: Path) -> None:
    from synaptune.hpo.report import write_report

    uri, _ = store
    out = tmp_path / "report"
    index = write_report(uri, "full", out)
    assert index == out / "index.html"
    assert {p.name for p in out.iterdir()} == {"index.html", "prototypes.png", *FIGURES}
    page = index.read_text()
    assert "<b>t2</b>" not in page and ">t2<" in page  # the best trial (val/acc 0.6) is named
    assert "objective =\n0.6 (naive-3, trial t2)" in page  # 4 significant digits, the trial's name
    for status, n in (("completed", 4), ("pruned", 1), ("failed", 1)):
        assert f"<td>{status}</td><td>{n}</td>" in page
    assert "http://" not in page and "https://" not in page  # nothing fetched from the network
    assert set(re.findall(r'<img src="([^"]+)"', page)) == {"prototypes.png", *FIGURES}
    assert _artifacts(uri, _parent_id(uri, "full"), "report") == {"index.html", "prototypes.png", *FIGURES}
    check_in_browser(index, tmp_path, images=6)

    # A second report may replace the first in the same folder; other files there are left alone.
    (out / "notes.txt").write_text("mine")
    write_report(uri, "full", out)
    assert (out / "notes.txt").read_text() == "mine"


def test_report_says_why_a_figure_is_missing(store: tuple[str, Path], tmp_path: Path) -> None:
    from synaptune.hpo.report import write_report

    uri, _ = store
    index = write_report(uri, "one-done", tmp_path / "r")
    page = index.read_text()
    assert "need at least 2 completed trials; this sweep has 1" in page
    assert not (tmp_path / "r" / "importance.png").exists()
    assert not (tmp_path / "r" / "prototypes.png").exists()
    assert {"history.png", "matrix.png", "curves.png", "parallel.png"} <= {p.name for p in (tmp_path / "r").iterdir()}


def test_report_refusals(store: tuple[str, Path], tmp_path: Path) -> None:
    from synaptune.hpo.report import write_report

    uri, folder = store
    with pytest.raises(ConfigError, match=r"no MLflow experiment `ful`.*Did you mean `full`"):
        write_report(uri, "ful", tmp_path / "a")
    with pytest.raises(ConfigError, match=r"no completed trial.*1 pruned.*run the report again"):
        write_report(uri, "all-pruned", tmp_path / "a")
    assert not (tmp_path / "a").exists()  # nothing written by a refused command

    missing = tmp_path / "nowhere.db"
    with pytest.raises(ConfigError, match=r"does not exist\). Pass the --tracking-uri"):
        write_report(f"sqlite:///{missing}", "full", tmp_path / "a")
    assert not missing.exists()  # no empty store created by a typo

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("keep me")
    with pytest.raises(ConfigError, match=r"not empty and holds no earlier synaptune report.*new or empty"):
        write_report(uri, "full", busy)
    assert [p.name for p in busy.iterdir()] == ["thesis.tex"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        write_report(uri, "full", tmp_path / "file")


# --------------------------------------------------------------------------- a real sweep


@pytest.mark.slow
def test_report_of_real_asha_sweep(tmp_path: Path, cli) -> None:
    pytest.importorskip("ray")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    r = cli("sweep", "--learner", "naive", "--benchmark", "split-digits", "--n-tasks", "3", "--classes-per-task", "3",
            "--space", REPORT_SPACE, "--trials", "6", "--concurrency", "2", "--num-cpus", "2",
            "--scheduler", "asha", "--reduction-factor", "2",  # about half of the trials finish: fANOVA needs 2+
            "--name", "rep", "--storage", str(tmp_path / "results"),
            "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]

    r = cli("report", "--experiment", "rep", "-o", "report", "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]
    out = tmp_path / "report"
    assert str(out / "index.html") in r.stdout or "report/index.html" in r.stdout
    # Which trials ASHA stops depends on the order results arrive (a loaded machine reorders them), so
    # the importance figure is expected exactly when 2 or more trials completed, and explained otherwise.
    from synaptune.hpo.report import load_sweep
    completed = len(load_sweep(uri, "rep").completed)
    assert completed >= 1
    # The defaults trial (hidden_units 128) lies outside this space's [16, 64]: fANOVA leaves it out, and says so.
    outside = sum(t.name == "naive-defaults" for t in load_sweep(uri, "rep").completed)
    figures = FIGURES if completed - outside >= 2 else FIGURES - {"importance.png"}
    assert {p.name for p in out.iterdir()} == {"index.html", *figures}  # naive has no prototypes
    for png in figures:
        assert (out / png).stat().st_size > 5_000, png
    page = (out / "index.html").read_text()
    assert "Sweep <code>rep</code>: naive on split-digits" in page
    if completed - outside >= 2:
        assert f"fANOVA over {completed - outside} completed trials" in page
        assert ("1 completed trial(s) did not fit the search space" in page) == bool(outside)
    else:
        assert "Parameter importances need at least 2 completed trials" in page
        assert ("did not fit the search space" in page) == bool(outside)
    assert _artifacts(uri, _parent_id(uri, "rep"), "report") == {"index.html", *figures}
    check_in_browser(out / "index.html", tmp_path, images=len(figures))

    # Through the CLI, a refusal is one line that says how to fix it, and the folder is untouched.
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "data.csv").write_text("1,2")
    r = cli("report", "--experiment", "rep", "-o", str(busy), "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode != 0
    assert "not empty and holds no earlier synaptune report" in r.stderr
    assert [p.name for p in busy.iterdir()] == ["data.csv"]

    # The test result of a preset exported from the sweep shows up in its report.
    assert "No `synaptune run --preset` of a preset exported from this sweep" in page
    assert cli("export", "--experiment", "rep", "-o", "p.yaml", "--tracking-uri", uri,
               cwd=tmp_path).returncode == 0
    r = cli("run", "--preset", "p.yaml", "--format", "json", "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    tested = json.loads(r.stdout)
    r = cli("report", "--experiment", "rep", "-o", "report2", "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    page = (tmp_path / "report2" / "index.html").read_text()
    assert "Test results of exported presets" in page and tested["run_id"] in page
    assert f"{tested['test/acc']:.4f} ± {tested['test/acc_std']:.4f}" in page


def test_report_ranks_with_the_store_ranking_and_its_direction() -> None:
    from synaptune.hpo.report import SweepData
    from synaptune.hpo.store import TrialRecord, TrialStatus

    def trial(number: int, acc: float, objective: float, forgetting: float) -> TrialRecord:
        metrics = {"val/acc": acc, "objective": objective, "val/forgetting": forgetting, "tasks_seen": 3}
        return TrialRecord(f"r{number}", f"t{number}", f"naive-{number}", TrialStatus.COMPLETED, None, "x", "naive",
                           {}, {}, metrics, 3, 3, start_time_ms=number)

    # Under --aggregate mean-minus-std the lucky trial (higher mean) ranks below the steady one.
    trials = [trial(0, 0.65, 0.35, 0.5), trial(1, 0.61, 0.60, 0.1), trial(2, 0.7, float("nan"), 0.0)]
    data = SweepData("x", "sqlite:///x.db", "p", {}, None, None, None, trials)
    assert [t.trial_id for t in data.completed] == ["t1", "t0"]  # the NaN objective is never ranked
    by_forgetting = SweepData("x", "sqlite:///x.db", "p", {}, None, None, None, trials, metric="val/forgetting",
                              mode="min")
    assert [t.trial_id for t in by_forgetting.completed] == ["t2", "t1", "t0"]  # least forgetting first


def test_report_numbers_trials_by_position_even_when_two_records_are_equal() -> None:
    # The history figure places each trial at its start position; a lookup by equality put two
    # equal records (a trial logged twice) at the same place, and took quadratic time.
    from synaptune.hpo.report import SweepData
    from synaptune.hpo.store import TrialRecord, TrialStatus

    def trial(number: int) -> TrialRecord:
        return TrialRecord("r", "t", "naive-0", TrialStatus.COMPLETED, None, "x", "naive", {}, {},
                           {"objective": 0.5, "tasks_seen": 3}, 3, 3, start_time_ms=number % 2)

    trials = [trial(n) for n in range(6)]
    assert trials[0] == trials[2]  # equal, distinct records
    data = SweepData("x", "sqlite:///x.db", "p", {}, None, None, None, trials)
    assert [data.number(t) for t in trials] == list(range(6))
    assert sorted(data.number(t) for t in data.completed) == list(range(6))

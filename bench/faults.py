#!/usr/bin/env python
# SPDX-License-Identifier: MIT
"""The fault matrix: inject each fault into a small real sweep N times, recover as a user would, count.

Each try runs ``synaptune sweep`` (naive on split-digits, tests/integration/slow_naive.yaml,
5 tasks, 4-6 trials, no scheduler, 2 CPUs, concurrency 2, SQLite MLflow in the try's folder),
injects one fault, recovers the way a user would (``--resume`` with the same arguments), and
reads the outcome from MLflow and the trainable's test event log (SYNAPTUNE_TEST_EVENT_LOG).
While it runs, ``--hog K`` processes spin on the CPU. Prints one line per try, then a table:

    fault, tries, survived, trials lost, runs duplicated, steps missing, steps doubled

Definitions (sums over tries):
- trials lost: trials requested minus trials whose child run ended completed, pruned, or failed
  with a reason (runs left lost / running / interrupted count as lost);
- runs duplicated: child runs sharing a trial_id, plus distinct non-``lost`` trials beyond the
  requested count;
- steps missing / doubled: for each completed child run, steps 1..n_tasks absent from / present
  more than once in the history of its ``tasks_seen`` metric.

The faults sigterm-run and sigterm-compare drive ``synaptune run`` (6 seeds) and ``synaptune compare``
(2 entries x 3 seeds) instead: trials lost / runs duplicated count their seeds (entry x seed) missing /
logged more than once after ``--resume``.

A try survives when the exit codes are as expected, all four counts are 0, no run failed with
reason ``error``, there is one parent run, and the fault's own conditions hold (see each
function). Exit status 0 iff every try survived.

``disk-full`` and ``read-only`` put --storage on a small tmpfs that the bench mounts (root only;
skipped otherwise, with the reason), fill it or remount it read-only mid-sweep, and require exit 1
with at most ``STORAGE_STDERR_LINES`` stderr lines, no traceback, and a last line that names the
``--resume`` command; then free it (rw) and resume (exit 0, nothing lost). ``changed-flag-resume``
resumes an interrupted sweep with another --learner and --n-tasks 2 (each refused: exit 2,
one error line) and then with --concurrency 1 --trials 5 (allowed: exit 0, 5 trials).

    .venv/bin/python bench/faults.py                                  # all faults, 3 tries, 2 hogs
    .venv/bin/python bench/faults.py --tries 20 --faults sigkill-driver
    .venv/bin/python bench/faults.py --tries 1 --hog 0 --keep /tmp/faults
    .venv/bin/python bench/faults.py --tries 1 --hog 0 --faults disk-full read-only changed-flag-resume
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/records.py, also when imported by a test
import records  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SLOW_SPACE = ROOT / "tests" / "integration" / "slow_naive.yaml"
N_TASKS = 5
EVENT_LOG_ENV = "SYNAPTUNE_TEST_EVENT_LOG"
POLL_S = 0.2
#: How long the MLflow server stays down at least (mlflow-server-down).
SERVER_DOWN_S = 15.0
#: ... and at most, when the trials report nothing while it is down.
SERVER_DOWN_MAX_S = 30.0


class FaultError(Exception):
    """The fault could not be injected as planned (e.g. the sweep ended first)."""


class Skip(Exception):
    """The fault cannot run on this machine (e.g. no ``mlflow server``)."""


def synaptune_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "synaptune"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "synaptune"]


# --------------------------------------------------------------------------- processes


def session_pids(sid: int) -> list[int]:
    """Live processes of session ``sid``: a sweep started with ``start_new_session=True``.

    The driver, GCS and raylet share the driver's process group; Ray's trial
    workers have process groups of their own but stay in the driver's session.
    """
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # state, ppid, pgrp, session, ...
        if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
            pids.append(int(entry.name))
    return pids


def signal_session(sid: int, sig: int) -> None:
    """``sig`` to the process group ``sid`` (driver, GCS, raylet), then to the rest of its session."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(sid, sig)
    for pid in session_pids(sid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_session_gone(sid: int, grace_s: float = 0.0, timeout_s: float = 120.0) -> int:
    """Wait ``grace_s`` for session ``sid`` to end, then SIGKILL the rest; returns how many were left."""
    deadline = time.monotonic() + grace_s
    while session_pids(sid) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    left = len(session_pids(sid))
    deadline = time.monotonic() + timeout_s
    while session_pids(sid):
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes of session {sid} survive SIGKILL: {session_pids(sid)}")
        signal_session(sid, signal.SIGKILL)
        time.sleep(POLL_S)
    return left


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------- Tune's files


def tune_state(experiment_dir: Path) -> dict[str, tuple[str, int]] | None:
    """``{trial_id: (status, tasks_seen of its latest checkpoint, 0 if none)}`` from Tune's newest state.

    The newest ``experiment_state-*.json`` (greatest name) is the one ``--resume``
    restores. None when there is none or it does not parse (Tune rewrites it in place).
    """
    from ray.tune.utils.serialization import TuneFunctionDecoder

    files = sorted(experiment_dir.glob("experiment_state-*.json"))
    if not files:
        return None
    try:
        trials = {}
        for trial_json, meta_json in json.loads(files[-1].read_text())["trial_data"]:
            trial = json.loads(trial_json)
            meta = json.loads(meta_json, cls=TuneFunctionDecoder, allow_cloudpickle=True)  # our own file
            latest = meta["checkpoint_manager"].latest_checkpoint_result
            trials[trial["trial_id"]] = (trial["status"], int(latest.metrics["tasks_seen"]) if latest else 0)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError):
        return None
    return trials


def named_checkpoints(experiment_dir: Path) -> dict[str, Path]:
    """``{trial_id: folder of the latest checkpoint}`` that Tune's newest state names (local storage)."""
    from ray.tune.utils.serialization import TuneFunctionDecoder

    files = sorted(experiment_dir.glob("experiment_state-*.json"))
    named = {}
    for trial_json, meta_json in json.loads(files[-1].read_text())["trial_data"]:
        latest = json.loads(meta_json, cls=TuneFunctionDecoder,
                            allow_cloudpickle=True)["checkpoint_manager"].latest_checkpoint_result
        if latest is not None:
            named[json.loads(trial_json)["trial_id"]] = Path(latest.checkpoint.path)
    return named


def state_mtime(experiment_dir: Path) -> float:
    files = sorted(experiment_dir.glob("experiment_state-*.json"))
    try:
        return files[-1].stat().st_mtime if files else 0.0
    except OSError:
        return 0.0


def mid_stream(state: dict[str, tuple[str, int]] | None) -> dict[str, int]:
    """Trials the state resumes (not terminated) that have a checkpoint of a task before the last."""
    return {t: k for t, (status, k) in (state or {}).items()
            if status not in ("TERMINATED", "ERROR") and 0 < k < N_TASKS}


def checkpoint_files(experiment_dir: Path) -> dict[str, list[Path]]:
    """``{trial_id: [trial.pt, ...] oldest first}`` on disk."""
    found: dict[str, list[Path]] = collections.defaultdict(list)
    for path in experiment_dir.glob("train_trial_*/checkpoint_*/trial.pt"):
        found[path.parent.parent.name.split("_")[2]].append(path)
    return {t: sorted(paths, key=lambda p: p.parent.name) for t, paths in found.items()}


def truncate_half(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.truncate(path, path.stat().st_size // 2)


# --------------------------------------------------------------------------- one try


@dataclass
class Measure:
    lost: int = 0
    dup: int = 0
    missing: int = 0
    doubled: int = 0
    statuses: collections.Counter = field(default_factory=collections.Counter)
    failed_error: int = 0
    parents: int = 0
    running: int = 0

    def text(self) -> str:
        states = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items()))
        counts = f"lost {self.lost}, dup {self.dup}, missing {self.missing}, doubled {self.doubled}"
        return f"{counts}; runs: {states}"


@dataclass
class Try:
    fault: str
    exits: list[int | None] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    measure: Measure | None = None
    #: corrupt-experiment-state: the resume refused cleanly, so unfinished trials are not "lost" by the sweep.
    lost_ok: bool = False
    seconds: float = 0.0
    skipped: str | None = None

    @property
    def survived(self) -> bool:
        return not self.problems and self.skipped is None


class Work:
    """One try's folder, sweep command, processes and measurements."""

    def __init__(self, folder: Path, name: str, trials: int, timeout_s: float,
                 uri: str | None = None) -> None:
        self.dir, self.name, self.trials, self.timeout_s = folder, name, trials, timeout_s
        folder.mkdir(parents=True, exist_ok=True)
        self.experiment = folder / "results" / name
        self.events = folder / "events.log"
        self.uri = uri or f"sqlite:///{folder}/mlflow.db"
        self.env: dict[str, str] = {**os.environ, EVENT_LOG_ENV: str(self.events)}
        self.procs: list[subprocess.Popen] = []
        self.logs: dict[int, Path] = {}
        #: How many times freeze_when stopped a sweep (one more than the kills when Tune's state changed).
        self.freezes = 0

    def args(self) -> list[str]:
        return ["sweep", "--learner", "naive", "--benchmark", "split-digits", "--space", str(SLOW_SPACE),
                "--n-tasks", str(N_TASKS), "--trials", str(self.trials), "--scheduler", "none",
                "--num-cpus", "2", "--concurrency", "2", "--name", self.name,
                "--storage", str(self.dir / "results"), "--tracking-uri", self.uri]

    def start(self, *extra: str) -> subprocess.Popen:
        return self.start_command([*self.args(), *extra])

    def start_command(self, args: list[str]) -> subprocess.Popen:
        """``synaptune ARGS`` in its own session, its output in this try's folder (``<command>-K.out/.err``)."""
        k = len(self.procs) + 1
        err = self.dir / f"{args[0]}-{k}.err"
        with open(self.dir / f"{args[0]}-{k}.out", "w") as out, open(err, "w") as errf:
            p = subprocess.Popen([*synaptune_cmd(), *args], cwd=self.dir, env=self.env,
                                 stdout=out, stderr=errf, start_new_session=True)
        self.procs.append(p)
        self.logs[p.pid] = err
        return p

    def wait(self, p: subprocess.Popen, timeout_s: float | None = None) -> int | None:
        """The exit code, or None (the sweep was killed) after ``timeout_s``."""
        try:
            rc = p.wait(timeout=timeout_s or self.timeout_s)
        except subprocess.TimeoutExpired:
            self.kill(p)
            return None
        return rc

    def run(self, *extra: str) -> tuple[subprocess.Popen, int | None]:
        p = self.start(*extra)
        return p, self.wait(p)

    def kill(self, p: subprocess.Popen) -> None:
        """SIGKILL the sweep: driver, Ray's processes and trial workers (its whole session)."""
        signal_session(p.pid, signal.SIGKILL)
        p.wait()
        wait_session_gone(p.pid)

    def cleanup(self) -> None:
        for p in self.procs:
            if p.poll() is None or session_pids(p.pid):
                self.kill(p)

    def stderr(self, p: subprocess.Popen) -> str:
        try:
            return self.logs[p.pid].read_text(errors="replace")
        except OSError:
            return ""

    def last_line(self, p: subprocess.Popen) -> str:
        lines = [line for line in self.stderr(p).splitlines() if line.strip()]
        return lines[-1][:300] if lines else "(no stderr)"

    def read_events(self) -> list[tuple[str, str, int]]:
        """``(trial_id, what, task)`` lines of the test event log (a line still being written is skipped)."""
        if not self.events.exists():
            return []
        rows = [line.split() for line in self.events.read_text().splitlines()]
        return [(r[0], r[1], int(r[2])) for r in rows if len(r) >= 5]

    def reported(self, since: int = 0) -> int:
        return sum(what == "reported" for _, what, _ in self.read_events()[since:])

    def wait_reported(self, p: subprocess.Popen, n: int, since: int = 0) -> None:
        deadline = time.monotonic() + self.timeout_s
        while self.reported(since) < n:
            if p.poll() is not None:
                raise FaultError(f"the sweep exited ({p.returncode}) before {n} results were reported: "
                                 f"{self.last_line(p)}")
            if time.monotonic() > deadline:
                raise FaultError(f"fewer than {n} results reported after {self.timeout_s:.0f} s")
            time.sleep(POLL_S)

    def freeze_when(self, p: subprocess.Popen, ready: Callable[[dict | None], dict], *, min_reported: int,
                    since: int = 0, state_after: float = 0.0) -> dict:
        """Stop the sweep (SIGSTOP, its whole session) once Tune's newest state satisfies ``ready``.

        ``ready(state)`` returns what qualifies (empty: not yet). It is checked
        again on the stopped sweep, so what it returns is exactly what a
        ``--resume`` after a SIGKILL now restores; if the state changed in
        between, the sweep goes on (SIGCONT) and the wait too. The caller kills
        the stopped sweep.
        """
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise FaultError(f"the sweep exited ({p.returncode}) before the fault could be injected")
            if (self.reported(since) >= min_reported and state_mtime(self.experiment) >= state_after
                    and ready(tune_state(self.experiment))):
                signal_session(p.pid, signal.SIGSTOP)
                self.freezes += 1
                got = ready(tune_state(self.experiment))
                if got and state_mtime(self.experiment) >= state_after:
                    return got
                signal_session(p.pid, signal.SIGCONT)
            time.sleep(POLL_S)
        raise FaultError(f"Tune's state never qualified in {self.timeout_s:.0f} s")

    def measure(self) -> Measure:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=self.uri)
        m = Measure()
        exp = client.get_experiment_by_name(self.name)
        if exp is None:
            m.lost = self.trials
            return m
        runs = client.search_runs([exp.experiment_id], "tags.`synaptune.role` = 'trial'", max_results=5000)
        m.parents = len(client.search_runs([exp.experiment_id], "tags.`synaptune.role` = 'sweep'",
                                           max_results=100))
        per_trial = collections.Counter(r.data.tags.get("trial_id") for r in runs)
        ended, live = set(), set()
        for run in runs:
            tags = run.data.tags
            status = tags.get("synaptune.status", "running")
            m.statuses[status] += 1
            if status != "lost":
                live.add(tags.get("trial_id"))
            if status in ("completed", "pruned") or (status == "failed" and tags.get("synaptune.reason")):
                ended.add(tags.get("trial_id"))
            m.failed_error += status == "failed" and tags.get("synaptune.reason") == "error"
            m.running += status == "running"
            if status == "completed":
                history = client.get_metric_history(run.info.run_id, "tasks_seen")
                steps = collections.Counter(x.step for x in history)
                m.missing += sum(steps[s] == 0 for s in range(1, N_TASKS + 1))
                m.doubled += sum(steps[s] > 1 for s in range(1, N_TASKS + 1))
        m.lost = max(0, self.trials - len(ended))
        m.dup = sum(n - 1 for n in per_trial.values()) + max(0, len(live) - self.trials)
        return m


def expect_exit(t: Try, w: Work, p: subprocess.Popen, rc: int | None, want: int, what: str) -> None:
    t.exits.append(rc)
    if rc is None:
        t.problems.append(f"{what} did not end in {w.timeout_s:.0f} s (killed)")
    elif rc != want:
        t.problems.append(f"{what} exited {rc}, expected {want}: {w.last_line(p)}")


def judge(t: Try, m: Measure) -> None:
    t.measure = m
    if m.lost and not t.lost_ok:
        t.problems.append(f"{m.lost} trials lost")
    for n, what in ((m.dup, "duplicated runs"), (m.missing, "missing steps"), (m.doubled, "doubled steps"),
                    (m.failed_error, "runs failed with reason error")):
        if n:
            t.problems.append(f"{n} {what}")
    if m.parents != 1:
        t.problems.append(f"{m.parents} parent runs")


def no_retraining(t: Try, w: Work, before: list, after: list, resumable: dict[str, int]) -> None:
    """Checkpointed trials never restart from task 0; resumable ones start at their checkpoint or later."""
    checkpointed = {tid for tid, what, _ in before if what == "reported"}
    restarted = {tid for tid, what, task in after if what == "start" and task == 0}
    if restarted & checkpointed:
        t.problems.append(f"retrained from task 0 although checkpointed: {sorted(restarted & checkpointed)}")
    for tid, k in resumable.items():
        starts = [task for x, what, task in after if x == tid and what == "start"]
        if not starts or min(starts) < k:
            t.problems.append(f"trial {tid} (checkpoint of task {k} in Tune's state) started at "
                              f"{starts or 'never'}")


def kill_mid_stream(t: Try, w: Work, p: subprocess.Popen, ready: Callable[[dict | None], dict] | None = None,
                    min_reported: int = 4, since: int = 0, state_after: float = 0.0) -> dict:
    """SIGKILL the sweep once Tune's state holds a mid-stream trial with a checkpoint; returns them."""
    try:
        got = w.freeze_when(p, ready or mid_stream, min_reported=min_reported, since=since,
                            state_after=state_after)
    finally:
        w.kill(p)
        t.exits.append(p.returncode)
    t.notes.append(f"killed after {w.reported(since)} results (stopped {w.freezes} times so far); mid-stream "
                   f"in Tune's state: {got}")
    return got


# --------------------------------------------------------------------------- faults


def sigkill_driver(t: Try, w: Work) -> None:
    """SIGKILL the sweep once >= 4 results are in and Tune's state records a mid-stream checkpoint; resume."""
    resumable = kill_mid_stream(t, w, w.start())
    before = w.read_events()
    p, rc = w.run("--resume")
    expect_exit(t, w, p, rc, 0, "resume")
    no_retraining(t, w, before, w.read_events()[len(before):], resumable)
    judge(t, w.measure())


def sigkill_driver_twice(t: Try, w: Work) -> None:
    """As sigkill-driver, then SIGKILL the resumed sweep too (2 more results, its own state); resume again."""
    resumable = kill_mid_stream(t, w, w.start())
    before = w.read_events()
    started = time.time()
    p = w.start("--resume")
    try:
        resumable2 = kill_mid_stream(t, w, p, min_reported=2, since=len(before), state_after=started)
    except FaultError as e:
        t.problems.append(f"second kill: {e}")
        judge(t, w.measure())
        return
    middle = w.read_events()
    p, rc = w.run("--resume")
    expect_exit(t, w, p, rc, 0, "second resume")
    no_retraining(t, w, before, middle[len(before):], resumable)
    no_retraining(t, w, middle, w.read_events()[len(middle):], resumable2)
    judge(t, w.measure())


def stop_mid_stream(t: Try, w: Work, send: Callable[[int], None], code: int, what: str) -> subprocess.Popen:
    """Start the sweep, ``send(pid)`` a stop once 2 results are in, expect exit ``code``; its processes must
    be gone within 60 s. The stopped sweep's process."""
    p = w.start()
    try:
        w.wait_reported(p, 2)
        send(p.pid)
        rc = w.wait(p, 300)
    finally:
        if p.poll() is None:
            w.kill(p)
    expect_exit(t, w, p, rc, code, what)
    left = wait_session_gone(p.pid, grace_s=60)
    if left:
        t.problems.append(f"{left} processes of the {what} still alive 60 s after it exited")
    return p


def sigint(t: Try, w: Work) -> None:
    """Ctrl-C (SIGINT to the driver's process group, as a terminal sends it) mid-stream: exit 130; resume."""
    stop_mid_stream(t, w, lambda pid: os.killpg(pid, signal.SIGINT), 130, "interrupted sweep")
    before = w.read_events()
    p, rc = w.run("--resume")
    expect_exit(t, w, p, rc, 0, "resume")
    no_retraining(t, w, before, w.read_events()[len(before):], {})
    judge(t, w.measure())


def trial_exception(t: Try, w: Work) -> None:
    """Every trial raises once before task 2 (SYNAPTUNE_TEST_FAULT_AT_TASK); retried from its checkpoint."""
    faults = w.dir / "faults"
    w.env.update({"SYNAPTUNE_TEST_FAULT_AT_TASK": "2", "SYNAPTUNE_TEST_FAULT_DIR": str(faults)})
    p, rc = w.run()
    expect_exit(t, w, p, rc, 0, "sweep")
    failed = {path.stem for path in faults.glob("*.failed")}
    if len(failed) != w.trials:
        t.problems.append(f"the fault fired in {len(failed)} of {w.trials} trials")
    starts = collections.defaultdict(list)
    for tid, what, task in w.read_events():
        if what == "start":
            starts[tid].append(task)
    wrong = {tid: s for tid, s in starts.items() if tid in failed and s != [0, 2]}
    if wrong:
        t.problems.append(f"trials not restarted at task 2 (start tasks): {wrong}")
    judge(t, w.measure())


def two_on_disk(w: Work, state: dict | None) -> dict[str, int]:
    """The mid-stream trials of Tune's state that have 2 checkpoints on disk (a kill point)."""
    on_disk = checkpoint_files(w.experiment)
    return {tid: k for tid, k in mid_stream(state).items() if len(on_disk.get(tid, ())) >= 2}


def resume_all_complete(t: Try, w: Work, *, kept: set[str], why: str) -> None:
    """Resume; exit 0, every trial completed, and none of ``kept`` started again from task 0."""
    before = w.read_events()
    p, rc = w.run("--resume")
    expect_exit(t, w, p, rc, 0, "resume")
    after = w.read_events()[len(before):]
    from_zero = {tid for tid, what, task in after if what == "start" and task == 0} & kept
    if from_zero:
        t.problems.append(f"restarted from task 0 though {why}: {sorted(from_zero)}")
    m = w.measure()
    if m.statuses.get("completed", 0) != w.trials or sum(m.statuses.values()) != w.trials:
        t.problems.append(f"not every trial completed: {dict(m.statuses)}")
    judge(t, m)


def corrupt_newest_checkpoint(t: Try, w: Work) -> None:
    """SIGKILL once a mid-stream trial has 2 checkpoints; truncate each trial's newest trial.pt; resume.

    Every trial must complete, and a resumed trial with an older intact checkpoint must not start from 0.
    """
    kill_mid_stream(t, w, w.start(), lambda state: two_on_disk(w, state))
    state = tune_state(w.experiment) or {}
    older_good = set()
    for tid, paths in checkpoint_files(w.experiment).items():
        truncate_half(paths[-1])
        if len(paths) >= 2:
            older_good.add(tid)
    resumed = {tid for tid, (status, _) in state.items() if status not in ("TERMINATED", "ERROR")}
    t.notes.append(f"{len(older_good)} trials with an older intact checkpoint, {len(resumed)} to resume")
    resume_all_complete(t, w, kept=older_good & resumed, why="an older checkpoint was intact")


def deleted_named_checkpoint(t: Try, w: Work) -> None:
    """SIGKILL once a mid-stream trial has 2 checkpoints; delete the checkpoint folder Tune's state names
    for each mid-stream trial (as Tune's rotation does between two state snapshots); resume.

    Every trial must complete (Tune alone fails such a trial: "does not exist on storage anymore"),
    and a trial with another checkpoint on disk must not start from 0.
    """
    resumable = kill_mid_stream(t, w, w.start(), lambda state: two_on_disk(w, state))
    named = named_checkpoints(w.experiment)
    # Tune's rotation may already have deleted a named folder between the state snapshot and the
    # kill: that is the very state this fault makes, so a folder already gone is not a bench error.
    gone = [tid for tid in resumable if tid not in named or not named[tid].exists()]
    for tid in resumable:
        if tid not in gone:
            shutil.rmtree(named[tid], ignore_errors=True)
    others = {tid for tid, paths in checkpoint_files(w.experiment).items() if tid in resumable and paths}
    t.notes.append(f"deleted the named checkpoint of {len(resumable) - len(gone)} trials ({len(gone)} already "
                   f"gone); {len(others)} have another")
    resume_all_complete(t, w, kept=others, why="another checkpoint was on disk")


def corrupt_all_checkpoints(t: Try, w: Work) -> None:
    """SIGKILL mid-stream; truncate every trial.pt; resume: every trial completes (from task 0 is fine)."""
    kill_mid_stream(t, w, w.start())
    n = 0
    for paths in checkpoint_files(w.experiment).values():
        for path in paths:
            truncate_half(path)
            n += 1
    t.notes.append(f"{n} checkpoints truncated")
    p, rc = w.run("--resume")
    expect_exit(t, w, p, rc, 0, "resume")
    m = w.measure()
    if m.statuses.get("completed", 0) != w.trials or sum(m.statuses.values()) != w.trials:
        t.problems.append(f"not every trial completed: {dict(m.statuses)}")
    judge(t, m)


def corrupt_experiment_state(t: Try, w: Work) -> None:
    """SIGKILL mid-stream; truncate every experiment_state-*.json to half; resume.

    Survived: the resume refuses with a one-line message (no traceback) and leaves
    no child run ``running``; or it rebuilds and completes with nothing lost.
    Never exit 0 with trials lost.
    """
    kill_mid_stream(t, w, w.start())
    for path in w.experiment.glob("experiment_state-*.json"):
        truncate_half(path)
    p, rc = w.run("--resume")
    t.exits.append(rc)
    m = w.measure()
    if rc is None:
        t.problems.append(f"resume did not end in {w.timeout_s:.0f} s (killed)")
    elif rc != 0:
        err = w.stderr(p)
        t.lost_ok = True
        t.notes.append(f"refused: {w.last_line(p)}")
        if "Traceback" in err:
            t.problems.append(f"resume exited {rc} with a traceback: {w.last_line(p)}")
        elif not w.last_line(p).startswith("synaptune: error:"):
            t.problems.append(f"resume exited {rc} without a synaptune error line: {w.last_line(p)}")
        if m.running:
            t.problems.append(f"{m.running} child runs left running")
    else:
        t.notes.append("rebuilt and completed")
    judge(t, m)


def server_answers(port: int, timeout_s: float) -> bool:
    """One MLflow API call (search experiments) answered within ``timeout_s``."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search",
                                     data=b'{"max_results": 1}', headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status == 200
    except OSError:
        return False


def mlflow_server_down(t: Try, w: Work) -> None:
    """The sweep logs to a local ``mlflow server`` that is SIGKILLed mid-sweep and restarted on the same port.

    Killed after 3 results; kept down >= 15 s and until 2 more results were
    reported (30 s at most); the sweep must complete with nothing lost. The
    server is up when it answers an API call (its first one can take many
    seconds on a loaded machine). Measured from the server's SQLite file.
    """
    mlflow_exe = Path(sys.executable).parent / "mlflow"
    if not mlflow_exe.exists():
        raise Skip(f"no {mlflow_exe}")
    port = free_port()
    servers: list[subprocess.Popen] = []

    def start_server() -> subprocess.Popen:
        log = w.dir / f"mlflow-server-{len(servers) + 1}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [str(mlflow_exe), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                 "--backend-store-uri", f"sqlite:///{w.dir}/server.db",
                 "--artifacts-destination", str(w.dir / "server-artifacts")],
                cwd=w.dir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        servers.append(proc)
        deadline = time.monotonic() + 180
        while not (port_open(port) and server_answers(port, 60)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise Skip(f"mlflow server did not start: {log}")
            time.sleep(POLL_S)
        return proc

    rc: int | None = None
    try:
        server = start_server()
        w.uri = f"http://127.0.0.1:{port}"
        p = w.start()
        try:
            w.wait_reported(p, 3)
            signal_session(server.pid, signal.SIGKILL)
            server.wait()
            wait_session_gone(server.pid)
            down_at, since = time.monotonic(), len(w.read_events())
            while p.poll() is None:
                down = time.monotonic() - down_at
                if down >= SERVER_DOWN_MAX_S or (down >= SERVER_DOWN_S and w.reported(since) >= 2):
                    break
                time.sleep(POLL_S)
            t.notes.append(f"server down {time.monotonic() - down_at:.0f} s, "
                           f"{w.reported(since)} results meanwhile")
            if p.poll() is not None:
                t.problems.append(f"the sweep exited ({p.returncode}) while the server was down: "
                                  f"{w.last_line(p)}")
            try:
                start_server()
            except Skip as e:
                raise FaultError(f"restarting the server on port {port}: {e}") from None
            t.notes.append(f"server answers again after {time.monotonic() - down_at:.0f} s")
            rc = w.wait(p)
        finally:
            if p.poll() is None:
                w.kill(p)
        expect_exit(t, w, p, rc, 0, "sweep")
    finally:
        for proc in servers:
            if proc.poll() is None or session_pids(proc.pid):
                signal_session(proc.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=20)
                wait_session_gone(proc.pid)
        w.uri = f"sqlite:///{w.dir}/server.db"  # the server's own store, read without it
    judge(t, w.measure())


#: Most stderr lines a sweep stopped by its results folder may print (its progress lines, then one error line).
STORAGE_STDERR_LINES = 25
#: Size of the tmpfs that holds --storage in disk-full and read-only (the sweep's own room check passes).
SMALL_DISK = "24m"


@contextlib.contextmanager
def small_disk(w: Work):
    """A tmpfs of :data:`SMALL_DISK` mounted at the try's results folder (root only), unmounted after."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        raise Skip("needs root and mount(8) to mount a small tmpfs for --storage")
    folder = w.dir / "results"
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SMALL_DISK}", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise Skip(f"cannot mount a tmpfs: {done.stderr.strip()[:200]}")
    try:
        yield folder
    finally:
        w.cleanup()  # nothing of the sweep may hold the mount
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path) -> int:
    """Write a filler file into ``folder`` until its disk is full; returns the bytes written."""
    written = 0
    with contextlib.suppress(OSError), open(folder / "filler", "wb") as f:
        while True:
            f.write(b"\0" * (1 << 20))
            f.flush()
            written += 1 << 20
    return written


def storage_stop(t: Try, w: Work, p: subprocess.Popen, what: str) -> None:
    """The sweep hit by a storage fault ends with exit 1, few stderr lines, no traceback, one error line
    that names the resume command."""
    rc = w.wait(p)
    expect_exit(t, w, p, rc, 1, f"sweep on a {what} disk")
    err = [line for line in w.stderr(p).splitlines() if line.strip()]
    t.notes.append(f"stopped: {len(err)} stderr lines, {sum('Traceback' in x for x in err)} tracebacks; "
                   f"{w.last_line(p)}")
    if len(err) > STORAGE_STDERR_LINES:
        t.problems.append(f"{len(err)} stderr lines (at most {STORAGE_STDERR_LINES})")
    if any("Traceback" in line for line in err):
        t.problems.append("a traceback on stderr")
    if not (err and err[-1].startswith("synaptune: error:") and "--resume" in err[-1]):
        t.problems.append(f"no one-line error naming --resume at the end: {w.last_line(p)}")


def disk_full(t: Try, w: Work) -> None:
    """--storage on a small tmpfs, filled by a filler file after 3 results; then freed and resumed (exit 0)."""
    with small_disk(w) as folder:
        p = w.start()
        w.wait_reported(p, 3)
        t.notes.append(f"filled the disk with {fill(folder) >> 20} MB after {w.reported()} results")
        storage_stop(t, w, p, "full")
        (folder / "filler").unlink()
        p, rc = w.run("--resume")
        expect_exit(t, w, p, rc, 0, "resume")
        judge(t, w.measure())


def read_only(t: Try, w: Work) -> None:
    """--storage on a small tmpfs, remounted read-only after 3 results; then read-write and resumed (exit 0)."""
    with small_disk(w) as folder:
        p = w.start()
        w.wait_reported(p, 3)
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        t.notes.append(f"remounted read-only after {w.reported()} results")
        storage_stop(t, w, p, "read-only")
        subprocess.run(["mount", "-o", "remount,rw", str(folder)], check=True)
        p, rc = w.run("--resume")
        expect_exit(t, w, p, rc, 0, "resume")
        judge(t, w.measure())


def changed_flag_resume(t: Try, w: Work) -> None:
    """Ctrl-C mid-stream; resume with another --learner and --n-tasks 2 (each refused: exit 2, one
    line, nothing started); resume with --concurrency 1 --trials 5 (allowed: exit 0, 5 trials)."""
    stop_mid_stream(t, w, lambda pid: os.killpg(pid, signal.SIGINT), 130, "interrupted sweep")
    for changed in (("--learner", "ewc"), ("--n-tasks", "2")):
        p, rc = w.run("--resume", *changed)
        expect_exit(t, w, p, rc, 2, f"resume with {' '.join(changed)}")
        err = [line for line in w.stderr(p).splitlines() if line.strip()]
        t.notes.append(f"{' '.join(changed)}: {w.last_line(p)}")
        if len([x for x in err if x.startswith("synaptune: error:")]) != 1 or any("Traceback" in x for x in err):
            t.problems.append(f"resume with {' '.join(changed)}: not one error line: {err[-3:]}")
    before = w.read_events()
    p, rc = w.run("--resume", "--concurrency", "1", "--trials", "5")
    expect_exit(t, w, p, rc, 0, "resume with --concurrency 1 --trials 5")
    no_retraining(t, w, before, w.read_events()[len(before):], {})
    w.trials = 5
    judge(t, w.measure())


def sigterm_sweep(t: Try, w: Work) -> None:
    """SIGTERM to the driver alone (as Kubernetes sends it to a container's process) mid-stream: exit 143,
    the parent and the trials stopped mid-stream KILLED with reason ``terminated``, none RUNNING; resume."""
    from mlflow.tracking import MlflowClient

    p = stop_mid_stream(t, w, lambda pid: os.kill(pid, signal.SIGTERM), 143, "terminated sweep")
    if "Traceback" in w.stderr(p):
        t.problems.append("a traceback on the terminated sweep's stderr")
    client = MlflowClient(tracking_uri=w.uri)
    runs = client.search_runs([client.get_experiment_by_name(w.name).experiment_id])
    stopped = [r for r in runs if r.info.status != "FINISHED"]
    t.notes.append(f"after SIGTERM: {len(stopped)} runs KILLED/RUNNING of {len(runs)}")
    for r in stopped:
        if r.info.status != "KILLED" or r.data.tags.get("synaptune.reason") != "terminated":
            t.problems.append(f"run {r.info.run_name}: {r.info.status}, reason "
                              f"{r.data.tags.get('synaptune.reason')!r} after SIGTERM")
    before = w.read_events()
    p, rc = w.run("--resume")
    expect_exit(t, w, p, rc, 0, "resume")
    no_retraining(t, w, before, w.read_events()[len(before):], {})
    judge(t, w.measure())


def _terminate_command(t: Try, w: Work, args: list[str], ready_sql: str) -> subprocess.Popen:
    """Start ``synaptune ARGS`` (not a sweep), SIGTERM it once ``ready_sql`` finds a row in its MLflow
    database, expect exit 143; the process."""
    import sqlite3

    db = w.dir / "mlflow.db"
    p = w.start_command(args)
    deadline = time.monotonic() + w.timeout_s
    while True:
        with contextlib.suppress(sqlite3.Error), sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            if list(con.execute(ready_sql)):
                break
        if p.poll() is not None:
            raise FaultError(f"it exited ({p.returncode}) before the fault: {w.last_line(p)}")
        if time.monotonic() > deadline:
            raise FaultError(f"the event never came in {w.timeout_s:.0f} s")
        time.sleep(POLL_S)
    os.kill(p.pid, signal.SIGTERM)
    expect_exit(t, w, p, w.wait(p, 300), 143, f"terminated {args[0]}")
    return p


def _resumed(t: Try, w: Work, args: list[str], role: str) -> Any:
    """``synaptune ARGS --resume`` (expect exit 0); the one run of role ``role`` in the experiment."""
    from mlflow.tracking import MlflowClient

    p = w.start_command([*args, "--resume"])
    expect_exit(t, w, p, w.wait(p), 0, f"{args[0]} --resume")
    client = MlflowClient(tracking_uri=w.uri)
    found = client.search_runs([client.get_experiment_by_name(w.name).experiment_id],
                               f"tags.`synaptune.role` = '{role}'")
    if len(found) != 1:
        t.problems.append(f"{len(found)} runs of role {role}, expected 1")
    return found[0] if found else None


def sigterm_run(t: Try, w: Work) -> None:
    """SIGTERM to ``synaptune run`` (6 seeds) after 2 seeds: exit 143, the run KILLED (reason terminated)
    with its finished seeds; ``--resume`` trains only the others: each seed logged once, the run FINISHED."""
    from mlflow.tracking import MlflowClient

    args = ["run", "--learner", "naive", "--benchmark", "split-digits", "--n-tasks", str(N_TASKS), "--seeds",
            str(w.trials), "--threads", "1", "--experiment", w.name, "--tracking-uri", w.uri]
    _terminate_command(t, w, args, "SELECT 1 FROM metrics WHERE key = 'seeds_done' AND value >= 2")
    run = _resumed(t, w, args, "run")
    m = Measure(parents=1)
    if run is not None:
        steps = collections.Counter(x.step for x in MlflowClient(tracking_uri=w.uri).get_metric_history(
            run.info.run_id, "seed/test/acc"))
        m.lost = sum(steps[s] == 0 for s in range(w.trials))
        m.dup = sum(n - 1 for n in steps.values())
        m.running = run.info.status == "RUNNING"
        m.statuses[run.info.status.lower()] += 1
        if run.info.status != "FINISHED":
            t.problems.append(f"the resumed run ended {run.info.status}")
    judge(t, m)


def sigterm_compare(t: Try, w: Work) -> None:
    """SIGTERM to ``synaptune compare`` (2 entries x 3 seeds) after 2 runs: exit 143, the parent KILLED;
    ``--resume`` trains only the rest: each entry x seed once, every run FINISHED."""
    from mlflow.tracking import MlflowClient

    args = ["compare", "naive", "naive:lr=0.02", "--benchmark", "split-digits", "--n-tasks", str(N_TASKS),
            "--seeds", str(w.trials // 2), "--threads", "1", "--experiment", w.name, "--tracking-uri", w.uri,
            "-o", str(w.dir / "table")]
    _terminate_command(t, w, args, "SELECT 1 FROM runs r JOIN tags g ON r.run_uuid = g.run_uuid WHERE g.key = "
                                   "'synaptune.role' AND g.value = 'compare-run' AND r.status = 'FINISHED' "
                                   "LIMIT 1 OFFSET 1")
    parent = _resumed(t, w, args, "compare")
    m = Measure(parents=1)
    if parent is not None:
        client = MlflowClient(tracking_uri=w.uri)
        children = client.search_runs([parent.info.experiment_id],
                                      f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
        pairs = collections.Counter((c.data.params.get("entry"), c.data.params.get("seed")) for c in children)
        m.lost = max(0, w.trials - len(pairs))
        m.dup = sum(n - 1 for n in pairs.values())
        for run in (parent, *children):
            m.statuses[run.info.status.lower()] += 1
            m.running += run.info.status == "RUNNING"
        if parent.info.status != "FINISHED":
            t.problems.append(f"the resumed comparison ended {parent.info.status}")
    judge(t, m)
    if m.running:
        t.problems.append(f"{m.running} runs left RUNNING")


#: name: (function, trials; for sigterm-run the seeds, for sigterm-compare entries x seeds)
FAULTS: dict[str, tuple[Callable[[Try, Work], None], int]] = {
    "sigkill-driver": (sigkill_driver, 6),
    "sigkill-driver-twice": (sigkill_driver_twice, 6),
    "sigint": (sigint, 4),
    "trial-exception": (trial_exception, 4),
    "corrupt-newest-checkpoint": (corrupt_newest_checkpoint, 6),
    "corrupt-all-checkpoints": (corrupt_all_checkpoints, 4),
    "deleted-named-checkpoint": (deleted_named_checkpoint, 6),
    "corrupt-experiment-state": (corrupt_experiment_state, 6),
    "mlflow-server-down": (mlflow_server_down, 6),
    "disk-full": (disk_full, 4),
    "read-only": (read_only, 4),
    "changed-flag-resume": (changed_flag_resume, 4),
    "sigterm-sweep": (sigterm_sweep, 4),
    "sigterm-run": (sigterm_run, 6),
    "sigterm-compare": (sigterm_compare, 6),
}


def run_try(fault: str, folder: Path, timeout_s: float) -> Try:
    fn, trials = FAULTS[fault]
    t = Try(fault)
    w = Work(folder, fault, trials, timeout_s)
    started = time.monotonic()
    try:
        fn(t, w)
    except Skip as e:
        t.skipped = str(e)
    except FaultError as e:
        t.problems.append(f"fault not injected: {e}")
        with contextlib.suppress(Exception):
            t.measure = w.measure()
    except Exception as e:  # noqa: BLE001 - one broken try must not cost the others and the table
        t.problems.append(f"the bench itself failed: {type(e).__name__}: {e}")
    finally:
        try:
            w.cleanup()
        except Exception as e:  # noqa: BLE001
            t.problems.append(f"cleaning up: {type(e).__name__}: {e}")
        t.seconds = time.monotonic() - started
    return t


# --------------------------------------------------------------------------- main


def start_hogs(k: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(k)]


def stop_hogs(hogs: list[subprocess.Popen]) -> None:
    for h in hogs:
        with contextlib.suppress(ProcessLookupError):
            h.kill()
        h.wait()


def try_record(t: Try) -> dict[str, Any]:
    """One try as stored by ``--record``: what the table and the per-try lines are made of."""
    m = t.measure
    return {"survived": t.survived, "skipped": t.skipped, "exits": t.exits, "seconds": round(t.seconds, 1),
            "problems": t.problems,
            "measure": None if m is None else {"lost": m.lost, "dup": m.dup, "missing": m.missing,
                                               "doubled": m.doubled, "statuses": dict(m.statuses)}}


def table(tries: dict[str, list[dict[str, Any]]]) -> str:
    """The matrix, one row per fault, from :func:`try_record` records."""
    head = ("fault", "tries", "survived", "trials lost", "runs duplicated", "steps missing", "steps doubled")
    rows = []
    for fault, ts in tries.items():
        done = [t for t in ts if t["skipped"] is None]
        if not done:
            rows.append((fault, str(len(ts)), "skipped", "-", "-", "-", "-"))
            continue
        ms = [t["measure"] for t in done if t["measure"] is not None]
        rows.append((fault, str(len(done)), f"{sum(t['survived'] for t in done)}/{len(done)}",
                     *(str(sum(m[a] for m in ms)) for a in ("lost", "dup", "missing", "doubled"))))
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(c.ljust(wd) for c, wd in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(head), "|" + "|".join("-" * (wd + 2) for wd in widths) + "|", *map(line, rows)])


#: bench/README.md's block holding the recorded matrix (``--table-from FILE --readme bench/README.md``).
BLOCK = "faults"
TABLE_COMMAND = "python bench/faults.py --table-from bench/results/faults.json --readme bench/README.md"


def block_markers() -> tuple[str, str]:
    return records.markers(BLOCK, TABLE_COMMAND)


def recorded_block(record: dict[str, Any]) -> str:
    """The generated block of bench/README.md for a ``--record`` file: the command, when, where, the table."""
    start, end = block_markers()
    slowest = max((t["seconds"] for ts in record["faults"].values() for t in ts), default=0)
    failed = [f"{fault} try {i}: " + "; ".join(t["problems"])
              for fault, ts in record["faults"].items() for i, t in enumerate(ts, 1) if not t["survived"]
              and t["skipped"] is None]
    lines = [start, "",
             f"`{record['command']}` on commit {record['commit']}, {record['started_utc']} to "
             f"{record.get('ended_utc') or '(not finished)'} UTC, {record['cpus']} CPUs, {record['hog']} CPU hogs "
             f"for the whole run; {record.get('total_s', 0):.0f} s in all, the slowest try {slowest:.0f} s.", "",
             table(record["faults"]), ""]
    lines += ["Tries that did not survive:", "", *(f"- {f}" for f in failed), ""] if failed else \
        ["Every try survived.", ""]
    return "\n".join([*lines, end])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faults", nargs="+", default=[",".join(FAULTS)],
                    help=f"faults to run (space- or comma-separated), of: {', '.join(FAULTS)}")
    ap.add_argument("--tries", type=int, default=3, help="tries per fault (default 3)")
    ap.add_argument("--hog", type=int, default=2, help="CPU-spinning processes during the faults (default 2)")
    ap.add_argument("--keep", type=Path, help="keep the work folders here (default: a temporary folder)")
    ap.add_argument("--verbose", action="store_true", help="print each try's notes (kill points), not only a "
                    "failed one's")
    ap.add_argument("--timeout", type=float, default=900, help="seconds a sweep (or a wait on one) may take")
    records.add_arguments(ap)
    args = ap.parse_args(argv)
    shown = records.table_from(ap, args, recorded_block, block_markers())
    if shown is not None:
        return shown
    faults = [f.strip() for given in args.faults for f in given.split(",") if f.strip()]
    unknown = [f for f in faults if f not in FAULTS]
    if unknown or args.tries < 1 or args.hog < 0:
        ap.error(f"unknown faults {unknown}" if unknown else "--tries >= 1, --hog >= 0")
    root = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="synaptune-faults-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"fault matrix: {', '.join(faults)}; {args.tries} tries each; {args.hog} CPU hogs; "
          f"{os.cpu_count()} CPUs; work in {root}", flush=True)
    # Imported before the hogs start: at the first poll of a loaded machine this import can take
    # longer than a whole sweep, which would then end before its fault.
    import mlflow.tracking  # noqa: F401
    import ray.tune.utils.serialization  # noqa: F401

    started = time.monotonic()
    results: dict[str, list[Try]] = {f: [] for f in faults}
    record = {**records.stamp("faults.py", sys.argv[1:] if argv is None else argv), "hog": args.hog,
              "tries": args.tries, "faults": {f: [] for f in faults}}
    hogs = start_hogs(args.hog)
    try:
        for fault in faults:
            for i in range(1, args.tries + 1):
                folder = root / f"{fault}-{i}"
                if folder.exists():
                    shutil.rmtree(folder)
                t = run_try(fault, folder, args.timeout)
                results[fault].append(t)
                if args.record is not None:
                    record["faults"][fault].append(try_record(t))
                    record["total_s"] = time.monotonic() - started
                    records.write(args.record, record)
                exits = " -> ".join(str(rc) for rc in t.exits) or "-"
                if t.skipped is not None:
                    print(f"{fault} try {i}/{args.tries}: skipped ({t.skipped})", flush=True)
                    continue
                m = t.measure.text() if t.measure else "not measured"
                print(f"{fault} try {i}/{args.tries}: {'survived' if t.survived else 'FAILED'} "
                      f"(exits {exits}; {m}; {t.seconds:.0f} s)", flush=True)
                for note in t.notes if not t.survived or args.verbose else ():
                    print(f"    note: {note}", flush=True)
                for problem in t.problems:
                    print(f"    problem: {problem}", flush=True)
    finally:
        stop_hogs(hogs)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(table({f: [try_record(t) for t in ts] for f, ts in results.items()}))
    print(f"total wall time {time.monotonic() - started:.0f} s")
    if args.record is not None:
        record.update(ended_utc=records.utc(), total_s=time.monotonic() - started)
        records.write(args.record, record)
    return 0 if all(t.survived or t.skipped is not None for ts in results.values() for t in ts) else 1


if __name__ == "__main__":
    sys.exit(main())

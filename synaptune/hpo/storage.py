# SPDX-License-Identifier: MIT
"""The results folder (``--storage``), checked before Ray starts.

A sweep writes Tune's experiment state and every trial's checkpoints there,
and ``--resume`` reads them back. So, before anything runs:

- the folder (or object-store URI) must be writable: a probe file is written
  and removed (permission bits say nothing for root or read-only mounts);
- it must have room for what the sweep keeps: an estimate from the size of a
  trial checkpoint of the learner (measured, not guessed) x trials kept;
- on ``--resume``, Tune's experiment state must load (never resume into a
  sweep whose record of its trials is damaged: the trials it names would be
  lost in silence), and the folder must belong to the current user, since
  resuming unpickles its files: a pickle from someone else can run code.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import pickletools
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synaptune.exceptions import ConfigError, DamagedResultsError, UnreachableError

logger = logging.getLogger(__name__)

#: Checkpoints Tune keeps per trial (``CheckpointConfig(num_to_keep=...)``), plus one being written.
CHECKPOINTS_KEPT = 2
#: Besides checkpoints, per trial: Tune's result.json / progress.csv / params (each result carries the
#: accuracy matrix and the earlier tasks' metrics, so this grows with tasks squared) and the trial folder.
TRIAL_OVERHEAD_BYTES = 256 * 1024
#: Tune's experiment state, searcher state and tuner.pkl (they grow with the trials, counted per trial above).
SWEEP_OVERHEAD_BYTES = 4 * 1024 * 1024
#: How long an object store may take to answer the probe before the sweep is refused.
URI_PROBE_TIMEOUT_S = 60.0
#: The files ``--resume`` unpickles (Tune's and the searcher's state; Tune's search state is a pickle too).
PICKLED = ("tuner.pkl", "searcher-state-*.pkl", "search_gen_state-*.json", "callback-states-*.pkl")
#: Tune's files of a sweep, written in Ray's staging folder first and then copied into the results folder.
TUNE_FILES = ("experiment_state-*.json", *PICKLED)
#: Folder in the results folder holding the last good set of Tune's files (see :func:`save_last_good`).
LAST_GOOD = ".synaptune-last-good"
#: errno values that mean the results folder itself failed (full, read-only, over quota, no longer writable).
STORAGE_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES)
#: How those errors read in a log line (Tune logs them as text, from other processes).
STORAGE_ERROR_TEXTS = ("No space left on device", "Read-only file system", "Disk quota exceeded",
                       "[Errno 28]", "[Errno 30]", "[Errno 122]")


def human(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n_bytes) < 1024 or unit == "TB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    raise AssertionError  # unreachable


def needed_bytes(checkpoint: int, trials: int) -> tuple[int, str]:
    """Room a sweep of ``trials`` needs in its results folder, and how that adds up (see the module constants)."""
    need = trials * ((CHECKPOINTS_KEPT + 1) * checkpoint + TRIAL_OVERHEAD_BYTES) + SWEEP_OVERHEAD_BYTES
    return need, (f"{trials} trials x ({CHECKPOINTS_KEPT + 1} checkpoints of {human(checkpoint)} + "
                  f"{human(TRIAL_OVERHEAD_BYTES)} of results) + {human(SWEEP_OVERHEAD_BYTES)} of sweep state")


def used_bytes(folder: str | Path) -> int:
    """Bytes of the files under ``folder`` (0 if it does not exist): a resumed sweep has used them already."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def check_local(storage: str, need: int, why: str = "") -> None:
    """``--storage`` (a path) can be created, written, and holds ``need`` bytes more (``why``: how they add up)."""
    root = Path(storage).expanduser()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--storage {storage} is a file, not a folder. Give a folder for the sweep's results.")
    # Nothing is left behind by a refused sweep: folders made for the probe are removed again.
    missing = [p for p in (root, *root.parents) if not p.exists()]
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--storage {storage}: cannot create the folder ({e.strerror or e}). "
                          "Choose a folder you can write, or create it first.") from None
    probe = root / f".synaptune-probe-{os.getpid()}"
    try:
        with open(probe, "wb") as f:
            f.write(b"synaptune")
            f.flush()
            os.fsync(f.fileno())
        free = shutil.disk_usage(root).free
    except OSError as e:
        raise ConfigError(f"--storage {storage} is not writable ({e.strerror or e}). Choose a folder you can "
                          "write (checkpoints and Tune's state go there).") from None
    finally:
        try:
            probe.unlink(missing_ok=True)
            for folder in missing:  # deepest first
                folder.rmdir()
        except OSError:
            pass  # read-only: nothing was written
    if free < need:
        raise ConfigError(f"--storage {storage} has {human(free)} free; the sweep needs about {human(need)}"
                          f"{f' ({why})' if why else ''}. Free some space, choose another --storage, or run "
                          "fewer --trials.")


def check_uri(storage: str, timeout_s: float = URI_PROBE_TIMEOUT_S) -> None:
    """An object-store ``--storage`` (s3://, gs://, ...) answers and takes a probe file."""
    def probe() -> None:
        import pyarrow.fs

        fs, path = pyarrow.fs.FileSystem.from_uri(storage)
        fs.create_dir(path, recursive=True)
        name = f"{path.rstrip('/')}/.synaptune-probe-{os.getpid()}"
        with fs.open_output_stream(name) as f:
            f.write(b"synaptune")
        fs.delete_file(name)

    error = _within(probe, timeout_s)
    if error is not None:
        raise UnreachableError(f"--storage {storage} cannot be written: {error}. Check the URI, the network and "
                               "the credentials (e.g. AWS_* variables), or use a local folder.")


def _within(fn: Callable[[], None], timeout_s: float) -> str | None:
    """Run ``fn`` in a thread: None if it returned, else why not (its error's first line, or the timeout)."""
    outcome: list[str | None] = []

    def target() -> None:
        try:
            fn()
            outcome.append(None)
        except Exception as e:  # noqa: BLE001 - any failure of the probe is the answer
            outcome.append(f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300] if str(e).strip() else ''}")

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return outcome[0] if outcome else f"no answer within {timeout_s:g} s"


def is_whole(path: Path) -> bool:
    """Whether a Tune file reads to its end: JSON parses, a pickle's opcodes reach STOP (nothing is run)."""
    try:
        data = path.read_bytes()
        if path.name.startswith("experiment_state"):
            json.loads(data)
        else:  # tuner.pkl, searcher-state-*.pkl and search_gen_state-*.json are pickles
            ops = list(pickletools.genops(data))
            if not ops or ops[-1][0].name != "STOP":
                return False
        return True
    except (OSError, ValueError, UnicodeDecodeError):
        return False


def atomic_write(path: str | Path, data: bytes | Callable[[Path], None]) -> None:
    """Replace ``path`` with ``data`` (bytes, or a function that writes a given path) all at once.

    Written to a temporary file in the same folder, flushed and fsynced, then
    renamed over ``path``: a reader sees the old file or the new one, never a
    part. When the write fails (a full disk: ENOSPC; a read-only one: EROFS) the
    error is raised, the temporary file removed and the old file left in place.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        if callable(data):
            data(tmp)
        else:
            tmp.write_bytes(data)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # read-only: nothing to remove
        raise


def state_files(folder: Path) -> list[Path]:
    """Tune's files of a sweep in ``folder`` (see :data:`TUNE_FILES`), sorted by name."""
    return sorted({p for pattern in TUNE_FILES for p in folder.glob(pattern) if p.is_file()})


def save_last_good(staging: str | Path, experiment_path: str | Path) -> bool:
    """Keep a copy of Tune's state files, as one consistent set, in ``<experiment>/.synaptune-last-good``.

    ``staging`` is Ray's staging folder of the sweep, where Tune writes all of them
    (each atomically) before it copies them into the results folder; read right
    after Tune saved (between two of its steps) they belong together. The set is
    written into a new folder (each file with :func:`atomic_write`) that then
    takes the old one's place, so a write that fails (full disk, read-only) leaves
    the previous set whole. Returns whether the set was saved.
    """
    files = state_files(Path(staging))
    folder = Path(experiment_path)
    if not files or not all(is_whole(f) for f in files) or not folder.is_dir():
        return False
    new, old, good = folder / f"{LAST_GOOD}.new", folder / f"{LAST_GOOD}.old", folder / LAST_GOOD
    try:
        shutil.rmtree(new, ignore_errors=True)
        new.mkdir()
        for source in files:
            atomic_write(new / source.name, source.read_bytes())
        if good.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(good, old)
        os.replace(new, good)
        shutil.rmtree(old, ignore_errors=True)
        return True
    except OSError:
        shutil.rmtree(new, ignore_errors=True)
        return False


def damaged_state(experiment_path: str | Path) -> list[Path]:
    """Tune's files in the results folder that do not read to their end (see :func:`is_whole`)."""
    return [path for path in state_files(Path(experiment_path)) if not is_whole(path)]


def fall_back_to_last_good(experiment_path: str) -> list[str]:
    """When a Tune file of the sweep is damaged, put back the last good set (:func:`save_last_good`).

    Every file of the set replaces its namesake (the set belongs together; one file
    of another save could name trials the others do not know); a damaged file the
    set does not hold (a newer session's) is renamed ``<name>.damaged``, so Tune
    does not read it. One warning line says so. Returns the names put back.
    """
    folder = Path(experiment_path)
    damaged = damaged_state(folder)
    if not damaged:
        return []
    sets = [folder / LAST_GOOD, folder / f"{LAST_GOOD}.old"]  # .old: a swap cut short
    good = next((s for s in sets if state_files(s) and all(is_whole(f) for f in state_files(s))), None)
    if good is None:
        return []
    restored = []
    for source in state_files(good):
        atomic_write(folder / source.name, source.read_bytes())
        restored.append(source.name)
    for path in damaged:
        if path.name not in restored:
            os.replace(path, path.with_name(f"{path.name}.damaged"))
    saved = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(max(f.stat().st_mtime for f in state_files(good))))
    logger.warning("%s %s damaged (the disk filled up or the sweep was killed while writing); resuming from the "
                   "last good copy of Tune's state, saved %s (%s)", ", ".join(p.name for p in damaged),
                   "was" if len(damaged) == 1 else "were", saved, good)
    return restored


def repair_from_staging(experiment_path: str, ray_temp: str | None = None) -> list[str]:
    """Put back Tune files that a kill cut short while they were copied into the results folder.

    Tune saves its state atomically in Ray's staging folder
    (``<ray temp>/session_*/artifacts/<time>/<sweep>/driver_artifacts/``) and then
    copies it into the results folder; a driver killed mid-copy leaves a short
    file there (an empty ``search_gen_state-*.json``, a cut ``experiment_state``)
    while the staged one is whole. Only a damaged file (see :func:`is_whole`) is
    replaced, and only by a whole staged file of the same name from this sweep's
    own Tune sessions: ``<time>`` must be a session time of this results folder
    (carried in its files' names), since other sweeps of the same name on this
    machine stage files of the same name too. Returns the names repaired.
    """
    folder = Path(experiment_path)
    temp = Path(ray_temp or os.environ.get("RAY_TMPDIR") or "/tmp/ray")
    stamps = sorted({_stamp(path.name) for path in folder.glob("experiment_state-*.json")} - {None},
                    reverse=True)
    repaired = []
    for pattern in TUNE_FILES:
        for path in folder.glob(pattern):
            if is_whole(path):
                continue
            own = [_stamp(path.name)] if _stamp(path.name) else stamps  # tuner.pkl has no time
            for stamp in own:
                staged = sorted(temp.glob(f"session_*/artifacts/{stamp}/{folder.name}/driver_artifacts/{path.name}"),
                                key=lambda p: p.stat().st_mtime)
                source = next((s for s in reversed(staged) if is_whole(s) and (
                    not hasattr(os, "getuid") or s.stat().st_uid == os.getuid())), None)
                if source is not None:
                    atomic_write(path, source.read_bytes())
                    repaired.append(path.name)
                    break
    if repaired:
        logger.warning("repaired %s in %s from Ray's staging copies (the sweep was killed while they were "
                       "copied)", ", ".join(sorted(repaired)), folder)
    return repaired


def _stamp(name: str) -> str | None:
    """The Tune session time in a file name (``searcher-state-2026-01-31_12-00-00.pkl``), or None."""
    found = re.search(r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}", name)
    return found.group(0) if found else None


def check_experiment_state(experiment_path: str) -> None:
    """Refuse ``--resume`` into a sweep whose Tune state is missing or damaged.

    Tune restores the trials named in the newest ``experiment_state-*.json``; when
    that file does not parse, Tune logs a warning and carries on without them,
    so the trials that ran would be lost and the sweep would claim the rest
    "not launched". The trials' checkpoints and MLflow runs are still there;
    only a fresh sweep (another ``--name``) can go on from here.
    """
    folder = Path(experiment_path)
    states = sorted(folder.glob("experiment_state-*.json"))
    fix = (f"Its finished trials stay in MLflow; start a new sweep with another --name (or remove {folder} "
           "and start again under this name).")
    if not states:
        raise DamagedResultsError(f"cannot resume: {folder} has no experiment_state-*.json (Tune's record of the "
                                  f"sweep's trials). {fix}")
    newest = states[-1]
    try:
        doc = json.loads(newest.read_text())
        if not isinstance(doc, dict) or not isinstance(doc.get("trial_data"), list):
            raise ValueError("no trial_data list")
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DamagedResultsError(f"cannot resume: Tune's experiment state {newest} is damaged ({type(e).__name__}: "
                                  f"{str(e).splitlines()[0][:200] if str(e) else ''}), so the trials it records "
                                  f"would be lost. {fix}") from None
    for pattern in PICKLED:
        for path in folder.glob(pattern):
            if not is_whole(path):
                what = "empty" if path.stat().st_size == 0 else "cut short"
                raise DamagedResultsError(f"cannot resume: {path} is {what} (damaged). {fix}")


def stand_in_for_deleted_checkpoints(experiment_path: str) -> list[str]:
    """Make the checkpoints that Tune's state names but that are gone from disk exist again, empty.

    Tune keeps a trial's newest checkpoints (``CHECKPOINTS_KEPT``) and deletes older
    ones as results arrive, while its experiment state is written every few
    seconds. A driver killed in between leaves a state whose "latest" checkpoint of
    a trial is already deleted, and Tune then fails that trial on resume ("does not
    exist on storage anymore") before synaptune's trainable runs. An empty folder
    at that path (with a note) lets the trainable start: it tries every checkpoint
    of the trial, skips the empty one and continues from the newest one on disk
    (see ``hpo.raytune.restore``). Call after :func:`check_experiment_state`.
    Returns the folders made.
    """
    from ray.tune.utils.serialization import TuneFunctionDecoder

    from synaptune.hpo.trial import STAND_IN_NOTE

    folder = Path(experiment_path)
    newest = sorted(folder.glob("experiment_state-*.json"))[-1]
    made = []
    for trial_json, meta_json in json.loads(newest.read_text())["trial_data"]:
        meta = json.loads(meta_json, cls=TuneFunctionDecoder, allow_cloudpickle=True)  # owner checked first
        latest = meta["checkpoint_manager"].latest_checkpoint_result
        path = Path(latest.checkpoint.path) if latest is not None else None
        if path is None or not path.is_absolute() or path.exists() or not path.parent.is_dir():
            continue  # none, on object storage, present, or the trial folder itself is gone
        path.mkdir()
        (path / STAND_IN_NOTE).write_text(
            "Tune had deleted this checkpoint (it keeps the newest ones) when the sweep was killed, but its\n"
            "saved state still named it. synaptune --resume made this empty folder so that the trial can\n"
            "start and continue from its newest checkpoint on disk.\n")
        made.append(str(path))
        logger.warning("trial %s: Tune's state names %s, deleted before the sweep was killed; the trial "
                       "continues from its newest checkpoint on disk", json.loads(trial_json)["trial_id"], path)
    return made


def decoded_files(experiment_path: str | Path) -> list[Path]:
    """The files of a results folder that ``--resume`` decodes: Tune's state (JSON with pickles inside,
    pickles) and the last good copies of it that :func:`fall_back_to_last_good` may put back."""
    folder = Path(experiment_path)
    return [*state_files(folder), *(f for name in (LAST_GOOD, f"{LAST_GOOD}.old") for f in state_files(folder / name))]


def check_owner(experiment_path: str, *, trusted: bool) -> None:
    """Refuse to resume (decode) a results folder unless the current user alone could have written it.

    The folder and every file ``--resume`` decodes (:func:`decoded_files`; Tune's
    experiment state holds cloudpickles too) must belong to the current user, and
    no such file may be writable by its group or by others: a pickle can run any
    code. Trial checkpoints are not listed: they are read with ``torch.load(...,
    weights_only=True)``, which runs no code. ``trusted`` (``--trust-results``) skips the check.
    """
    if trusted or not hasattr(os, "getuid"):
        return
    folder = Path(experiment_path)
    me = os.getuid()
    for path in [folder, *decoded_files(folder)]:
        info = path.stat()
        if info.st_uid != me:
            raise ConfigError(f"{path} belongs to user id {info.st_uid}, not to you ({me}); --resume decodes Tune's "
                              "files there, and a pickle can run any code. Check who wrote it; if you trust it, "
                              f"make it yours (chown -R {me} {folder}) or pass --trust-results.")
        if path != folder and info.st_mode & 0o022:
            who = "its group and others" if info.st_mode & 0o002 and info.st_mode & 0o020 else \
                "others" if info.st_mode & 0o002 else "its group"
            raise ConfigError(f"{path} is writable by {who} (mode {info.st_mode & 0o777:o}); --resume decodes it, and "
                              "anyone who can write it could plant a pickle that runs code. Check it, then make it "
                              f"yours alone (chmod -R go-w {folder}) or pass --trust-results.")


def trouble(storage: str, *, below: int = 1024 * 1024) -> str | None:
    """What is wrong with a local results folder now (full: under ``below`` bytes free; not writable), or None.

    Asked after a sweep stopped or ended: Tune reports a full or read-only disk as
    whatever broke first (an ``EOFError`` reading back a half-written file, trials
    "failed", a warning that the experiment state was not saved), and a sweep whose
    state could not be saved cannot be trusted to resume. The message names the cause.
    """
    if "://" in storage:
        return None
    root = Path(storage).expanduser()
    try:
        free = shutil.disk_usage(root).free
    except OSError:
        return None
    if free < below:
        return f"--storage {storage} is full ({human(free)} free)"
    probe = root / f".synaptune-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"synaptune")
        probe.unlink()
    except OSError as e:
        return f"--storage {storage} is not writable any more ({e.strerror or e})"
    return None

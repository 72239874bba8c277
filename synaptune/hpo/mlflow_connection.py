# SPDX-License-Identifier: MIT
"""Where the MLflow tracking store is, whether it answers, and this process's connection to it.

Part of the MLflow adapter of the results store (layout:
:mod:`synaptune.hpo.mlflow_layout`). :func:`open_connection` gives one
:class:`MlflowConnection` per tracking URI per process: the MLflow client and
the results queued through it for MLflow's background logging thread. MLflow's
process settings (:data:`MLFLOW_DEFAULTS`) are set when the first connection
is opened, never at import.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from synaptune.exceptions import ConfigError, UnreachableError

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"

#: MLflow settings of this process, set (unless the user set them) when a store is first opened.
MLFLOW_DEFAULTS = {
    # MLflow's client prints a "View run ... at: URL" line per finished run of a server; a sweep has hundreds.
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    # Results are logged through MLflow's background queue by one thread, so a run's batches are
    # stored in the order they were queued (its status after its metrics) and a SQLite file is
    # never written by several threads at once.
    "MLFLOW_ASYNC_LOGGING_THREADPOOL_SIZE": "1",
    # A progress bar per artifact read back (compare --resume reads one per finished run) is noise.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
#: Connections kept open per process; opening another closes the oldest (after its queue is stored).
MAX_OPEN_CONNECTIONS = 8


# --------------------------------------------------------------------------- the tracking URI


def resolve_tracking_uri(flag: str | None) -> str:
    """``--tracking-uri`` if given, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``."""
    return flag or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def check_tracking_uri(uri: str, *, timeout_s: float = 5.0) -> None:
    """Make one real call to the tracking store; raise :class:`UnreachableError` if it fails.

    For an HTTP server this also catches MLflow's 403 "Invalid Host header"
    (a server started without ``--allowed-hosts`` for this host name). A SQLite
    file that does not exist yet is not created here (only its folder is
    checked), so a command refused later leaves nothing behind.
    """
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        db = Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None
        if db is not None and not db.exists():
            folder = db.parent if str(db.parent) else Path(".")
            if not folder.is_dir() or not os.access(folder, os.W_OK):
                raise UnreachableError(f"MLflow tracking URI {uri}: folder {folder} does not exist or is "
                                       "not writable. Create it or pass another --tracking-uri.")
            return
    if parsed.scheme in ("http", "https"):
        host, port = parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
        except OSError as e:
            raise UnreachableError(
                f"MLflow tracking server {uri} is unreachable ({e.strerror or e}). Start it "
                f"(mlflow server --host {host} --port {port}) or pass another --tracking-uri."
            ) from None
    from mlflow.tracking import MlflowClient

    # Fail fast here, but only here: the sweep's own logging keeps MLflow's retries.
    quick = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(timeout_s))}
    saved = {k: os.environ.get(k) for k in quick}
    os.environ.update({k: v for k, v in quick.items() if saved[k] is None})
    try:
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as e:  # noqa: BLE001 - any failure means "cannot use this store"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "Invalid Host header" in str(e):
            raise UnreachableError(
                f"MLflow server {uri} refused this host name (403 Invalid Host header). Start it with "
                f"--allowed-hosts listing {parsed.netloc} (e.g. --allowed-hosts '{parsed.hostname},"
                f"{parsed.netloc}'), or reach it by a host name it allows.") from None
        raise UnreachableError(f"MLflow tracking URI {uri} does not answer: {first[:300]}") from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)


def require_existing_store(uri: str) -> None:
    """Refuse a SQLite URI whose file does not exist (MLflow would create an empty store)."""
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).exists():
        raise ConfigError(f"no MLflow store at {uri} (file {uri[len('sqlite:///'):]} does not exist). Pass the "
                          "--tracking-uri the sweep logged to.")


# --------------------------------------------------------------------------- the connection


class MlflowConnection:
    """This process's MLflow client for one tracking URI, and the results queued through it.

    Attributes:
        uri: the tracking URI.
        client: the ``MlflowClient``.
        pending: per run id, the batches handed to MLflow's background queue
            (``log_batch(..., synchronous=False)``) not yet known to be stored.
    """

    def __init__(self, uri: str) -> None:
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        self.pending: dict[str, list[Any]] = {}

    def log_batch_queued(self, run_id: str, **batch: Any) -> None:
        """``client.log_batch(run_id, **batch)`` through MLflow's background queue, in queue order."""
        self.pending.setdefault(run_id, []).append(self.client.log_batch(run_id, **batch, synchronous=False))

    def wait_for_logging(self, run_id: str | None = None) -> None:
        """Block until the queued batches of ``run_id`` (of every run if None) are stored."""
        for rid in [run_id] if run_id is not None else list(self.pending):
            for pending in self.pending.pop(rid, []):
                if pending is not None:
                    pending.wait()

    def terminate(self, run_id: str, status: str, *, name: str | None = None) -> None:
        """``client.set_terminated`` without its flush of MLflow's whole logging queue (about a second).

        ``set_terminated`` shuts the background queue down and restarts it, which
        blocks the driver at every trial's end; the run's status and end time are
        all that is needed here (its queued results still follow, in order).
        This reaches MLflow's private ``_tracking_client``; where a later MLflow
        lacks it, the public, slower call is made.

        ``name``: the run's new name, set in the same update as the status. Not as a
        queued ``mlflow.runName`` tag: MLflow stores that tag by rewriting the run's
        status as it read it, which can undo this call's status if the two race.
        """
        from mlflow.entities import RunStatus
        from mlflow.utils.time import get_current_time_millis

        store = getattr(getattr(self.client, "_tracking_client", None), "store", None)
        if store is None:
            self.client.set_terminated(run_id, status)
            if name is not None:
                self.client.set_tag(run_id, "mlflow.runName", name)  # after: it reads the status just set
            return
        store.update_run_info(run_id, run_status=RunStatus.from_string(status),
                              end_time=get_current_time_millis(), run_name=name)


#: The open connections of this process by URI, oldest first (not pickled: stores pickle their URI only).
_OPEN: dict[str, MlflowConnection] = {}
_OPEN_LOCK = threading.Lock()


def _set_mlflow_defaults() -> None:
    for key, value in MLFLOW_DEFAULTS.items():
        os.environ.setdefault(key, value)


def open_connection(uri: str) -> MlflowConnection:
    """This process's connection to the tracking store at ``uri``, opened on first use.

    The first one sets :data:`MLFLOW_DEFAULTS`. At most
    :data:`MAX_OPEN_CONNECTIONS` stay open; the oldest is closed, once its
    queued results are stored, to open another.
    """
    with _OPEN_LOCK:
        connection = _OPEN.get(uri)
        if connection is None:
            _set_mlflow_defaults()
            if len(_OPEN) >= MAX_OPEN_CONNECTIONS:
                _OPEN.pop(next(iter(_OPEN))).wait_for_logging()
            connection = _OPEN[uri] = MlflowConnection(uri)
        return connection


def wait_for_logging(run_id: str | None = None) -> None:
    """Block until the queued results of ``run_id`` (of every run if None) are stored, in every open store."""
    with _OPEN_LOCK:
        connections = list(_OPEN.values())
    for connection in connections:
        connection.wait_for_logging(run_id)

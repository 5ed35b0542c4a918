"""``igrt study run``: every fraction of a manifest as a Dask task, on an embedded or an existing cluster.

- Default: an embedded ``distributed.LocalCluster`` on loopback with N single-threaded worker
  processes; ``scheduler="tcp://HOST:PORT"`` submits the same tasks to an existing cluster (``dask
  scheduler`` / ``dask worker``, or a Kubernetes/SLURM deployment) whose workers can import ``igrt`` and
  read the manifest's paths.
- Each task gets a :class:`~igrt.study.manifest.FractionSpec` (paths and options) and the output folder:
  the images are read on the workers, never shipped through the scheduler.
- A fraction already complete and valid for the same spec is not run again; every file is written
  atomically; a failing fraction becomes a ``failed`` row with its reason; a task whose worker dies
  is rerun on another worker by the scheduler (``distributed.scheduler.allowed-failures``, default 3)
  and a task that raises is retried (``retries``); Ctrl-C cancels what is left and still writes a
  ``study.csv`` of what is done.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import logging
import signal
import threading
import time
from pathlib import Path

from igrt.errors import IGRTInputError
from igrt.result import atomic_write_text
from igrt.study.fraction import ERROR_COLUMNS, ROW_COLUMNS, completed_row, failed_row, run_fraction
from igrt.study.manifest import KNOWN_COLUMNS, Manifest


@dataclasses.dataclass
class StudyOutcome:
    """What a run did: rows in manifest order, counts, wall time (s), and whether Ctrl-C stopped it."""

    rows: list
    ran: int
    skipped: int
    ok: int
    failed: int
    wall_s: float
    interrupted: bool
    study_csv: Path
    cluster: str


def study_columns(manifest: Manifest) -> tuple:
    """The ``study.csv`` columns: the row columns, then an error column per known column of the manifest."""
    fields = [KNOWN_COLUMNS[c] for c in manifest.known_columns]
    return ROW_COLUMNS + tuple(e for e in ERROR_COLUMNS if e.removeprefix("error_") in fields)


def write_study_csv(path: Path, columns: tuple, rows: list) -> None:
    """Atomically write the study table; a cell not in a row is left empty."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Temporary files of an earlier run that was killed while writing (never a finished file)."""
    for tmp in (out_dir / "fractions").glob("*/*/.*.tmp"):
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def dask_client(workers: int | None, scheduler: str | None):
    """A ``distributed.Client``: to ``scheduler`` when given, else to an embedded loopback LocalCluster."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler)  # connect timeout: distributed.comm.timeouts.connect
        except (OSError, TimeoutError) as exc:
            raise IGRTInputError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from exc
        with client:
            yield client, f"Dask scheduler {scheduler}"
        return
    with _workers_ignore_ctrl_c():
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",  # a free loopback port: never a clash with another cluster on 8787
            silence_logs=logging.ERROR,
        )
    with cluster, Client(cluster) as client:
        yield client, f"embedded LocalCluster, {workers} worker processes"


@contextlib.contextmanager
def _workers_ignore_ctrl_c():
    """Start worker processes with SIGINT ignored (inherited across exec; Python then installs no
    KeyboardInterrupt handler), so that Ctrl-C stops the client, which cancels and closes the cluster,
    instead of every worker dying with a traceback. Only the main thread may change signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def default_workers(workers: int | None, scheduler: str | None) -> int | None:
    """Worker processes of the embedded cluster: as given, else 2; none with an existing scheduler."""
    return None if scheduler else (workers if workers is not None else 2)


def check_run_options(workers, scheduler) -> None:
    if scheduler and workers is not None:
        raise IGRTInputError(
            "give either --workers (embedded cluster) or --scheduler (existing cluster), not both"
        )
    if workers is not None and not (isinstance(workers, int) and 1 <= workers <= 512):
        raise IGRTInputError(f"--workers {workers}: need a whole number from 1 to 512")
    if scheduler is not None and "://" not in scheduler:
        raise IGRTInputError(f"--scheduler {scheduler!r}: expected an address like tcp://HOST:PORT")


def _run_pending(client, pending: list, out: Path, retries: int, rows: dict, on_row) -> bool:
    """Submit every pending fraction, collect rows as they finish; True when Ctrl-C stopped it."""
    from distributed import as_completed

    futures = {
        client.submit(run_fraction, spec, str(out.resolve()), retries=retries, pure=False): spec
        for spec in pending
    }
    try:
        for future in as_completed(futures):
            spec = futures[future]
            try:
                row = future.result()
            except Exception as exc:  # KilledWorker after repeated worker deaths, or a lost task
                row = failed_row(spec, f"task lost: {type(exc).__name__}: {exc}")
            rows[spec.key] = row
            if on_row:
                on_row(row)
    except KeyboardInterrupt:
        client.cancel(list(futures))
        return True
    return False


def run_study(
    manifest: Manifest,
    out_dir,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    retries: int = 2,
    on_start=None,
    on_row=None,
    connection=None,
) -> StudyOutcome:
    """Run every fraction of ``manifest`` not already done in ``out_dir`` and write ``out_dir/study.csv``.

    Parameters
    ----------
    manifest : Manifest
        From :func:`igrt.study.manifest.read_manifest` (already checked).
    out_dir : str or Path
        The study folder (created); fractions go to ``fractions/<patient>/<fraction>/``.
    workers : int, optional
        Worker processes of the embedded cluster (default 2); excludes ``scheduler``.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://HOST:PORT``).
    retries : int
        Dask retries of a task that raises (a fraction's own failures are rows, not exceptions).
    on_start : callable(n_to_run, n_skipped, cluster description), optional
    on_row : callable(row), optional
        Called in the client process as each fraction finishes (progress display).
    connection : (distributed.Client, description), optional
        A client already open (from :func:`dask_client`), used instead of opening one.

    Returns
    -------
    StudyOutcome
    """
    check_run_options(workers, scheduler)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IGRTInputError(f"cannot create the study folder {out}: {exc.strerror or exc}") from exc
    _remove_stale_temporaries(out)
    t0 = time.perf_counter()
    rows = {spec.key: completed_row(out, spec) for spec in manifest.fractions}
    pending = [spec for spec in manifest.fractions if rows[spec.key] is None]
    skipped = len(manifest.fractions) - len(pending)
    rows = {k: v for k, v in rows.items() if v is not None}
    interrupted, cluster = False, "none (every fraction already done)"
    if pending:
        with contextlib.ExitStack() as stack:
            if connection is None:
                connection = stack.enter_context(dask_client(default_workers(workers, scheduler), scheduler))
            client, cluster = connection
            if on_start:
                on_start(len(pending), skipped, cluster)
            interrupted = _run_pending(client, pending, out, retries, rows, on_row)
    elif on_start:
        on_start(0, skipped, cluster)
    ordered = [rows[s.key] for s in manifest.fractions if s.key in rows]
    study_csv = out / "study.csv"
    write_study_csv(study_csv, study_columns(manifest), ordered)
    ran = len(ordered) - skipped
    ok = sum(r["status"] == "ok" for r in ordered)
    return StudyOutcome(
        rows=ordered,
        ran=ran,
        skipped=skipped,
        ok=ok,
        failed=len(ordered) - ok,
        wall_s=time.perf_counter() - t0,
        interrupted=interrupted,
        study_csv=study_csv,
        cluster=cluster,
    )

"""The local worker: `python -m processors.worker` (started by `make run`).

Claims `process_media` jobs from the durable `jobs` table and runs the media
pipeline. Several workers may run at once (claims use `FOR UPDATE SKIP
LOCKED` on MySQL). While a job runs, a heartbeat extends its lease; if the
lease is lost the work is cancelled. Bad input marks the media `failed` and
completes the job (retrying cannot help); transient faults are retried with
backoff and, when the attempts run out, the media is marked `failed` with a
readable reason. Media whose job was abandoned by killed workers too often
are swept to `failed` as well. SIGTERM/SIGINT stop the worker gracefully:
no new claims, the current job is cancelled and handed back to the queue.
Nothing a single file does stops the loop.

Local copies of patient media live only in the worker's own scratch
directory (`MIA_SCRATCH_DIR/<worker id>`, see `scratch.py`), written with
umask 077; a starting worker removes the scratch of workers that are gone.
Jobs run on the main thread, which outlives every ffmpeg it starts (the
parent-death signal that kills ffmpeg with a killed worker is tied to the
thread that started it; see `ffmpeg_runner`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from processors import scratch
from processors.media_pipeline import (
    MediaNotFound,
    Outcome,
    ProcessingDeps,
    failure_reason_for,
    mark_failed,
    process_media,
)
from shared.db import jobs as queue
from shared.db.statuses import JobStatus, MediaStatus
from shared.db.tables import jobs, media
from shared.logging.json_lines import configure_logging

log = logging.getLogger("mia.processors.worker")

JOB_KIND = "process_media"
SWEEP_EVERY_SECONDS = 60
MAX_IDLE_BACKOFF_SECONDS = 30


@dataclass
class WorkerConfig:
    worker_id: str
    lease: dt.timedelta
    poll_seconds: float


def new_worker_id() -> str:
    return f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class _Heartbeat:
    """Extends the job's lease every third of it; cancels the work if the job was taken from us."""

    def __init__(self, engine: Engine, job: queue.Job, lease: dt.timedelta, cancel: threading.Event) -> None:
        self._engine = engine
        self._job = job
        self._lease = lease
        self._cancel = cancel
        self._stopped = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job.id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        interval = max(1.0, self._lease.total_seconds() / 3)
        while not self._stopped.wait(interval):
            try:
                with self._engine.begin() as conn:
                    still_ours = queue.extend_lease(conn, self._job, self._lease)
            except SQLAlchemyError:
                log.warning("lease extension failed; will try again", extra={"job_id": self._job.id})
                continue
            if not still_ours:
                log.warning("job taken over by another worker; cancelling", extra={"job_id": self._job.id})
                self.lost = True
                self._cancel.set()
                return


class Worker:
    def __init__(self, deps: ProcessingDeps, config: WorkerConfig, stop: threading.Event | None = None) -> None:
        self.deps = deps
        self.config = config
        self.stop = stop or threading.Event()
        self._last_sweep = 0.0

    # -- one job -------------------------------------------------------------
    def run_once(self) -> bool:
        """Claim and handle one job; False when there was nothing to do."""
        job = queue.claim(self.deps.engine, self.config.worker_id, self.config.lease, kinds=(JOB_KIND,))
        if job is None:
            return False
        self._handle(job)
        return True

    def _handle(self, job: queue.Job) -> None:
        started = time.monotonic()
        log.info("job claimed", extra={"job_id": job.id, "media_id": job.media_id, "attempt": job.attempts})
        if not job.media_id:
            self._finish(job, error="job names no media", retry=False)
            return
        cancel = threading.Event()
        watcher = threading.Thread(target=self._cancel_on_stop, args=(cancel,), daemon=True)
        watcher.start()
        heartbeat = _Heartbeat(self.deps.engine, job, self.config.lease, cancel)
        try:
            with heartbeat:
                result = process_media(self.deps, job.media_id, actor_id=self.config.worker_id, cancel=cancel)
        except MediaNotFound:
            self._finish(job, error="the media row no longer exists", retry=False)
        except Exception as exc:
            self._handle_error(job, exc, lost=heartbeat.lost)
        else:
            if result.outcome == Outcome.FAILED:
                self._finish(job, error=f"refused: {result.reason}", retry=False)  # retrying cannot help
            else:
                self._finish(job)
            log.info(
                "job finished",
                extra={
                    "job_id": job.id,
                    "outcome": str(result.outcome),
                    "seconds": round(time.monotonic() - started, 3),
                },
            )
        finally:
            cancel.set()  # releases the watcher thread

    def _cancel_on_stop(self, cancel: threading.Event) -> None:
        while not cancel.wait(0.2):
            if self.stop.is_set():
                cancel.set()

    def _handle_error(self, job: queue.Job, exc: Exception, *, lost: bool) -> None:
        if lost:
            return  # another worker owns the job now; nothing of ours to record
        stopping = self.stop.is_set()
        error = "the worker stopped before finishing" if stopping else f"{type(exc).__name__}: {exc}"
        log.log(
            logging.INFO if stopping else logging.ERROR,
            "job failed; will retry" if stopping else "job failed",
            exc_info=not stopping,
            extra={"job_id": job.id, "media_id": job.media_id, "attempt": job.attempts},
        )
        status = self._finish(job, error=error, retry=True)
        if status == JobStatus.FAILED and job.media_id:
            self._safely(
                mark_failed, self.deps.engine, job.media_id, failure_reason_for(exc), actor_id=self.config.worker_id
            )

    def _finish(self, job: queue.Job, *, error: str | None = None, retry: bool = False) -> JobStatus | None:
        """Complete or fail the job; a database fault here is logged (the lease will expire and retry)."""
        try:
            with self.deps.engine.begin() as conn:
                if error is None:
                    queue.complete(conn, job)
                    return JobStatus.DONE
                return queue.fail(conn, job, error, retry=retry)
        except SQLAlchemyError:
            log.exception("could not record the job's result", extra={"job_id": job.id})
            return None

    @staticmethod
    def _safely(function, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        try:
            function(*args, **kwargs)
        except SQLAlchemyError:
            log.exception("database fault while recording a failure")

    # -- housekeeping ----------------------------------------------------------
    def sweep_abandoned(self) -> int:
        """Mark `failed` the media whose job the queue gave up on (its workers kept dying)."""
        with self.deps.engine.connect() as conn:
            rows = conn.execute(
                select(media.c.id, jobs.c.last_error)
                .join(jobs, jobs.c.media_id == media.c.id)
                .where(
                    media.c.status.in_([MediaStatus.UPLOADED, MediaStatus.PROCESSING]),
                    media.c.deleted_at.is_(None),
                    jobs.c.kind == JOB_KIND,
                    jobs.c.status == JobStatus.FAILED,
                )
            ).all()
        swept = 0
        for row in rows:
            if mark_failed(self.deps.engine, row.id, row.last_error or queue.GAVE_UP, actor_id=self.config.worker_id):
                swept += 1
        return swept

    # -- the loop --------------------------------------------------------------
    def run_forever(self) -> None:
        log.info("worker started", extra={"worker_id": self.config.worker_id})
        idle_backoff = self.config.poll_seconds
        while not self.stop.is_set():
            try:
                if time.monotonic() - self._last_sweep > SWEEP_EVERY_SECONDS:
                    self._last_sweep = time.monotonic()
                    self.sweep_abandoned()
                worked = self.run_once()
                idle_backoff = self.config.poll_seconds
            except SQLAlchemyError:
                log.exception("database unavailable; waiting", extra={"wait_seconds": idle_backoff})
                self.stop.wait(idle_backoff)
                idle_backoff = min(MAX_IDLE_BACKOFF_SECONDS, idle_backoff * 2)
                continue
            if not worked:
                self.stop.wait(self.config.poll_seconds)
        log.info("worker stopped", extra={"worker_id": self.config.worker_id})


def install_signal_handlers(stop: threading.Event) -> None:
    def _request_stop(signum: int, _frame: object) -> None:
        log.info("stop requested", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)


def main() -> int:
    from shared.config.settings import ConfigError, load_settings
    from shared.context import build_context

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, service="worker", cookie_names=[settings.portal_cookie_name])
    os.umask(scratch.PRIVATE_UMASK)  # every file the worker writes (patient media) is 0600
    config = WorkerConfig(
        worker_id=new_worker_id(),
        lease=dt.timedelta(seconds=settings.worker_lease_seconds),
        poll_seconds=float(settings.worker_poll_seconds),
    )
    try:
        own_scratch = scratch.claim(settings.scratch_dir, config.worker_id)
    except scratch.ScratchUnusable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    context = build_context(settings)
    deps = ProcessingDeps.from_settings(settings, context.engine, context.store, tmp_root=own_scratch.path)
    stop = threading.Event()
    install_signal_handlers(stop)
    try:
        Worker(deps, config, stop).run_forever()
    finally:
        context.close()
        own_scratch.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())

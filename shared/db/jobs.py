"""A durable work queue in the `jobs` table.

Several workers may claim concurrently: on MySQL the claim uses
`SELECT … FOR UPDATE SKIP LOCKED`; on SQLite every write transaction starts
with BEGIN IMMEDIATE (see engine.py), which serialises claims. A claimed job
carries a lease; a job whose worker died is claimed again once the lease has
expired, and a job that keeps failing ends as `failed` with its last error.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from shared.clock import utcnow
from shared.db.statuses import JobStatus
from shared.db.tables import jobs

DEFAULT_MAX_ATTEMPTS = 4
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600
GAVE_UP = "Processing was interrupted too many times; the file could not be prepared."


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    media_id: str | None
    attempts: int
    max_attempts: int
    worker_id: str


def backoff(attempts: int) -> dt.timedelta:
    """Exponential: 30 s, 60 s, 120 s … capped at an hour."""
    return dt.timedelta(seconds=min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1)))


def enqueue(
    conn: Connection,
    kind: str,
    *,
    media_id: str | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    run_after: dt.datetime | None = None,
) -> int | None:
    """Add a job; with a dedupe key already queued, nothing is added and None is returned."""
    if dedupe_key and conn.execute(select(jobs.c.id).where(jobs.c.dedupe_key == dedupe_key)).first():
        return None
    now = utcnow()
    values = dict(
        kind=kind,
        media_id=media_id,
        dedupe_key=dedupe_key,
        status=JobStatus.QUEUED,
        attempts=0,
        max_attempts=max_attempts,
        run_after=run_after or now,
        created_at=now,
        updated_at=now,
    )
    try:
        with conn.begin_nested():
            result = conn.execute(jobs.insert().values(**values))
    except IntegrityError:
        return None  # a concurrent enqueue with the same dedupe key won
    return int(result.inserted_primary_key[0])


def _claimable(now: dt.datetime, kinds: tuple[str, ...] | None):  # type: ignore[no-untyped-def]
    ready = and_(jobs.c.status == JobStatus.QUEUED, jobs.c.run_after <= now)
    abandoned = and_(jobs.c.status == JobStatus.RUNNING, jobs.c.lease_until < now)
    condition = or_(ready, abandoned)
    if kinds:
        condition = and_(condition, jobs.c.kind.in_(kinds))
    return condition


def claim(engine: Engine, worker_id: str, lease: dt.timedelta, kinds: tuple[str, ...] | None = None) -> Job | None:
    """Take the next due job (or one whose lease expired), or None when there is nothing to do."""
    while True:
        with engine.begin() as conn:
            now = utcnow()
            row = conn.execute(
                select(jobs)
                .where(_claimable(now, kinds))
                .order_by(jobs.c.run_after, jobs.c.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            if row.attempts >= row.max_attempts:
                # its last worker died holding it: stop retrying
                conn.execute(
                    update(jobs)
                    .where(jobs.c.id == row.id)
                    .values(
                        status=JobStatus.FAILED, last_error=GAVE_UP, finished_at=now, updated_at=now, lease_until=None
                    )
                )
                continue
            conn.execute(
                update(jobs)
                .where(jobs.c.id == row.id)
                .values(
                    status=JobStatus.RUNNING,
                    attempts=row.attempts + 1,
                    lease_until=now + lease,
                    worker_id=worker_id,
                    updated_at=now,
                )
            )
            return Job(row.id, row.kind, row.media_id, row.attempts + 1, row.max_attempts, worker_id)


def _owned(job: Job):  # type: ignore[no-untyped-def]
    return and_(jobs.c.id == job.id, jobs.c.worker_id == job.worker_id, jobs.c.status == JobStatus.RUNNING)


def extend_lease(conn: Connection, job: Job, lease: dt.timedelta) -> bool:
    """Heartbeat for long work; False means the job was taken from us."""
    now = utcnow()
    result = conn.execute(update(jobs).where(_owned(job)).values(lease_until=now + lease, updated_at=now))
    return result.rowcount == 1


def complete(conn: Connection, job: Job) -> bool:
    now = utcnow()
    result = conn.execute(
        update(jobs)
        .where(_owned(job))
        .values(status=JobStatus.DONE, finished_at=now, updated_at=now, lease_until=None, last_error=None)
    )
    return result.rowcount == 1


def fail(conn: Connection, job: Job, error: str, *, retry: bool) -> JobStatus:
    """Record a failure: retry later with backoff while attempts remain, else give up."""
    now = utcnow()
    if retry and job.attempts < job.max_attempts:
        status = JobStatus.QUEUED
        values = dict(run_after=now + backoff(job.attempts))
    else:
        status = JobStatus.FAILED
        values = dict(finished_at=now)
    conn.execute(
        update(jobs)
        .where(_owned(job))
        .values(status=status, last_error=error[:1000], lease_until=None, updated_at=now, **values)
    )
    return status


def complete_queued(conn: Connection, dedupe_key: str) -> bool:
    """Close a still-queued job whose work was done elsewhere (the Lambda processed the media)."""
    now = utcnow()
    result = conn.execute(
        update(jobs)
        .where(jobs.c.dedupe_key == dedupe_key, jobs.c.status == JobStatus.QUEUED)
        .values(status=JobStatus.DONE, finished_at=now, updated_at=now, last_error=None)
    )
    return result.rowcount == 1

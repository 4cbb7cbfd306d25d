"""The durable job queue on both databases, including concurrent workers."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import Engine, select, update

from shared.db import jobs as queue
from shared.db.statuses import JobStatus
from shared.db.tables import jobs

LEASE = dt.timedelta(minutes=5)


def status_of(engine: Engine, job_id: int) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(select(jobs.c.status, jobs.c.last_error).where(jobs.c.id == job_id)).one()
    return row.status, row.last_error


def test_enqueue_is_deduplicated(engine: Engine) -> None:
    with engine.begin() as conn:
        first = queue.enqueue(conn, "process_media", media_id="m1", dedupe_key="media:m1")
        second = queue.enqueue(conn, "process_media", media_id="m1", dedupe_key="media:m1")
    assert first is not None and second is None


def test_claim_complete(engine: Engine) -> None:
    with engine.begin() as conn:
        job_id = queue.enqueue(conn, "process_media", media_id="m1")
    job = queue.claim(engine, "w1", LEASE)
    assert job is not None and job.id == job_id and job.attempts == 1 and job.media_id == "m1"
    assert queue.claim(engine, "w2", LEASE) is None
    with engine.begin() as conn:
        assert queue.complete(conn, job)
    assert status_of(engine, job_id) == (JobStatus.DONE, None)


def test_retry_with_backoff_then_fail_with_a_readable_reason(engine: Engine) -> None:
    with engine.begin() as conn:
        job_id = queue.enqueue(conn, "process_media", max_attempts=2)
    job = queue.claim(engine, "w1", LEASE)
    with engine.begin() as conn:
        assert queue.fail(conn, job, "storage timed out", retry=True) == JobStatus.QUEUED
    assert queue.claim(engine, "w1", LEASE) is None  # backing off
    with engine.begin() as conn:
        conn.execute(update(jobs).values(run_after=dt.datetime(2000, 1, 1)))
    job = queue.claim(engine, "w1", LEASE)
    assert job is not None and job.attempts == 2
    with engine.begin() as conn:
        assert queue.fail(conn, job, "storage timed out again", retry=True) == JobStatus.FAILED
    assert status_of(engine, job_id) == (JobStatus.FAILED, "storage timed out again")


def test_job_of_a_killed_worker_is_taken_again_after_its_lease(engine: Engine) -> None:
    with engine.begin() as conn:
        job_id = queue.enqueue(conn, "process_media", max_attempts=2)
    dead = queue.claim(engine, "dead-worker", LEASE)
    assert dead is not None
    assert queue.claim(engine, "w2", LEASE) is None
    with engine.begin() as conn:
        conn.execute(update(jobs).values(lease_until=dt.datetime(2000, 1, 1)))
    again = queue.claim(engine, "w2", LEASE)
    assert again is not None and again.id == job_id and again.attempts == 2
    with engine.begin() as conn:
        assert not queue.complete(conn, dead)  # the dead worker no longer owns it
        assert not queue.extend_lease(conn, dead, LEASE)
        conn.execute(update(jobs).values(lease_until=dt.datetime(2000, 1, 1)))
    assert queue.claim(engine, "w3", LEASE) is None  # out of attempts
    assert status_of(engine, job_id) == (JobStatus.FAILED, queue.GAVE_UP)


def test_concurrent_workers_never_share_a_job(engine: Engine) -> None:
    with engine.begin() as conn:
        for number in range(40):
            queue.enqueue(conn, "process_media", media_id=f"m{number}")
    claimed: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (job := queue.claim(engine, name, LEASE)) is not None:
            with lock:
                claimed.append(job.id)
            with engine.begin() as conn:
                queue.complete(conn, job)

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 40 and len(set(claimed)) == 40

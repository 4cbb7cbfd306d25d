"""The media pipeline through the local worker, on both databases and both stores."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from processors import failures
from processors.ffmpeg_binary import ffmpeg_path
from processors.media_pipeline import ProcessingDeps, derived_key
from processors.worker import Worker, WorkerConfig
from shared.context import AppContext
from shared.db import jobs as queue
from shared.db.statuses import JobStatus, MediaStatus
from shared.db.tables import audit_events, jobs
from shared.storage.base import ObjectStore
from tests.support import media_samples
from tests.support.media_checks import assert_browser_mp4, assert_clean_jpeg
from tests.support.media_fixtures import SampleCache, samples  # noqa: F401 - fixture
from tests.support.media_rows import add_upload, media_row, new_encounter

LEASE = dt.timedelta(minutes=5)


def make_worker(ctx: AppContext, store: ObjectStore, name: str = "w1", stop: threading.Event | None = None) -> Worker:
    deps = ProcessingDeps(ctx.engine, store, ffmpeg_path(), video_timeout_cap=300)
    return Worker(deps, WorkerConfig(worker_id=name, lease=LEASE, poll_seconds=0.1), stop)


def drain(worker: Worker) -> int:
    handled = 0
    while worker.run_once():
        handled += 1
    return handled


def job_of(engine: Engine, media_id: str):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(jobs).where(jobs.c.media_id == media_id)).one()


def audit_count(engine: Engine, action: str, media_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count())
            .select_from(audit_events)
            .where(
                audit_events.c.action == action,
                audit_events.c.media_id == media_id,
                audit_events.c.actor_type == "system",
            )
        ).scalar_one()


def download(store: ObjectStore, key: str, directory: Path) -> Path:
    path = directory / key.replace("/", "_")
    store.download_file(key, path)
    return path


def test_phone_uploads_become_reviewable(
    ctx: AppContext,
    store: ObjectStore,
    samples: SampleCache,  # noqa: F811
    tmp_path: Path,
) -> None:
    encounter = new_encounter(ctx)
    sources: dict[str, Callable[[], Path]] = {
        "jpeg": samples.portrait_jpeg,
        "heic": samples.gps_heic,
        "hevc": samples.hevc_mov,
        "h264": samples.h264_mov,
    }
    uploads = {name: add_upload(ctx, store, encounter, make()) for name, make in sources.items()}
    originals = {name: hashlib.sha256(make().read_bytes()).hexdigest() for name, make in sources.items()}

    assert drain(make_worker(ctx, store)) == 4

    for name, upload in uploads.items():
        row = media_row(ctx.engine, upload.media_id)
        assert row.status == MediaStatus.READY and row.failure_reason is None, (name, row.failure_reason)
        assert (row.width, row.height) == (480, 640) if row.kind == "image" else (360, 640)
        assert row.processed_at is not None and row.original_sha256 == originals[name]
        assert store.size(row.display_key) == row.display_size and store.size(row.thumbnail_key) == row.thumbnail_size
        # the original is kept, untouched, under its own key
        assert hashlib.sha256(store.get(upload.original_key)).hexdigest() == originals[name]
        assert job_of(ctx.engine, upload.media_id).status == JobStatus.DONE
        assert audit_count(ctx.engine, "media.processed", upload.media_id) == 1
        display = download(store, row.display_key, tmp_path)
        thumbnail = download(store, row.thumbnail_key, tmp_path)
        if row.kind == "image":
            assert row.display_key == derived_key(encounter, upload.media_id, "display.jpg")
            assert row.thumbnail_key == derived_key(encounter, upload.media_id, "thumb.jpg")
            assert row.display_content_type == "image/jpeg"
            assert assert_clean_jpeg(display).size == (480, 640)
            assert max(assert_clean_jpeg(thumbnail).size) == 480
        else:
            assert row.display_key == derived_key(encounter, upload.media_id, "video.mp4")
            assert row.thumbnail_key == derived_key(encounter, upload.media_id, "poster.jpg")
            assert row.display_content_type == "video/mp4"
            assert row.duration_seconds == pytest.approx(2.0, abs=0.1) and row.audio_codec == "aac"
            assert assert_browser_mp4(display).displayed_size == (360, 640)
            assert assert_clean_jpeg(thumbnail).size == (360, 640)
    assert media_row(ctx.engine, uploads["hevc"].media_id).video_codec == "hevc"
    assert media_row(ctx.engine, uploads["h264"].media_id).video_codec == "h264"


BAD_INPUTS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "zero bytes": (lambda d: media_samples.dressed_as(d, "IMG_0001.JPG", b""), failures.EMPTY),
    "truncated jpeg": (
        lambda d: media_samples.truncated(media_samples.portrait_jpeg(d), d, 0.4, "cut.jpg"),
        failures.IMAGE_TRUNCATED,
    ),
    "truncated video": (
        lambda d: media_samples.truncated(media_samples.h264_mov(d), d, 0.5, "cut.mov"),
        failures.VIDEO_UNREADABLE,
    ),
    "pdf named .jpg": (lambda d: media_samples.dressed_as(d, "scan.jpg", media_samples.PDF), failures.UNSUPPORTED),
    "html named .png": (lambda d: media_samples.dressed_as(d, "a.png", media_samples.HTML), failures.UNSUPPORTED),
    "svg named .jpg": (lambda d: media_samples.dressed_as(d, "b.jpg", media_samples.SVG), failures.UNSUPPORTED),
    "eps named .jpg": (lambda d: media_samples.dressed_as(d, "c.jpg", media_samples.EPS), failures.UNSUPPORTED),
    "corrupt heic": (media_samples.corrupt_heic, failures.IMAGE_UNREADABLE),
    "png bomb": (
        lambda d: media_samples.png_bomb(d, 12_000, 12_000),
        failures.IMAGE_TOO_LARGE.format(megapixels=89),
    ),
    "hls named .mov": (
        lambda d: media_samples.dressed_as(d, "v.mov", media_samples.hls_playlist(["http://127.0.0.1:9/x.ts"])),
        failures.UNSUPPORTED,
    ),
    "concat after an ftyp": (
        lambda d: media_samples.dressed_as(
            d, "w.mov", media_samples.FTYP_QT + media_samples.concat_playlist(["/etc/passwd"]).encode()
        ),
        failures.VIDEO_UNREADABLE,
    ),
}


def test_bad_input_fails_clearly_and_other_jobs_are_unaffected(ctx: AppContext, tmp_path: Path) -> None:
    encounter = new_encounter(ctx)
    store = ctx.store
    bad = {}
    for index, (label, (make, _)) in enumerate(BAD_INPUTS.items()):
        folder = tmp_path / f"bad{index}"
        folder.mkdir()
        bad[label] = add_upload(ctx, store, encounter, make(folder))
    good = add_upload(ctx, store, encounter, media_samples.portrait_jpeg(tmp_path))
    wrong_name = add_upload(ctx, store, encounter, media_samples.gps_heic(tmp_path).rename(tmp_path / "clip.mov"))

    assert drain(make_worker(ctx, store)) == len(BAD_INPUTS) + 2

    for label, upload in bad.items():
        row = media_row(ctx.engine, upload.media_id)
        assert (row.status, row.failure_reason) == (MediaStatus.FAILED, BAD_INPUTS[label][1]), label
        assert row.display_key is None and row.thumbnail_key is None
        job = job_of(ctx.engine, upload.media_id)
        assert (job.status, job.attempts) == (JobStatus.FAILED, 1), label  # bad input is not retried
        assert audit_count(ctx.engine, "media.processing_failed", upload.media_id) == 1
        assert store.exists(upload.original_key)  # nothing accepted is lost
    assert media_row(ctx.engine, good.media_id).status == MediaStatus.READY
    renamed = media_row(ctx.engine, wrong_name.media_id)
    assert (renamed.status, renamed.kind, renamed.content_type) == (MediaStatus.READY, "image", "image/heic")


def test_worker_loop_keeps_running_after_bad_input(ctx: AppContext, tmp_path: Path) -> None:
    stop = threading.Event()
    worker = make_worker(ctx, ctx.store, stop=stop)
    thread = threading.Thread(target=worker.run_forever)
    thread.start()
    try:
        encounter = new_encounter(ctx)
        first = add_upload(ctx, ctx.store, encounter, media_samples.corrupt_heic(tmp_path))
        second = add_upload(ctx, ctx.store, encounter, media_samples.dressed_as(tmp_path, "e.jpg", b""))
        third = add_upload(ctx, ctx.store, encounter, media_samples.portrait_jpeg(tmp_path))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            statuses = [media_row(ctx.engine, u.media_id).status for u in (first, second, third)]
            if statuses == [MediaStatus.FAILED, MediaStatus.FAILED, MediaStatus.READY]:
                break
            time.sleep(0.1)
        assert statuses == [MediaStatus.FAILED, MediaStatus.FAILED, MediaStatus.READY]
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


def make_due(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.status == JobStatus.QUEUED).values(run_after=dt.datetime(2000, 1, 1)))


def test_storage_faults_are_retried_with_backoff_then_fail_readably(ctx: AppContext, tmp_path: Path) -> None:
    encounter = new_encounter(ctx)
    store = ctx.store
    source = media_samples.portrait_jpeg(tmp_path)
    recovers = add_upload(ctx, store, encounter, source)
    lost = add_upload(ctx, store, encounter, source)
    store.delete(recovers.original_key)
    store.delete(lost.original_key)
    worker = make_worker(ctx, store)

    assert drain(worker) == 2
    for upload in (recovers, lost):
        job = job_of(ctx.engine, upload.media_id)
        assert (job.status, job.attempts) == (JobStatus.QUEUED, 1)
        assert job.run_after > dt.datetime.now(dt.UTC).replace(tzinfo=None)  # backing off
        assert "OriginalMissing" in job.last_error
        assert media_row(ctx.engine, upload.media_id).status == MediaStatus.PROCESSING
    assert drain(worker) == 0  # nothing due yet

    store.upload_file(source, recovers.original_key)  # the fault clears for one of them
    for _ in range(queue.DEFAULT_MAX_ATTEMPTS):
        make_due(ctx.engine)
        drain(worker)
    assert media_row(ctx.engine, recovers.media_id).status == MediaStatus.READY
    assert job_of(ctx.engine, recovers.media_id).status == JobStatus.DONE
    row = media_row(ctx.engine, lost.media_id)
    assert (row.status, row.failure_reason) == (MediaStatus.FAILED, failures.ORIGINAL_MISSING)
    job = job_of(ctx.engine, lost.media_id)
    assert (job.status, job.attempts) == (JobStatus.FAILED, queue.DEFAULT_MAX_ATTEMPTS)


def test_job_of_a_killed_worker_is_taken_again_after_its_lease(ctx: AppContext, tmp_path: Path) -> None:
    upload = add_upload(ctx, ctx.store, new_encounter(ctx), media_samples.portrait_jpeg(tmp_path))
    dead = queue.claim(ctx.engine, "killed-worker", LEASE)
    assert dead is not None
    worker = make_worker(ctx, ctx.store)
    assert drain(worker) == 0  # still leased
    with ctx.engine.begin() as conn:
        conn.execute(update(jobs).values(lease_until=dt.datetime(2000, 1, 1)))
    assert drain(worker) == 1
    assert media_row(ctx.engine, upload.media_id).status == MediaStatus.READY
    job = job_of(ctx.engine, upload.media_id)
    assert (job.status, job.attempts, job.worker_id) == (JobStatus.DONE, 2, "w1")


def test_media_of_a_job_given_up_is_swept_to_failed(ctx: AppContext, tmp_path: Path) -> None:
    upload = add_upload(ctx, ctx.store, new_encounter(ctx), media_samples.portrait_jpeg(tmp_path))
    with ctx.engine.begin() as conn:  # the queue gave up after workers kept dying on it
        conn.execute(update(jobs).values(status=JobStatus.FAILED, last_error=queue.GAVE_UP))
    assert make_worker(ctx, ctx.store).sweep_abandoned() == 1
    row = media_row(ctx.engine, upload.media_id)
    assert (row.status, row.failure_reason) == (MediaStatus.FAILED, queue.GAVE_UP)


def test_several_workers_process_each_media_once(ctx: AppContext, tmp_path: Path) -> None:
    encounter = new_encounter(ctx)
    uploads = [add_upload(ctx, ctx.store, encounter, media_samples.portrait_jpeg(tmp_path)) for _ in range(6)]
    workers = [make_worker(ctx, ctx.store, name=f"w{n}") for n in range(3)]
    threads = [threading.Thread(target=drain, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for upload in uploads:
        assert media_row(ctx.engine, upload.media_id).status == MediaStatus.READY
        assert audit_count(ctx.engine, "media.processed", upload.media_id) == 1
        assert job_of(ctx.engine, upload.media_id).attempts == 1

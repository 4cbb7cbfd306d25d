"""The Lambda handler with real S3 event JSON, against moto's S3 over HTTP, on both databases."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from processors import failures
from processors.lambda_handlers import RetryLater, handle_s3_event, store_key_for
from shared.config.settings import Settings
from shared.context import AppContext, build_context
from shared.db.statuses import JobStatus, MediaStatus
from shared.db.tables import audit_events, jobs
from shared.ids import new_id
from shared.storage import open_store
from shared.storage.s3 import S3Store
from tests.conftest import make_settings
from tests.support import media_samples
from tests.support.media_checks import assert_browser_mp4, assert_clean_jpeg
from tests.support.media_fixtures import SampleCache, samples  # noqa: F401 - fixture
from tests.support.media_rows import Upload, add_upload, insert_media_row, media_row, new_encounter
from tests.support.processes import killed_scratch_owner
from tests.support.s3 import MotoS3
from tests.support.s3_events import event, object_created_record

PREFIX = "patient media"  # a space, so the event's key arrives URL-encoded as "patient+media/…"


@dataclass
class LambdaContext:
    """What Lambda passes as `context` (the fields the handler reads)."""

    function_name: str = "mia-processor"
    remaining_ms: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class Deployment:
    ctx: AppContext
    store: S3Store
    engine: Engine

    def record(self, upload: Upload, **kwargs: Any) -> dict[str, Any]:
        head = self.store.client.head_object(Bucket=self.store.bucket, Key=f"{PREFIX}/{upload.original_key}")
        return object_created_record(
            self.store.bucket, f"{PREFIX}/{upload.original_key}", head["ContentLength"], head["ETag"], **kwargs
        )


def database_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def deployment(
    engine: Engine, settings: Settings, moto_s3: MotoS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Deployment:
    bucket = moto_s3.new_bucket()
    env = {
        "MIA_DATA_DIR": str(tmp_path / "lambda"),
        "MIA_DATABASE_URL": database_url(engine),
        "MIA_STORAGE_URL": f"s3://{bucket}/{PREFIX}",
        "MIA_S3_ENDPOINT_URL": moto_s3.endpoint_url,
        "MIA_S3_PART_SIZE": "5MiB",
        "MIA_SCRATCH_DIR": str(tmp_path / "scratch"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    lambda_settings = make_settings(tmp_path / "lambda", **{k: v for k, v in env.items() if k != "MIA_DATA_DIR"})
    store = open_store(lambda_settings, b"")
    assert isinstance(store, S3Store)
    return Deployment(build_context(settings, engine=engine), store, engine)


def processed_count(engine: Engine, media_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count())
            .select_from(audit_events)
            .where(audit_events.c.action == "media.processed", audit_events.c.media_id == media_id)
        ).scalar_one()


def test_an_s3_event_makes_the_uploads_reviewable(
    deployment: Deployment,
    samples: SampleCache,  # noqa: F811
    tmp_path: Path,
) -> None:
    encounter = new_encounter(deployment.ctx)
    video = add_upload(deployment.ctx, deployment.store, encounter, samples.hevc_mov())
    photo = add_upload(deployment.ctx, deployment.store, encounter, samples.portrait_jpeg())
    delivered = event(deployment.record(video), deployment.record(photo))
    assert delivered["Records"][0]["s3"]["object"]["key"].startswith("patient+media/uploads/")

    result = handle_s3_event(delivered, LambdaContext())

    assert {item["outcome"] for item in result["processed"]} == {"ready"}
    video_row, photo_row = media_row(deployment.engine, video.media_id), media_row(deployment.engine, photo.media_id)
    assert (video_row.status, video_row.width, video_row.height) == (MediaStatus.READY, 360, 640)
    assert (photo_row.status, photo_row.width, photo_row.height) == (MediaStatus.READY, 480, 640)
    listing = deployment.store.client.list_objects_v2(Bucket=deployment.store.bucket)["Contents"]
    keys = {item["Key"] for item in listing}
    assert f"{PREFIX}/derived/{encounter}/{video.media_id}/video.mp4" in keys
    assert f"{PREFIX}/derived/{encounter}/{photo.media_id}/thumb.jpg" in keys
    assert f"{PREFIX}/{video.original_key}" in keys  # the original stays
    mp4 = tmp_path / "video.mp4"
    deployment.store.download_file(video_row.display_key, mp4)
    assert assert_browser_mp4(mp4).displayed_size == (360, 640)
    poster = tmp_path / "poster.jpg"
    deployment.store.download_file(video_row.thumbnail_key, poster)
    assert_clean_jpeg(poster)
    with deployment.engine.connect() as conn:  # the local queue's job is settled so no worker redoes it
        statuses = conn.execute(select(jobs.c.status).where(jobs.c.media_id.in_([video.media_id, photo.media_id])))
        assert {row.status for row in statuses} == {JobStatus.DONE}


def test_a_second_delivery_does_no_harm(deployment: Deployment, tmp_path: Path) -> None:
    upload = add_upload(
        deployment.ctx, deployment.store, new_encounter(deployment.ctx), media_samples.portrait_jpeg(tmp_path)
    )
    delivered = event(deployment.record(upload))
    handle_s3_event(delivered, LambdaContext())
    first = media_row(deployment.engine, upload.media_id)

    again = handle_s3_event(delivered, LambdaContext())

    assert again["processed"] == [{"media_id": upload.media_id, "outcome": "skipped"}]
    second = media_row(deployment.engine, upload.media_id)
    assert second.status == MediaStatus.READY and second.processed_at == first.processed_at
    assert processed_count(deployment.engine, upload.media_id) == 1


def test_an_event_before_the_media_row_exists_is_retried(deployment: Deployment, tmp_path: Path) -> None:
    encounter = new_encounter(deployment.ctx)
    source = media_samples.portrait_jpeg(tmp_path)
    upload = add_upload(deployment.ctx, deployment.store, encounter, source, insert=False)
    delivered = event(deployment.record(upload))

    with pytest.raises(RetryLater):
        handle_s3_event(delivered, LambdaContext())  # S3 notified before the upload service committed

    upload_id = upload.original_key.split("/")[2]
    insert_media_row(deployment.ctx, encounter, upload.media_id, upload_id, upload.original_key, source)
    result = handle_s3_event(delivered, LambdaContext())  # Lambda's retry
    assert result["processed"] == [{"media_id": upload.media_id, "outcome": "ready"}]


def test_bad_input_is_marked_failed_without_a_retry(deployment: Deployment, tmp_path: Path) -> None:
    encounter = new_encounter(deployment.ctx)
    playlist = media_samples.dressed_as(
        tmp_path, "clip.mov", media_samples.FTYP_QT + media_samples.hls_playlist(["/etc/passwd"]).encode()
    )
    bad = add_upload(deployment.ctx, deployment.store, encounter, playlist)
    good = add_upload(deployment.ctx, deployment.store, encounter, media_samples.gps_heic(tmp_path))

    result = handle_s3_event(event(deployment.record(bad), deployment.record(good)), LambdaContext())

    assert {item["media_id"]: item["outcome"] for item in result["processed"]} == {
        bad.media_id: "failed",
        good.media_id: "ready",
    }
    row = media_row(deployment.engine, bad.media_id)
    assert (row.status, row.failure_reason) == (MediaStatus.FAILED, failures.VIDEO_UNREADABLE)


def scratch_left(tmp_path: Path) -> list[str]:
    """Everything under the Lambda's scratch directory but the runtime's own lock."""
    root = tmp_path / "scratch"
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file() or not any(path.iterdir()))


def test_the_sandbox_scratch_is_empty_after_an_event(deployment: Deployment, tmp_path: Path) -> None:
    """/tmp outlives invocations: what a killed runtime left goes, and the handler leaves nothing."""
    killed = killed_scratch_owner(tmp_path / "scratch", "lambda-killed-by-a-timeout")
    upload = add_upload(
        deployment.ctx, deployment.store, new_encounter(deployment.ctx), media_samples.h264_mov(tmp_path)
    )

    result = handle_s3_event(event(deployment.record(upload)), LambdaContext())

    assert result["processed"] == [{"media_id": upload.media_id, "outcome": "ready"}]
    assert not killed.exists()
    assert [Path(name).name for name in scratch_left(tmp_path)] == [".owner.lock"]


def test_the_sandbox_scratch_is_empty_after_a_failed_invocation(deployment: Deployment, tmp_path: Path) -> None:
    video = media_samples.mjpeg_mov(tmp_path, size="1280x720", seconds=10)
    upload = add_upload(deployment.ctx, deployment.store, new_encounter(deployment.ctx), video)
    nearly_out_of_time = LambdaContext(remaining_ms=61_000)  # 1 s left for the transcode after the margin

    with pytest.raises(RetryLater):
        handle_s3_event(event(deployment.record(upload)), nearly_out_of_time)

    assert media_row(deployment.engine, upload.media_id).status == MediaStatus.PROCESSING  # stopped mid-way
    assert [Path(name).name for name in scratch_left(tmp_path)] == [".owner.lock"]


def test_other_objects_and_events_are_ignored(deployment: Deployment, tmp_path: Path) -> None:
    upload = add_upload(
        deployment.ctx, deployment.store, new_encounter(deployment.ctx), media_samples.portrait_jpeg(tmp_path)
    )
    bucket = deployment.store.bucket
    tail = object_created_record(bucket, f"{PREFIX}/{upload.original_key}.tail.2", 10, '"x"')
    derived = object_created_record(bucket, f"{PREFIX}/derived/e1/m1/display.jpg", 10, '"x"')
    elsewhere = object_created_record("someone-elses-bucket", f"{PREFIX}/{upload.original_key}", 10, '"x"')
    removed = deployment.record(upload, event_name="ObjectRemoved:Delete")

    result = handle_s3_event(event(tail, derived, elsewhere, removed), LambdaContext())

    assert result == {"processed": [], "ignored": 4}
    assert media_row(deployment.engine, upload.media_id).status == MediaStatus.UPLOADED


def test_store_keys_are_decoded_and_confined_to_originals(moto_s3: MotoS3) -> None:
    store = S3Store(moto_s3.client(), "bucket", "patient media")
    encounter, upload = new_id(), new_id()
    original = f"uploads/{encounter}/{upload}/original"
    assert store_key_for(store, "bucket", f"patient+media/{original}") == original
    assert store_key_for(store, "bucket", f"patient%20media/{original}") == original
    assert store_key_for(store, "bucket", f"patient+media/uploads/{encounter}/../{upload}/original") is None
    assert store_key_for(store, "bucket", f"other/{original}") is None
    assert store_key_for(store, "other-bucket", f"patient+media/{original}") is None

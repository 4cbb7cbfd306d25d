"""Process one `media` row end to end: original from the store → outputs in the store → row updated.

Used by the worker (a claimed job) and the Lambda handler (an S3 event).
It is safe to run twice for the same media: outputs go to fixed keys, a row
already `ready` is left alone, and the final update only applies once. The
original is only ever read. Local copies live in a temporary directory under
`tmp_root` (the worker's own scratch directory, see `scratch.py`) that is
removed whatever happens (patient data must not linger on disk).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Engine, select, update

from processors import failures
from processors.failures import MediaRejected
from processors.ffmpeg_binary import ffmpeg_path
from processors.process_file import process_file
from processors.results import ProcessedMedia
from processors.video import VideoLimits
from shared import audit
from shared.clock import utcnow
from shared.config.settings import Settings
from shared.db.statuses import MediaStatus
from shared.db.tables import media
from shared.storage.base import ObjectNotFound, ObjectStore

log = logging.getLogger("mia.processors.pipeline")

DEADLINE_MARGIN_SECONDS = 60  # left for uploading outputs and updating the row
SPACE_FACTOR = 3  # original + converted video + poster, with room to spare


class MediaNotFound(Exception):
    """No media row for this id or key (yet: in Lambda the event can beat the upload service's insert)."""


class OriginalMissing(Exception):
    """The row names an original the store does not have (transient until proven otherwise)."""


class NotEnoughSpace(Exception):
    """The temporary directory cannot hold the original and its outputs (a deployment fault)."""


class Outcome(StrEnum):
    READY = "ready"
    FAILED = "failed"  # bad input: media marked failed with a reason
    SKIPPED = "skipped"  # already ready, or deleted


@dataclass(frozen=True)
class MediaOutcome:
    outcome: Outcome
    reason: str | None = None  # the clinician's sentence when FAILED


@dataclass(frozen=True)
class ProcessingDeps:
    """What the pipeline needs; deliberately not the whole AppContext (no encryption keys)."""

    engine: Engine
    store: ObjectStore
    ffmpeg: str
    video_timeout_cap: float
    tmp_root: Path | None = None  # the process's own scratch directory; None: the system's (tests only)

    @classmethod
    def from_settings(
        cls, settings: Settings, engine: Engine, store: ObjectStore, tmp_root: Path | None = None
    ) -> ProcessingDeps:
        timeout_cap = float(settings.video_timeout_seconds)
        return cls(engine, store, ffmpeg_path(settings.ffmpeg_binary), timeout_cap, tmp_root)


def derived_key(encounter_id: str, media_id: str, name: str) -> str:
    return f"derived/{encounter_id}/{media_id}/{name}"


def find_media_id_by_original_key(engine: Engine, original_key: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(media.c.id).where(media.c.original_key == original_key)).scalar_one_or_none()


@dataclass(frozen=True)
class MediaToProcess:
    """What the pipeline reads of a `media` row."""

    id: str
    encounter_id: str
    status: str
    deleted_at: dt.datetime | None
    original_key: str
    original_size: int
    original_sha256: str | None


def _load(engine: Engine, media_id: str) -> MediaToProcess | None:
    columns = [media.c[field.name] for field in fields(MediaToProcess)]
    with engine.connect() as conn:
        row = conn.execute(select(*columns).where(media.c.id == media_id)).first()
    return MediaToProcess(**row._mapping) if row is not None else None


def _mark_processing(engine: Engine, media_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(media)
            .where(media.c.id == media_id, media.c.status.in_([MediaStatus.UPLOADED, MediaStatus.FAILED]))
            .values(status=MediaStatus.PROCESSING)
        )


def mark_failed(engine: Engine, media_id: str, reason: str, *, actor_id: str, detail: str = "") -> bool:
    """Record that a media cannot be shown, and why; False if it was already ready or deleted."""
    with engine.begin() as conn:
        row = conn.execute(select(media.c.encounter_id).where(media.c.id == media_id)).first()
        if row is None:
            return False
        result = conn.execute(
            update(media)
            .where(media.c.id == media_id, media.c.status != MediaStatus.READY, media.c.deleted_at.is_(None))
            .values(status=MediaStatus.FAILED, failure_reason=reason[:500], processed_at=utcnow())
        )
        if result.rowcount != 1:
            return False
        audit.record(
            conn,
            "media.processing_failed",
            actor_type=audit.ACTOR_SYSTEM,
            actor_id=actor_id,
            encounter_id=row.encounter_id,
            media_id=media_id,
            detail={"reason": reason},
        )
    log.info("media failed", extra={"media_id": media_id, "reason": reason, "detail": detail[-300:]})
    return True


def _record_ready(
    engine: Engine, row: MediaToProcess, result: ProcessedMedia, keys: dict[str, str], sha256: str, actor_id: str
) -> bool:
    values = dict(
        status=MediaStatus.READY,
        failure_reason=None,
        kind=str(result.kind),
        content_type=result.content_type,
        width=result.width,
        height=result.height,
        duration_seconds=result.duration_seconds,
        video_codec=result.video_codec,
        audio_codec=result.audio_codec,
        display_key=keys["display"],
        display_content_type=result.display.content_type,
        display_size=result.display.size,
        thumbnail_key=keys["thumbnail"],
        thumbnail_size=result.thumbnail.size,
        processed_at=utcnow(),
    )
    if not row.original_sha256:
        values["original_sha256"] = sha256
    if result.acquired_at is not None:
        values["acquired_at"] = result.acquired_at
    with engine.begin() as conn:
        updated = conn.execute(
            update(media)
            .where(media.c.id == row.id, media.c.status != MediaStatus.READY, media.c.deleted_at.is_(None))
            .values(**values)
        )
        if updated.rowcount != 1:
            return False
        audit.record(
            conn,
            "media.processed",
            actor_type=audit.ACTOR_SYSTEM,
            actor_id=actor_id,
            encounter_id=row.encounter_id,
            media_id=row.id,
            detail=result.summary(),
        )
    return True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _video_limits(deps: ProcessingDeps, deadline: float | None) -> VideoLimits:
    if deadline is None:
        return VideoLimits(deps.video_timeout_cap)
    return VideoLimits(deps.video_timeout_cap, max(1.0, deadline - time.monotonic() - DEADLINE_MARGIN_SECONDS))


def _check_space(directory: Path, original_size: int) -> None:
    free = shutil.disk_usage(directory).free
    if free < original_size * SPACE_FACTOR:
        raise NotEnoughSpace(f"{free} bytes free in {directory}, need {original_size * SPACE_FACTOR}")


def _upload_outputs(deps: ProcessingDeps, row: MediaToProcess, result: ProcessedMedia) -> dict[str, str]:
    keys = {}
    for output in (result.display, result.thumbnail):
        key = derived_key(row.encounter_id, row.id, output.path.name)
        deps.store.upload_file(output.path, key, content_type=output.content_type)
        keys[output.role] = key
    return keys


def process_media(
    deps: ProcessingDeps,
    media_id: str,
    *,
    actor_id: str,
    cancel: threading.Event | None = None,
    deadline: float | None = None,
) -> MediaOutcome:
    """Make one media reviewable. Bad input → Outcome.FAILED; anything else raises (retry)."""
    row = _load(deps.engine, media_id)
    if row is None:
        raise MediaNotFound(media_id)
    if row.deleted_at is not None or row.status == MediaStatus.READY:
        return MediaOutcome(Outcome.SKIPPED)
    _mark_processing(deps.engine, media_id)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mia-", dir=deps.tmp_root) as tmp:
        work = Path(tmp)
        _check_space(work, row.original_size)
        original = work / "original"
        try:
            deps.store.download_file(row.original_key, original)
        except ObjectNotFound:
            raise OriginalMissing(row.original_key) from None
        try:
            result = process_file(
                original,
                work / "out",
                ffmpeg=deps.ffmpeg,
                video_limits=_video_limits(deps, deadline),
                cancel=cancel,
            )
        except MediaRejected as rejected:
            mark_failed(deps.engine, media_id, rejected.reason, actor_id=actor_id, detail=rejected.detail)
            return MediaOutcome(Outcome.FAILED, rejected.reason)
        keys = _upload_outputs(deps, row, result)
        summary = result.summary()
        _record_ready(deps.engine, row, result, keys, _sha256(original), actor_id)
    log.info("media ready", extra={"media_id": media_id, "seconds": round(time.monotonic() - started, 3), **summary})
    return MediaOutcome(Outcome.READY)


def failure_reason_for(exc: BaseException) -> str:
    """The clinician's sentence when a transient fault finally exhausts the retries."""
    if isinstance(exc, OriginalMissing):
        return failures.ORIGINAL_MISSING
    return failures.GAVE_UP

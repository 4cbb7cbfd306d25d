"""Media rows as the upload service leaves them: original in the store, `media` row, queued job."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select

from shared.clock import utcnow
from shared.context import AppContext
from shared.db import jobs as queue
from shared.db.statuses import MediaStatus
from shared.db.tables import media
from shared.ids import new_id
from shared.media_types.sniff import SNIFF_BYTES, sniff
from shared.storage.base import ObjectStore
from tests.support.factories import make_clinician, make_encounter

_BY_SUFFIX = {
    ".jpg": ("image", "image/jpeg"),
    ".jpeg": ("image", "image/jpeg"),
    ".png": ("image", "image/png"),
    ".webp": ("image", "image/webp"),
    ".heic": ("image", "image/heic"),
    ".mov": ("video", "video/quicktime"),
    ".mp4": ("video", "video/mp4"),
}


@dataclass(frozen=True)
class Upload:
    media_id: str
    encounter_id: str
    original_key: str


def new_encounter(ctx: AppContext) -> str:
    clinician = make_clinician(ctx, username=f"dr{new_id()[:8]}")
    return make_encounter(ctx, clinician).encounter_id


def add_upload(
    ctx: AppContext, store: ObjectStore, encounter_id: str, path: Path, *, enqueue: bool = True, insert: bool = True
) -> Upload:
    """Store `path` as an original and record it as uploaded (kind as sniffed, else as its name claims)."""
    media_id, upload_id = new_id(), new_id()
    key = f"uploads/{encounter_id}/{upload_id}/original"
    store.upload_file(path, key)
    if insert:
        insert_media_row(ctx, encounter_id, media_id, upload_id, key, path, enqueue=enqueue)
    return Upload(media_id, encounter_id, key)


def insert_media_row(
    ctx: AppContext, encounter_id: str, media_id: str, upload_id: str, key: str, path: Path, *, enqueue: bool = True
) -> None:
    head = path.read_bytes()[:SNIFF_BYTES]
    found = sniff(head)
    kind, content_type = (
        (str(found.kind), found.content_type) if found else _BY_SUFFIX.get(path.suffix.lower(), ("image", "image/jpeg"))
    )
    with ctx.engine.begin() as conn:
        conn.execute(
            media.insert().values(
                id=media_id,
                encounter_id=encounter_id,
                upload_id=upload_id,
                kind=kind,
                content_type=content_type,
                status=MediaStatus.UPLOADED,
                original_key=key,
                original_size=path.stat().st_size,
                original_filename=ctx.cipher.encrypt("media", "original_filename", media_id, path.name),
                created_at=utcnow(),
            )
        )
        if enqueue:
            queue.enqueue(conn, "process_media", media_id=media_id, dedupe_key=f"media:{media_id}")


def media_row(engine: Engine, media_id: str):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(media).where(media.c.id == media_id)).one()

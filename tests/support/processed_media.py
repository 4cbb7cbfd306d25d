"""Processed media for the portal's tests, made by the real processing pipeline.

Each helper stores an original shaped like what a phone sends (a photo
stored sideways with EXIF orientation 6, GPS and a camera model; an iPhone
HEVC MOV held portrait with location metadata and a data track), inserts the
`media` row the upload service would insert (status `uploaded`), and runs
`processors.media_pipeline.process_media` on it: what the portal then shows is
exactly what the processors produce (display JPEG or H.264 MP4, thumbnail or
poster, dimensions as displayed, no location anywhere).
"""

from __future__ import annotations

import io
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter
from sqlalchemy import select

from processors.media_pipeline import Outcome, ProcessingDeps, process_media
from shared.context import AppContext
from shared.db.statuses import MediaKind, MediaStatus
from shared.db.tables import media
from shared.ids import new_id
from tests.support.media_samples import gps_exif, hevc_mov
from tests.support.submissions import add_media, original_key


@dataclass(frozen=True)
class StoredMedium:
    media_id: str
    original_key: str
    display_key: str | None
    thumbnail_key: str | None
    width: int | None
    height: int | None


def photo_jpeg(width: int, height: int, seed: int = 1, quality: int = 88) -> bytes:
    """A skin-toned photo with a red, blotchy patch and a measuring scale: something to look at."""
    image = Image.new("RGB", (width, height), (224, 178, 150))
    draw = ImageDraw.Draw(image)
    for y in range(0, height, 4):  # soft daylight gradient
        shade = int(18 * y / height)
        draw.line([(0, y), (width, y)], fill=(232 - shade, 186 - shade, 158 - shade), width=4)
    centre_x, centre_y = width * (0.35 + 0.1 * (seed % 3)), height * 0.5
    for ring in range(9):
        radius = min(width, height) * (0.28 - ring * 0.025)
        wobble = 1 + 0.15 * math.sin(seed + ring)
        box = [centre_x - radius * wobble, centre_y - radius, centre_x + radius, centre_y + radius * wobble]
        draw.ellipse(box, fill=(200 - ring * 4, 90 + ring * 6, 90 + ring * 5))
    image = image.filter(ImageFilter.GaussianBlur(radius=max(width, height) / 400))
    draw = ImageDraw.Draw(image)
    ruler_y = int(height * 0.88)
    draw.rectangle([int(width * 0.1), ruler_y, int(width * 0.6), ruler_y + height // 40], fill=(250, 250, 245))
    for tick in range(11):
        x = int(width * 0.1 + tick * width * 0.05)
        draw.line([(x, ruler_y), (x, ruler_y + height // 60)], fill=(30, 30, 30), width=max(1, width // 600))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def phone_photo(width: int, height: int, seed: int = 1) -> bytes:
    """`photo_jpeg` as a phone stores a portrait shot: pixels sideways, EXIF orientation 6, GPS."""
    with Image.open(io.BytesIO(photo_jpeg(width, height, seed)), formats=["JPEG"]) as upright:
        stored = upright.rotate(90, expand=True)  # orientation 6 turns it back clockwise
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", quality=90, exif=gps_exif(6).tobytes())
    return buffer.getvalue()


def _process(ctx: AppContext, media_id: str) -> StoredMedium:
    deps = ProcessingDeps.from_settings(ctx.settings, ctx.engine, ctx.store)
    outcome = process_media(deps, media_id, actor_id="test-processor")
    assert outcome.outcome == Outcome.READY, outcome
    with ctx.engine.connect() as conn:
        row = conn.execute(select(media).where(media.c.id == media_id)).one()
    return StoredMedium(media_id, row.original_key, row.display_key, row.thumbnail_key, row.width, row.height)


def _store_original(
    ctx: AppContext, encounter_id: str, data: bytes, *, kind: str, content_type: str, note: str | None, filename: str
) -> str:
    media_id, upload_id = new_id(), new_id()
    ctx.store.put(original_key(encounter_id, upload_id), data)
    add_media(
        ctx,
        encounter_id,
        media_id=media_id,
        upload_id=upload_id,
        kind=kind,
        content_type=content_type,
        status=MediaStatus.UPLOADED,
        original_size=len(data),
        note=note,
        original_filename=filename,
    )
    return media_id


def store_photo(
    ctx: AppContext,
    encounter_id: str,
    *,
    width: int,
    height: int,
    seed: int = 1,
    note: str | None = None,
    filename: str = "IMG_0001.JPG",
) -> StoredMedium:
    """A processed photo displayed at width × height."""
    original = phone_photo(width, height, seed)
    media_id = _store_original(
        ctx, encounter_id, original, kind=MediaKind.IMAGE, content_type="image/jpeg", note=note, filename=filename
    )
    return _process(ctx, media_id)


def store_video(
    ctx: AppContext,
    encounter_id: str,
    *,
    width: int = 640,
    height: int = 360,
    seconds: float = 3.0,
    note: str | None = None,
    filename: str = "IMG_0002.MOV",
) -> StoredMedium:
    """A processed iPhone HEVC video displayed at width × height (stored turned, with a rotation matrix)."""
    with tempfile.TemporaryDirectory() as scratch:
        source = hevc_mov(Path(scratch), size=f"{height}x{width}", seconds=max(1, math.ceil(seconds)), rotation=-90)
        original = source.read_bytes()
    media_id = _store_original(
        ctx, encounter_id, original, kind=MediaKind.VIDEO, content_type="video/quicktime", note=note, filename=filename
    )
    return _process(ctx, media_id)


def store_unprocessed(
    ctx: AppContext, encounter_id: str, *, failure_reason: str | None = None, note: str | None = None
) -> StoredMedium:
    """A file still being processed, or (with a reason) one the processors could not read."""
    media_id, upload_id = new_id(), new_id()
    source = original_key(encounter_id, upload_id)
    payload = b"\x00\x00\x00\x18ftypqt  " + bytes(2000)
    ctx.store.put(source, payload, content_type="video/quicktime")
    add_media(
        ctx,
        encounter_id,
        media_id=media_id,
        upload_id=upload_id,
        kind=MediaKind.VIDEO,
        content_type="video/quicktime",
        status=MediaStatus.FAILED if failure_reason else MediaStatus.PROCESSING,
        original_size=len(payload),
        failure_reason=failure_reason,
        note=note,
        original_filename="IMG_0003.MOV",
    )
    return StoredMedium(media_id, source, None, None, None, None)

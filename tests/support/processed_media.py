"""Processed media for the portal's tests, made here with Pillow and ffmpeg.

The processors (issue 4) are built in parallel and are not on this branch.
This helper writes what they will write, following the cross-component
contract: the original at `uploads/{encounter}/{upload}/original`, a JPEG
display copy at `derived/{encounter}/{media}/display.jpg`, a ~480 px
thumbnail at `.../thumb.jpg`, for videos an H.264/AAC MP4 with `+faststart`
at `.../video.mp4` and a poster at `.../poster.jpg`, and a `media` row with
width, height, duration, sizes, keys and status `ready` (or `failed` with a
reason a clinician can read). Real bytes, real ffmpeg (imageio-ffmpeg's
static binary), a real object store.

The lead will switch this helper to the real processing pipeline
(`processors`) after merging issue 4, so these tests then show what the
processors actually produce.
"""

from __future__ import annotations

import io
import math
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
from PIL import Image, ImageDraw, ImageFilter

from shared.context import AppContext
from shared.db.statuses import MediaKind, MediaStatus
from shared.ids import new_id
from tests.support.submissions import add_media, original_key

THUMBNAIL_EDGE = 480


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


def thumbnail_jpeg(jpeg: bytes, edge: int = THUMBNAIL_EDGE) -> bytes:
    with Image.open(io.BytesIO(jpeg), formats=["JPEG"]) as image:
        image.thumbnail((edge, edge))
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=82)
    return buffer.getvalue()


def _ffmpeg(*args: str) -> None:
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args]
    subprocess.run(command, check=True, timeout=120, capture_output=True)


def h264_video(width: int, height: int, seconds: float) -> tuple[bytes, bytes]:
    """An H.264/AAC MP4 (faststart) and its poster JPEG, both from ffmpeg."""
    with tempfile.TemporaryDirectory() as scratch:
        video, poster = Path(scratch) / "video.mp4", Path(scratch) / "poster.jpg"
        _ffmpeg(
            "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=44100",
            "-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-profile:v", "main",
            "-c:a", "aac", "-b:a", "96k", "-shortest", "-movflags", "+faststart", str(video),
        )  # fmt: skip
        _ffmpeg("-ss", "0.5", "-i", str(video), "-frames:v", "1", "-q:v", "3", str(poster))
        return video.read_bytes(), poster.read_bytes()


def store_photo(
    ctx: AppContext,
    encounter_id: str,
    *,
    width: int,
    height: int,
    seed: int = 1,
    note: str | None = None,
    filename: str = "IMG_0001.HEIC",
) -> StoredMedium:
    media_id, upload_id = new_id(), new_id()
    display = photo_jpeg(width, height, seed)
    thumbnail = thumbnail_jpeg(display)
    source = original_key(encounter_id, upload_id)
    display_key = f"derived/{encounter_id}/{media_id}/display.jpg"
    thumbnail_key = f"derived/{encounter_id}/{media_id}/thumb.jpg"
    ctx.store.put(source, display, content_type="image/jpeg")
    ctx.store.put(display_key, display, content_type="image/jpeg")
    ctx.store.put(thumbnail_key, thumbnail, content_type="image/jpeg")
    add_media(
        ctx,
        encounter_id,
        media_id=media_id,
        upload_id=upload_id,
        kind=MediaKind.IMAGE,
        content_type="image/jpeg",
        original_size=len(display),
        width=width,
        height=height,
        display_key=display_key,
        display_content_type="image/jpeg",
        display_size=len(display),
        thumbnail_key=thumbnail_key,
        thumbnail_size=len(thumbnail),
        note=note,
        original_filename=filename,
    )
    return StoredMedium(media_id, source, display_key, thumbnail_key, width, height)


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
    media_id, upload_id = new_id(), new_id()
    video, poster = h264_video(width, height, seconds)
    source = original_key(encounter_id, upload_id)
    video_key = f"derived/{encounter_id}/{media_id}/video.mp4"
    poster_key = f"derived/{encounter_id}/{media_id}/poster.jpg"
    ctx.store.put(source, video, content_type="video/mp4")
    ctx.store.put(video_key, video, content_type="video/mp4")
    ctx.store.put(poster_key, poster, content_type="image/jpeg")
    add_media(
        ctx,
        encounter_id,
        media_id=media_id,
        upload_id=upload_id,
        kind=MediaKind.VIDEO,
        content_type="video/mp4",
        original_size=len(video),
        width=width,
        height=height,
        duration_seconds=seconds,
        display_key=video_key,
        display_content_type="video/mp4",
        display_size=len(video),
        thumbnail_key=poster_key,
        thumbnail_size=len(poster),
        note=note,
        original_filename=filename,
    )
    return StoredMedium(media_id, source, video_key, poster_key, width, height)


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

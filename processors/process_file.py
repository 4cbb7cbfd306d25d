"""One local file in, reviewable outputs out: sniff the real type, then the image or video pipeline.

Shared by the media pipeline (worker and Lambda) and the operators' CLI, so
a file checked by hand is handled exactly as an upload would be.
"""

from __future__ import annotations

import threading
from pathlib import Path

from processors import failures
from processors.failures import MediaRejected
from processors.images import process_image
from processors.results import ProcessedMedia
from processors.video import VideoLimits, process_video
from shared.db.statuses import MediaKind
from shared.media_types.sniff import SNIFF_BYTES, FileType, sniff


def sniff_file(path: Path) -> FileType:
    """The file's real type from its first bytes; MediaRejected when empty or not allowed."""
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head:
        raise MediaRejected(failures.EMPTY, "zero bytes")
    file_type = sniff(head)
    if file_type is None:
        raise MediaRejected(failures.UNSUPPORTED, f"first bytes {head[:16]!r}")
    return file_type


def process_file(
    path: Path,
    out_dir: Path,
    *,
    ffmpeg: str,
    video_limits: VideoLimits,
    cancel: threading.Event | None = None,
) -> ProcessedMedia:
    """Process `path` into `out_dir`; raises MediaRejected (with a clinician's reason) for bad input."""
    file_type = sniff_file(path)
    out_dir.mkdir(parents=True, exist_ok=True)
    if file_type.kind == MediaKind.IMAGE:
        return process_image(path, file_type, out_dir)
    return process_video(ffmpeg, path, file_type, out_dir, video_limits, cancel=cancel)

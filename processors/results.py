"""What processing one file produces (shared by the pipelines, the worker, Lambda and the CLI)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.db.statuses import MediaKind

DISPLAY_IMAGE = "display.jpg"
THUMBNAIL_IMAGE = "thumb.jpg"
DISPLAY_VIDEO = "video.mp4"
POSTER_IMAGE = "poster.jpg"


@dataclass(frozen=True)
class OutputFile:
    role: str  # "display" or "thumbnail"
    path: Path
    content_type: str

    @property
    def size(self) -> int:
        return self.path.stat().st_size


@dataclass(frozen=True)
class ProcessedMedia:
    kind: MediaKind
    content_type: str  # of the original, as sniffed
    width: int  # as displayed (orientation applied)
    height: int
    display: OutputFile
    thumbnail: OutputFile
    duration_seconds: float | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    method: str = "image"  # image | remux | transcode
    acquired_at: dt.datetime | None = None  # when it was taken (naive UTC), from the original's metadata
    notes: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Non-identifying facts for logs, audit details and the CLI."""
        return {
            "kind": str(self.kind),
            "content_type": self.content_type,
            "width": self.width,
            "height": self.height,
            "duration_seconds": self.duration_seconds,
            "video_codec": self.video_codec,
            "audio_codec": self.audio_codec,
            "method": self.method,
            "display_size": self.display.size,
            "thumbnail_size": self.thumbnail.size,
        }

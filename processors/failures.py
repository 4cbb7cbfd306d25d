"""Why a file could not be prepared, in sentences a clinician can read.

Two kinds of failure, because they are handled differently:
- `MediaRejected`: the file itself is the problem (empty, not a photo or
  video, corrupt, too large). Retrying cannot help; the media is marked
  `failed` at once with `reason` stored in `media.failure_reason`.
- anything else (storage or database unavailable, the process stopped):
  transient; the job is retried with backoff, and only when the attempts run
  out is the media marked `failed` with `GAVE_UP`.
"""

from __future__ import annotations

EMPTY = "The file is empty (0 bytes), so there is nothing to show; ask the patient to send it again."
UNSUPPORTED = (
    "The file is not a photo or video MIA can show: its contents are not JPEG, PNG, WebP, HEIC, MOV, MP4 or 3GP."
)
IMAGE_UNREADABLE = "The file is not a valid photo (it could not be read)."
IMAGE_TRUNCATED = "The photo is incomplete (the file ends early); ask the patient to send it again."
IMAGE_TOO_LARGE = "The photo is too large to prepare safely (more than {megapixels} megapixels)."
VIDEO_UNREADABLE = "The file is not a valid video (it could not be read)."
VIDEO_NO_PICTURE = "The file has no video picture (it may be a sound recording only)."
VIDEO_TOO_LARGE = "The video picture is too large to prepare (more than {width} × {height} pixels)."
VIDEO_TIMEOUT = "The video took too long to prepare (more than {minutes} minutes) and was stopped."
VIDEO_FAILED = "The video could not be converted for viewing (it may be damaged)."
ORIGINAL_MISSING = "The uploaded file could not be found in storage."
GAVE_UP = "The file could not be prepared because of a fault that persisted over several attempts."


class MediaRejected(Exception):
    """The file cannot be made reviewable; `reason` is for the clinician."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail  # technical detail for the logs (never patient data)


class ProcessingCancelled(Exception):
    """Processing was stopped from outside (shutdown, or the job was taken over)."""


class ProcessingTimeout(Exception):
    """A step ran past its time limit."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"stopped after {seconds:.0f} s")
        self.seconds = seconds

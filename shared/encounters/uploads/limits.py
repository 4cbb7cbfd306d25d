"""What a patient may upload, and the refusals they see (in words they understand).

Every refusal carries an HTTP status, a short machine code (sent as the
`X-MIA-Refusal` header so the page can react) and a sentence for the patient.
The file's kind is decided from its first bytes (processors.sniff), never
from its name or the browser's word.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.config.settings import GIB, MIB, Settings
from shared.db.statuses import MediaKind
from shared.media_types.sniff import FileType


def format_size(size: int) -> str:
    """'50 MB', '1.5 GB': the units a phone shows."""
    if size >= GIB:
        value, unit = size / GIB, "GB"
    elif size >= MIB:
        value, unit = size / MIB, "MB"
    else:
        value, unit = max(size, 0) / 1024, "KB"
    text = f"{value:.1f}".removesuffix(".0")
    return f"{text} {unit}"


class Refusal(Exception):
    """A request the service turns down; `message` is shown to the patient as it is.

    `retry_after` (seconds) goes out as the Retry-After header: the same request may work then.
    """

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


ACCEPTED_TYPES_TEXT = "photos (JPEG, PNG, HEIC or WebP) and videos (MOV, MP4 or 3GP)"


def link_expired() -> Refusal:
    return Refusal(410, "link_expired", "This link has expired. Ask your care team to send you a new link.")


def already_sent() -> Refusal:
    return Refusal(
        403,
        "already_sent",
        "You have already sent your photos and videos to your care team, so this link cannot add more. "
        "If you need to send something else, ask your care team for a new link.",
    )


def session_ended() -> Refusal:
    return Refusal(
        401,
        "session_ended",
        "For your security you have been signed out. Open the link from your care team again to carry on.",
    )


def consent_needed() -> Refusal:
    return Refusal(403, "consent_needed", "Please answer the consent questions before adding photos or videos.")


def form_expired() -> Refusal:
    return Refusal(403, "form_expired", "This page was open for too long. Go back, reload the page and try again.")


def not_found() -> Refusal:
    return Refusal(404, "not_found", "We could not find that file. It may have been removed.")


def upload_busy() -> Refusal:
    return Refusal(423, "busy", "This file is still being sent from another tab or device. Please wait a moment.")


# How long a client is asked to wait while the database or the object store is down (tus clients retry anyway).
RETRY_AFTER_OUTAGE = 30


def service_unavailable() -> Refusal:
    """The database or the object store is down: nothing the patient did, and nothing already sent is lost."""
    return Refusal(
        503,
        "unavailable",
        "Sorry, we cannot do this just now. Please try again in a few minutes: anything you have already "
        "sent is safe, and files being sent will carry on by themselves.",
        retry_after=RETRY_AFTER_OUTAGE,
    )


def lock_lost() -> Refusal:
    return Refusal(423, "lock_lost", "This upload was interrupted; it will resume by itself.")


def empty_file() -> Refusal:
    return Refusal(400, "empty_file", "This file is empty, so there is nothing to send. Choose another file.")


def not_media() -> Refusal:
    return Refusal(
        415,
        "not_photo_or_video",
        f"This file is not a photo or video we can accept. You can send {ACCEPTED_TYPES_TEXT}.",
    )


@dataclass(frozen=True)
class UploadLimits:
    max_image_bytes: int
    max_video_bytes: int
    max_files: int
    max_total_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        return cls(
            max_image_bytes=settings.max_image_bytes,
            max_video_bytes=settings.max_video_bytes,
            max_files=settings.max_files_per_encounter,
            max_total_bytes=settings.max_encounter_bytes,
        )

    @property
    def max_file_bytes(self) -> int:
        """Tus-Max-Size: the largest file of any kind (the kind is known only once bytes arrive)."""
        return min(max(self.max_image_bytes, self.max_video_bytes), self.max_total_bytes)

    def check_new_file(self, length: int, files_so_far: int, bytes_so_far: int) -> None:
        """Before any byte arrives: the declared length against the per-file and per-request limits."""
        if length <= 0:
            raise empty_file()
        if length > self.max_file_bytes:
            raise Refusal(
                413,
                "too_big",
                f"This file is too big to send ({format_size(length)}). The largest video you can send is "
                f"{format_size(self.max_video_bytes)} and the largest photo {format_size(self.max_image_bytes)}. "
                "Try a shorter video clip.",
            )
        if files_so_far >= self.max_files:
            raise Refusal(
                403,
                "too_many_files",
                f"You have already added {files_so_far} files, the most you can send with this link. "
                "Remove one to add another.",
            )
        if bytes_so_far + length > self.max_total_bytes:
            raise Refusal(
                413,
                "request_too_big",
                f"Your files would add up to more than {format_size(self.max_total_bytes)}, the most you can send "
                "with this link. Remove a file to make room for this one.",
            )

    def check_type(self, file_type: FileType | None, length: int) -> FileType:
        """Once the first bytes are in: an allowed type, and the size limit for its kind."""
        if file_type is None:
            raise not_media()
        if file_type.kind == MediaKind.IMAGE and length > self.max_image_bytes:
            raise Refusal(
                413,
                "too_big",
                f"This photo is too big to send ({format_size(length)}). "
                f"The largest photo you can send is {format_size(self.max_image_bytes)}.",
            )
        if file_type.kind == MediaKind.VIDEO and length > self.max_video_bytes:
            raise Refusal(
                413,
                "too_big",
                f"This video is too big to send ({format_size(length)}). The largest video you can send is "
                f"{format_size(self.max_video_bytes)}. Try recording a shorter clip.",
            )
        return file_type

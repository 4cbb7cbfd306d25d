"""What the upload service says when it turns a request down: an HTTP status, a code and a sentence.

The encounter rules raise domain errors (`shared.encounters.errors`) with a
code; this module alone decides the status and the words a patient reads.
Every refusal carries its code too (sent as the `X-MIA-Refusal` header, so
the upload page can react). Refusals that only the web layer knows (signed
out, form expired, a dependency down) are made here as well.
"""

from __future__ import annotations

from shared.config.settings import GIB, MIB
from shared.db.statuses import MediaKind
from shared.encounters import errors
from shared.encounters.uploads.limits import UploadLimits

# tus's checksum extension answers a digest mismatch with this (not a registered HTTP status).
CHECKSUM_MISMATCH = 460
# How long a client is asked to wait while the database or the object store is down (tus clients retry anyway).
RETRY_AFTER_OUTAGE = 30
ACCEPTED_TYPES_TEXT = "photos (JPEG, PNG, HEIC or WebP) and videos (MOV, MP4 or 3GP)"


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


def _too_big(error: errors.FileTooBig, limits: UploadLimits) -> str:
    size, photo, video = (format_size(n) for n in (error.length, limits.max_image_bytes, limits.max_video_bytes))
    if error.kind == MediaKind.IMAGE:
        return f"This photo is too big to send ({size}). The largest photo you can send is {photo}."
    if error.kind == MediaKind.VIDEO:
        return (
            f"This video is too big to send ({size}). The largest video you can send is {video}. "
            "Try recording a shorter clip."
        )
    return (
        f"This file is too big to send ({size}). The largest video you can send is {video} and the largest "
        f"photo {photo}. Try a shorter video clip."
    )


# code -> HTTP status
_STATUSES: dict[str, int] = {
    errors.LinkExpired.code: 410,
    errors.AlreadySent.code: 403,
    errors.ConsentNeeded.code: 403,
    errors.StillUploading.code: 409,
    errors.NothingToSend.code: 409,
    errors.UploadNotFound.code: 404,
    errors.UploadGone.code: 410,
    errors.UploadBusy.code: 423,
    errors.LockLost.code: 423,
    errors.OffsetMismatch.code: 409,
    errors.BodyTooLong.code: 413,
    errors.ChecksumMismatch.code: CHECKSUM_MISMATCH,
    errors.UploadProtocolError.code: 400,
    errors.EmptyFile.code: 400,
    errors.NotMedia.code: 415,
    errors.FileTooBig.code: 413,
    errors.TooManyFiles.code: 403,
    errors.RequestTooBig.code: 413,
}
# code -> the patient's words, where they do not depend on the error's details
_WORDS: dict[str, str] = {
    errors.LinkExpired.code: "This link has expired. Ask your care team to send you a new link.",
    errors.AlreadySent.code: (
        "You have already sent your photos and videos to your care team, so this link cannot add more. "
        "If you need to send something else, ask your care team for a new link."
    ),
    errors.ConsentNeeded.code: "Please answer the consent questions before adding photos or videos.",
    errors.StillUploading.code: ("A file is still being uploaded. Wait until every file shows as uploaded, then send."),
    errors.NothingToSend.code: "Add at least one photo or video before you send.",
    errors.UploadNotFound.code: "We could not find that file. It may have been removed.",
    errors.UploadGone.code: "This upload was not finished in time. Choose the file again to start over.",
    errors.UploadBusy.code: "This file is still being sent from another tab or device. Please wait a moment.",
    errors.LockLost.code: "This upload was interrupted; it will resume by itself.",
    errors.OffsetMismatch.code: "The upload had moved on; it will carry on from where it got to.",
    errors.BodyTooLong.code: "The request carried more bytes than the upload declared.",
    errors.ChecksumMismatch.code: "The chunk did not match its checksum; send it again.",
    errors.EmptyFile.code: "This file is empty, so there is nothing to send. Choose another file.",
    errors.NotMedia.code: f"This file is not a photo or video we can accept. You can send {ACCEPTED_TYPES_TEXT}.",
}
GENERAL = "Sorry, we could not do that."


def _words(error: errors.EncounterError, limits: UploadLimits) -> str:
    if isinstance(error, errors.FileTooBig):
        return _too_big(error, limits)
    if isinstance(error, errors.TooManyFiles):
        return (
            f"You have already added {error.files_so_far} files, the most you can send with this link. "
            "Remove one to add another."
        )
    if isinstance(error, errors.RequestTooBig):
        return (
            f"Your files would add up to more than {format_size(limits.max_total_bytes)}, the most you can send "
            "with this link. Remove a file to make room for this one."
        )
    if isinstance(error, errors.UploadProtocolError):
        return str(error)
    return _WORDS.get(error.code, GENERAL)


def refusal_for(error: errors.EncounterError, limits: UploadLimits) -> Refusal:
    """The status, code and words for a domain error (one this table does not know is a 403, said generally)."""
    return Refusal(_STATUSES.get(error.code, 403), error.code, _words(error, limits))


def session_ended() -> Refusal:
    return Refusal(
        401,
        "session_ended",
        "For your security you have been signed out. Open the link from your care team again to carry on.",
    )


def form_expired() -> Refusal:
    return Refusal(403, "form_expired", "This page was open for too long. Go back, reload the page and try again.")


def bad_note() -> Refusal:
    return Refusal(400, "bad_note", "We could not save that note. Keep it under 500 characters.")


def service_unavailable() -> Refusal:
    """The database or the object store is down: nothing the patient did, and nothing already sent is lost."""
    return Refusal(
        503,
        "unavailable",
        "Sorry, we cannot do this just now. Please try again in a few minutes: anything you have already "
        "sent is safe, and files being sent will carry on by themselves.",
        retry_after=RETRY_AFTER_OUTAGE,
    )

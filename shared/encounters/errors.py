"""What the encounter rules refuse, as domain errors: a class per reason, a `code` per class.

The rules raise these; they never choose an HTTP status or a patient's
words. The upload service maps each code to a status and a sentence for the
patient (`patient_upload/refusals.py`); the portal shows a clinician the
error's own text (`portal_ui.feedback`), which is written for staff.
"""

from __future__ import annotations

from typing import ClassVar


class EncounterError(Exception):
    """An action is not possible in the encounter's current state (message is for staff)."""

    code: ClassVar[str] = "not_allowed"


class ReviewError(EncounterError):
    """A review action (mark reviewed, delete) is not possible (message is for staff)."""


# -- the patient's link and journey ---------------------------------------------------------------


class LinkExpired(EncounterError):
    code = "link_expired"

    def __init__(self) -> None:
        super().__init__("The patient link has expired or the encounter was withdrawn.")


class AlreadySent(EncounterError):
    code = "already_sent"

    def __init__(self) -> None:
        super().__init__("The patient has already sent their photos and videos.")


class ConsentNeeded(EncounterError):
    code = "consent_needed"

    def __init__(self) -> None:
        super().__init__("The required consent questions have not been answered yes.")


class StillUploading(EncounterError):
    code = "still_uploading"

    def __init__(self) -> None:
        super().__init__("A file is still being uploaded.")


class NothingToSend(EncounterError):
    code = "nothing_to_send"

    def __init__(self) -> None:
        super().__init__("No finished photo or video to send.")


# -- one upload ------------------------------------------------------------------------------------


class UploadNotFound(EncounterError):
    """No such upload for this patient session (another session's upload does not exist for it)."""

    code = "not_found"

    def __init__(self) -> None:
        super().__init__("No such upload.")


class UploadGone(EncounterError):
    code = "upload_expired"

    def __init__(self) -> None:
        super().__init__("The upload was not finished in time and has been discarded.")


class UploadBusy(EncounterError):
    code = "busy"

    def __init__(self) -> None:
        super().__init__("Another request is writing this upload.")


class LockLost(EncounterError):
    """The writer's lease may have passed to another process: it stopped writing."""

    code = "lock_lost"

    def __init__(self) -> None:
        super().__init__("The upload's lock may have been taken over; nothing more was written.")


class OffsetMismatch(EncounterError):
    code = "offset_mismatch"

    def __init__(self, expected: int, given: int) -> None:
        super().__init__(f"The upload is at offset {expected}, the request named {given}.")
        self.expected = expected
        self.given = given


class BodyTooLong(EncounterError):
    code = "body_too_long"

    def __init__(self) -> None:
        super().__init__("The request carried more bytes than the upload declared.")


class ChecksumMismatch(EncounterError):
    code = "checksum_mismatch"

    def __init__(self) -> None:
        super().__init__("The chunk did not match its checksum.")


class UploadProtocolError(EncounterError):
    """A request the upload rules cannot follow (the message says which rule)."""

    code = "bad_request"


class EmptyFile(EncounterError):
    code = "empty_file"

    def __init__(self) -> None:
        super().__init__("The file is empty.")


class NotMedia(EncounterError):
    code = "not_photo_or_video"

    def __init__(self) -> None:
        super().__init__("The file is not an accepted photo or video.")


class FileTooBig(EncounterError):
    """Bigger than the limit: for any file (`kind` None, before its type is known) or for its kind."""

    code = "too_big"

    def __init__(self, length: int, kind: str | None) -> None:
        super().__init__(f"The file ({length} bytes) is over the limit for {kind or 'any file'}.")
        self.length = length
        self.kind = kind


class TooManyFiles(EncounterError):
    code = "too_many_files"

    def __init__(self, files_so_far: int) -> None:
        super().__init__(f"The request already holds {files_so_far} files, the most allowed.")
        self.files_so_far = files_so_far


class RequestTooBig(EncounterError):
    code = "request_too_big"

    def __init__(self) -> None:
        super().__init__("The files would add up to more than a request may hold.")

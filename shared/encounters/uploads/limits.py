"""What a patient may upload: file size per kind, files and bytes per request.

The kind is decided from the file's first bytes (`shared.media_types.sniff`),
never from its name or the browser's word. Breaking a limit raises a domain
error naming it; the upload service chooses the patient's words.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.config.settings import Settings
from shared.db.statuses import MediaKind
from shared.encounters.errors import EmptyFile, FileTooBig, NotMedia, RequestTooBig, TooManyFiles
from shared.media_types.sniff import FileType


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
            raise EmptyFile()
        if length > self.max_file_bytes:
            raise FileTooBig(length, kind=None)
        if files_so_far >= self.max_files:
            raise TooManyFiles(files_so_far)
        if bytes_so_far + length > self.max_total_bytes:
            raise RequestTooBig()

    def check_type(self, file_type: FileType | None, length: int) -> FileType:
        """Once the first bytes are in: an allowed type, and the size limit for its kind."""
        if file_type is None:
            raise NotMedia()
        limit = self.max_image_bytes if file_type.kind == MediaKind.IMAGE else self.max_video_bytes
        if length > limit:
            raise FileTooBig(length, kind=file_type.kind)
        return file_type

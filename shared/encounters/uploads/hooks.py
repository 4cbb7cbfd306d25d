"""The `UploadHooks` port as MIA's rules: an upload's type against the limits, and a finished upload becoming media."""

from __future__ import annotations

from dataclasses import dataclass

from shared.context import AppContext
from shared.encounters.errors import EncounterError
from shared.encounters.uploads import records
from shared.encounters.uploads.limits import UploadLimits
from shared.encounters.uploads.records import Upload
from shared.media_types.sniff import FileType, sniff


@dataclass(frozen=True)
class EncounterHooks:
    ctx: AppContext
    limits: UploadLimits

    def type_known(self, upload: Upload, head: bytes, remote_addr: str | None) -> FileType:
        """Sniffed, checked against the limit for its kind and recorded; a refusal is recorded, then raised."""
        try:
            file_type = self.limits.check_type(sniff(head), upload.length)
        except EncounterError as refusal:
            records.mark_refused(self.ctx, upload, refusal, remote_addr)
            raise
        records.record_type(self.ctx.engine, upload.id, file_type)
        return file_type

    def upload_complete(self, upload: Upload, remote_addr: str | None) -> str:
        return records.complete(self.ctx, upload.id, remote_addr)

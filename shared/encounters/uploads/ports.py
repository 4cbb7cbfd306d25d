"""What the tus service needs from the world, as three small protocols (tusd's DataStore / Locker / hooks).

The service (`service.py`) depends on these and on nothing of HTTP: the
object store it appends to, the lock that keeps one writer per upload, and
the hooks through which MIA's rules react to an upload (its type becomes
known; it is complete). `shared.storage.async_store.AsyncStore`,
`records.DatabaseLocker` and `hooks.EncounterHooks` are the implementations.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from shared.encounters.uploads.records import Upload
from shared.media_types.sniff import FileType
from shared.storage.async_store import AsyncAppender
from shared.storage.base import Listing


class ResumableStore(Protocol):
    """Where an upload's bytes go: resumable objects appended to, finished or aborted, and removed again."""

    async def create_resumable(self, key: str) -> str: ...

    async def resumable_offset(self, key: str, ref: str) -> int: ...

    async def open_appender(self, key: str, ref: str, offset: int) -> AsyncAppender: ...

    async def finish_resumable(self, key: str, ref: str) -> None: ...

    async def abort_resumable(self, key: str, ref: str) -> None: ...

    async def exists(self, key: str) -> bool: ...

    async def size(self, key: str) -> int: ...

    async def list(self, prefix: str = "") -> Listing: ...

    async def delete(self, key: str) -> None: ...


class Locker(Protocol):
    """One writer per upload across processes, held by a lease that a crashed holder lets run out."""

    def acquire(
        self,
        upload_id: str,
        session_id: str,
        *,
        token: str,
        until: dt.datetime,
        expires_at: dt.datetime | None,
        encounter_must_take_files: bool = True,
    ) -> Upload:
        """The upload, locked for `token` (unlocked when already complete); raises the domain error that says
        why not. `expires_at` slides the upload's expiry in the same statement."""
        ...

    def renew(self, upload_id: str, token: str, until: dt.datetime) -> bool: ...

    def release(self, upload_id: str, token: str, offset: int | None) -> None: ...


class UploadHooks(Protocol):
    """MIA's rules, called by the service at the two moments they matter."""

    def type_known(self, upload: Upload, head: bytes, remote_addr: str | None) -> FileType:
        """The upload's real type from its first bytes, recorded; raises a domain error (after recording the
        refusal) for a type or size that can never be accepted."""
        ...

    def upload_complete(self, upload: Upload, remote_addr: str | None) -> str:
        """Every byte is stored: the upload becomes a media row and a processing job; returns the media id."""
        ...

"""The tus service: a patient's resumable uploads created, inspected, written and removed, knowing nothing of HTTP.

One direction: the HTTP adapter (`patient_upload/tus`) parses a request and
calls this service; the service takes the upload's lock (`locking`), appends
to the store and tells the hooks (`ports`); the lock and the hooks talk to
the database. Nothing is handed down to be called back.

A write (a tus PATCH) is one lock statement that also slides the upload's
expiry, one opening of the store's appender (which checks the offset against
what the store holds: the store, not the database, is the truth), the body
streamed through, and one statement that frees the lock and records how far
the upload got. The body is never held whole in memory and is cut at the
declared length. Until an upload's type is known its first bytes are held
back and sniffed; a type that is not allowed is refused before anything is
written. Without a checksum, what arrived is kept even when the client
vanishes mid-body; with one, the body is spooled first so that a mismatch
writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from shared.clock import utcnow
from shared.context import AppContext
from shared.db.statuses import UploadStatus
from shared.encounters.errors import (
    BodyTooLong,
    ChecksumMismatch,
    EncounterError,
    OffsetMismatch,
    UploadGone,
    UploadNotFound,
    UploadProtocolError,
)
from shared.encounters.uploads import records
from shared.encounters.uploads.limits import UploadLimits
from shared.encounters.uploads.locking import HeldLock, upload_lock
from shared.encounters.uploads.ports import Locker, ResumableStore, UploadHooks
from shared.encounters.uploads.records import Upload
from shared.encounters.uploads.write_behind import Guard, WriteBehind, commit_while_held
from shared.ids import new_id
from shared.logging.json_lines import get_logger
from shared.media_types.sniff import SNIFF_BYTES, FileType
from shared.storage.async_store import AsyncAppender
from shared.storage.base import ObjectNotFound, StorageError
from shared.storage.base import OffsetMismatch as StoreOffsetMismatch

log = get_logger(__name__)

SPOOL_BLOCK = 1024 * 1024
DIGESTS: dict[str, Callable[[], Any]] = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}


class BodyInterrupted(Exception):
    """The client stopped sending before the end of its body (gone, stalled or too slow): raised by the body's
    iterator, it ends the write like the end of the body, and what arrived is kept (without a checksum)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Patient:
    """Who is uploading: a verified patient session, bound to one encounter."""

    session_id: str
    encounter_id: str


@dataclass(frozen=True)
class UploadPolicy:
    limits: UploadLimits
    lock_lease: dt.timedelta
    lifetime: dt.timedelta  # an unfinished upload is abandoned this long after its last write
    spool_dir: Path | None = None  # where checksummed bodies wait for their digest


@dataclass(frozen=True)
class ExpectedDigest:
    """A body's checksum as the client declared it (tus checksum extension)."""

    algorithm: str
    digest: bytes

    def new_hash(self) -> Any:
        return DIGESTS[self.algorithm]()


@dataclass(frozen=True)
class UploadState:
    """What a HEAD reports: the durable offset and the upload's own details."""

    upload: Upload
    offset: int
    filename: str | None
    note: str | None


@dataclass(frozen=True)
class Written:
    offset: int
    interrupted: str | None = None  # why the body ended early, when it did
    expires_at: dt.datetime | None = None  # the new expiry of an unfinished upload


@dataclass
class _Body:
    """The body's chunks, cut at `limit` bytes; notes an overflow and an interruption."""

    source: AsyncIterable[bytes]
    limit: int
    received: int = 0
    overflow: bool = False
    interrupted: str | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.source:
                room = self.limit - self.received
                if len(chunk) > room:
                    self.overflow = True
                    chunk = chunk[:room]
                if chunk:
                    self.received += len(chunk)
                    yield chunk
                if self.overflow:
                    return
        except BodyInterrupted as interruption:
            self.interrupted = interruption.reason


@dataclass
class _HeadSniffer:
    """Holds back an upload's first bytes until there are enough to decide its type."""

    needed: int
    decide: Callable[[bytes], Awaitable[FileType]]
    head: bytearray = field(default_factory=bytearray)
    decided: bool = False

    async def feed(self, chunk: bytes) -> bytes:
        """Bytes now safe to write (b'' while still undecided); raises the hooks' refusal for a disallowed type."""
        if self.decided:
            return chunk
        self.head += chunk
        if len(self.head) < self.needed:
            return b""
        await self.decide(bytes(self.head[:SNIFF_BYTES]))
        self.decided = True
        released, self.head = bytes(self.head), bytearray()
        return released

    def require_decided(self, interrupted: bool) -> None:
        if not self.decided and not interrupted and self.head:
            raise UploadProtocolError(
                f"the first request of an upload must carry at least its first {self.needed} bytes"
            )


class TusService:
    def __init__(
        self, ctx: AppContext, store: ResumableStore, locker: Locker, hooks: UploadHooks, policy: UploadPolicy
    ) -> None:
        self._ctx = ctx
        self._store = store
        self._locker = locker
        self._hooks = hooks
        self.policy = policy

    # -- creation ------------------------------------------------------------------------------

    async def create(
        self, patient: Patient, length: int, filename: str, note: str | None, remote_addr: str | None
    ) -> Upload:
        """A new upload within the request's limits (checked again under the encounter's lock on insert)."""
        limits = self.policy.limits
        await asyncio.to_thread(records.precheck, self._ctx, patient.encounter_id, length, limits)
        upload_id = new_id()
        key = records.storage_key(patient.encounter_id, upload_id)
        ref = await self._store.create_resumable(key)
        try:
            return await asyncio.to_thread(
                records.insert,
                self._ctx,
                upload_id=upload_id,
                encounter_id=patient.encounter_id,
                session_id=patient.session_id,
                key=key,
                ref=ref,
                length=length,
                filename=filename,
                note=note,
                limits=limits,
                lifetime=self.policy.lifetime,
                remote_addr=remote_addr,
            )
        except BaseException:
            await asyncio.shield(self._store.abort_resumable(key, ref))
            raise

    # -- HEAD ----------------------------------------------------------------------------------

    async def state(self, patient: Patient, upload_id: str, remote_addr: str | None) -> UploadState:
        """The durable offset; an upload whose bytes are all stored but was never completed (its process died)
        is completed now."""
        upload = await self._own_upload(patient, upload_id)
        offset = await self._durable_offset(upload)
        if upload.status == UploadStatus.RECEIVING and offset == upload.length:
            # Another request may be on it, or the encounter may no longer take files: then the offset stands.
            with contextlib.suppress(EncounterError):
                async with upload_lock(
                    self._locker, upload.id, patient.session_id, self.policy.lock_lease, expires_at=None
                ) as held:
                    if held.locked:
                        await self._finish(held.upload, remote_addr)
        filename = records.decrypt_filename(self._ctx, upload)
        return UploadState(upload, offset, filename, records.decrypt_note(self._ctx, upload))

    async def _own_upload(self, patient: Patient, upload_id: str) -> Upload:
        upload = await asyncio.to_thread(records.get_for_session, self._ctx.engine, upload_id, patient.session_id)
        if upload is None or upload.status == UploadStatus.TERMINATED:
            raise UploadNotFound()
        if upload.status == UploadStatus.EXPIRED or (
            upload.status == UploadStatus.RECEIVING and upload.expires_at <= utcnow()
        ):
            raise UploadGone()
        return upload

    async def _durable_offset(self, upload: Upload) -> int:
        """How many bytes the store holds for certain (the store, not the database, is the truth)."""
        if upload.status == UploadStatus.COMPLETE:
            return upload.length
        try:
            return await self._store.resumable_offset(upload.storage_key, upload.storage_ref)
        except ObjectNotFound:
            if await self._store.exists(upload.storage_key):
                return await self._store.size(upload.storage_key)  # finished in the store before a crash
            raise UploadGone() from None

    # -- PATCH ---------------------------------------------------------------------------------

    async def write(
        self,
        patient: Patient,
        upload_id: str,
        offset: int,
        body: AsyncIterable[bytes],
        *,
        declared_length: int | None,
        checksum: ExpectedDigest | None,
        remote_addr: str | None,
    ) -> Written:
        """Append a body at `offset` (`declared_length`: its Content-Length, 0 for none, None when unknown)."""
        expires_at = utcnow() + self.policy.lifetime
        async with upload_lock(
            self._locker, upload_id, patient.session_id, self.policy.lock_lease, expires_at=expires_at
        ) as held:
            upload = held.upload
            if not held.locked:  # already complete: only the client's own last word on it is welcome
                if offset == upload.length and declared_length == 0:
                    return Written(upload.length)
                raise OffsetMismatch(upload.length, offset)
            appender, current = await self._open(upload, offset)
            if declared_length is not None and declared_length > upload.length - current:
                _close_unused(appender)
                raise BodyTooLong()
            written, cut = await self._receive(held, appender, current, body, checksum, remote_addr)
            new_offset = current + written
            held.offset = new_offset
            if cut.overflow:
                raise BodyTooLong()
            if new_offset == upload.length:
                held.ensure_held()
                await self._finish(upload, remote_addr)
                return Written(new_offset, cut.interrupted)
            return Written(new_offset, cut.interrupted, expires_at)

    async def _open(self, upload: Upload, offset: int) -> tuple[AsyncAppender | None, int]:
        """The store's appender and the durable offset it found (no appender when the store finished the upload
        before a crash: then every byte is there)."""
        try:
            appender = await self._store.open_appender(upload.storage_key, upload.storage_ref, offset)
        except StoreOffsetMismatch as mismatch:
            raise OffsetMismatch(mismatch.expected, mismatch.given) from None
        except ObjectNotFound:
            if not await self._store.exists(upload.storage_key):
                raise UploadGone() from None
            size = await self._store.size(upload.storage_key)
            if offset != size:
                raise OffsetMismatch(size, offset) from None
            return None, size
        return appender, offset

    async def _receive(
        self,
        held: HeldLock,
        appender: AsyncAppender | None,
        current: int,
        body: AsyncIterable[bytes],
        checksum: ExpectedDigest | None,
        remote_addr: str | None,
    ) -> tuple[int, _Body]:
        """(bytes written, the body as it ended)."""
        upload = held.upload
        cut = _Body(body, upload.length - current)
        sniffer = None
        if upload.kind is None:
            if current != 0:
                _close_unused(appender)
                raise UploadProtocolError("this upload's type was never established")
            sniffer = _HeadSniffer(
                min(SNIFF_BYTES, upload.length), lambda head: self._type_known(upload, head, remote_addr)
            )
        if appender is None:  # nothing left to write
            return 0, cut
        if checksum is None:
            return await _stream(cut, sniffer, appender, held.ensure_held), cut
        written = await _write_verified(cut, sniffer, checksum, appender, held.ensure_held, self.policy.spool_dir)
        return written, cut

    async def _type_known(self, upload: Upload, head: bytes, remote_addr: str | None) -> FileType:
        """Ask the hooks; an upload that can never be accepted leaves nothing in the store."""
        try:
            return await asyncio.to_thread(self._hooks.type_known, upload, head, remote_addr)
        except EncounterError:
            try:
                await self._store.abort_resumable(upload.storage_key, upload.storage_ref)
            except StorageError:
                log.exception("could not abort a refused upload", extra={"upload_id": upload.id})
            raise

    async def _finish(self, upload: Upload, remote_addr: str | None) -> str:
        await self._store.finish_resumable(upload.storage_key, upload.storage_ref)
        return await asyncio.to_thread(self._hooks.upload_complete, upload, remote_addr)

    # -- DELETE --------------------------------------------------------------------------------

    async def remove(self, patient: Patient, upload_id: str, remote_addr: str | None) -> None:
        """tus termination: the patient removes a file, unfinished or finished, until they press Send."""
        upload = await self._own_upload(patient, upload_id)
        if upload.status != UploadStatus.RECEIVING:
            await asyncio.to_thread(records.remove, self._ctx, upload, remote_addr)
            await self._delete_objects(upload)
            return
        async with upload_lock(
            self._locker,
            upload.id,
            patient.session_id,
            self.policy.lock_lease,
            expires_at=None,
            encounter_must_take_files=False,
        ) as held:
            await asyncio.to_thread(records.remove, self._ctx, held.upload, remote_addr)
            await self._store.abort_resumable(upload.storage_key, upload.storage_ref)

    async def _delete_objects(self, upload: Upload) -> None:
        """A removed finished upload: its original and anything made from it leave the store."""
        keys = [upload.storage_key]
        if upload.media_id:
            listing = await self._store.list(records.derived_prefix(upload.encounter_id, upload.media_id))
            keys += [info.key for info in listing.objects]
        for key in keys:
            try:
                await self._store.delete(key)
            except StorageError:
                log.exception("could not delete a removed upload's object", extra={"upload_id": upload.id})


def _close_unused(appender: AsyncAppender | None) -> None:
    if appender is not None:
        appender.abandon()


async def _stream(body: _Body, sniffer: _HeadSniffer | None, appender: AsyncAppender, ensure_held: Guard) -> int:
    """No checksum: write as bytes arrive; commit what was written whatever stopped the body, while the lock holds."""
    writer = WriteBehind(appender, ensure_held)
    written = 0
    try:
        async for chunk in body.chunks():
            data = await sniffer.feed(chunk) if sniffer else chunk
            if data:
                ensure_held()
                await writer.write(data)
                written += len(data)
        if sniffer:
            sniffer.require_decided(body.interrupted is not None)
    finally:
        await asyncio.shield(writer.finish())
    return written


async def _write_verified(
    body: _Body,
    sniffer: _HeadSniffer | None,
    checksum: ExpectedDigest,
    appender: AsyncAppender,
    ensure_held: Guard,
    spool_dir: Path | None,
) -> int:
    """With a checksum: the whole body spooled to a temporary file, written only once its digest matches.

    A body cut short cannot be verified, so nothing of it is kept; a mismatch
    raises ChecksumMismatch and an overflow BodyTooLong, writing nothing.
    """
    digest = checksum.new_hash()
    with tempfile.TemporaryFile(dir=spool_dir) as spool:
        try:
            async for chunk in body.chunks():
                if sniffer:
                    await sniffer.feed(chunk)
                digest.update(chunk)
                await asyncio.to_thread(spool.write, chunk)
            if body.interrupted:
                appender.abandon()
                return 0
            if body.overflow:
                raise BodyTooLong()
            if sniffer:
                sniffer.require_decided(False)
            if digest.digest() != checksum.digest:
                raise ChecksumMismatch()
        except BaseException:
            appender.abandon()
            raise
        spool.seek(0)
        return await _copy_spool(spool, appender, ensure_held)


async def _copy_spool(spool: BinaryIO, appender: AsyncAppender, ensure_held: Guard) -> int:
    """A verified body into the store, then committed; stops (nothing more written) once the lock may be lost."""
    written = 0
    try:
        while block := await asyncio.to_thread(spool.read, SPOOL_BLOCK):
            ensure_held()
            await appender.write(block)
            written += len(block)
    finally:
        await asyncio.shield(commit_while_held(appender, ensure_held))
    return written

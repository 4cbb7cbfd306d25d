"""The tus 1.0 server under /files/: OPTIONS, POST (creation, creation-with-upload), HEAD, PATCH, DELETE.

Only the patient session that created an upload can touch it (anyone else
gets 404), every write needs the session's CSRF token in a header, and there
is no GET: uploads are never downloaded through this service. Each write
holds the upload's lock (a conditional UPDATE, so it works across processes
and hosts); a second concurrent write gets 423 and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from types import TracebackType

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from patient_upload.state import AppState, state_of
from patient_upload.tus.body import (
    BodyReader,
    BodyTooLong,
    HeadSniffer,
    RateFloor,
    StreamResult,
    copy_spool,
    spool_verified,
    stream_to_store,
)
from patient_upload.tus.protocol import (
    CHECKSUM_ALGORITHMS,
    CSRF_HEADER,
    EXTENSIONS,
    OFFSET_CONTENT_TYPE,
    TUS_VERSION,
    ProtocolError,
    base_headers,
    clean_filename,
    clean_note,
    encode_metadata,
    http_date,
    parse_checksum,
    parse_metadata,
    parse_non_negative,
)
from patient_upload.web_session import check_csrf, client_address, require_session
from shared.clock import utcnow
from shared.db.statuses import UploadStatus
from shared.encounters.journey import access_problem, load_encounter
from shared.encounters.uploads import records
from shared.encounters.uploads.limits import Refusal, lock_lost, not_found, upload_busy
from shared.encounters.uploads.records import Upload
from shared.ids import new_id
from shared.logging.json_lines import get_logger
from shared.media_types.sniff import SNIFF_BYTES, FileType, sniff
from shared.storage.async_store import AsyncAppender
from shared.storage.base import ObjectNotFound, StorageError

log = get_logger(__name__)

UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


class TusVersionMismatch(web.HTTPPreconditionFailed):
    def __init__(self) -> None:
        super().__init__(headers={"Tus-Version": TUS_VERSION, **base_headers()}, text="Tus-Resumable 1.0.0 required")


def require_tus_version(request: web.Request) -> None:
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        raise TusVersionMismatch()


def tus_response(status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, headers={**base_headers(), **(headers or {})})


def upload_gone() -> Refusal:
    return Refusal(410, "upload_expired", "This upload was not finished in time. Choose the file again to start over.")


def offset_mismatch() -> Refusal:
    return Refusal(409, "offset_mismatch", "The upload had moved on; it will carry on from where it got to.")


# A live holder renews its lease this many times per lease. It stops writing one such interval before the end
# of the last lease it renewed: a write already under way then lands before anyone else can take the lock.
RENEWALS_PER_LEASE = 4


class UploadLock:
    """The upload's cross-process lock for one write, renewed while the write runs.

    The row holds a lease (`locked_until`) that another process may take over
    once it has run out, so that a crashed holder blocks the upload for one
    lease at most. A live holder must therefore stop writing before its lease
    can run out, whether or not it has heard from the database: it keeps a
    local deadline (when its last successful renewal was asked for, plus the
    lease less one renewal interval) and `ensure_held()` refuses past it. A
    renewal that fails (database unreachable) or hangs simply does not move
    the deadline; one that finds the lock taken ends it at once.
    """

    def __init__(self, state: AppState, upload: Upload) -> None:
        self._state = state
        self._upload = upload
        self._token = new_id()
        self._renewer: asyncio.Task[None] | None = None
        self._lease = state.lock_lease.total_seconds()
        self._deadline = 0.0  # time.monotonic(): past it, this holder writes nothing more
        self.lost = False

    async def __aenter__(self) -> UploadLock:
        engine, lease = self._state.ctx.engine, self._state.lock_lease
        asked = time.monotonic()
        if not await asyncio.to_thread(records.acquire_lock, engine, self._upload.id, self._token, lease):
            raise upload_busy()
        self._extend(asked)
        self._renewer = asyncio.create_task(self._keep())
        return self

    def _extend(self, asked: float) -> None:
        """The lease granted runs from no earlier than when it was asked for."""
        self._deadline = asked + self._lease * (1 - 1 / RENEWALS_PER_LEASE)

    def ensure_held(self) -> None:
        """Call before each write to the store: raises 423 (lock_lost) once another process could hold the lock."""
        if self.lost or time.monotonic() >= self._deadline:
            raise lock_lost()

    async def _keep(self) -> None:
        engine, lease = self._state.ctx.engine, self._state.lock_lease
        while True:
            await asyncio.sleep(self._lease / RENEWALS_PER_LEASE)
            asked = time.monotonic()
            try:
                renewed = await asyncio.to_thread(records.renew_lock, engine, self._upload.id, self._token, lease)
            except SQLAlchemyError as error:  # try again at the next interval; meanwhile the deadline stands
                log.warning(
                    "upload lock not renewed", extra={"upload_id": self._upload.id, "error": type(error).__name__}
                )
                continue
            if not renewed:
                self.lost = True
                return
            self._extend(asked)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        engine = self._state.ctx.engine
        await asyncio.shield(asyncio.to_thread(records.release_lock, engine, self._upload.id, self._token))


async def durable_offset(state: AppState, upload: Upload) -> int:
    """How many bytes the store holds for certain (the store, not the database, is the truth)."""
    if upload.status == UploadStatus.COMPLETE:
        return upload.length
    try:
        return await state.store.resumable_offset(upload.storage_key, upload.storage_ref)
    except ObjectNotFound:
        if await state.store.exists(upload.storage_key):
            return await state.store.size(upload.storage_key)  # finished in the store before a crash
        raise upload_gone() from None


async def load_upload(request: web.Request) -> tuple[AppState, Upload]:
    state = state_of(request)
    session = await require_session(request)
    upload_id = request.match_info["upload_id"]
    upload = (
        await asyncio.to_thread(records.get_for_session, state.ctx.engine, upload_id, session.id)
        if UPLOAD_ID.fullmatch(upload_id)
        else None
    )
    if upload is None or upload.status == UploadStatus.TERMINATED:
        raise not_found()
    if upload.status == UploadStatus.EXPIRED or (
        upload.status == UploadStatus.RECEIVING and upload.expires_at <= utcnow()
    ):
        raise upload_gone()
    return state, upload


async def ensure_writable(state: AppState, encounter_id: str) -> None:
    def problem() -> Refusal | None:
        with state.ctx.engine.connect() as conn:
            return access_problem(load_encounter(conn, encounter_id), utcnow())

    refusal = await asyncio.to_thread(problem)
    if refusal is not None:
        raise refusal


async def finish(state: AppState, upload: Upload, remote_addr: str | None) -> str:
    await state.store.finish_resumable(upload.storage_key, upload.storage_ref)
    return await asyncio.to_thread(records.complete, state.ctx, upload.id, remote_addr)


async def _refuse(state: AppState, upload: Upload, refusal: Refusal, remote_addr: str | None) -> None:
    """An upload whose first bytes show it can never be accepted: nothing kept, the patient told why."""
    try:
        await state.store.abort_resumable(upload.storage_key, upload.storage_ref)
    except StorageError:
        log.exception("could not abort a refused upload", extra={"upload_id": upload.id})
    await asyncio.to_thread(records.mark_refused, state.ctx, upload, refusal, remote_addr)


async def receive(request: web.Request, state: AppState, upload: Upload, client_offset: int) -> int:
    """One write (PATCH, or the body of a creation): returns the new offset."""
    checksum = parse_checksum(request.headers.get("Upload-Checksum"))
    remote_addr = client_address(request)
    async with UploadLock(state, upload) as lock:
        current = await durable_offset(state, upload)
        if client_offset != current:
            raise offset_mismatch()
        remaining = upload.length - current
        declared = request.content_length
        if declared is not None and declared > remaining:
            raise BodyTooLong()
        expires_at = utcnow() + state.upload_lifetime
        await asyncio.to_thread(records.record_progress, state.ctx.engine, upload.id, current, expires_at)

        async def decide(head: bytes) -> FileType:
            try:
                file_type = state.limits.check_type(sniff(head), upload.length)
            except Refusal as refusal:
                await _refuse(state, upload, refusal, remote_addr)
                raise
            await asyncio.to_thread(records.record_type, state.ctx.engine, upload.id, file_type)
            return file_type

        sniffer = None
        if upload.kind is None:
            if current != 0:
                raise ProtocolError("this upload's type was never established")
            sniffer = HeadSniffer(min(SNIFF_BYTES, upload.length), decide)

        async def open_appender() -> AsyncAppender:
            return await state.store.open_appender(upload.storage_key, upload.storage_ref, current)

        floor = RateFloor(state.min_body_rate, state.body_rate_window)
        reader = BodyReader(request.content, remaining, state.read_idle_timeout, floor)
        if checksum is None:
            result = await stream_to_store(reader, sniffer, open_appender, lock.ensure_held)
        else:
            result = await _write_verified(reader, sniffer, checksum, state, open_appender, lock.ensure_held)
        new_offset = current + result.written
        if result.written:
            await asyncio.to_thread(records.record_progress, state.ctx.engine, upload.id, new_offset, expires_at)
        if result.overflow:
            raise BodyTooLong()
        if new_offset == upload.length:
            lock.ensure_held()
            await finish(state, upload, remote_addr)
        if reader.disconnected:
            log.info(
                "body ended early", extra={"upload_id": upload.id, "offset": new_offset, "reason": reader.ended_by}
            )
        return new_offset


async def _write_verified(reader, sniffer, checksum, state, open_appender, ensure_held) -> StreamResult:  # type: ignore[no-untyped-def]
    spooled = await spool_verified(reader, sniffer, checksum, state.spool_dir)
    if spooled is None:
        return StreamResult(0, overflow=False, disconnected=True)
    spool, size = spooled
    with spool:
        if not size:
            return StreamResult(0, overflow=False, disconnected=False)
        ensure_held()
        written = await copy_spool(spool, await open_appender(), ensure_held)
    return StreamResult(written, overflow=False, disconnected=False)


# -- handlers ----------------------------------------------------------------------------------


async def options(request: web.Request) -> web.Response:
    limits = state_of(request).limits
    return tus_response(
        204,
        {
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": ",".join(EXTENSIONS),
            "Tus-Max-Size": str(limits.max_file_bytes),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
        },
    )


def _has_body(request: web.Request) -> bool:
    return bool(request.content_length) or (request.content_length is None and request.body_exists)


async def create(request: web.Request) -> web.Response:
    require_tus_version(request)
    state = state_of(request)
    session = await require_session(request)
    check_csrf(session, request.headers.get(CSRF_HEADER))
    if "Upload-Defer-Length" in request.headers:
        raise ProtocolError("Upload-Defer-Length is not supported: declare Upload-Length")
    length = parse_non_negative("Upload-Length", request.headers.get("Upload-Length"))
    metadata = parse_metadata(request.headers.get("Upload-Metadata"))
    filename = clean_filename(metadata.get("filename") or metadata.get("name"))
    note = clean_note(metadata.get("note"))
    with_body = _has_body(request)
    if with_body and request.content_type != OFFSET_CONTENT_TYPE:
        raise web.HTTPUnsupportedMediaType(text=f"Content-Type must be {OFFSET_CONTENT_TYPE}", headers=base_headers())

    await asyncio.to_thread(records.precheck, state.ctx, session.encounter_id, length, state.limits)
    upload_id = new_id()
    key = records.storage_key(session.encounter_id, upload_id)
    ref = await state.store.create_resumable(key)
    try:
        upload = await asyncio.to_thread(
            records.insert,
            state.ctx,
            upload_id=upload_id,
            encounter_id=session.encounter_id,
            session_id=session.id,
            key=key,
            ref=ref,
            length=length,
            filename=filename,
            note=note,
            limits=state.limits,
            lifetime=state.upload_lifetime,
            remote_addr=client_address(request),
        )
    except BaseException:
        await asyncio.shield(state.store.abort_resumable(key, ref))
        raise
    headers = {"Location": f"/files/{upload_id}", "Upload-Expires": http_date(upload.expires_at)}
    if with_body:
        offset = await receive(request, state, upload, 0)
        headers["Upload-Offset"] = str(offset)
        if offset == upload.length:
            del headers["Upload-Expires"]
    return tus_response(201, headers)


async def head(request: web.Request) -> web.Response:
    require_tus_version(request)
    state, upload = await load_upload(request)
    offset = await durable_offset(state, upload)
    if upload.status == UploadStatus.RECEIVING and offset == upload.length:
        # every byte is stored but the upload was never completed (the process died): complete it now
        with contextlib.suppress(Refusal):
            async with UploadLock(state, upload):
                await finish(state, upload, client_address(request))
    headers = {
        "Upload-Offset": str(offset),
        "Upload-Length": str(upload.length),
        "Upload-Metadata": encode_metadata(
            {"filename": records.decrypt_filename(state.ctx, upload), "note": records.decrypt_note(state.ctx, upload)}
        ),
    }
    if offset < upload.length:
        headers["Upload-Expires"] = http_date(upload.expires_at)
    return tus_response(200, headers)


async def patch(request: web.Request) -> web.Response:
    require_tus_version(request)
    session = await require_session(request)
    check_csrf(session, request.headers.get(CSRF_HEADER))
    if request.content_type != OFFSET_CONTENT_TYPE:
        raise web.HTTPUnsupportedMediaType(text=f"Content-Type must be {OFFSET_CONTENT_TYPE}", headers=base_headers())
    offset = parse_non_negative("Upload-Offset", request.headers.get("Upload-Offset"))
    state, upload = await load_upload(request)
    await ensure_writable(state, upload.encounter_id)
    if upload.status == UploadStatus.COMPLETE:
        if offset == upload.length and not _has_body(request):
            return tus_response(204, {"Upload-Offset": str(upload.length)})
        raise offset_mismatch()
    new_offset = await receive(request, state, upload, offset)
    headers = {"Upload-Offset": str(new_offset)}
    if new_offset < upload.length:
        headers["Upload-Expires"] = http_date(utcnow() + state.upload_lifetime)
    return tus_response(204, headers)


async def delete(request: web.Request) -> web.Response:
    """Termination: the patient removes a file (unfinished or finished) until they press Send."""
    require_tus_version(request)
    session = await require_session(request)
    check_csrf(session, request.headers.get(CSRF_HEADER))
    state, upload = await load_upload(request)
    remote_addr = client_address(request)
    if upload.status == UploadStatus.RECEIVING:
        async with UploadLock(state, upload):
            await asyncio.to_thread(records.remove, state.ctx, upload, remote_addr)
            await state.store.abort_resumable(upload.storage_key, upload.storage_ref)
    else:
        await asyncio.to_thread(records.remove, state.ctx, upload, remote_addr)
        await _delete_objects(state, upload)
    return tus_response(204)


async def _delete_objects(state: AppState, upload: Upload) -> None:
    keys = [upload.storage_key]
    if upload.media_id:
        listing = await state.store.list(records.derived_prefix(upload.encounter_id, upload.media_id))
        keys += [info.key for info in listing.objects]
    for key in keys:
        try:
            await state.store.delete(key)
        except StorageError:
            log.exception("could not delete a removed upload's object", extra={"upload_id": upload.id})


OVERRIDABLE = {"PATCH": patch, "DELETE": delete, "HEAD": head}


async def method_override(request: web.Request) -> web.Response:
    """POST with X-HTTP-Method-Override, for networks that block PATCH and DELETE."""
    handler = OVERRIDABLE.get(request.headers.get("X-HTTP-Method-Override", "").upper())
    if handler is None:
        raise web.HTTPMethodNotAllowed("POST", list(OVERRIDABLE), headers=base_headers())
    return await handler(request)


def add_routes(app: web.Application) -> None:
    for path in ("/files", "/files/"):
        app.router.add_route("OPTIONS", path, options)
        app.router.add_post(path, create)
    item = "/files/{upload_id}"
    app.router.add_route("OPTIONS", item, options)
    app.router.add_route("HEAD", item, head)
    app.router.add_patch(item, patch)
    app.router.add_delete(item, delete)
    app.router.add_post(item, method_override)

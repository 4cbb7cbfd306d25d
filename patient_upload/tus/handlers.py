"""The tus 1.0 server under /files/, as HTTP: OPTIONS, POST (creation, creation-with-upload), HEAD, PATCH, DELETE.

This module only translates: it checks the protocol's headers, the patient
session and its CSRF token, hands the request to the tus service
(`shared.encounters.uploads.service`) and turns what comes back into tus
responses; domain errors become refusals in the error middleware. Only the
patient session that created an upload can touch it (anyone else gets 404),
and there is no GET: uploads are never downloaded through this service.
"""

from __future__ import annotations

import re

from aiohttp import web

from patient_upload.state import state_of
from patient_upload.tus.body import BodyReader, RateFloor
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
from shared.encounters.errors import UploadNotFound
from shared.encounters.uploads.service import Patient, Written
from shared.logging.json_lines import get_logger

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


def require_offset_body(request: web.Request) -> None:
    if request.content_type != OFFSET_CONTENT_TYPE:
        raise web.HTTPUnsupportedMediaType(text=f"Content-Type must be {OFFSET_CONTENT_TYPE}", headers=base_headers())


def declared_length(request: web.Request) -> int | None:
    """The body's Content-Length: 0 for no body, None when it is sent without one (chunked)."""
    if request.content_length is not None:
        return request.content_length
    return None if request.body_exists else 0


async def _patient(request: web.Request, *, writes: bool) -> Patient:
    session = await require_session(request)
    if writes:
        check_csrf(session, request.headers.get(CSRF_HEADER))
    return Patient(session.id, session.encounter_id)


def _upload_id(request: web.Request) -> str:
    upload_id = request.match_info["upload_id"]
    if not UPLOAD_ID.fullmatch(upload_id):
        raise UploadNotFound()
    return upload_id


async def _write(request: web.Request, patient: Patient, upload_id: str, offset: int) -> Written:
    """Hand the body to the service; note why it ended early, when it did."""
    state = state_of(request)
    reader = BodyReader(
        request.content, state.read_idle_timeout, RateFloor(state.min_body_rate, state.body_rate_window)
    )
    written = await state.tus.write(
        patient,
        upload_id,
        offset,
        reader.chunks(),
        declared_length=declared_length(request),
        checksum=parse_checksum(request.headers.get("Upload-Checksum")),
        remote_addr=client_address(request),
    )
    if written.interrupted:
        log.info(
            "body ended early", extra={"upload_id": upload_id, "offset": written.offset, "reason": written.interrupted}
        )
    return written


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


async def create(request: web.Request) -> web.Response:
    require_tus_version(request)
    patient = await _patient(request, writes=True)
    if "Upload-Defer-Length" in request.headers:
        raise ProtocolError("Upload-Defer-Length is not supported: declare Upload-Length")
    length = parse_non_negative("Upload-Length", request.headers.get("Upload-Length"))
    metadata = parse_metadata(request.headers.get("Upload-Metadata"))
    filename = clean_filename(metadata.get("filename") or metadata.get("name"))
    note = clean_note(metadata.get("note"))
    with_body = declared_length(request) != 0
    if with_body:
        require_offset_body(request)
    upload = await state_of(request).tus.create(patient, length, filename, note, client_address(request))
    headers = {"Location": f"/files/{upload.id}", "Upload-Expires": http_date(upload.expires_at)}
    if with_body:
        written = await _write(request, patient, upload.id, 0)
        headers["Upload-Offset"] = str(written.offset)
        if written.offset == upload.length:
            del headers["Upload-Expires"]
    return tus_response(201, headers)


async def head(request: web.Request) -> web.Response:
    require_tus_version(request)
    patient = await _patient(request, writes=False)
    found = await state_of(request).tus.state(patient, _upload_id(request), client_address(request))
    headers = {
        "Upload-Offset": str(found.offset),
        "Upload-Length": str(found.upload.length),
        "Upload-Metadata": encode_metadata({"filename": found.filename, "note": found.note}),
    }
    if found.offset < found.upload.length:
        headers["Upload-Expires"] = http_date(found.upload.expires_at)
    return tus_response(200, headers)


async def patch(request: web.Request) -> web.Response:
    require_tus_version(request)
    patient = await _patient(request, writes=True)
    require_offset_body(request)
    offset = parse_non_negative("Upload-Offset", request.headers.get("Upload-Offset"))
    written = await _write(request, patient, _upload_id(request), offset)
    headers = {"Upload-Offset": str(written.offset)}
    if written.expires_at is not None:
        headers["Upload-Expires"] = http_date(written.expires_at)
    return tus_response(204, headers)


async def delete(request: web.Request) -> web.Response:
    """Termination: the patient removes a file (unfinished or finished) until they press Send."""
    require_tus_version(request)
    patient = await _patient(request, writes=True)
    await state_of(request).tus.remove(patient, _upload_id(request), client_address(request))
    return tus_response(204)


OVERRIDABLE = {"PATCH": patch, "DELETE": delete, "HEAD": head}


async def method_override(request: web.Request) -> web.Response:
    """POST with X-HTTP-Method-Override, for networks that block PATCH and DELETE."""
    handler = OVERRIDABLE.get(request.headers.get("X-HTTP-Method-Override", "").upper())
    if handler is None:
        raise web.HTTPMethodNotAllowed("POST", list(OVERRIDABLE), headers=base_headers())
    return await handler(request)

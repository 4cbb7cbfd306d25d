"""Small JSON endpoints behind the upload page: what the patient has added, and per-file notes."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from patient_upload.refusals import bad_note
from patient_upload.state import state_of
from patient_upload.tus.handlers import UPLOAD_ID
from patient_upload.tus.protocol import CSRF_HEADER, clean_note
from patient_upload.web_session import check_csrf, require_session
from shared.db.statuses import UploadStatus
from shared.encounters.errors import UploadNotFound
from shared.encounters.uploads import records

MAX_JSON_BYTES = 8192


def _json(data: object, status: int = 200) -> web.Response:
    response = web.json_response(data, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


async def list_uploads(request: web.Request) -> web.Response:
    state = state_of(request)
    session = await require_session(request)
    items = await asyncio.to_thread(records.list_for_encounter, state.ctx, session.encounter_id, session.id)
    return _json(
        {
            "uploads": [
                {
                    "id": item.id,
                    "url": f"/files/{item.id}",
                    "filename": item.filename,
                    "note": item.note or "",
                    "size": item.size,
                    "offset": item.offset,
                    "kind": item.kind,
                    "status": item.status,
                    "mine": item.mine,
                }
                for item in items
            ]
        }
    )


async def set_note(request: web.Request) -> web.Response:
    state = state_of(request)
    session = await require_session(request)
    check_csrf(session, request.headers.get(CSRF_HEADER))
    upload_id = request.match_info["upload_id"]
    raw = await request.read()  # bounded by the application's client_max_size
    try:
        payload = json.loads(raw) if len(raw) <= MAX_JSON_BYTES else None
        note = clean_note(payload.get("note") if isinstance(payload, dict) else None)
    except (ValueError, AttributeError):
        raise bad_note() from None
    upload = (
        await asyncio.to_thread(records.get_for_session, state.ctx.engine, upload_id, session.id)
        if UPLOAD_ID.fullmatch(upload_id)
        else None
    )
    if upload is None or upload.status not in (UploadStatus.RECEIVING, UploadStatus.COMPLETE):
        raise UploadNotFound()
    await asyncio.to_thread(records.set_note, state.ctx, upload, note)
    return _json({"note": note or ""})

"""POST /notify/callbacks: GOV.UK Notify's delivery receipts, behind the bearer token MIA_NOTIFY_CALLBACK_TOKEN.

Notify calls this URL (set as the service's callback URL, with the same
token) when a message is delivered or fails. Refusals are JSON: 401 for a
missing or wrong token (or none configured: nothing is accepted then), 400
for a body that is not a receipt, 404 for a message that is not ours.
Notify retries what it did not get a 2xx for. A refusal is logged with its
reason and never with the body: it holds the patient's phone number or
email address. The token is compared in constant time.
"""

from __future__ import annotations

import asyncio
import hmac
import json

from aiohttp import web

from patient_upload.state import state_of
from shared.logging.json_lines import get_logger
from shared.notifications import receipts

log = get_logger("mia.upload.notify")


def _authorised(header: str | None, token: str | None) -> bool:
    if not token or not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


def _refuse(status: int, reason: str, message: str, **log_fields: object) -> web.Response:
    log.warning("notify callback refused", extra={"status": status, "reason": reason, **log_fields})
    response = web.json_response({"error": reason, "message": message}, status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="notify-callbacks"'
    return response


async def receive(request: web.Request) -> web.Response:
    state = state_of(request)
    if not _authorised(request.headers.get("Authorization"), state.ctx.settings.messaging.notify_callback_token):
        configured = state.ctx.settings.messaging.notify_callback_token is not None
        return _refuse(
            401,
            "unauthorised" if configured else "not_configured",
            "A valid bearer token is required." if configured else "Delivery callbacks are not set up here.",
        )
    raw = await request.read()  # bounded by the application's client_max_size
    try:
        payload = json.loads(raw)
    except ValueError:  # not JSON, or not UTF-8
        return _refuse(400, "malformed", "This is not a delivery receipt (not JSON).", bytes=len(raw))
    try:
        found = await asyncio.to_thread(receipts.apply_notify_callback, state.ctx, payload)
    except receipts.MalformedReceipt as error:  # its words name the field, never the value
        return _refuse(400, "malformed", f"This is not a delivery receipt ({error}).", bytes=len(raw))
    if not found:
        return _refuse(404, "unknown_notification", "No message of ours has this id.", bytes=len(raw))
    return web.json_response({"result": "recorded"})

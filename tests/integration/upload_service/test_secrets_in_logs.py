"""No secret reaches the upload service's output, even when aiohttp itself logs a raw request.

A request line or header over 8190 bytes makes aiohttp log "Error handling
request" with the first 100 bytes of what it read: the invite token of
`/p/TOKEN?x=AAAA…`, or a session cookie. The real service process
(`python -m patient_upload`) gets such requests carrying known secrets; its
captured stdout and stderr must hold none of them, and still say what happened.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine

from shared.config.settings import Settings, load_settings
from shared.context import build_context
from shared.ids import new_secret_token
from tests.support.factories import PATIENT, make_clinician, make_encounter
from tests.support.sync_patient import SyncPatient
from tests.support.upload_process import UploadProcess

OVER_LIMIT = "A" * 9000  # aiohttp refuses lines and header fields over 8190 bytes


def send_raw(base_url: str, request: str) -> bytes:
    """One request on its own connection, exactly as written (no client library fixes it up)."""
    host, port = urlsplit(base_url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request.encode("latin-1"))
        return connection.recv(200)


@pytest.mark.slow
def test_oversized_requests_carrying_secrets_leave_no_secret_in_the_log(
    settings: Settings, sqlite_engine: Engine, tmp_path: Path
) -> None:
    env = {"MIA_DATA_DIR": str(settings.data_dir), "MIA_LOG_LEVEL": "DEBUG", "MIA_PORTAL_COOKIE_NAME": "clinic_auth"}
    ctx = build_context(load_settings(env), engine=sqlite_engine)
    invite = make_encounter(ctx, make_clinician(ctx))
    bearer = new_secret_token()
    media_url = ctx.store.url("derived/e1/m1/display.jpg", 300)
    signature = parse_qs(urlsplit(media_url).query)["sig"][0]
    log_path = tmp_path / "service.log"
    service = UploadProcess(env, log_path).start()
    try:
        phone = SyncPatient(service.base_url, invite.token, PATIENT.date_of_birth.isoformat()).ready()
        session = phone.http.cookies["mia_session"]
        cookies = phone.cookie_header()
        portal_cookie = new_secret_token()  # the browser sends the portal's cookie too when both share a host
        known = {"invite token": invite.token, "session cookie": session, "CSRF token": phone.csrf}
        known |= {"portal cookie": portal_cookie, "bearer token": bearer}
        known["media signature"] = signature[:16]  # aiohttp shows 100 bytes: the signature's start would do
        raw_requests = [
            f"GET /p/{invite.token}?x={OVER_LIMIT} HTTP/1.1\r\nHost: x\r\n\r\n",
            f"GET /p/{invite.token}\x01 HTTP/1.1\r\nHost: x\r\n\r\n",  # llhttp quotes the whole request line
            f"GET /upload HTTP/1.1\r\nHost: x\r\nCookie: {cookies}; pad={OVER_LIMIT}\r\n\r\n",
            f"GET /upload HTTP/1.1\r\nHost: x\r\nCookie: {cookies}\r\nX-Padding: {OVER_LIMIT}\r\n\r\n",
            f"PATCH /files/u1 HTTP/1.1\r\nHost: x\r\nX-CSRF-Token: {phone.csrf}{OVER_LIMIT}\r\n\r\n",
            f"GET {urlsplit(media_url).path}?{urlsplit(media_url).query}&x={OVER_LIMIT} HTTP/1.1\r\nHost: x\r\n\r\n",
            f"GET / HTTP/1.1\r\nHost: x\r\nCookie: clinic_auth={portal_cookie}; pad={OVER_LIMIT}\r\n\r\n",
            f"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {bearer}{OVER_LIMIT}\r\n\r\n",
        ]
        for request in raw_requests:
            assert b" 400 " in send_raw(service.base_url, request)
    finally:
        service.stop()  # flushes the process's stdout into the log

    output = log_path.read_text()
    for name, secret in known.items():
        assert secret not in output, f"the {name} reached the log"
    refused = [json.loads(line) for line in output.splitlines() if "Error handling request" in line]
    assert len(refused) == len(raw_requests)  # the error is still logged, as JSON, with the secret blanked
    assert all(record["logger"] == "aiohttp.server" for record in refused)
    assert "b'GET /p/[redacted]" in refused[1]["exc_info"]  # the request line, token blanked
    too_long = [record for index, record in enumerate(refused) if index != 1]
    assert all("Got more than 8190 bytes when reading: " in record["exc_info"] for record in too_long)

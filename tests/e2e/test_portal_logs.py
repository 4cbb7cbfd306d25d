"""The portal's own loggers, Streamlit's and uvicorn's, all write redacted JSON lines.

Streamlit gives its loggers plain-text stderr handlers and uvicorn stops
propagation, so their lines would pass by the redaction. The real portal is
opened at an enrollment link in Chromium (the first run configures logging),
then a websocket is opened at `/_stcore/stream?enroll=TOKEN` (uvicorn logs
that path and query) and sent a frame that is not a BackMsg (Streamlit logs
a warning). The captured output must hold neither the enrollment token nor
the cookies, and both lines must be JSON from the portal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from shared.config.settings import load_settings
from shared.context import build_context
from shared.db.migrations import migrate
from shared.ids import new_secret_token
from shared.staff.accounts import create_user
from tests.support.portal_browser import WAIT_MS
from tests.support.portal_server import PortalServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def json_records(output: str) -> list[dict[str, object]]:
    """The JSON lines (Streamlit's start-up banner is printed, not logged)."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_streamlit_and_uvicorn_log_lines_are_redacted_json(browser: Browser, tmp_path: Path) -> None:
    environment = {"MIA_DATA_DIR": str(tmp_path / "var"), "MIA_LOG_LEVEL": "INFO"}
    ctx = build_context(load_settings(environment))
    migrate(ctx.engine)
    enrollment = create_user(ctx, username="drnew", display_name="Dr New", role="clinician")
    ctx.close()
    auth_cookie, xsrf_cookie = new_secret_token(), new_secret_token()
    server = PortalServer.start(environment, tmp_path / "portal.log")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{server.url}/?enroll={enrollment.token}")
        expect(page.get_by_role("heading", name="Set up your MIA account")).to_be_visible(timeout=WAIT_MS)
        browser_cookies = [cookie["value"] for cookie in context.cookies()]

        stream = f"{server.url.replace('http', 'ws', 1)}/_stcore/stream?enroll={enrollment.token}"
        cookies = f"_streamlit_xsrf={xsrf_cookie}; mia_portal_auth={auth_cookie}"
        with connect(stream, additional_headers={"Cookie": cookies, "Origin": server.url}) as websocket:
            websocket.send(b"\x00not a BackMsg")
            with pytest.raises(ConnectionClosed):  # Streamlit closes with 1002 (protocol error)
                websocket.recv(timeout=WAIT_MS / 1000)
    finally:
        context.close()
        server.stop()  # flushes the portal's stdout into the log

    output = server.log_path.read_text()
    for secret in (enrollment.token, auth_cookie, xsrf_cookie, *browser_cookies):
        assert secret not in output
    records = json_records(output)
    assert all(record["service"] == "portal" for record in records)
    opened = [record for record in records if "/_stcore/stream?enroll=" in str(record["message"])]
    assert opened and opened[0]["logger"] == "uvicorn.error"
    assert "/_stcore/stream?enroll=[redacted]" in str(opened[0]["message"])
    refused = [record for record in records if record["message"] == "Error deserializing back message"]
    assert refused and str(refused[0]["logger"]).startswith("streamlit.") and refused[0]["level"] == "WARNING"

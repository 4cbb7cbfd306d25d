"""Cross-cutting web behaviour: security headers, HTTPS cookies behind a load balancer, PWA files,
and logs that never carry tokens (health checks: test_health.py)."""

from __future__ import annotations

import json
import logging
import re
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import Engine

from shared import audit
from shared.context import AppContext, build_context
from tests.conftest import make_settings
from tests.integration.upload_service.conftest import ClientFactory, PatientFactory, app_client, patient_factory
from tests.support.patient_client import PatientClient
from tests.support.upload_payloads import jpeg_payload

PAGES = ["/", "/consent", "/upload", "/send", "/done", "/offline", "/p/unknown-token"]


def assert_secure_headers(headers, https: bool = False) -> None:  # type: ignore[no-untyped-def]
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp  # no CDN, no inline script or style
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert ("Strict-Transport-Security" in headers) is https


async def test_every_response_has_the_security_headers(new_page_patient: PatientFactory) -> None:
    patient = await new_page_patient()
    url = await patient.create_url(100)
    responses = [await patient.client.get(path) for path in PAGES]
    responses += [
        await patient.client.get("/static/app.css"),
        await patient.client.get("/static/vendor/tus.min.js"),
        await patient.client.get("/manifest.webmanifest"),
        await patient.client.get("/sw.js"),
        await patient.client.get("/healthz"),
        await patient.client.get("/readyz"),
        await patient.client.get("/no-such-page"),
        await patient.client.options("/files/"),
        await patient.head(url),
        await patient.client.get(url),  # no downloads through tus
        await patient.client.get("/api/uploads"),
    ]
    for response in responses:
        assert_secure_headers(response.headers)
    assert responses[-2].status == 405


async def test_pages_have_no_inline_script_or_style(new_page_patient: PatientFactory) -> None:
    patient = await new_page_patient()
    for path in PAGES:
        html = await (await patient.client.get(path)).text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\sstyle=|\son[a-z]+=", html), path
        assert "//" not in "".join(re.findall(r'(?:src|href)="([^"]*)"', html)), path  # nothing off-site


@pytest.fixture
def https_ctx(tmp_path: Path, engine: Engine) -> AppContext:
    settings = make_settings(
        tmp_path / "var", MIA_PATIENT_BASE_URL="https://upload.example.nhs.uk", MIA_TRUST_PROXY_HEADERS="true"
    )
    return build_context(settings, engine=engine)


async def test_cookies_are_secure_over_https(aiohttp_client: ClientFactory, https_ctx: AppContext) -> None:
    client = await app_client(aiohttp_client, https_ctx)
    patient = await patient_factory(aiohttp_client, client, https_ctx)(verified=False)
    html = await patient.open_link()
    assert html
    response = await patient.client.get(f"/p/{patient.token}")
    form_cookie = SimpleCookie(response.headers["Set-Cookie"])["__Host-mia_form"]
    assert form_cookie["secure"] and form_cookie["httponly"] and form_cookie["samesite"] == "Strict"
    assert_secure_headers(response.headers, https=True)


async def test_the_load_balancer_headers_are_trusted_only_when_configured(
    aiohttp_client: ClientFactory, tmp_path: Path, engine: Engine
) -> None:
    behind = build_context(make_settings(tmp_path / "a", MIA_TRUST_PROXY_HEADERS="true"), engine=engine)
    direct = build_context(make_settings(tmp_path / "b"), engine=engine)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9, 198.51.100.7"}
    for ctx, expected_secure, expected_addr in ((behind, True, "198.51.100.7"), (direct, False, "127.0.0.1")):
        client = await app_client(aiohttp_client, ctx)
        patient = await patient_factory(aiohttp_client, client, ctx)(verified=False)
        page = await patient.client.get(f"/p/{patient.token}", headers=forwarded)
        cookie_header = page.headers["Set-Cookie"]
        assert ("Secure" in cookie_header) is expected_secure
        with ctx.engine.connect() as conn:
            opened = audit.search(conn, action="patient.link_opened", encounter_id=patient.encounter_id)
        assert opened[0]["remote_addr"] == expected_addr


async def test_pwa_manifest_and_service_worker(page_client: TestClient) -> None:
    manifest = await page_client.get("/manifest.webmanifest")
    assert manifest.content_type == "application/manifest+json"
    body = json.loads(await manifest.text())
    assert body["display"] == "standalone" and body["start_url"] == "/"
    for icon in body["icons"]:
        image = await page_client.get(icon["src"])
        assert image.status == 200 and image.content_type == "image/png"
        assert "immutable" in image.headers["Cache-Control"]
    worker = await page_client.get("/sw.js")
    script = await worker.text()
    assert worker.content_type == "text/javascript" and worker.headers["Cache-Control"] == "no-cache"
    shell = json.loads(re.search(r"const SHELL_URLS = (\[.*?\]);", script).group(1))
    assert "/offline" in shell and any("tus.min.js" in url for url in shell)
    assert not [url for url in shell if url.startswith(("/files", "/media", "/api", "/p/", "/upload"))]
    for url in shell:
        assert (await page_client.get(url)).status == 200, url
    font = await page_client.get("/static/vendor/inter-latin-wght-normal.woff2")
    assert font.status == 200 and (await font.read())[:4] == b"wOF2"
    assert (await page_client.get("/static/vendor/../../package.json")).status == 404


async def test_logs_never_carry_the_invite_token(new_patient: PatientFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    patient: PatientClient = await new_patient()
    await patient.upload(jpeg_payload(2000), filename="Jane Doe rash.jpg")
    # aiohttp's own access log belongs to the test server; the service runs with access_log=None
    # (the real-process test in test_secrets_in_logs.py checks the service's whole output)
    ours = [record for record in caplog.records if record.name != "aiohttp.access"]
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in ours)
    assert patient.token not in logged and "Jane Doe" not in logged
    assert "/p/{token}" in logged  # the route pattern is logged, not the path

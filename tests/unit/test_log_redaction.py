"""Every kind of secret is blanked from log text, whichever logger writes it, and the line stays JSON."""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import boto3
import pytest
from botocore.config import Config

from shared.logging.json_lines import configure_logging
from shared.logging.redaction import REDACTED, Redactor
from shared.staff.accounts import enrollment_link
from shared.storage.signed_urls import UrlSigner

TOKEN = secrets.token_urlsafe(32)
redactor = Redactor(["clinic_auth"])


def redact(text: str) -> str:
    return redactor.redact(text)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging rewires the process's loggers; put them back for the other tests."""
    manager = logging.Logger.manager
    saved = {
        name: (logger.handlers[:], logger.propagate, logger.level)
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    root = logging.getLogger()
    root_state = (root.handlers[:], root.level)
    yield
    for name, (handlers, propagate, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:], logger.propagate, logger.level = handlers, propagate, level
    root.handlers[:], root.level = root_state


@pytest.mark.parametrize(
    "text",
    [
        f"GET /p/{TOKEN} HTTP/1.1",
        f"https://upload.example.nhs.uk/p/{TOKEN}?utm=sms",
        f"Got more than 8190 bytes when reading: bytearray(b'/p/{TOKEN}?x=AAAA...')",
        f"Referer: https://upload.example.nhs.uk/p/{TOKEN}",
        f"next=%2Fp%2F{TOKEN}",
    ],
    ids=["request-line", "url", "aiohttp-line-too-long", "referer", "percent-encoded"],
)
def test_invite_token_in_a_path_is_blanked(text: str) -> None:
    redacted = redact(text)
    assert TOKEN not in redacted and REDACTED in redacted


@pytest.mark.parametrize(
    "cookie", ["mia_session", "__Host-mia_session", "mia_form", "__Host-mia_form", "mia_portal_auth", "_streamlit_xsrf"]
)
@pytest.mark.parametrize(
    "template",
    [
        "Cookie: theme=dark; {cookie}={token}; lang=en",
        "Got more than 8190 bytes when reading: b'{cookie}={token}; pad=CCCC...'",
        "Set-Cookie: {cookie}={token}; HttpOnly; Path=/; SameSite=Strict",
        "cookies: {{'{cookie}': '{token}'}}",
        '{{"{cookie}": "{token}"}}',
    ],
    ids=["cookie-header", "bare-pair", "set-cookie", "dict-repr", "json"],
)
def test_secret_cookies_are_blanked(cookie: str, template: str) -> None:
    redacted = redact(template.format(cookie=cookie, token=TOKEN))
    assert TOKEN not in redacted and REDACTED in redacted


def test_the_configured_portal_cookie_name_is_blanked_too() -> None:
    assert TOKEN not in redact(f"b'clinic_auth={TOKEN}'")
    assert TOKEN in Redactor().redact(f"b'clinic_auth={TOKEN}'")  # only because it was configured


@pytest.mark.parametrize(
    "text",
    [
        f"X-CSRF-Token: {TOKEN}",
        f"{{'X-CSRF-Token': '{TOKEN}', 'Host': 'x'}}",
        f"csrf_token={TOKEN}&consent_share=yes",
        f"form_token={TOKEN}&dob-day=01",
        f"<MultiDictProxy('csrf_token': '{TOKEN}')>",
    ],
    ids=["header", "header-dict", "csrf-field", "form-field", "multidict"],
)
def test_csrf_and_form_tokens_are_blanked(text: str) -> None:
    assert TOKEN not in redact(text)


def test_enrollment_link_token_is_blanked() -> None:
    link = enrollment_link("https://portal.example.nhs.uk", TOKEN)
    assert TOKEN not in redact(f"WebSocket /_stcore/stream?{link.split('?')[1]} [accepted]")
    assert TOKEN not in redact(f"link {link}") and TOKEN not in redact(f"{{'enroll': '{TOKEN}'}}")


def test_filesystem_signed_url_signature_is_blanked() -> None:
    url = UrlSigner(b"k" * 32, "http://localhost:8080").sign("derived/e1/m1/display.jpg", 300, "rash.jpg", "image/jpeg")
    signature = url.rsplit("sig=", 1)[1]
    redacted = redact(f"GET {url}")
    assert signature not in redacted and "sig=[redacted]" in redacted
    assert "/media/derived/e1/m1/display.jpg?expires=" in redacted  # what is not secret stays readable


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_s3_presigned_url_credentials_are_blanked(signature_version: str) -> None:
    session_token = "IQoJb3JpZ2luX2VjE+/A" * 8 + "=="
    client = boto3.client(
        "s3",
        region_name="eu-west-2",
        aws_access_key_id="AKIAEXAMPLEKEYID0001",
        aws_secret_access_key="secret-key-never-logged",
        aws_session_token=session_token,
        config=Config(signature_version=signature_version),
    )
    url = client.generate_presigned_url("get_object", Params={"Bucket": "mia", "Key": "derived/m1.jpg"}, ExpiresIn=60)
    redacted = redact(f"fetch failed: {url}")
    for secret in ("AKIAEXAMPLEKEYID0001", quote(session_token, safe=""), session_token[:20]):
        assert secret not in redacted
    query = url.split("?", 1)[1]
    signature = next(value for name, _, value in (p.partition("=") for p in query.split("&")) if "ignature" in name)
    assert signature not in redacted


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {TOKEN}",
        f"{{'Authorization': b'AWS4-HMAC-SHA256 Credential=AKIA/x, SignedHeaders=host, Signature={TOKEN}'}}",
        f"proxy-authorization: Basic {TOKEN}",
        f"b'GET / HTTP/1.1\\r\\nAuthorization: Bearer {TOKEN}\\r\\nHost: x'",
    ],
    ids=["bearer", "sigv4-bytes", "proxy", "raw-request-bytes"],
)
def test_authorization_headers_are_blanked(text: str) -> None:
    assert TOKEN not in redact(text)


NOTIFY_SERVICE, NOTIFY_SECRET = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.mark.parametrize(
    "text",
    [
        f"MIA_NOTIFY_API_KEY=mia_live-{NOTIFY_SERVICE}-{NOTIFY_SECRET}",
        json.dumps({"settings": f"notify_api_key='team_key-{NOTIFY_SERVICE}-{NOTIFY_SECRET}'"}),
    ],
    ids=["environment", "json"],
)
def test_the_secret_half_of_a_notify_key_is_blanked(text: str) -> None:
    redacted = redact(text)
    assert NOTIFY_SECRET not in redacted and f"{NOTIFY_SERVICE}-{REDACTED}" in redacted  # the service id stays


@pytest.mark.parametrize(
    "text",
    [
        f"MIA_SMTP_URL=smtp://mia-relay:{TOKEN}@send.nhs.net:587?starttls=true",
        json.dumps({"exc_info": f"could not connect to smtps://leeds.mia%40nhs.net:{TOKEN}@send.nhs.net:465"}),
    ],
    ids=["environment", "json"],
)
def test_the_password_in_an_smtp_url_is_blanked(text: str) -> None:
    redacted = redact(text)
    assert TOKEN not in redacted and f":{REDACTED}@send.nhs.net" in redacted


@pytest.mark.parametrize(
    "text",
    [
        '{"level": "INFO", "logger": "mia.upload.access", "route": "/p/{token}", "status": 200}',
        '{"notification_id": "9d43215a-fb74-4d12-b399-9768e1b94a44", "time": "2026-12-02T05:47:38", "url": "http://a:b/c"}',
        '{"signal": "SIGTERM", "expires": "1700000000", "media_id": "m1", "upload_id": "u1"}',
        "File /work/mia/patient_upload/views.py, line 12, in verify",
    ],
)
def test_what_is_not_secret_is_left_alone(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    "excerpt",
    [
        f"b'{TOKEN}AAAAAAAAAAAAAAAA...'",
        f"b'Bearer {TOKEN}AAAA...'",
        f"bytearray(b'/x?{TOKEN}...')",
        f'b"it\'s {TOKEN}..."',
    ],
    ids=["csrf-header-value", "bearer-value", "request-target", "double-quoted"],
)
def test_aiohttp_excerpt_of_an_over_long_line_is_blanked(excerpt: str) -> None:
    """For a header value aiohttp quotes the value alone: no name to know it by, so the whole excerpt goes."""
    message = f"400, message:\n  Got more than 8190 bytes when reading: {excerpt}."
    for text in (message, json.dumps({"exc_info": message})):
        redacted = redact(text)
        assert TOKEN not in redacted and "when reading: " in redacted and f"{REDACTED}..." in redacted


def test_redacting_twice_changes_nothing_more() -> None:
    once = redact(f"Cookie: mia_session={TOKEN}; x=1 GET /p/{TOKEN}?sig={TOKEN}&csrf_token={TOKEN}")
    assert redact(once) == once and TOKEN not in once


def test_message_args_extras_and_traceback_are_redacted_and_the_line_stays_json(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging("INFO", service="test", cookie_names=["clinic_auth"])
    log = logging.getLogger("mia.test")
    try:
        raise ValueError(f"bad request b'GET /p/{TOKEN}?x=\"q\"\\r\\nCookie: mia_session={TOKEN}'")
    except ValueError:
        log.exception(
            "request from %s failed",
            f"/p/{TOKEN}",
            extra={"headers": {"X-CSRF-Token": TOKEN, "Cookie": f"clinic_auth={TOKEN}"}, "url": f"/?enroll={TOKEN}"},
        )
    line = capsys.readouterr().out.strip().splitlines()[-1]
    record = json.loads(line)  # still one JSON object
    assert TOKEN not in line
    assert record["message"] == "request from /p/[redacted] failed" and "ValueError" in record["exc_info"]
    assert record["url"] == "/?enroll=[redacted]" and record["headers"]["X-CSRF-Token"] == REDACTED


def test_loggers_with_their_own_handlers_go_through_the_redacting_handler(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    """Streamlit and uvicorn give their loggers stderr handlers and stop propagation; that would skip redaction."""
    library = logging.getLogger("streamlit.test_library")
    library.addHandler(logging.StreamHandler())
    library.propagate = False
    configure_logging("INFO", service="test")
    library.warning("opened /?enroll=%s", TOKEN)
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err
    record = json.loads(captured.out.strip().splitlines()[-1])
    assert record["logger"] == "streamlit.test_library" and record["message"] == "opened /?enroll=[redacted]"

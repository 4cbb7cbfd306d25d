"""The HTTP side of patient sessions: client address, HTTPS detection, cookies and CSRF checks.

Cookies are HttpOnly and SameSite=Strict; over HTTPS they are also Secure and
carry the `__Host-` prefix (no Domain, Path=/), so a sibling sub-domain
cannot plant one. HTTPS is known from MIA_PATIENT_BASE_URL, or from the load
balancer's X-Forwarded-Proto when MIA_TRUST_PROXY_HEADERS is on.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

from aiohttp import web

from patient_upload.refusals import form_expired, session_ended
from patient_upload.state import state_of
from shared.client_address import client_address as address_of
from shared.encounters import patient_sessions
from shared.encounters.patient_sessions import PatientSession

SESSION_COOKIE = "mia_session"
FORM_COOKIE = "mia_form"
FORM_COOKIE_SECONDS = 2 * 3600
_SESSION_KEY = web.RequestKey("patient_session", object)


def is_https(request: web.Request) -> bool:
    settings = state_of(request).ctx.settings
    if settings.patient_base_url.startswith("https://"):
        return True
    if settings.trust_proxy_headers:
        return request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower() == "https"
    return request.secure


def client_address(request: web.Request) -> str | None:
    """The patient's address for the audit log (see shared.client_address)."""
    return address_of(
        request.remote,
        request.headers.get("X-Forwarded-For"),
        trust_proxy=state_of(request).ctx.settings.trust_proxy_headers,
    )


def _cookie_name(request: web.Request, base: str) -> str:
    return f"__Host-{base}" if is_https(request) else base


def _set_cookie(request: web.Request, response: web.StreamResponse, base: str, value: str, max_age: int) -> None:
    response.set_cookie(
        _cookie_name(request, base),
        value,
        max_age=max_age,
        path="/",
        secure=is_https(request),
        httponly=True,
        samesite="Strict",
    )


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    _set_cookie(request, response, SESSION_COOKIE, token, int(patient_sessions.ABSOLUTE_LIFETIME.total_seconds()))


def clear_session_cookie(request: web.Request, response: web.StreamResponse) -> None:
    response.del_cookie(_cookie_name(request, SESSION_COOKIE), path="/")


async def current_session(request: web.Request) -> PatientSession | None:
    """The live session this request's cookie names (looked up once per request)."""
    if _SESSION_KEY in request:
        return request[_SESSION_KEY]  # type: ignore[return-value]
    state = state_of(request)
    token = request.cookies.get(_cookie_name(request, SESSION_COOKIE))
    session = (
        await asyncio.to_thread(patient_sessions.resume, state.ctx.engine, token, state.session_idle) if token else None
    )
    request[_SESSION_KEY] = session
    return session


async def require_session(request: web.Request) -> PatientSession:
    session = await current_session(request)
    if session is None:
        raise session_ended()
    return session


def check_csrf(session: PatientSession, given: str | None) -> None:
    """Every state-changing request carries the session's CSRF token (form field or header)."""
    if not given or not hmac.compare_digest(session.csrf_token.encode(), given.encode()):
        raise form_expired()


# -- the date-of-birth form comes before any session: a signed double-submit token --------------


def _form_token(request: web.Request, nonce: str) -> str:
    return hmac.new(state_of(request).form_key, f"dob-form|{nonce}".encode(), hashlib.sha256).hexdigest()


def _form_nonce(request: web.Request) -> str:
    return request.cookies.get(_cookie_name(request, FORM_COOKIE)) or ""


def form_token(request: web.Request) -> tuple[str, str]:
    """(nonce for the form cookie, token the form must echo); keeps an existing nonce."""
    nonce = _form_nonce(request)
    if not (20 <= len(nonce) <= 64):
        nonce = secrets.token_urlsafe(24)
    return nonce, _form_token(request, nonce)


def set_form_cookie(request: web.Request, response: web.StreamResponse, nonce: str) -> None:
    _set_cookie(request, response, FORM_COOKIE, nonce, FORM_COOKIE_SECONDS)


def check_form_token(request: web.Request, given: str | None) -> None:
    nonce = _form_nonce(request)
    if not nonce or not given or not hmac.compare_digest(_form_token(request, nonce).encode(), given.encode()):
        raise form_expired()

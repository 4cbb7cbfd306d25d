"""Cross-cutting HTTP behaviour: security headers, refusals and errors, access logging.

Domain errors from the encounter rules become refusals here
(`patient_upload.refusals` chooses the status and the words).
Security headers go on every response through `on_response_prepare`, so
error pages, static files and streamed responses get them too. The access
log names the route pattern, never the path: paths carry invite tokens and
signed media keys. A request that fails because the database or the object
store is down (shared.outages) is answered 503 with Retry-After and a
sentence for the patient, not 500: it will work again once they are back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from patient_upload.media import MEDIA_CSP
from patient_upload.refusals import Refusal, refusal_for, service_unavailable
from patient_upload.security_headers import security_headers
from patient_upload.state import state_of
from patient_upload.templating import ORGANISATION, patient_organisation, render
from patient_upload.tus.protocol import REFUSAL_HEADER, ProtocolError, base_headers
from patient_upload.web_session import current_session, is_https
from shared.encounters.errors import EncounterError
from shared.encounters.patient_sessions import PatientSession
from shared.logging.json_lines import get_logger
from shared.outages import outage_of

log = get_logger("mia.upload.http")
access_log = get_logger("mia.upload.access")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PAGE_TITLES = {
    "session_ended": "You have been signed out",
    "link_expired": "This link has expired",
    "already_sent": "You have already sent your files",
    "form_expired": "This page has expired",
    "consent_needed": "Please answer the consent questions first",
    "unavailable": "Sorry, the service is unavailable",
}
# The pages of a verified patient (a session bound to an encounter): they show their team's organisation name.
SESSION_PAGES = frozenset({"/consent", "/upload", "/send", "/done", "/sign-out"})
# Refusals whose page must not look the session up (it has ended, or the database is down).
NO_SESSION_LOOKUP = {"session_ended", "unavailable"}


def _is_tus(request: web.Request) -> bool:
    return request.path == "/files" or request.path.startswith("/files/")


def _is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


async def refusal_response(request: web.Request, refusal: Refusal) -> web.StreamResponse:
    """The same refusal, shaped for who asked: the tus client, the page's script, or a person."""
    response: web.StreamResponse
    if _is_tus(request):
        response = web.Response(
            status=refusal.status,
            text=refusal.message,
            headers={**base_headers(), REFUSAL_HEADER: refusal.code},
        )
    elif _is_api(request):
        response = web.json_response({"error": refusal.code, "message": refusal.message}, status=refusal.status)
        response.headers[REFUSAL_HEADER] = refusal.code
    else:
        session = await _page_session(request, refusal)
        response = render(
            request,
            "message.html",
            status=refusal.status,
            title=PAGE_TITLES.get(refusal.code, "Sorry, we could not do that"),
            message=refusal.message,
            code=refusal.code,
            session=session,
            csrf_token=session.csrf_token if session else None,
        )
    if refusal.retry_after is not None:
        response.headers["Retry-After"] = str(refusal.retry_after)
    return response


async def _page_session(request: web.Request, refusal: Refusal) -> PatientSession | None:
    """The session for the page's sign-out button, if it can be had: a refusal page must not fail in turn."""
    if refusal.code in NO_SESSION_LOOKUP:
        return None
    try:
        return await current_session(request)
    except Exception as error:
        if outage_of(error) is None:
            raise
        return None


def _unavailable(request: web.Request, error: Exception, dependency: str) -> Refusal:
    log.error(
        "dependency unavailable",
        extra={
            "route": _route(request),
            "method": request.method,
            "dependency": dependency,
            "error": type(error).__name__,
        },
    )
    return service_unavailable()


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Refusal as refusal:
        return await refusal_response(request, refusal)
    except EncounterError as error:
        return await refusal_response(request, refusal_for(error, state_of(request).limits))
    except ProtocolError as error:
        return await refusal_response(request, Refusal(400, "bad_request", str(error)))
    except web.HTTPException as exc:
        if exc.status in (404, 405) and not (
            _is_tus(request) or _is_api(request) or request.path.startswith("/media/")
        ):
            title = "Page not found" if exc.status == 404 else "Sorry, we could not do that"
            text = "Check the address, or open the link your care team sent you again."
            return render(request, "message.html", status=exc.status, title=title, message=text, code="not_found")
        raise
    except Exception as error:
        dependency = outage_of(error)
        if dependency is not None:
            return await refusal_response(request, _unavailable(request, error, dependency))
        log.exception("request failed", extra={"route": _route(request), "method": request.method})
        message = "Something went wrong on our side. Please try again in a few minutes."
        if _is_tus(request) or _is_api(request):
            return web.Response(status=500, text=message, headers=base_headers() if _is_tus(request) else None)
        return render(request, "message.html", status=500, title="Sorry, there is a problem", message=message, code="")


@web.middleware
async def organisation(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A verified patient's pages name their team's organisation (templating.ORGANISATION); others the default.

    Inside `errors`, so a database outage here is answered like any other.
    """
    if _route(request) in SESSION_PAGES:
        session = await current_session(request)
        if session is not None:
            state = state_of(request)
            request[ORGANISATION] = await asyncio.to_thread(patient_organisation, state.ctx, session.encounter_id)
    return await handler(request)


def _route(request: web.Request) -> str:
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None)
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def log_access(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        access_log.info(
            "request",
            extra={
                "method": request.method,
                "route": _route(request),
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    media = request.path.startswith("/media/")
    for name, value in security_headers(MEDIA_CSP if media else None, https=is_https(request)).items():
        response.headers[name] = value
    if media:
        # the signature is the access control; the portal (another origin) embeds these
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    if request.path.startswith("/static/") and "Cache-Control" not in response.headers:
        versioned = request.query.get("v") == state_of(request).assets.version
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable" if versioned else "no-cache"

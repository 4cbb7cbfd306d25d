"""The patient's pages: link → date of birth → consent → upload → check and send → done.

Pages are server-rendered (the upload page adds upload.js on top); every
form POST carries a CSRF token. A patient who is signed out, whose link has
expired or who has already sent is told so in plain words.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from aiohttp import web

from patient_upload.refusals import format_size, refusal_for
from patient_upload.state import AppState, state_of
from patient_upload.templating import render
from patient_upload.web_session import (
    check_csrf,
    check_form_token,
    clear_session_cookie,
    client_address,
    current_session,
    form_token,
    require_session,
    set_form_cookie,
    set_session_cookie,
)
from shared.clock import utcnow
from shared.db.statuses import MediaKind, UploadStatus
from shared.encounters import journey, patient_sessions, submission, verification
from shared.encounters.consent import ConsentRecord, consent_granted, position, record_consent
from shared.encounters.consent_text import QUESTIONS, SAFEGUARDING_NOTICE
from shared.encounters.encounter import Encounter
from shared.encounters.errors import NothingToSend, StillUploading
from shared.encounters.identifiers import InvalidIdentifier, parse_date_of_birth
from shared.encounters.patient_sessions import PatientSession
from shared.encounters.requests import CLOSED_STATUSES
from shared.encounters.uploads import records
from shared.encounters.verification import MAX_TOKEN_CHARS
from shared.logging.json_lines import get_logger
from shared.numbers import ascii_digits
from shared.storage.base import StorageError

log = get_logger(__name__)

NOT_CONFIRMED = (
    "We could not confirm your details. Check your date of birth and try again. "
    "If it still does not work, the link may have expired or been locked after too many tries: "
    "ask your care team to send you a new link."
)


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


async def _in_thread(function: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(function, *args, **kwargs)


def _encounter_and_consent(state: AppState, encounter_id: str) -> tuple[Encounter | None, ConsentRecord | None]:
    where = position(state.ctx.engine, encounter_id)
    return where.encounter, where.consent


async def next_step(state: AppState, session: PatientSession) -> str:
    encounter, consent = await _in_thread(_encounter_and_consent, state, session.encounter_id)
    if encounter is not None and encounter.status in CLOSED_STATUSES:
        return "/done"
    if not consent_granted(consent):
        return "/consent"
    return "/upload"


async def _open_journey(
    request: web.Request,
) -> tuple[AppState, PatientSession, Encounter | None, ConsentRecord | None]:
    """Session, encounter and latest consent for a page that adds files; refuses if it can no longer."""
    state = state_of(request)
    session = await require_session(request)
    encounter, consent = await _in_thread(_encounter_and_consent, state, session.encounter_id)
    problem = journey.access_problem(encounter, utcnow())
    if problem is not None:
        raise problem
    return state, session, encounter, consent


# -- home, link and date of birth --------------------------------------------------------------


async def home(request: web.Request) -> web.Response:
    session = await current_session(request)
    if session is not None:
        return see_other(await next_step(state_of(request), session))
    return render(request, "home.html")


async def _token_encounter(state: AppState, token: str) -> str | None:
    return await _in_thread(verification.encounter_for_token, state.ctx.engine, token)


def _date_form(
    request: web.Request, token: str, status: int = 200, error: str | None = None, values: dict[str, str] | None = None
) -> web.Response:
    nonce, token_value = form_token(request)
    response = render(
        request,
        "date_of_birth.html",
        status=status,
        token=token,
        form_token=token_value,
        error=error,
        values=values or {"day": "", "month": "", "year": ""},
    )
    set_form_cookie(request, response, nonce)
    return response


async def link(request: web.Request) -> web.Response:
    """GET /p/{token}: the date-of-birth form. Consumes nothing; the same page for any token."""
    state = state_of(request)
    token = request.match_info["token"]
    session = await current_session(request)
    if session is not None and session.encounter_id == await _token_encounter(state, token):
        return see_other(await next_step(state, session))
    if len(token) <= MAX_TOKEN_CHARS:
        await _in_thread(verification.open_link, state.ctx, token, client_address(request))
    return _date_form(request, token)


def parse_date_parts(day: str, month: str, year: str) -> dt.date:
    """Day, month and year as typed (numbers); raises InvalidIdentifier with a sentence for the patient.

    Digits 0-9 only, as the form's fields are sized (2, 2 and 4): digits of
    other scripts get the same answer as letters, never a date.
    """
    d = ascii_digits((day or "").strip(), max_digits=2)
    m = ascii_digits((month or "").strip(), max_digits=2)
    y = ascii_digits((year or "").strip(), max_digits=4, min_digits=4)
    if d is None or m is None or y is None:
        raise InvalidIdentifier("Enter your date of birth as numbers, for example 27 3 1985.")
    try:
        return parse_date_of_birth(f"{y}-{int(m):02d}-{int(d):02d}")
    except InvalidIdentifier:
        raise InvalidIdentifier("Enter a real date of birth, for example 27 3 1985.") from None


async def verify(request: web.Request) -> web.Response:
    """POST /p/{token}: one answer for every failure; success starts a session bound to the encounter."""
    state = state_of(request)
    token = request.match_info["token"]
    form = await request.post()
    check_form_token(request, str(form.get("form_token", "")))
    values = {name: str(form.get(name, "")).strip()[:8] for name in ("day", "month", "year")}
    try:
        date_of_birth = parse_date_parts(values["day"], values["month"], values["year"])
    except InvalidIdentifier as error:
        return _date_form(request, token, 400, str(error), values)
    encounter_id = None
    if len(token) <= MAX_TOKEN_CHARS:
        encounter_id = await _in_thread(
            verification.verify_date_of_birth, state.ctx, token, date_of_birth, client_address(request)
        )
    if encounter_id is None:
        return _date_form(request, token, 400, NOT_CONFIRMED, values)

    previous = await current_session(request)
    cookie_token, session = await _in_thread(
        patient_sessions.begin,
        state.ctx.engine,
        encounter_id,
        state.session_idle,
        replacing=previous.id if previous is not None else None,
    )
    response = see_other(await next_step(state, session))
    set_session_cookie(request, response, cookie_token)
    return response


# -- consent -----------------------------------------------------------------------------------


def _answers_of(consent: ConsentRecord | None) -> dict[str, str]:
    if consent is None:
        return {question.field: "" for question in QUESTIONS}
    return {question.field: "yes" if getattr(consent, question.field) else "no" for question in QUESTIONS}


def _consent_page(
    request: web.Request,
    state: AppState,
    session: PatientSession,
    *,
    answers: dict[str, str],
    sent: bool,
    status: int = 200,
    errors: dict[str, str] | None = None,
) -> web.Response:
    return render(
        request,
        "consent.html",
        status=status,
        session=session,
        csrf_token=session.csrf_token,
        questions=QUESTIONS,
        safeguarding=SAFEGUARDING_NOTICE,
        answers=answers,
        errors=errors or {},
        sent=sent,
    )


async def _consent_context(
    request: web.Request,
) -> tuple[AppState, PatientSession, Encounter | None, ConsentRecord | None, bool]:
    state = state_of(request)
    session = await require_session(request)
    encounter, consent = await _in_thread(_encounter_and_consent, state, session.encounter_id)
    sent = encounter is not None and encounter.status in CLOSED_STATUSES
    if not sent:
        problem = journey.access_problem(encounter, utcnow())
        if problem is not None:
            raise problem
    return state, session, encounter, consent, sent


async def consent_form(request: web.Request) -> web.Response:
    state, session, _encounter, consent, sent = await _consent_context(request)
    return _consent_page(request, state, session, answers=_answers_of(consent), sent=sent)


async def consent_submit(request: web.Request) -> web.Response:
    """Answers are stored even when they are no (the care team should know); after Send only question 3 changes."""
    state, session, _encounter, consent, sent = await _consent_context(request)
    form = await request.post()
    check_csrf(session, str(form.get("csrf_token", "")))
    answers = _answers_of(consent)
    errors: dict[str, str] = {}
    for question in QUESTIONS:
        if sent and question.required:
            continue  # already given; withdrawing it after sending is a conversation with the care team
        value = str(form.get(question.field, ""))
        answers[question.field] = value
        if value not in ("yes", "no"):
            errors[question.field] = f"Answer question {question.number}: choose yes or no."
    if not sent and form.get("safeguarding") != "understood":
        errors["safeguarding"] = "Confirm that you have read the notice about intimate images."
    if errors:
        return _consent_page(request, state, session, answers=answers, sent=sent, status=400, errors=errors)
    granted = await _in_thread(
        record_consent,
        state.ctx,
        session.encounter_id,
        session.id,
        {field: value == "yes" for field, value in answers.items()},
        client_address(request),
    )
    if sent:
        return see_other("/done?saved=consent")
    if granted:
        return see_other("/upload")
    return render(request, "consent_declined.html", session=session, csrf_token=session.csrf_token)


# -- upload, check and send, done -----------------------------------------------------------------


async def upload_page(request: web.Request) -> web.Response:
    state, session, _encounter, consent = await _open_journey(request)
    if not consent_granted(consent):
        return see_other("/consent")
    note = await _in_thread(journey.request_note, state.ctx, session.encounter_id)
    limits = state.limits
    return render(
        request,
        "upload.html",
        session=session,
        csrf_token=session.csrf_token,
        request_note=note,
        safeguarding=SAFEGUARDING_NOTICE,
        limits=limits,
        max_image=format_size(limits.max_image_bytes),
        max_video=format_size(limits.max_video_bytes),
        chunk_size=4 * state.ctx.settings.s3_part_size,
    )


def _kind_label(kind: str | None) -> str:
    return "Video" if kind == MediaKind.VIDEO else "Photo"


async def _check_page(
    request: web.Request, state: AppState, session: PatientSession, status: int = 200, error: str | None = None
) -> web.Response:
    summary = await _in_thread(submission.summary_for, state.ctx.engine, session.encounter_id)
    items = await _in_thread(records.list_for_encounter, state.ctx, session.encounter_id, session.id)
    files = [
        {"name": item.filename, "note": item.note, "kind": _kind_label(item.kind), "size": format_size(item.size)}
        for item in items
        if item.status == UploadStatus.COMPLETE
    ]
    return render(
        request,
        "confirm.html",
        status=status,
        session=session,
        csrf_token=session.csrf_token,
        summary=summary,
        description=submission.describe(summary),
        files=files,
        error=error,
    )


async def check(request: web.Request) -> web.Response:
    state, session, _encounter, consent = await _open_journey(request)
    if not consent_granted(consent):
        return see_other("/consent")
    return await _check_page(request, state, session)


async def send(request: web.Request) -> web.Response:
    state = state_of(request)
    session = await require_session(request)
    form = await request.post()
    check_csrf(session, str(form.get("csrf_token", "")))
    try:
        submitted = await _in_thread(
            submission.submit, state.ctx, session.encounter_id, session.id, client_address(request)
        )
    except (StillUploading, NothingToSend) as error:
        refusal = refusal_for(error, state.limits)
        return await _check_page(request, state, session, status=refusal.status, error=refusal.message)
    for upload_id, key, ref in submitted.discarded:
        try:
            await state.store.abort_resumable(key, ref)
        except StorageError:
            log.exception("could not discard an unfinished upload", extra={"upload_id": upload_id})
    return see_other("/done")


async def done(request: web.Request) -> web.Response:
    state = state_of(request)
    session = await require_session(request)
    encounter, consent = await _in_thread(_encounter_and_consent, state, session.encounter_id)
    if encounter is None or encounter.status not in CLOSED_STATUSES:
        return see_other(await next_step(state, session))

    sent = await _in_thread(submission.summary_for, state.ctx.engine, session.encounter_id)
    return render(
        request,
        "done.html",
        session=session,
        csrf_token=session.csrf_token,
        description=submission.describe(sent),
        teaching=bool(consent is not None and consent.use_for_teaching),
        saved=request.query.get("saved") == "consent",
    )


async def sign_out(request: web.Request) -> web.Response:
    state = state_of(request)
    session = await current_session(request)
    if session is not None:
        form = await request.post()
        check_csrf(session, str(form.get("csrf_token", "")))

        await _in_thread(patient_sessions.end, state.ctx.engine, session.id)
    response = render(request, "signed_out.html")
    clear_session_cookie(request, response)
    return response

"""The patient's journey over HTTP: link, date of birth, session, consent, send (both databases)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from http.cookies import SimpleCookie

from aiohttp.test_utils import TestClient
from sqlalchemy import event, select, update

from shared import audit
from shared.clock import utcnow
from shared.context import Actor, AppContext
from shared.db.statuses import EncounterStatus, UploadStatus
from shared.db.tables import consents, encounters, notifications, patient_sessions, uploads
from shared.encounters import verification
from shared.encounters.consent_text import CONSENT_TEXT_VERSION
from shared.encounters.requests import reissue_invite, unlock
from shared.encounters.verification import MAX_DOB_FAILURES, wrong_dates_in_a_row
from shared.ids import new_secret_token, token_hash
from shared.notifications import outbox
from tests.integration.upload_service.conftest import PatientFactory
from tests.support.factories import PATIENT, REQUEST_NOTE, make_clinician, make_encounter
from tests.support.patient_client import PatientClient, form_field
from tests.support.upload_payloads import jpeg_payload

WRONG_DATE = "1961-07-15"


def encounter_row(ctx: AppContext, encounter_id: str):  # type: ignore[no-untyped-def]
    with ctx.engine.connect() as conn:
        return conn.execute(select(encounters).where(encounters.c.id == encounter_id)).one()


def wrong_dates(ctx: AppContext, encounter_id: str) -> int:
    with ctx.engine.connect() as conn:
        return wrong_dates_in_a_row(conn, encounter_id)


def actions(ctx: AppContext, encounter_id: str | None = None) -> list[str]:
    with ctx.engine.connect() as conn:
        return [event["action"] for event in audit.search(conn, encounter_id=encounter_id, limit=1000)]


def normalised(html: str) -> str:
    """A page without its per-visitor parts (form token, link, the date typed), so two answers can be compared."""
    return re.sub(r'value="[^"]*"', "", re.sub(r'action="/p/[^"]*"', "", html))


async def test_opening_the_link_consumes_nothing(new_page_patient: PatientFactory, ctx: AppContext) -> None:
    patient = await new_page_patient(verified=False)
    before = encounter_row(ctx, patient.encounter_id)
    first = await patient.open_link()
    opened = encounter_row(ctx, patient.encounter_id)
    second = await patient.open_link()  # a link scanner, then the patient
    row = encounter_row(ctx, patient.encounter_id)
    assert row == opened  # opening an opened link writes nothing to it (no time to tell a live link by)
    assert row.invite_token_hash == before.invite_token_hash == token_hash(patient.token)
    assert row.status == EncounterStatus.OPENED and row.opened_at is not None and row.verified_at is None
    assert "What is your date of birth?" in first and normalised(first) == normalised(second)
    for secret in (PATIENT.name, REQUEST_NOTE, "Quartermain"):
        assert secret not in first  # nothing about the patient before verification
    assert actions(ctx, patient.encounter_id).count("patient.link_opened") == 2
    await patient.verify()  # the link still works after being opened twice


async def test_every_failure_gets_the_same_answer(new_page_patient: PatientFactory, ctx: AppContext) -> None:
    answers = []
    wrong = await new_page_patient(verified=False)
    answers.append(await wrong.submit_date(WRONG_DATE))
    unknown = await new_page_patient(verified=False)
    unknown.token = "x" * 43
    answers.append(await unknown.submit_date())
    expired = await new_page_patient(verified=False)
    locked = await new_page_patient(verified=False)
    with ctx.engine.begin() as conn:
        past = utcnow() - dt.timedelta(minutes=1)
        conn.execute(update(encounters).where(encounters.c.id == expired.encounter_id).values(invite_expires_at=past))
        conn.execute(update(encounters).where(encounters.c.id == locked.encounter_id).values(locked_at=past))
    answers.append(await expired.submit_date())
    answers.append(await locked.submit_date())
    bodies = {normalised(await response.text()) for response in answers}
    assert {response.status for response in answers} == {400}
    assert len(bodies) == 1
    assert "We could not confirm your details" in bodies.pop()
    assert all("Set-Cookie" not in r.headers or "mia_session" not in r.headers["Set-Cookie"] for r in answers)


async def test_five_wrong_dates_lock_the_link_across_sessions(
    new_page_patient: PatientFactory, page_client: TestClient, aiohttp_client, ctx: AppContext
) -> None:
    patient = await new_page_patient(verified=False)
    for attempt in range(MAX_DOB_FAILURES):
        phone = PatientClient(await aiohttp_client(page_client.server), patient.token)  # a fresh cookie jar each time
        response = await phone.submit_date(WRONG_DATE)
        assert response.status == 400
        assert wrong_dates(ctx, patient.encounter_id) == attempt + 1
    row = encounter_row(ctx, patient.encounter_id)
    assert row.locked_at is not None
    response = await patient.submit_date()  # the right date no longer helps
    assert response.status == 400 and "We could not confirm your details" in await response.text()
    events = actions(ctx, patient.encounter_id)
    assert events.count("patient.dob_failed") == MAX_DOB_FAILURES + 1 and events.count("patient.link_locked") == 1
    unlock(ctx, patient.encounter_id, actor=Actor(row.clinician_id))
    assert wrong_dates(ctx, patient.encounter_id) == 0  # what the locked link took is not held against it
    await patient.verify()


async def test_unlock_and_reissue_start_the_count_again(
    new_page_patient: PatientFactory, page_client: TestClient, aiohttp_client, ctx: AppContext
) -> None:
    patient = await new_page_patient(verified=False)
    clinician_id = encounter_row(ctx, patient.encounter_id).clinician_id
    for _ in range(MAX_DOB_FAILURES - 1):
        assert (await patient.submit_date(WRONG_DATE)).status == 400
    unlock(ctx, patient.encounter_id, actor=Actor(clinician_id))  # on a link that is not locked
    assert wrong_dates(ctx, patient.encounter_id) == 0
    for _ in range(MAX_DOB_FAILURES - 1):
        assert (await patient.submit_date(WRONG_DATE)).status == 400
    with ctx.engine.begin() as conn:  # the link expires and takes wrong dates, then a new one is sent
        conn.execute(
            update(encounters)
            .where(encounters.c.id == patient.encounter_id)
            .values(invite_expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    for _ in range(MAX_DOB_FAILURES):
        assert (await patient.submit_date(WRONG_DATE)).status == 400
    assert encounter_row(ctx, patient.encounter_id).locked_at is None  # an expired link does not lock
    new_link = reissue_invite(ctx, patient.encounter_id, actor=Actor(clinician_id))
    assert wrong_dates(ctx, patient.encounter_id) == 0
    phone = PatientClient(await aiohttp_client(page_client.server), new_link.token)
    for _ in range(MAX_DOB_FAILURES - 1):
        assert (await phone.submit_date(WRONG_DATE)).status == 400
    assert wrong_dates(ctx, patient.encounter_id) == MAX_DOB_FAILURES - 1
    assert encounter_row(ctx, patient.encounter_id).locked_at is None
    await phone.verify()


async def test_a_right_date_resets_the_count_of_wrong_ones(
    new_page_patient: PatientFactory, page_client: TestClient, aiohttp_client, ctx: AppContext
) -> None:
    patient = await new_page_patient(verified=False)
    for _ in range(MAX_DOB_FAILURES - 1):
        assert (await patient.submit_date(WRONG_DATE)).status == 400
    assert wrong_dates(ctx, patient.encounter_id) == MAX_DOB_FAILURES - 1
    await patient.verify()
    assert wrong_dates(ctx, patient.encounter_id) == 0
    other_phone = PatientClient(await aiohttp_client(page_client.server), patient.token)  # the link still works
    assert (await other_phone.submit_date(WRONG_DATE)).status == 400
    row = encounter_row(ctx, patient.encounter_id)
    assert wrong_dates(ctx, patient.encounter_id) == 1 and row.locked_at is None  # 4 wrong, right, 1 wrong
    await other_phone.verify()


Sent = tuple[str, int, int]  # statement, number of parameters, rows it matched, wrote or returned


def statements_of(ctx: AppContext, step: Callable[[], object]) -> list[Sent]:
    """Every statement `step` sends to the database, with its number of parameters and the driver's rowcount."""
    sent: list[Sent] = []

    def record(_conn, cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        sent.append((statement, len(parameters or ()), cursor.rowcount))

    event.listen(ctx.engine, "after_cursor_execute", record)
    try:
        step()
    finally:
        event.remove(ctx.engine, "after_cursor_execute", record)
    return sent


def rows_written(sent: list[Sent]) -> list[tuple[str, int]]:
    """(table, rows) of each INSERT, UPDATE or DELETE that changed rows: what a step wrote."""
    writes = re.compile(r"\s*(?:INSERT INTO|UPDATE|DELETE FROM)\s+[`\"]?(\w+)", re.IGNORECASE)
    return [(match.group(1), rows) for sql, _, rows in sent if (match := writes.match(sql)) and rows]


def test_every_refusal_runs_the_same_statements(ctx: AppContext) -> None:
    clinician_id = make_clinician(ctx, username="dr-statements")
    links = {kind: make_encounter(ctx, clinician_id) for kind in ("live", "expired", "locked", "closed")}
    past = utcnow() - dt.timedelta(minutes=1)
    changes = {"expired": {"invite_expires_at": past}, "locked": {"locked_at": past}, "closed": {"status": "submitted"}}
    with ctx.engine.begin() as conn:
        for kind, values in changes.items():
            conn.execute(update(encounters).where(encounters.c.id == links[kind].encounter_id).values(**values))
    verification.open_link(ctx, links["live"].token, "127.0.0.1")  # a link its holder opened before
    before = {kind: encounter_row(ctx, link.encounter_id) for kind, link in links.items()}
    tokens = {**{kind: link.token for kind, link in links.items()}, "unknown": new_secret_token()}
    wrong = dt.date.fromisoformat(WRONG_DATE)

    opened = {
        kind: statements_of(ctx, lambda t=token: verification.open_link(ctx, t, "127.0.0.1"))
        for kind, token in tokens.items()
    }
    refused = {
        kind: statements_of(ctx, lambda t=token: verification.verify_date_of_birth(ctx, t, wrong, "127.0.0.1"))
        for kind, token in tokens.items()
    }

    for statements in (opened, refused):  # the same statements, parameters and rowcounts
        assert all(sent == statements["live"] for sent in statements.values()), statements
    for statements in (opened, refused):  # each writes one row, its audit event, whatever the link
        assert all(rows_written(sent) == [("audit_events", 1)] for sent in statements.values()), statements
    assert any("count(" in sql.lower() for sql, _, _ in refused["unknown"])  # the stand-in counts too
    assert wrong_dates(ctx, links["live"].encounter_id) == 1  # the live link counted the wrong date
    assert {kind: encounter_row(ctx, link.encounter_id) for kind, link in links.items()} == before
    with ctx.engine.connect() as conn:
        failed = audit.search(conn, action="patient.dob_failed")
    assert sorted(json.loads(event["detail"])["link"] for event in failed) == sorted(tokens)


async def test_verification_starts_a_server_side_session(new_page_patient: PatientFactory, ctx: AppContext) -> None:
    patient = await new_page_patient(verified=False)
    response = await patient.submit_date()
    assert response.status == 303 and response.headers["Location"] == "/consent"
    cookie = SimpleCookie(response.headers["Set-Cookie"])["mia_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and not cookie["secure"] and cookie["path"] == "/"
    with ctx.engine.connect() as conn:
        stored = conn.execute(select(patient_sessions)).all()
    assert [row.id for row in stored] == [token_hash(cookie.value)]  # only the hash is kept
    assert stored[0].encounter_id == patient.encounter_id
    row = encounter_row(ctx, patient.encounter_id)
    assert row.status == EncounterStatus.VERIFIED and row.verified_at is not None
    with ctx.engine.connect() as conn:
        verified = audit.search(conn, action="patient.verified")
    assert verified[0]["actor_type"] == "patient" and verified[0]["remote_addr"] == "127.0.0.1"
    # opening the link again on the same phone goes straight to the next step
    again = await patient.client.get(f"/p/{patient.token}", allow_redirects=False)
    assert again.status == 303 and again.headers["Location"] == "/consent"


async def test_forms_need_their_csrf_token(new_page_patient: PatientFactory) -> None:
    patient = await new_page_patient(verified=False)
    await patient.open_link()
    forged = await patient.client.post(f"/p/{patient.token}", data={"day": "14", "month": "7", "year": "1961"})
    assert forged.status == 403 and "This page has expired" in await forged.text()
    await patient.verify()
    consent = await patient.client.post(
        "/consent", data={"share_with_care_team": "yes", "keep_in_record": "yes", "use_for_teaching": "no"}
    )
    assert consent.status == 403
    tus = await patient.client.post("/files/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10"})
    assert tus.status == 403
    send = await patient.client.post("/send", data={"csrf_token": "forged"})
    assert send.status == 403


async def test_badly_typed_dates_are_explained_and_not_counted(
    new_page_patient: PatientFactory, ctx: AppContext
) -> None:
    patient = await new_page_patient(verified=False)
    html = await patient.open_link()
    response = await patient.client.post(
        f"/p/{patient.token}",
        data={"form_token": form_field(html, "form_token"), "day": "31", "month": "2", "year": "1961"},
    )
    assert response.status == 400 and "Enter a real date of birth" in await response.text()
    assert wrong_dates(ctx, patient.encounter_id) == 0


def arabic_indic(digits: str) -> str:
    return digits.translate({ord("0") + n: 0x0660 + n for n in range(10)})


async def test_a_date_in_other_digits_is_explained_and_not_counted(
    new_page_patient: PatientFactory, ctx: AppContext
) -> None:
    patient = await new_page_patient(verified=False)
    year, month, day = patient.date_of_birth.split("-")
    for typed in ((arabic_indic(day), arabic_indic(month), arabic_indic(year)), (day, month, "１９" + year[2:])):
        html = await patient.open_link()
        form = {"form_token": form_field(html, "form_token"), "day": typed[0], "month": typed[1], "year": typed[2]}
        response = await patient.client.post(f"/p/{patient.token}", data=form, allow_redirects=False)
        assert response.status == 400  # the right date, but not in digits 0-9: refused like letters
        assert "Enter your date of birth as numbers" in await response.text()
    assert wrong_dates(ctx, patient.encounter_id) == 0
    assert encounter_row(ctx, patient.encounter_id).verified_at is None
    assert "patient.dob_failed" not in actions(ctx, patient.encounter_id)
    await patient.verify()


async def test_consent_is_required_before_uploading(new_page_patient: PatientFactory, ctx: AppContext) -> None:
    patient = await new_page_patient(verified=False)
    await patient.verify()
    page = await patient.client.get("/upload", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"] == "/consent"
    refused = await patient.create(100)
    assert refused.status == 403 and refused.headers["X-MIA-Refusal"] == "consent_needed"

    incomplete = await patient.client.post("/consent", data={"csrf_token": patient.csrf, "share_with_care_team": "yes"})
    text = await incomplete.text()
    assert incomplete.status == 400
    assert "Answer question 2" in text and "Answer question 3" in text and "intimate images" in text

    declined = await patient.client.post(
        "/consent",
        data={
            "csrf_token": patient.csrf,
            "share_with_care_team": "no",
            "keep_in_record": "yes",
            "use_for_teaching": "no",
            "safeguarding": "understood",
        },
    )
    assert declined.status == 200 and "You have chosen not to share" in await declined.text()
    assert (await patient.create(100)).status == 403
    assert encounter_row(ctx, patient.encounter_id).consented_at is None

    granted = await patient.consent(teaching=False)
    assert granted.status == 303 and granted.headers["Location"] == "/upload"
    row = encounter_row(ctx, patient.encounter_id)
    assert row.status == EncounterStatus.CONSENTED and row.consented_at is not None
    with ctx.engine.connect() as conn:
        answers = conn.execute(select(consents).order_by(consents.c.answered_at)).all()
    assert [(a.share_with_care_team, a.keep_in_record, a.use_for_teaching) for a in answers] == [
        (False, True, False),
        (True, True, False),
    ]
    assert {a.text_version for a in answers} == {CONSENT_TEXT_VERSION}
    assert actions(ctx, patient.encounter_id).count("patient.consent_declined") == 1


async def test_upload_page_shows_the_request_and_the_limits(new_page_patient: PatientFactory) -> None:
    patient = await new_page_patient()
    page = await patient.client.get("/upload")
    html = await page.text()
    assert page.status == 200 and REQUEST_NOTE in html
    assert 'data-max-image="52428800"' in html and 'data-max-files="20"' in html
    assert "Choose photos or videos" in html and 'capture="environment"' in html
    assert page.headers["Cache-Control"] == "no-store"


async def test_send_submits_notifies_and_ends_the_link(new_page_patient: PatientFactory, ctx: AppContext) -> None:
    patient = await new_page_patient()
    await patient.upload(jpeg_payload(5000), filename="arm.jpg")
    unfinished = await patient.create_url(4000, filename="later.jpg")
    check = await patient.client.get("/send")
    html = await check.text()
    assert "You are about to send 1 photo to your care team" in html and "arm.jpg" in html
    assert "1 file has not finished uploading" in html

    response = await patient.send()
    assert response.status == 303 and response.headers["Location"] == "/done"
    row = encounter_row(ctx, patient.encounter_id)
    assert row.status == EncounterStatus.SUBMITTED and row.submitted_at is not None
    assert row.invite_token_hash is None
    with ctx.engine.connect() as conn:
        note = conn.execute(select(notifications).where(notifications.c.user_id == row.clinician_id)).one()
        statuses = dict(conn.execute(select(uploads.c.id, uploads.c.status)).all())
        message = outbox.for_encounter(conn, ctx.cipher, patient.encounter_id)[0].body
    assert message.startswith("Your patient has sent 1 photo for the request")
    assert note.kind == "submission_received"
    assert statuses[unfinished.rsplit("/", 1)[1]] == UploadStatus.TERMINATED
    assert "patient.submitted" in actions(ctx, patient.encounter_id)
    done = await patient.client.get("/done")
    assert "Sent to your care team" in await done.text()

    # after sending: no more files, and the link is dead
    refused = await patient.create(100)
    assert refused.status == 403 and "already sent" in await refused.text()
    assert (await patient.client.get("/upload")).status == 403
    again = await patient.submit_date()
    assert again.status == 400
    # the optional teaching consent can still be changed
    change = await patient.client.post("/consent", data={"csrf_token": patient.csrf, "use_for_teaching": "no"})
    assert change.status == 200 and "Your choice has been saved" in await change.text()


async def test_send_needs_a_file_and_waits_for_uploads_in_progress(
    new_page_patient: PatientFactory, ctx: AppContext
) -> None:
    patient = await new_page_patient()
    empty = await patient.send()
    assert empty.status == 409 and "Add at least one photo or video" in await empty.text()
    await patient.upload(jpeg_payload(3000))
    busy = await patient.create_url(9000)
    with ctx.engine.begin() as conn:
        conn.execute(
            update(uploads)
            .where(uploads.c.id == busy.rsplit("/", 1)[1])
            .values(lock_token="someone", locked_until=utcnow() + dt.timedelta(seconds=30))
        )
    waiting = await patient.send()
    assert waiting.status == 409 and "still being uploaded" in await waiting.text()
    assert encounter_row(ctx, patient.encounter_id).status == EncounterStatus.CONSENTED


async def test_signed_out_and_idle_sessions_end(new_page_patient: PatientFactory, ctx: AppContext) -> None:
    patient = await new_page_patient()
    other = await new_page_patient()
    out = await patient.client.post("/sign-out", data={"csrf_token": patient.csrf})
    assert out.status == 200 and "You have signed out" in await out.text()
    page = await patient.client.get("/upload")
    assert page.status == 401 and "signed out" in await page.text()
    with ctx.engine.begin() as conn:
        conn.execute(update(patient_sessions).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert (await other.client.get("/upload")).status == 401
    assert (await other.create(10)).status == 401


async def test_an_expired_link_is_explained(new_page_patient: PatientFactory, ctx: AppContext) -> None:
    patient = await new_page_patient()
    with ctx.engine.begin() as conn:
        conn.execute(
            update(encounters)
            .where(encounters.c.id == patient.encounter_id)
            .values(invite_expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    page = await patient.client.get("/upload")
    assert page.status == 410 and "This link has expired" in await page.text()
    refused = await patient.create(100)
    assert refused.status == 410 and refused.headers["X-MIA-Refusal"] == "link_expired"
    assert "Ask your care team to send you a new link" in await refused.text()

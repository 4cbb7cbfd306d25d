"""Clinician alerts by email: on Send, on a failed invite, on a file that could not be prepared (both databases).

Each names the request's reference and links to the portal, goes to the
requesting clinician and the team mailbox once each, and carries no patient
detail: the email leaves the trust.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from processors.media_pipeline import mark_failed
from shared.clock import utcnow
from shared.context import Actor, AppContext
from shared.db.statuses import MediaStatus, NotificationStatus
from shared.db.tables import encounters, notifications, users
from shared.notifications import alerts, outbox
from shared.notifications.outbox import KIND_CLINICIAN_ALERT, KIND_PATIENT_INVITE, KIND_SUBMISSION
from shared.staff.account_admin import disable_user
from shared.staff.accounts import create_user
from tests.support.factories import make_encounter
from tests.support.messages import (
    CLINICIAN_EMAIL,
    TEAM_MAILBOX,
    assert_no_patient_details,
    make_alerted_clinician,
    message_rows,
    patient_sends,
)
from tests.support.submissions import add_media


def alert_bodies(ctx: AppContext, encounter_id: str) -> dict[str, str]:
    """Recipient → body of each clinician alert about one encounter (decrypted as the dispatcher reads them)."""
    with ctx.engine.connect() as conn:
        found = outbox.for_encounter(conn, ctx.cipher, encounter_id)
    alerts_only = [message for message in found if message.kind == KIND_CLINICIAN_ALERT]
    assert all(message.channel == "email" and message.user_id is None for message in alerts_only)
    bodies = {message.recipient or "": message.body for message in alerts_only}
    assert len(bodies) == len(alerts_only), "one alert per recipient"
    return bodies


def all_alert_bodies(ctx: AppContext, encounter_id: str) -> list[str]:
    with ctx.engine.connect() as conn:
        found = outbox.for_encounter(conn, ctx.cipher, encounter_id)
    return [message.body for message in found if message.kind == KIND_CLINICIAN_ALERT]


def test_send_alerts_the_clinician_and_the_team_mailbox_with_the_reference_and_no_patient_details(
    ctx: AppContext,
) -> None:
    clinician = make_alerted_clinician(ctx)
    encounter_id = make_encounter(ctx, clinician).encounter_id
    patient_sends(ctx, encounter_id)

    bodies = alert_bodies(ctx, encounter_id)
    assert set(bodies) == {CLINICIAN_EMAIL, TEAM_MAILBOX}
    reference = encounter_id[:8].upper()
    for body in bodies.values():
        assert f"MIA: photos or videos received for request {reference}" in body
        assert f"The patient has sent the photos or videos you asked for in request {reference}" in body
        assert f"{ctx.settings.portal_base_url}/review?encounter={encounter_id}" in body
        assert_no_patient_details(body)
    assert alerts.request_reference(encounter_id) == reference
    # the portal's own "files received" notice stays
    (notice,) = message_rows(ctx, encounter_id, KIND_SUBMISSION)
    assert notice.user_id == clinician and notice.channel == "portal"


def test_an_address_shared_by_clinician_and_team_is_told_once_and_a_disabled_clinician_not_at_all(
    ctx: AppContext,
) -> None:
    shared_box = "Dr.Jones@example.nhs.uk"  # the clinician's own address, capitalised differently
    clinician = make_alerted_clinician(ctx, mailbox=shared_box)
    first = make_encounter(ctx, clinician).encounter_id
    second = make_encounter(ctx, clinician).encounter_id
    patient_sends(ctx, first)
    assert set(alert_bodies(ctx, first)) == {CLINICIAN_EMAIL}

    admin = create_user(ctx, username="admin.ada", display_name="Ada Admin", role="admin").user_id
    disable_user(ctx, clinician, actor=Actor(admin), now=utcnow())  # they left; their request stays
    patient_sends(ctx, second)
    assert set(alert_bodies(ctx, second)) == {shared_box}  # the team mailbox only


def test_without_an_email_address_or_mailbox_no_alert_is_queued(ctx: AppContext) -> None:
    clinician = make_alerted_clinician(ctx, mailbox=None)
    with ctx.engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == clinician).values(email="not an address"))
    encounter_id = make_encounter(ctx, clinician).encounter_id
    patient_sends(ctx, encounter_id)
    assert alert_bodies(ctx, encounter_id) == {}
    assert len(message_rows(ctx, encounter_id, KIND_SUBMISSION)) == 1


def test_a_failed_invite_alerts_once_with_the_reason_and_not_once_the_patient_has_sent(ctx: AppContext) -> None:
    clinician = make_alerted_clinician(ctx)
    encounter_id = make_encounter(ctx, clinician).encounter_id
    sms = next(row for row in message_rows(ctx, encounter_id, KIND_PATIENT_INVITE) if row.channel == "sms")
    reason = "The phone number does not exist or can't receive texts. Check the number, or send the link by email."
    with ctx.engine.begin() as conn:
        conn.execute(
            update(notifications)
            .where(notifications.c.id == sms.id)
            .values(status=NotificationStatus.FAILED, failure_reason=reason, failed_at=utcnow())
        )
    failed = alerts.FailedMessage(sms.id, sms.kind, sms.channel, encounter_id)
    with ctx.engine.begin() as conn:
        assert len(alerts.invite_failed(conn, ctx, failed)) == 2
    with ctx.engine.begin() as conn:
        assert alerts.invite_failed(conn, ctx, failed) == []  # reported twice (callback and poll): alerted once
    bodies = alert_bodies(ctx, encounter_id)
    assert set(bodies) == {CLINICIAN_EMAIL, TEAM_MAILBOX}
    for body in bodies.values():
        assert f"the link for request {encounter_id[:8].upper()} did not reach the patient" in body
        assert "the text message was not delivered" in body
        assert reason in body and f"/review?encounter={encounter_id}" in body
        assert_no_patient_details(body)

    later = make_encounter(ctx, clinician).encounter_id
    email = next(row for row in message_rows(ctx, later, KIND_PATIENT_INVITE) if row.channel == "email")
    patient_sends(ctx, later)  # the patient used the text's link; the email failing no longer matters
    before = len(alert_bodies(ctx, later))
    with ctx.engine.begin() as conn:
        assert alerts.invite_failed(conn, ctx, alerts.FailedMessage(email.id, email.kind, "email", later)) == []
    assert len(alert_bodies(ctx, later)) == before


def test_a_file_that_could_not_be_prepared_is_alerted_once_the_patient_has_sent_it(ctx: AppContext) -> None:
    clinician = make_alerted_clinician(ctx)
    encounter_id = make_encounter(ctx, clinician).encounter_id
    early = add_media(ctx, encounter_id, status=MediaStatus.UPLOADED)
    assert mark_failed(ctx.engine, early, "The file is not a valid photo (it could not be read).", actor_id="w1")
    now = utcnow()
    assert alerts.queue_processing_failures(ctx, now) == 0  # not sent yet: the files are the patient's alone

    patient_sends(ctx, encounter_id)
    sent_alerts = len(all_alert_bodies(ctx, encounter_id))
    assert alerts.queue_processing_failures(ctx, utcnow()) == 2  # clinician and team
    assert alerts.queue_processing_failures(ctx, utcnow()) == 0  # once
    late = add_media(ctx, encounter_id, status=MediaStatus.PROCESSING)
    assert mark_failed(ctx.engine, late, "The video could not be converted for viewing.", actor_id="w1")
    assert alerts.queue_processing_failures(ctx, utcnow()) == 2
    with ctx.engine.connect() as conn:
        keys = set(
            conn.execute(select(notifications.c.dedupe_key).where(notifications.c.kind == KIND_CLINICIAN_ALERT))
            .scalars()
            .all()
        )
    assert {
        f"alert:processing_failed:{media_id}:{role}" for media_id in (early, late) for role in ("clinician", "team")
    } <= keys
    bodies = [body for body in all_alert_bodies(ctx, encounter_id) if "could not be prepared" in body]
    assert len(bodies) == 4 and sent_alerts == 2
    for body in bodies:
        assert f"MIA: a file for request {encounter_id[:8].upper()} could not be prepared" in body
        assert "could not be read" not in body and "converted" not in body  # the reason stays in the portal
        assert_no_patient_details(body)
    # a week after both the failure and the Send, the sweep no longer looks
    assert alerts.queue_processing_failures(ctx, now + dt.timedelta(days=8)) == 0


def test_a_deleted_request_or_file_is_not_alerted(ctx: AppContext) -> None:
    clinician = make_alerted_clinician(ctx)
    encounter_id = make_encounter(ctx, clinician).encounter_id
    patient_sends(ctx, encounter_id)
    media_id = add_media(ctx, encounter_id, status=MediaStatus.FAILED, failure_reason="x")
    with ctx.engine.begin() as conn:
        conn.execute(update(encounters).values(deleted_at=utcnow()))
    assert alerts.queue_processing_failures(ctx, utcnow()) == 0
    with ctx.engine.begin() as conn:
        assert alerts.processing_failed(conn, ctx, media_id, encounter_id) == []


def test_the_same_alert_cannot_be_queued_twice(ctx: AppContext) -> None:
    """The unique dedupe key is the guarantee when two processes race past the check."""
    with pytest.raises(IntegrityError), ctx.engine.begin() as conn:
        for _ in range(2):
            outbox.enqueue(
                conn, ctx.cipher, kind=KIND_CLINICIAN_ALERT, channel="email", body="b", dedupe_key="alert:x:team"
            )
    with ctx.engine.connect() as conn:
        assert conn.execute(select(notifications.c.id)).all() == []  # the transaction was rolled back whole

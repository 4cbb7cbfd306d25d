"""What a clinician learns of the messages that carried a link, and what they can do about them (both databases).

States are set on the outbox rows as the dispatcher and delivery receipts
leave them (tests/support/message_states.py); the services under test are
the portal's: message states, send again, send by email instead, the
failed-invite badge, the first showing of a link, the reminders switch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from shared import audit
from shared.clock import utcnow
from shared.context import Actor, AppContext, build_context
from shared.db.statuses import NotificationStatus
from shared.db.tables import encounters, notifications
from shared.encounters.encounter import load_encounter
from shared.encounters.errors import EncounterError
from shared.encounters.identifiers import InvalidIdentifier
from shared.encounters.invites import (
    Delivery,
    current_invite,
    failures_seen,
    patient_messages,
    resend_invite,
    send_by_email,
    show_link,
)
from shared.encounters.queries import EncounterFilter, Viewer, list_encounters, submission_counts
from shared.encounters.requests import PatientDetails, decrypt_patient, register_encounter, set_reminders
from shared.notifications.outbox import CHANNEL_EMAIL, CHANNEL_SMS
from tests.conftest import make_settings
from tests.support.factories import PATIENT, make_clinician, make_encounter
from tests.support.message_states import (
    CONFIGURED,
    EMAIL_ONLY,
    fail_latest,
    mark_delivered,
    mark_sent,
    message_ids,
    set_message,
)
from tests.support.submissions import submit

NO_CONTACT = PatientDetails.from_input(name="Ada Lovelace", date_of_birth="1950-12-10")
SMS_ONLY_PATIENT = PatientDetails.from_input(name="Ada Lovelace", date_of_birth="1950-12-10", phone="07700 900456")
NOT_A_MOBILE = "This number can't receive texts. Check it with the patient, or send the link by email."


def context_with(tmp_path: Path, engine: Engine, **environment: str) -> AppContext:
    return build_context(make_settings(tmp_path / "var", **environment), engine=engine)


@pytest.fixture
def configured(tmp_path: Path, engine: Engine) -> AppContext:
    """Notify (texts and email) configured, on each database."""
    return context_with(tmp_path, engine, **CONFIGURED)


def by_channel(ctx: AppContext, encounter_id: str) -> dict[str, Delivery]:
    """The newest message's state per channel."""
    states: dict[str, Delivery] = {}
    for message in patient_messages(ctx, encounter_id):
        states.setdefault(message.channel, message.delivery)
    return states


def test_with_no_service_set_up_nothing_reads_as_queued(ctx: AppContext) -> None:
    invite = make_encounter(ctx, make_clinician(ctx))
    assert set(by_channel(ctx, invite.encounter_id).items()) == {
        (CHANNEL_SMS, Delivery.NOT_CONFIGURED),
        (CHANNEL_EMAIL, Delivery.NOT_CONFIGURED),
    }
    (sms_id,) = message_ids(ctx, invite.encounter_id, CHANNEL_SMS)
    set_message(ctx, sms_id, status=NotificationStatus.NOT_CONFIGURED)  # as the outbox stores it at once
    assert by_channel(ctx, invite.encounter_id)[CHANNEL_SMS] == Delivery.NOT_CONFIGURED
    in_clinic = make_encounter(ctx, make_clinician(ctx, "drsmith"), NO_CONTACT)
    assert by_channel(ctx, in_clinic.encounter_id) == {"portal": Delivery.IN_CLINIC}


def test_each_state_and_its_time_as_the_dispatcher_and_receipts_leave_it(configured: AppContext) -> None:
    ctx = configured
    invite = make_encounter(ctx, make_clinician(ctx))
    (sms_id,) = message_ids(ctx, invite.encounter_id, CHANNEL_SMS)
    (email_id,) = message_ids(ctx, invite.encounter_id, CHANNEL_EMAIL)
    assert by_channel(ctx, invite.encounter_id) == {CHANNEL_SMS: Delivery.QUEUED, CHANNEL_EMAIL: Delivery.QUEUED}
    set_message(ctx, sms_id, status=NotificationStatus.SENDING)
    assert by_channel(ctx, invite.encounter_id)[CHANNEL_SMS] == Delivery.SENDING
    sent_at = dt.datetime(2026, 11, 21, 14, 5)
    mark_sent(ctx, sms_id, sent_at)
    delivered_at = dt.datetime(2026, 11, 21, 14, 6)
    mark_delivered(ctx, email_id, delivered_at)
    messages = {m.channel: m for m in patient_messages(ctx, invite.encounter_id)}
    assert (messages[CHANNEL_SMS].delivery, messages[CHANNEL_SMS].since) == (Delivery.SENT, sent_at)
    assert (messages[CHANNEL_EMAIL].delivery, messages[CHANNEL_EMAIL].since) == (Delivery.DELIVERED, delivered_at)
    assert messages[CHANNEL_SMS].recipient == "+447700900123"  # decrypted for display
    fail_latest(ctx, invite.encounter_id, CHANNEL_SMS, NOT_A_MOBILE)
    failed = next(m for m in patient_messages(ctx, invite.encounter_id) if m.channel == CHANNEL_SMS)
    assert failed.delivery == Delivery.FAILED and failed.failure_reason == NOT_A_MOBILE and failed.needs_attention
    set_message(ctx, sms_id, status=NotificationStatus.PENDING, attempts=2, next_attempt_at=sent_at)
    retrying = next(m for m in patient_messages(ctx, invite.encounter_id) if m.channel == CHANNEL_SMS)
    assert retrying.delivery == Delivery.QUEUED and retrying.next_attempt_at == sent_at


def test_a_failed_invite_waits_for_the_requesting_clinician_until_sent_again(configured: AppContext) -> None:
    ctx = configured
    jones = make_clinician(ctx, "drjones")
    smith = make_clinician(ctx, "drsmith")
    invite = make_encounter(ctx, jones)
    failed_id = fail_latest(ctx, invite.encounter_id, CHANNEL_SMS, NOT_A_MOBILE)
    assert submission_counts(ctx, Viewer(jones, "Dermatology")).invites_failed == 1
    assert submission_counts(ctx, Viewer(smith, "Dermatology")).invites_failed == 0  # the requester's badge only
    (summary,), _ = list_encounters(ctx, Viewer(smith, "Dermatology"), EncounterFilter(), now=utcnow())
    assert summary.invite_failed and summary.clinician_id == jones
    assert {m.channel: m.delivery for m in summary.messages} == {
        CHANNEL_SMS: Delivery.FAILED,
        CHANNEL_EMAIL: Delivery.QUEUED,
    }

    resent = resend_invite(ctx, invite.encounter_id, actor=Actor(smith, "198.51.100.9"), now=utcnow())
    assert resent.link == invite.link  # the same live link ...
    assert len(message_ids(ctx, invite.encounter_id, CHANNEL_SMS)) == 2  # ... to the same channels
    assert len(message_ids(ctx, invite.encounter_id, CHANNEL_EMAIL)) == 2
    with ctx.engine.connect() as conn:
        assert current_invite(ctx, conn, load_encounter(conn, invite.encounter_id)).link == invite.link  # type: ignore[arg-type,union-attr]
        old = conn.execute(select(notifications).where(notifications.c.id == failed_id)).one()
        (event,) = audit.search(conn, action="invite.resent", encounter_id=invite.encounter_id)
    assert old.status == NotificationStatus.FAILED and old.read_at is not None  # history kept, dealt with
    assert json.loads(event["detail"]) == {"channels": ["sms", "email"], "failures_dealt_with": 1}
    assert event["actor_id"] == smith and event["remote_addr"] == "198.51.100.9"
    assert submission_counts(ctx, Viewer(jones, "Dermatology")).invites_failed == 0


def test_opening_the_request_clears_the_badge_for_the_requester_only(configured: AppContext) -> None:
    ctx = configured
    jones = make_clinician(ctx, "drjones")
    smith = make_clinician(ctx, "drsmith")
    invite = make_encounter(ctx, jones)
    fail_latest(ctx, invite.encounter_id, CHANNEL_EMAIL, "The email address does not exist.")
    assert failures_seen(ctx, invite.encounter_id, actor=Actor(smith)) == 0
    assert submission_counts(ctx, Viewer(jones, "Dermatology")).invites_failed == 1
    assert failures_seen(ctx, invite.encounter_id, actor=Actor(jones)) == 1
    assert submission_counts(ctx, Viewer(jones, "Dermatology")).invites_failed == 0
    assert failures_seen(ctx, invite.encounter_id, actor=Actor(jones)) == 0  # nothing left, nothing audited
    with ctx.engine.connect() as conn:
        assert len(audit.search(conn, action="invite.failure_seen", encounter_id=invite.encounter_id)) == 1
    fail_latest(ctx, invite.encounter_id, CHANNEL_SMS, NOT_A_MOBILE)  # a later failure (a reminder) badges again
    assert submission_counts(ctx, Viewer(jones, "Dermatology")).invites_failed == 1
    submit(ctx, invite.encounter_id, jones)  # the patient sent their files anyway: nothing left to act on
    assert submission_counts(ctx, Viewer(jones, "Dermatology")).invites_failed == 0


def test_send_again_refuses_when_nothing_could_leave(ctx: AppContext, tmp_path: Path, engine: Engine) -> None:
    clinician = make_clinician(ctx)
    invite = make_encounter(ctx, clinician)
    with pytest.raises(EncounterError, match="no text message or email service is set up"):
        resend_invite(ctx, invite.encounter_id, actor=Actor(clinician), now=utcnow())
    email_only = context_with(tmp_path, engine, **EMAIL_ONLY)
    texts_only = make_encounter(email_only, clinician, SMS_ONLY_PATIENT)
    with pytest.raises(EncounterError, match="no text message service is set up"):
        resend_invite(email_only, texts_only.encounter_id, actor=Actor(clinician), now=utcnow())
    in_clinic = make_encounter(email_only, clinician, NO_CONTACT)
    with pytest.raises(EncounterError, match="no mobile number or email address"):
        resend_invite(email_only, in_clinic.encounter_id, actor=Actor(clinician), now=utcnow())
    with ctx.engine.connect() as conn:
        assert not audit.search(conn, action="invite.resent")


def test_send_by_email_instead_checks_keeps_and_queues_the_address(configured: AppContext) -> None:
    ctx = configured
    clinician = make_clinician(ctx)
    invite = make_encounter(ctx, clinician, SMS_ONLY_PATIENT)
    fail_latest(ctx, invite.encounter_id, CHANNEL_SMS, NOT_A_MOBILE)
    with pytest.raises(InvalidIdentifier, match="Enter an email address"):
        send_by_email(ctx, invite.encounter_id, "ada.lovelace@", actor=Actor(clinician), now=utcnow())
    assert message_ids(ctx, invite.encounter_id, CHANNEL_EMAIL) == []

    sent = send_by_email(ctx, invite.encounter_id, " Ada.Lovelace@Example.ORG ", actor=Actor(clinician), now=utcnow())
    assert sent.link == invite.link
    (email,) = [m for m in patient_messages(ctx, invite.encounter_id) if m.channel == CHANNEL_EMAIL]
    assert email.recipient == "Ada.Lovelace@example.org" and email.delivery == Delivery.QUEUED
    assert len(message_ids(ctx, invite.encounter_id, CHANNEL_SMS)) == 1  # not texted again
    with ctx.engine.connect() as conn:
        row = load_encounter(conn, invite.encounter_id)
        assert row is not None and decrypt_patient(ctx.cipher, row).email == "Ada.Lovelace@example.org"
        assert b"Lovelace@" not in bytes(row.email or b"")  # kept encrypted
        (event,) = audit.search(conn, action="invite.sent_by_email", encounter_id=invite.encounter_id)
    assert json.loads(event["detail"]) == {"address_changed": True, "failures_dealt_with": 1}
    assert "example.org" not in event["detail"]
    assert submission_counts(ctx, Viewer(clinician, "Dermatology")).invites_failed == 0

    send_by_email(ctx, invite.encounter_id, "Ada.Lovelace@example.org", actor=Actor(clinician), now=utcnow())
    with ctx.engine.connect() as conn:
        both = audit.search(conn, action="invite.sent_by_email", encounter_id=invite.encounter_id)
    assert sorted(json.loads(e["detail"])["address_changed"] for e in both) == [False, True]


def test_send_by_email_needs_an_email_service_and_a_live_link(ctx: AppContext, tmp_path: Path, engine: Engine) -> None:
    clinician = make_clinician(ctx)
    invite = make_encounter(ctx, clinician)
    with pytest.raises(EncounterError, match="No email service is set up"):
        send_by_email(ctx, invite.encounter_id, "ada@example.org", actor=Actor(clinician), now=utcnow())
    email_only = context_with(tmp_path, engine, **EMAIL_ONLY)
    later = utcnow() + dt.timedelta(days=30)
    with pytest.raises(EncounterError, match="expired"):
        send_by_email(email_only, invite.encounter_id, "ada@example.org", actor=Actor(clinician), now=later)
    submit(email_only, invite.encounter_id, clinician)
    with pytest.raises(EncounterError, match="already sent"):
        send_by_email(email_only, invite.encounter_id, "ada@example.org", actor=Actor(clinician), now=utcnow())


def test_the_first_showing_of_a_link_is_timed_once(ctx: AppContext) -> None:
    clinician = make_clinician(ctx)
    invite = make_encounter(ctx, clinician)

    def shown_at() -> dt.datetime | None:
        with ctx.engine.connect() as conn:
            return conn.execute(
                select(encounters.c.link_shown_at).where(encounters.c.id == invite.encounter_id)
            ).scalar()

    assert shown_at() is None  # registering queues the link; nobody has shown it
    show_link(ctx, invite.encounter_id, actor=Actor(clinician))
    first = shown_at()
    assert first is not None
    show_link(ctx, invite.encounter_id, actor=Actor(clinician))
    assert shown_at() == first
    with ctx.engine.connect() as conn:
        assert len(audit.search(conn, action="invite.shown", encounter_id=invite.encounter_id)) == 2


def test_reminders_switch_off_and_on_per_request_audited(ctx: AppContext) -> None:
    clinician = make_clinician(ctx)
    invite = make_encounter(ctx, clinician)

    def enabled() -> bool:
        with ctx.engine.connect() as conn:
            row = load_encounter(conn, invite.encounter_id)
            assert row is not None
            return row.reminders_enabled

    assert enabled() is True
    set_reminders(ctx, invite.encounter_id, False, actor=Actor(clinician, "198.51.100.7"))
    set_reminders(ctx, invite.encounter_id, False, actor=Actor(clinician))  # no change, no event
    assert enabled() is False
    set_reminders(ctx, invite.encounter_id, True, actor=Actor(clinician))
    assert enabled() is True
    with ctx.engine.connect() as conn:
        events = audit.search(conn, encounter_id=invite.encounter_id)
    assert [e["action"] for e in events if e["action"].startswith("reminders.")] == [
        "reminders.switched_on",
        "reminders.switched_off",
    ]  # newest first
    submit(ctx, invite.encounter_id, clinician)
    with pytest.raises(EncounterError, match="already sent"):
        set_reminders(ctx, invite.encounter_id, False, actor=Actor(clinician))


def test_a_request_can_start_with_reminders_off(ctx: AppContext) -> None:
    clinician = make_clinician(ctx)
    invite = register_encounter(ctx, Actor(clinician), patient=PATIENT, reminders=False)
    with ctx.engine.connect() as conn:
        row = load_encounter(conn, invite.encounter_id)
        (created,) = audit.search(conn, action="encounter.created", encounter_id=invite.encounter_id)
    assert row is not None and row.reminders_enabled is False
    assert json.loads(created["detail"])["reminders"] is False


def test_settings_changed_after_queuing_decide_what_a_pending_row_means(configured: AppContext) -> None:
    """A row queued while a service was set up reads 'not configured' once it is gone: it will not leave."""
    invite = make_encounter(configured, make_clinician(configured))
    messaging = dataclasses.replace(configured.settings.messaging, notify_api_key=None, email_provider=None)
    settings = dataclasses.replace(configured.settings, messaging=messaging)
    unconfigured = dataclasses.replace(configured, settings=settings)
    assert set(by_channel(unconfigured, invite.encounter_id).values()) == {Delivery.NOT_CONFIGURED}

"""Reminders to patients who have not sent (both databases): on schedule, on the invite's channels, once.

Invite messages are first marked as the dispatcher leaves them once GOV.UK
Notify accepted them (`sent`); time is passed in, as the dispatcher passes
its clock.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from shared import audit
from shared.clock import utcnow
from shared.context import Actor, AppContext, build_context
from shared.db.statuses import NotificationStatus
from shared.db.tables import encounters, notifications
from shared.encounters.requests import Invite, register_encounter, reissue_invite
from shared.notifications import outbox, reminders
from shared.notifications.messages import OutgoingMessage
from shared.notifications.outbox import KIND_PATIENT_INVITE, KIND_PATIENT_REMINDER
from shared.staff.teams import save_team_settings
from tests.conftest import make_settings
from tests.support.factories import PATIENT, REQUEST_NOTE, make_clinician
from tests.support.messages import assert_no_patient_details, mark_sent_by_notify, message_rows, patient_sends

HOUR = dt.timedelta(hours=1)
ORGANISATION = "Leeds Teaching Hospitals - Dermatology"


def request(ctx: AppContext, clinician: str, lifetime_hours: int = 168) -> Invite:
    """A request whose invites (SMS and email) Notify has accepted."""
    invite = register_encounter(
        ctx, Actor(clinician), patient=PATIENT, request_note=REQUEST_NOTE, lifetime_hours=lifetime_hours
    )
    for row in message_rows(ctx, invite.encounter_id, KIND_PATIENT_INVITE):
        mark_sent_by_notify(ctx, row.id)
    return invite


def invited_at(ctx: AppContext, encounter_id: str) -> dt.datetime:
    with ctx.engine.connect() as conn:
        return conn.execute(select(encounters.c.invited_at).where(encounters.c.id == encounter_id)).scalar_one()


def reminder_messages(ctx: AppContext, encounter_id: str) -> list[outbox.Notification]:
    with ctx.engine.connect() as conn:
        found = outbox.for_encounter(conn, ctx.cipher, encounter_id)
    return [message for message in found if message.kind == KIND_PATIENT_REMINDER]


@pytest.fixture
def clinician(ctx: AppContext) -> str:
    clinician_id = make_clinician(ctx)
    save_team_settings(ctx, "Dermatology", organisation_name=ORGANISATION, mailbox=None, actor=Actor(clinician_id))
    return clinician_id


def test_reminders_follow_the_schedule_on_the_invites_channels_with_the_live_link(
    ctx: AppContext, clinician: str
) -> None:
    invite = request(ctx, clinician, lifetime_hours=168)
    start = invited_at(ctx, invite.encounter_id)
    assert reminders.queue_due(ctx, start + 48 * HOUR - dt.timedelta(seconds=1)) == 0
    assert reminders.queue_due(ctx, start + 48 * HOUR) == 2
    assert reminders.queue_due(ctx, start + 50 * HOUR) == 0  # queued once

    first = reminder_messages(ctx, invite.encounter_id)
    assert {(message.channel, message.recipient) for message in first} == {
        ("sms", PATIENT.phone),
        ("email", PATIENT.email),
    }
    for message in first:
        words = OutgoingMessage.from_json(message.body)
        assert words.template == f"reminder_{message.channel}" and words.organisation == ORGANISATION
        assert (words.subject or words.text).startswith(
            "Reminder from " if message.channel == "email" else ORGANISATION
        )
        assert invite.link in words.text
        assert_no_patient_details(message.body)
        mark_sent_by_notify(ctx, message.id)  # nothing is configured here: as if Notify had taken it

    expires = invite.expires_at
    assert reminders.queue_due(ctx, expires - 24 * HOUR - dt.timedelta(seconds=1)) == 0
    assert reminders.queue_due(ctx, expires - 24 * HOUR) == 2
    assert reminders.queue_due(ctx, expires - dt.timedelta(minutes=1)) == 0
    assert reminders.queue_due(ctx, expires + HOUR) == 0
    assert len(reminder_messages(ctx, invite.encounter_id)) == 4
    with ctx.engine.connect() as conn:
        events = audit.search(conn, action="reminder.queued", encounter_id=invite.encounter_id)
    assert sorted(event["detail"] for event in events) == sorted(
        [
            '{"channels": ["email", "sms"], "stage": "after_invite"}',
            '{"channels": ["email", "sms"], "stage": "before_expiry"}',
        ]
    )


def test_a_default_link_gets_one_reminder_and_after_downtime_only_the_latest_due(
    ctx: AppContext, clinician: str
) -> None:
    short = request(ctx, clinician, lifetime_hours=72)
    long = request(ctx, clinician, lifetime_hours=168)
    start = max(invited_at(ctx, short.encounter_id), invited_at(ctx, long.encounter_id))
    assert reminders.queue_due(ctx, start + 48 * HOUR) == 4  # short: its one reminder; long: its first
    assert reminders.queue_due(ctx, start + 71 * HOUR) == 0
    # the dispatcher was down from 47 h to 150 h: the long link's patient gets one reminder, not two at once
    late = request(ctx, clinician, lifetime_hours=168)
    late_start = invited_at(ctx, late.encounter_id)
    assert reminders.queue_due(ctx, late_start + 150 * HOUR) >= 2
    late_reminders = reminder_messages(ctx, late.encounter_id)
    assert sorted(message.channel for message in late_reminders) == ["email", "sms"]  # one stage, both channels
    with ctx.engine.connect() as conn:
        keys = conn.execute(
            select(notifications.c.dedupe_key).where(notifications.c.encounter_id == late.encounter_id)
        ).scalars()
        assert {key.split(":")[3] for key in keys if key} == {"before_expiry"}


def lock(ctx: AppContext, encounter_id: str) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(update(encounters).where(encounters.c.id == encounter_id).values(locked_at=utcnow()))


def delete(ctx: AppContext, encounter_id: str) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(update(encounters).where(encounters.c.id == encounter_id).values(deleted_at=utcnow()))


def switch_off(ctx: AppContext, encounter_id: str) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(update(encounters).where(encounters.c.id == encounter_id).values(reminders_enabled=False))


STOPPERS: dict[str, Callable[[AppContext, str], None]] = {
    "sent": patient_sends,
    "locked": lock,
    "deleted": delete,
    "switched off": switch_off,
}


@pytest.mark.parametrize("stopper", sorted(STOPPERS))
def test_no_reminder_after_send_lockout_deletion_or_when_switched_off(
    ctx: AppContext, clinician: str, stopper: str
) -> None:
    invite = request(ctx, clinician)
    STOPPERS[stopper](ctx, invite.encounter_id)
    start = invited_at(ctx, invite.encounter_id)
    for hours in (48, 144, 167):
        assert reminders.queue_due(ctx, start + hours * HOUR) == 0
    assert reminder_messages(ctx, invite.encounter_id) == []


def test_no_reminder_once_the_link_has_expired(ctx: AppContext, clinician: str) -> None:
    invite = request(ctx, clinician, lifetime_hours=72)
    assert reminders.queue_due(ctx, invite.expires_at) == 0
    assert reminders.queue_due(ctx, invite.expires_at + 24 * HOUR) == 0
    assert reminder_messages(ctx, invite.encounter_id) == []


def test_a_channel_whose_message_failed_or_went_nowhere_gets_no_reminder(ctx: AppContext, clinician: str) -> None:
    invite = request(ctx, clinician)
    sms = next(row for row in message_rows(ctx, invite.encounter_id, KIND_PATIENT_INVITE) if row.channel == "sms")
    with ctx.engine.begin() as conn:
        conn.execute(update(notifications).where(notifications.c.id == sms.id).values(status="failed"))
    start = invited_at(ctx, invite.encounter_id)
    assert reminders.queue_due(ctx, start + 48 * HOUR) == 1
    assert [message.channel for message in reminder_messages(ctx, invite.encounter_id)] == ["email"]

    in_clinic = register_encounter(
        ctx,
        Actor(clinician),
        patient=PATIENT.__class__.from_input(name="Ann Other", date_of_birth="1990-01-01"),
        lifetime_hours=168,
    )
    assert reminders.queue_due(ctx, start + 49 * HOUR) == 0  # handed over in clinic: no route to remind by
    assert reminder_messages(ctx, in_clinic.encounter_id) == []


def test_a_reissued_link_has_its_own_schedule_and_the_reminder_carries_it(ctx: AppContext, clinician: str) -> None:
    first = request(ctx, clinician)
    start = invited_at(ctx, first.encounter_id)
    assert reminders.queue_due(ctx, start + 48 * HOUR) == 2
    second = reissue_invite(ctx, first.encounter_id, actor=Actor(clinician), lifetime_hours=168)
    for row in message_rows(ctx, first.encounter_id, KIND_PATIENT_INVITE):
        if row.status in (NotificationStatus.PENDING, NotificationStatus.NOT_CONFIGURED):
            mark_sent_by_notify(ctx, row.id)
    restart = invited_at(ctx, first.encounter_id)
    assert reminders.queue_due(ctx, restart + 47 * HOUR) == 0
    assert reminders.queue_due(ctx, restart + 48 * HOUR) == 2
    newest = reminder_messages(ctx, first.encounter_id)[:2]
    assert all(second.link in message.body and first.link not in message.body for message in newest)


def test_the_schedule_comes_from_the_settings(engine: Engine, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "var", MIA_REMINDER_AFTER_HOURS="2", MIA_REMINDER_BEFORE_EXPIRY_HOURS="0")
    ctx = build_context(settings, engine=engine)
    invite = request(ctx, make_clinician(ctx))
    start = invited_at(ctx, invite.encounter_id)
    assert reminders.queue_due(ctx, start + HOUR) == 0
    assert reminders.queue_due(ctx, start + 2 * HOUR) == 2
    assert reminders.queue_due(ctx, invite.expires_at - HOUR) == 0  # the day-before reminder is off

    off = build_context(
        make_settings(tmp_path / "var", MIA_REMINDER_AFTER_HOURS="0", MIA_REMINDER_BEFORE_EXPIRY_HOURS="0"),
        engine=engine,
    )
    other = request(off, make_clinician(off, username="drsmith"))
    for hours in (2, 48, 144, 167):
        assert reminders.queue_due(off, invited_at(off, other.encounter_id) + hours * HOUR) == 0
    assert reminder_messages(off, other.encounter_id) == []


def test_two_dispatchers_at_once_queue_each_reminder_once(ctx: AppContext, clinician: str) -> None:
    invites = [request(ctx, clinician) for _ in range(6)]
    moment = max(invited_at(ctx, invite.encounter_id) for invite in invites) + 48 * HOUR
    start = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def dispatcher() -> None:
        try:
            start.wait()
            counts.append(reminders.queue_due(ctx, moment))
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sum(counts) == 12
    for invite in invites:
        assert sorted(message.channel for message in reminder_messages(ctx, invite.encounter_id)) == ["email", "sms"]

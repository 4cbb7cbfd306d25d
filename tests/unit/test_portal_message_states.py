"""The words the portal uses for a message to the patient, and the link's part of a request's timeline."""

from __future__ import annotations

import dataclasses
import datetime as dt

from portal_ui.message_states import (
    failed_invites_text,
    failures_to_explain,
    short_time,
    state_words,
    summary,
    table_rows,
)
from portal_ui.timeline import timeline
from shared.encounters.encounter import Encounter
from shared.encounters.invites import Delivery, PatientMessage

NOW = dt.datetime(2026, 11, 21, 14, 30)  # naive UTC, as stored (UK time is UTC in November)
QUEUED = PatientMessage(
    id="m1",
    kind="patient_invite",
    channel="sms",
    recipient="+447700900123",
    delivery=Delivery.QUEUED,
    queued_at=dt.datetime(2026, 11, 21, 14, 0),
    sent_at=None,
    delivered_at=None,
    failed_at=None,
    failure_reason=None,
    next_attempt_at=None,
    attempts=0,
    dealt_with_at=None,
)


def message(**changes: object) -> PatientMessage:
    return dataclasses.replace(QUEUED, **changes)  # type: ignore[arg-type]


def test_each_state_reads_in_a_clinicians_words_with_its_time() -> None:
    at = dt.datetime(2026, 11, 21, 14, 5)
    assert state_words(QUEUED, NOW) == "Queued at 14:00, waiting to be sent"
    retry = message(attempts=2, next_attempt_at=dt.datetime(2026, 11, 21, 14, 40))
    assert state_words(retry, NOW) == "Queued: not sent yet, trying again at 14:40"
    assert state_words(message(delivery=Delivery.SENDING), NOW) == "Sending now"
    assert state_words(message(delivery=Delivery.SENT, sent_at=at), NOW) == "Sent at 14:05"
    delivered = message(delivery=Delivery.DELIVERED, sent_at=at, delivered_at=at + dt.timedelta(minutes=1))
    assert state_words(delivered, NOW) == "Delivered at 14:06"
    failed = message(delivery=Delivery.FAILED, failed_at=at, failure_reason="This number can't receive texts.")
    assert state_words(failed, NOW) == "Failed at 14:05: This number can't receive texts."
    assert state_words(message(delivery=Delivery.FAILED, failed_at=at), NOW).endswith("the service gave no reason")
    assert state_words(message(delivery=Delivery.NOT_CONFIGURED), NOW) == "Not sent: no text message service is set up"
    emailed = message(channel="email", delivery=Delivery.NOT_CONFIGURED)
    assert state_words(emailed, NOW) == "Not sent: no email service is set up"
    in_clinic = message(channel="portal", delivery=Delivery.IN_CLINIC)
    assert state_words(in_clinic, NOW).startswith("Not sent: the link is handed over in clinic")


def test_times_are_short_today_and_dated_otherwise_in_uk_time() -> None:
    assert short_time(dt.datetime(2026, 11, 21, 9, 5), NOW) == "09:05"
    assert short_time(dt.datetime(2026, 7, 1, 12, 0), NOW) == "01 Jul 13:00"  # British Summer Time
    assert short_time(dt.datetime(2025, 12, 31, 12, 0), NOW) == "31 Dec 2025 12:00"
    assert short_time(None, NOW) == "—"


def test_the_list_shows_the_newest_message_to_each_channel_on_one_line() -> None:
    at = dt.datetime(2026, 11, 21, 14, 5)
    failed = message(channel="email", delivery=Delivery.FAILED, failed_at=at, failure_reason="No such address.")
    delivered = message(delivery=Delivery.DELIVERED, delivered_at=at)
    assert summary((failed, delivered), NOW) == "Text delivered 14:05 · Email failed 14:05: No such address."
    assert summary((), NOW) == "—"
    assert summary((message(delivery=Delivery.NOT_CONFIGURED),), NOW) == "Text not sent (no service set up)"


def test_the_table_names_the_message_the_way_and_the_recipient() -> None:
    (row,) = table_rows([message(kind="patient_reminder", channel="email", recipient="a@example.org")], NOW)
    assert row == {
        "Message": "Reminder",
        "How": "Email",
        "State": "Queued at 14:00, waiting to be sent",
        "To": "a@example.org",
        "Created": "21 Nov 2026 14:00",
    }


def test_a_failure_is_explained_in_full_while_it_is_the_newest_message_that_way() -> None:
    at = dt.datetime(2026, 11, 21, 14, 5)
    failed = message(delivery=Delivery.FAILED, failed_at=at, failure_reason="This number can't receive texts.")
    assert failures_to_explain([failed]) == [
        "The text message to +447700900123 was not delivered: This number can't receive texts."
    ]
    assert failures_to_explain([QUEUED, failed]) == []  # sent again since: the newest is on its way


def test_the_badge_counts_requests_in_words() -> None:
    assert failed_invites_text(1) == "⚠ 1 request of yours has a link that could not be delivered to the patient."
    assert failed_invites_text(3).startswith("⚠ 3 requests of yours have a link")


def encounter(**values: object) -> Encounter:
    created = dt.datetime(2026, 11, 21, 10, 0)
    fields = {field.name: None for field in dataclasses.fields(Encounter)}
    fields.update(id="e1", clinician_id="u1", status="invited", patient_name=b"", date_of_birth=b"")
    fields.update(created_at=created, invited_at=created, updated_at=created, reminders_enabled=True)
    fields.update(values)
    return Encounter(**fields)  # type: ignore[arg-type]


def test_a_link_nobody_sent_is_shown_never_sent() -> None:
    shown = dt.datetime(2026, 11, 21, 10, 1)
    unsent = message(delivery=Delivery.NOT_CONFIGURED)
    steps = timeline(encounter(link_shown_at=shown, opened_at=dt.datetime(2026, 11, 21, 10, 3)), [unsent])
    assert [name for name, _ in steps] == ["Requested", "Link shown in the portal (link or QR code)", "Link opened"]


def test_sent_delivered_and_failed_messages_take_their_place_in_time() -> None:
    sent = dt.datetime(2026, 11, 21, 10, 0, 5)
    sms = message(delivery=Delivery.DELIVERED, sent_at=sent, delivered_at=sent + dt.timedelta(seconds=40))
    email = message(
        channel="email",
        delivery=Delivery.FAILED,
        failed_at=sent + dt.timedelta(seconds=20),
        failure_reason="The email address does not exist.",
    )
    reminder = message(kind="patient_reminder", delivery=Delivery.SENT, sent_at=dt.datetime(2026, 11, 23, 10, 0))
    later = encounter(invited_at=dt.datetime(2026, 11, 22, 9, 0), submitted_at=dt.datetime(2026, 11, 23, 12, 0))
    assert [name for name, _ in timeline(later, [sms, email, reminder])] == [
        "Requested",
        "Link sent by text message",
        "Link not delivered by email: The email address does not exist.",
        "Link delivered by text message",
        "New link issued (the earlier one stopped working)",
        "Reminder sent by text message",
        "Sent by the patient",
    ]

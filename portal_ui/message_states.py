"""How the portal words a message to the patient: where it went and where it stands, in a clinician's words.

`shared.encounters.invites` says what state a message is in (`Delivery`);
this module chooses the words, for the request page's table, the encounter
list's one-line summary and the timeline. No Streamlit here, so the words
are tested as plain functions.
"""

from __future__ import annotations

import datetime as dt

from portal_ui.formatting import DISPLAY_ZONE, local_time
from shared.encounters.invites import CHANNEL_SERVICES, Delivery, PatientMessage
from shared.notifications.outbox import CHANNEL_EMAIL, CHANNEL_PORTAL, CHANNEL_SMS

CHANNEL_LABELS = {CHANNEL_SMS: "Text message", CHANNEL_EMAIL: "Email", CHANNEL_PORTAL: "In clinic"}
CHANNEL_SHORT = {CHANNEL_SMS: "Text", CHANNEL_EMAIL: "Email", CHANNEL_PORTAL: "In clinic"}
NO_REASON = "the service gave no reason"


def short_time(moment: dt.datetime | None, now: dt.datetime) -> str:
    """'14:05' today, '21 Nov 14:05' another day of this year, else the full date (UK time)."""
    if moment is None:
        return "—"
    local = moment.replace(tzinfo=dt.UTC).astimezone(DISPLAY_ZONE)
    today = now.replace(tzinfo=dt.UTC).astimezone(DISPLAY_ZONE)
    if local.date() == today.date():
        return local.strftime("%H:%M")
    if local.year == today.year:
        return local.strftime("%d %b %H:%M")
    return local_time(moment)


def state_words(message: PatientMessage, now: dt.datetime) -> str:
    """What happened to one message, for the request page: the state, and when (UK time)."""
    at = short_time(message.since, now)
    match message.delivery:
        case Delivery.NOT_CONFIGURED:
            return f"Not sent: no {CHANNEL_SERVICES.get(message.channel, message.channel)} service is set up"
        case Delivery.IN_CLINIC:
            return "Not sent: the link is handed over in clinic (link or QR code)"
        case Delivery.QUEUED if message.attempts and message.next_attempt_at is not None:
            return f"Queued: not sent yet, trying again at {short_time(message.next_attempt_at, now)}"
        case Delivery.QUEUED:
            return f"Queued at {at}, waiting to be sent"
        case Delivery.SENDING:
            return "Sending now"
        case Delivery.SENT:
            return f"Sent at {at}"
        case Delivery.DELIVERED:
            return f"Delivered at {at}"
        case _:
            return f"Failed at {at}: {message.failure_reason or NO_REASON}"


def short_state(message: PatientMessage, now: dt.datetime) -> str:
    """One message in a few words, for the encounter list."""
    at = short_time(message.since, now)
    match message.delivery:
        case Delivery.NOT_CONFIGURED:
            return "not sent (no service set up)"
        case Delivery.IN_CLINIC:
            return "handed over"
        case Delivery.QUEUED:
            return f"queued {at}"
        case Delivery.SENDING:
            return "sending"
        case Delivery.SENT:
            return f"sent {at}"
        case Delivery.DELIVERED:
            return f"delivered {at}"
        case _:
            return f"failed {at}: {message.failure_reason or NO_REASON}"


def summary(messages: tuple[PatientMessage, ...] | list[PatientMessage], now: dt.datetime) -> str:
    """The newest message to each channel on one line: 'Text delivered 14:05 · Email failed 14:07: …'."""
    if not messages:
        return "—"
    ordered = sorted(messages, key=lambda m: list(CHANNEL_SHORT).index(m.channel) if m.channel in CHANNEL_SHORT else 9)
    return " · ".join(f"{CHANNEL_SHORT.get(m.channel, m.channel)} {short_state(m, now)}" for m in ordered)


def table_rows(messages: list[PatientMessage], now: dt.datetime) -> list[dict[str, str]]:
    """The request page's table of messages, newest first."""
    return [
        {
            "Message": "Reminder" if message.is_reminder else "Link",
            "How": CHANNEL_LABELS.get(message.channel, message.channel),
            "State": state_words(message, now),
            "To": message.recipient or "—",
            "Created": local_time(message.queued_at),
        }
        for message in messages
    ]


def failures_to_explain(messages: list[PatientMessage]) -> list[str]:
    """A sentence for each way whose newest message failed: the whole reason, not cut short by a table cell."""
    newest: dict[str, PatientMessage] = {}
    for message in messages:  # newest first
        newest.setdefault(message.channel, message)
    return [
        f"The {CHANNEL_SERVICES.get(m.channel, m.channel)} to {m.recipient or 'the patient'} was not delivered: "
        f"{m.failure_reason or NO_REASON}"
        for m in newest.values()
        if m.delivery == Delivery.FAILED
    ]


def timeline_entries(message: PatientMessage) -> list[tuple[str, dt.datetime]]:
    """What a message adds to the request's timeline: sent, then delivered or not (never 'sent' if it was not)."""
    what = "Reminder" if message.is_reminder else "Link"
    how = {CHANNEL_SMS: "by text message", CHANNEL_EMAIL: "by email"}.get(message.channel)
    if how is None:
        return []
    entries = []
    if message.sent_at is not None:
        entries.append((f"{what} sent {how}", message.sent_at))
    if message.delivered_at is not None:
        entries.append((f"{what} delivered {how}", message.delivered_at))
    if message.failed_at is not None:
        entries.append((f"{what} not delivered {how}: {message.failure_reason or NO_REASON}", message.failed_at))
    return entries


def failed_invites_text(failed: int) -> str:
    """The badge's words, in the sidebar and on the encounter list."""
    if failed == 1:
        return "⚠ 1 request of yours has a link that could not be delivered to the patient."
    return f"⚠ {failed} requests of yours have a link that could not be delivered to the patient."

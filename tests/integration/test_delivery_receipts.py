"""Asking GOV.UK Notify about messages it has not reported on (`receipts.poll_unconfirmed`, both databases).

`lookup` stands for the official client's `get_notification_by_id`: here a
table of Notify's answers, in the JSON shape Notify documents, that records
what it was asked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, select

from shared.clock import utcnow
from shared.context import AppContext
from shared.db.statuses import NotificationStatus
from shared.db.tables import notifications
from shared.notifications import receipts
from shared.notifications.outbox import KIND_CLINICIAN_ALERT, KIND_PATIENT_INVITE
from tests.support.factories import make_encounter
from tests.support.messages import make_alerted_clinician, mark_sent_by_notify, message_rows

MINUTE = dt.timedelta(minutes=1)


class NotifyUnreachable(Exception):
    pass


@dataclass
class NotifyAnswers:
    """Notify's `GET /v2/notifications/{id}` answers by id; an id without one is unreachable."""

    statuses: dict[str, str] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def __call__(self, provider_id: str) -> Mapping[str, Any]:
        self.asked.append(provider_id)
        if provider_id not in self.statuses:
            raise NotifyUnreachable("HTTP 503 from https://api.notifications.service.gov.uk (to +447700900123)")
        return {
            "id": provider_id,
            "reference": None,
            "email_address": None,
            "phone_number": "+447700900123",
            "type": "sms",
            "status": self.statuses[provider_id],
            "template": {"id": "f33517ff-2a88-4f6e-b855-c550268ce08a", "version": 1, "uri": "https://x"},
            "body": "Your link…",
            "created_at": "2026-12-02T10:00:00.000000Z",
            "created_by_name": None,
            "sent_at": "2026-12-02T10:00:01.000000Z",
            "completed_at": None if self.statuses[provider_id] == "sending" else "2026-12-02T11:40:00.000000Z",
        }


def sent_messages(ctx: AppContext, count: int, sent_at: dt.datetime) -> list[tuple[Row, str]]:
    """`count` SMS invites (one request each) that Notify accepted at `sent_at`: (row, Notify's id)."""
    clinician = make_alerted_clinician(ctx, username=f"dr{sent_at:%H%M%S%f}")
    found = []
    for _ in range(count):
        encounter_id = make_encounter(ctx, clinician).encounter_id
        sms = next(row for row in message_rows(ctx, encounter_id, KIND_PATIENT_INVITE) if row.channel == "sms")
        found.append((sms, mark_sent_by_notify(ctx, sms.id, at=sent_at)))
    return found


def status_of(ctx: AppContext, notification_id: str) -> Row:
    with ctx.engine.connect() as conn:
        return conn.execute(select(notifications).where(notifications.c.id == notification_id)).one()


def test_stale_sent_messages_are_finalised_through_lookup_and_the_rest_asked_again_later(ctx: AppContext) -> None:
    now = utcnow()
    (delivered, delivered_id), (travelling, travelling_id) = sent_messages(ctx, 2, now - 31 * MINUTE)
    ((fresh, fresh_id),) = sent_messages(ctx, 1, now - 5 * MINUTE)  # a callback may still come
    ((forgotten, forgotten_id),) = sent_messages(ctx, 1, now - dt.timedelta(days=8))  # Notify keeps 7 days
    notify = NotifyAnswers({delivered_id: "delivered", travelling_id: "sending", fresh_id: "delivered"})
    notify.statuses[forgotten_id] = "delivered"

    assert receipts.poll_unconfirmed(ctx, notify, now) == 1
    assert sorted(notify.asked) == sorted([delivered_id, travelling_id])
    done = status_of(ctx, delivered.id)
    assert done.status == NotificationStatus.DELIVERED and done.delivered_at.isoformat() == "2026-12-02T11:40:00"
    waiting = status_of(ctx, travelling.id)
    assert waiting.status == NotificationStatus.SENT and waiting.next_attempt_at == now + 30 * MINUTE
    assert status_of(ctx, fresh.id).status == status_of(ctx, forgotten.id).status == NotificationStatus.SENT

    notify.asked.clear()
    assert receipts.poll_unconfirmed(ctx, notify, now + 26 * MINUTE) == 1
    assert notify.asked == [fresh_id]  # now stale itself; the travelling one is not asked before its time
    notify.statuses[travelling_id] = "permanent-failure"
    notify.asked.clear()
    assert receipts.poll_unconfirmed(ctx, notify, now + 31 * MINUTE) == 1
    assert notify.asked == [travelling_id]
    failed = status_of(ctx, travelling.id)
    assert failed.status == NotificationStatus.FAILED and "can't receive texts" in failed.failure_reason
    # a patient's invite that failed for good alerts the clinician and the team, as a callback would
    assert len(message_rows(ctx, travelling.encounter_id, KIND_CLINICIAN_ALERT)) == 2
    assert message_rows(ctx, delivered.encounter_id, KIND_CLINICIAN_ALERT) == []


def test_a_lookup_that_fails_ends_the_round_and_that_message_waits_its_turn(ctx: AppContext) -> None:
    now = utcnow()
    ((first, first_id),) = sent_messages(ctx, 1, now - 41 * MINUTE)  # oldest first
    ((_, second_id),) = sent_messages(ctx, 1, now - 40 * MINUTE)
    notify = NotifyAnswers({second_id: "delivered"})  # the first is unknown: the lookup raises
    assert receipts.poll_unconfirmed(ctx, notify, now) == 0
    assert notify.asked == [first_id]  # the round stopped: no waiting on a timeout per message
    assert status_of(ctx, first.id).next_attempt_at == now + 30 * MINUTE
    assert receipts.poll_unconfirmed(ctx, notify, now + MINUTE) == 1
    assert notify.asked == [first_id, second_id]
    assert status_of(ctx, first.id).status == NotificationStatus.SENT


def test_an_answer_about_another_message_is_not_applied(ctx: AppContext) -> None:
    now = utcnow()
    ((message, provider_id),) = sent_messages(ctx, 1, now - 40 * MINUTE)

    def confused(asked: str) -> Mapping[str, Any]:
        return NotifyAnswers({"9b1c5bd4-1f6e-4c3c-8e3a-5f1f4d0c2a11": "delivered"})(
            "9b1c5bd4-1f6e-4c3c-8e3a-5f1f4d0c2a11"
        )

    assert receipts.poll_unconfirmed(ctx, confused, now) == 0
    assert status_of(ctx, message.id).status == NotificationStatus.SENT
    assert provider_id != "9b1c5bd4-1f6e-4c3c-8e3a-5f1f4d0c2a11"

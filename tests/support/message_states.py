"""Outbox rows put in the states the dispatcher and delivery receipts leave them, for tests of what clinicians see.

The portal only reads these states; the delivery and receipts code that
writes them is tested on its own. Here a row's status and times are set
with plain SQL updates on `notifications`, as those parts would leave it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from shared.clock import utcnow
from shared.context import AppContext
from shared.db.statuses import NotificationStatus
from shared.db.tables import notifications

# A well-formed GOV.UK Notify API key (key name, service id, secret) and an SMTP relay on loopback: configured,
# so messages read "queued" rather than "not configured"; nothing in these tests sends anything.
NOTIFY_KEY = "mia_test-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0"
# Notify needs a template id per text message kind (the ids are never used: nothing is sent).
SMS_TEMPLATES = {
    "MIA_NOTIFY_TEMPLATE_INVITE_SMS": "0b7e2f3c-5a0d-4c61-9f3e-2d8c7a1b9e01",
    "MIA_NOTIFY_TEMPLATE_REMINDER_SMS": "0b7e2f3c-5a0d-4c61-9f3e-2d8c7a1b9e02",
}
CONFIGURED = {
    "MIA_NOTIFY_API_KEY": NOTIFY_KEY,
    **SMS_TEMPLATES,
    "MIA_SMTP_URL": "smtp://127.0.0.1:2525?starttls=false",
    "MIA_MAIL_FROM": "mia@example.nhs.uk",
    "MIA_EMAIL_PROVIDER": "smtp",
}
# Email by SMTP and no Notify key: texts cannot be sent (SMS goes through Notify only).
EMAIL_ONLY = {key: CONFIGURED[key] for key in ("MIA_SMTP_URL", "MIA_MAIL_FROM")}


def message_ids(ctx: AppContext, encounter_id: str, channel: str) -> list[str]:
    """The encounter's messages to one channel, oldest first."""
    with ctx.engine.connect() as conn:
        return list(
            conn.execute(
                select(notifications.c.id)
                .where(notifications.c.encounter_id == encounter_id, notifications.c.channel == channel)
                .order_by(notifications.c.created_at, notifications.c.id)
            ).scalars()
        )


def set_message(ctx: AppContext, message_id: str, **values: object) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(update(notifications).where(notifications.c.id == message_id).values(**values))


def mark_sent(ctx: AppContext, message_id: str, at: dt.datetime | None = None) -> None:
    set_message(ctx, message_id, status=NotificationStatus.SENT, sent_at=at or utcnow(), provider_id="p-1")


def mark_delivered(ctx: AppContext, message_id: str, at: dt.datetime | None = None) -> None:
    at = at or utcnow()
    set_message(ctx, message_id, status=NotificationStatus.DELIVERED, sent_at=at, delivered_at=at)


def mark_failed(ctx: AppContext, message_id: str, reason: str, at: dt.datetime | None = None) -> None:
    at = at or utcnow()
    set_message(ctx, message_id, status=NotificationStatus.FAILED, failure_reason=reason, failed_at=at)


def fail_latest(ctx: AppContext, encounter_id: str, channel: str, reason: str) -> str:
    """The newest message to `channel` fails for good; returns its id."""
    message_id = message_ids(ctx, encounter_id, channel)[-1]
    mark_failed(ctx, message_id, reason)
    return message_id

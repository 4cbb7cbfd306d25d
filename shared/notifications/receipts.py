"""Delivery receipts from GOV.UK Notify: its callbacks, and asking it about messages it has not reported on.

Notify reports each message's fate to our callback URL (`POST
/notify/callbacks` on the upload service; the bearer token is checked
there): delivered, or permanent-failure, temporary-failure or
technical-failure, each final. A failure becomes `failed` with a reason a
clinician can act on, and a patient's invite or reminder that failed
alerts the requesting clinician (`alerts.invite_failed`) in the same
transaction. Where callbacks cannot reach us, `poll_unconfirmed` asks Notify
(`lookup`, the official client's `get_notification_by_id`) about messages
`sent` for longer than MIA_NOTIFY_POLL_AFTER_MINUTES, each at most once per
that interval, for as long as Notify keeps them (7 days).

A receipt finds its message by Notify's id (stored by the dispatcher), or
by our row id, which the dispatcher sends as Notify's `reference`: a
receipt that beats the dispatcher's own bookkeeping still lands, and a
message the dispatcher would retry after a timeout is known to have gone.
Receipts are idempotent: a message already delivered or failed stays so.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, or_, select, update

from shared import audit
from shared.clock import utcnow
from shared.context import AppContext
from shared.db.statuses import NotificationStatus
from shared.db.tables import notifications
from shared.logging.json_lines import get_logger
from shared.notifications import alerts
from shared.notifications.outbox import CHANNEL_EMAIL, CHANNEL_SMS, KIND_PATIENT_INVITE, KIND_PATIENT_REMINDER

log = get_logger(__name__)

PROVIDER_NOTIFY = "notify"
DELIVERED = "delivered"
PERMANENT_FAILURE = "permanent-failure"
TEMPORARY_FAILURE = "temporary-failure"
TECHNICAL_FAILURE = "technical-failure"
FINAL_STATUSES = (DELIVERED, PERMANENT_FAILURE, TEMPORARY_FAILURE, TECHNICAL_FAILURE)
NOTIFY_KEEPS = dt.timedelta(days=7)  # Notify's data retention: after it, it no longer knows the message
POLL_BATCH = 50
# A receipt may still change a message in these states (a final one stays as it is).
OPEN_STATUSES = (NotificationStatus.PENDING, NotificationStatus.SENDING, NotificationStatus.SENT)
PATIENT_KINDS = (KIND_PATIENT_INVITE, KIND_PATIENT_REMINDER)
OUR_ID = re.compile(r"[0-9a-f]{32}")

# Why a message failed, per channel and Notify status, in words a clinician can act on.
REASONS = {
    (CHANNEL_SMS, PERMANENT_FAILURE): (
        "The phone number does not exist or can't receive texts. Check the number, or send the link by email."
    ),
    (CHANNEL_EMAIL, PERMANENT_FAILURE): (
        "The email address does not exist or its mailbox refuses mail. Check the address, or send the link by text."
    ),
    (CHANNEL_SMS, TEMPORARY_FAILURE): (
        "The phone was switched off or out of signal for too long, so the text was not delivered. "
        "Send it again later, or by email."
    ),
    (CHANNEL_EMAIL, TEMPORARY_FAILURE): (
        "The mailbox was full or turned the email away for now. Send it again later, or by text."
    ),
}
TECHNICAL_REASON = "The message was not sent because of a fault at GOV.UK Notify or a network it uses. Send it again."


class MalformedReceipt(ValueError):
    """A callback body or lookup answer that is not one of Notify's receipts (the message names the field)."""


@dataclass(frozen=True)
class Receipt:
    """What Notify says of one message (its callback JSON, or its `get_notification_by_id` answer)."""

    provider_id: str
    reference: str | None
    status: str
    channel: str | None
    sent_at: dt.datetime | None
    completed_at: dt.datetime | None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


def failure_reason(channel: str, status: str) -> str:
    return REASONS.get((channel, status), TECHNICAL_REASON)


def _timestamp(payload: Mapping[str, Any], name: str) -> dt.datetime | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise MalformedReceipt(f"{name}: expected a date and time such as 2026-12-02T10:15:30.000000Z")
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedReceipt(f"{name}: expected a date and time such as 2026-12-02T10:15:30.000000Z") from None
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def parse_receipt(payload: object) -> Receipt:
    """Check a receipt's shape (unknown fields are ignored: Notify adds some over time); raises MalformedReceipt."""
    if not isinstance(payload, Mapping):
        raise MalformedReceipt("expected a JSON object")
    provider_id = payload.get("id")
    try:
        provider_id = str(uuid.UUID(provider_id)) if isinstance(provider_id, str) and len(provider_id) <= 36 else None
    except ValueError:
        provider_id = None
    if provider_id is None:
        raise MalformedReceipt("id: expected Notify's notification id (a UUID)")
    status = payload.get("status")
    if not isinstance(status, str) or not status or len(status) > 40:
        raise MalformedReceipt("status: expected one of Notify's statuses")
    reference = payload.get("reference")
    if reference is not None and (not isinstance(reference, str) or len(reference) > 100):
        raise MalformedReceipt("reference: expected a string of at most 100 characters, or null")
    channel = payload.get("notification_type", payload.get("type"))
    if channel is not None and channel not in (CHANNEL_SMS, CHANNEL_EMAIL, "letter"):
        raise MalformedReceipt("notification_type: expected sms or email")
    return Receipt(
        provider_id=provider_id,
        reference=reference,
        status=status,
        channel=channel,
        sent_at=_timestamp(payload, "sent_at"),
        completed_at=_timestamp(payload, "completed_at"),
    )


def _find(conn: Connection, receipt: Receipt) -> Row | None:
    """The message a receipt is about, locked: by Notify's id, else by our id sent as the reference."""
    by_provider_id = (notifications.c.provider == PROVIDER_NOTIFY) & (
        notifications.c.provider_id == receipt.provider_id
    )
    condition = by_provider_id
    if receipt.reference and OUR_ID.fullmatch(receipt.reference):
        by_reference = (
            (notifications.c.id == receipt.reference)
            & notifications.c.status.in_(OPEN_STATUSES)
            & (notifications.c.provider_id.is_(None) | (notifications.c.provider_id == receipt.provider_id))
        )
        condition = or_(by_provider_id, by_reference)
    row = conn.execute(
        select(notifications).where(condition).order_by(notifications.c.created_at).limit(1).with_for_update()
    ).first()
    if row is None or (receipt.channel is not None and receipt.channel != row.channel):
        return None
    return row


def _finalise(conn: Connection, ctx: AppContext, row: Row, receipt: Receipt, now: dt.datetime) -> bool:
    """Record a final receipt on an open message (audited; a failed patient message alerts its clinician)."""
    if row.status not in OPEN_STATUSES:
        return False  # already delivered or failed: receipts are final, and may come twice
    completed = receipt.completed_at or now
    values: dict[str, Any] = {
        "provider": PROVIDER_NOTIFY,
        "provider_id": receipt.provider_id,
        "sent_at": row.sent_at or receipt.sent_at or completed,
        "lease_owner": None,
        "lease_until": None,
        "next_attempt_at": None,
    }
    if receipt.status == DELIVERED:
        values |= {"status": NotificationStatus.DELIVERED, "delivered_at": completed, "failure_reason": None}
    else:
        values |= {
            "status": NotificationStatus.FAILED,
            "failed_at": completed,
            "failure_reason": failure_reason(row.channel, receipt.status),
            "last_error": f"GOV.UK Notify: {receipt.status}",
        }
    conn.execute(update(notifications).where(notifications.c.id == row.id).values(**values))
    failed = receipt.status != DELIVERED
    audit.record(
        conn,
        "notification.failed" if failed else "notification.delivered",
        actor_type=audit.ACTOR_SYSTEM,
        actor_id=PROVIDER_NOTIFY,
        encounter_id=row.encounter_id,
        detail={"notification_id": row.id, "kind": row.kind, "channel": row.channel, "status": receipt.status},
    )
    if failed and row.kind in PATIENT_KINDS:
        alerts.invite_failed(conn, ctx, alerts.FailedMessage(row.id, row.kind, row.channel, row.encounter_id))
    return True


def apply_notify_callback(ctx: AppContext, payload: object, now: dt.datetime | None = None) -> bool:
    """Record one of Notify's delivery callbacks; False when no message of ours matches it.

    Raises MalformedReceipt for a body that is not a callback, or one whose status is not final.
    """
    receipt = parse_receipt(payload)
    if not receipt.final:
        raise MalformedReceipt(f"status: expected one of {', '.join(FINAL_STATUSES)}")
    moment = now or utcnow()
    with ctx.engine.begin() as conn:
        row = _find(conn, receipt)
        if row is None:
            return False
        _finalise(conn, ctx, row, receipt, moment)
    return True


Lookup = Callable[[str], Mapping[str, Any]]


def _poll_later(ctx: AppContext, notification_id: str, at: dt.datetime) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(
            update(notifications)
            .where(notifications.c.id == notification_id, notifications.c.status == NotificationStatus.SENT)
            .values(next_attempt_at=at)
        )


def poll_unconfirmed(ctx: AppContext, lookup: Lookup, now: dt.datetime) -> int:
    """Ask Notify about messages `sent` long ago with no receipt; returns how many were finalised.

    For a `sent` row, `next_attempt_at` is when to ask next. A lookup that fails (Notify unreachable, the
    message unknown) ends this round: the rest wait for the next cycle rather than each waiting for a timeout.
    """
    interval = dt.timedelta(minutes=ctx.settings.messaging.notify_poll_after_minutes)
    with ctx.engine.connect() as conn:
        due = conn.execute(
            select(notifications.c.id, notifications.c.provider_id)
            .where(
                notifications.c.status == NotificationStatus.SENT,
                notifications.c.provider == PROVIDER_NOTIFY,
                notifications.c.provider_id.is_not(None),
                notifications.c.sent_at <= now - interval,
                notifications.c.sent_at > now - NOTIFY_KEEPS,
                or_(notifications.c.next_attempt_at.is_(None), notifications.c.next_attempt_at <= now),
            )
            .order_by(notifications.c.sent_at, notifications.c.id)
            .limit(POLL_BATCH)
        ).all()
    finalised = 0
    for notification_id, provider_id in due:
        try:
            receipt = parse_receipt(lookup(provider_id))
            if receipt.provider_id != provider_id:
                raise MalformedReceipt("id: the answer is about another message")
        except Exception as error:
            # never the error's text: the client quotes Notify's answer, which may hold the recipient
            log.warning(
                "could not ask GOV.UK Notify about a message; asking again later",
                extra={"notification_id": notification_id, "error": type(error).__name__},
            )
            _poll_later(ctx, notification_id, now + interval)
            break
        if not receipt.final:
            _poll_later(ctx, notification_id, now + interval)  # still on its way: ask again after the interval
            continue
        with ctx.engine.begin() as conn:
            row = conn.execute(
                select(notifications).where(notifications.c.id == notification_id).with_for_update()
            ).first()
            if row is not None and row.status == NotificationStatus.SENT:  # else a callback was first
                finalised += _finalise(conn, ctx, row, receipt, now)
    return finalised

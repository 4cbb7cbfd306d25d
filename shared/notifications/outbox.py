"""Messages to patients and clinicians, written to the `notifications` outbox.

The outbox is the delivery record: in the embedded mode the portal shows
pending patient invites (link and QR code for in-clinic hand-over) and
clinician notices; a delivery adapter (SMS/email) marks rows sent. Recipient
and body are encrypted because an invite body holds a live link, so every
function that writes or reads a message takes the field cipher. They run in
the caller's transaction: a message is queued with the change it reports.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, Row, select, update

from shared.clock import utcnow
from shared.crypto.fields import FieldCipher
from shared.db.statuses import NotificationStatus
from shared.db.tables import notifications
from shared.ids import new_id

TABLE = "notifications"
KIND_PATIENT_INVITE = "patient_invite"
KIND_PATIENT_REMINDER = "patient_reminder"
KIND_SUBMISSION = "submission_received"
CHANNEL_SMS = "sms"
CHANNEL_EMAIL = "email"
CHANNEL_PORTAL = "portal"


@dataclass(frozen=True)
class Notification:
    """One outbox message, recipient and body decrypted."""

    id: str
    kind: str
    channel: str
    recipient: str | None
    body: str
    encounter_id: str | None
    user_id: str | None
    status: str
    created_at: dt.datetime
    read_at: dt.datetime | None


def invite_message(link: str, expires_text: str) -> str:
    """No names or clinical detail: an SMS may be read by someone else."""
    return (
        "Your NHS care team has asked you to send photos or videos. "
        f"Open {link} and confirm your date of birth. The link works until {expires_text}."
    )


def enqueue(
    conn: Connection,
    cipher: FieldCipher,
    *,
    kind: str,
    channel: str,
    body: str,
    recipient: str | None = None,
    encounter_id: str | None = None,
    user_id: str | None = None,
) -> str:
    """Queue one message (recipient and body encrypted to their row); returns its id."""
    row_id = new_id()
    conn.execute(
        notifications.insert().values(
            id=row_id,
            kind=kind,
            channel=channel,
            recipient=cipher.encrypt_optional(TABLE, "recipient", row_id, recipient),
            body=cipher.encrypt(TABLE, "body", row_id, body),
            encounter_id=encounter_id,
            user_id=user_id,
            status=NotificationStatus.PENDING,
            created_at=utcnow(),
        )
    )
    return row_id


def invite_patient(
    conn: Connection,
    cipher: FieldCipher,
    *,
    encounter_id: str,
    link: str,
    expires_text: str,
    phone: str | None,
    email: str | None,
) -> list[str]:
    """One message per contact route; with neither, a portal-only entry for in-clinic hand-over."""
    body = invite_message(link, expires_text)
    routes = [(CHANNEL_SMS, phone), (CHANNEL_EMAIL, email)]
    routes = [(channel, to) for channel, to in routes if to] or [(CHANNEL_PORTAL, None)]
    return [
        enqueue(
            conn,
            cipher,
            kind=KIND_PATIENT_INVITE,
            channel=channel,
            body=body,
            recipient=to,
            encounter_id=encounter_id,
        )
        for channel, to in routes
    ]


def notify_clinician(conn: Connection, cipher: FieldCipher, *, user_id: str, encounter_id: str, message: str) -> str:
    """A notice in the clinician's portal (the "files received" alert)."""
    return enqueue(
        conn,
        cipher,
        kind=KIND_SUBMISSION,
        channel=CHANNEL_PORTAL,
        body=message,
        encounter_id=encounter_id,
        user_id=user_id,
    )


def _decrypted(cipher: FieldCipher, row: Row) -> Notification:
    return Notification(
        id=row.id,
        kind=row.kind,
        channel=row.channel,
        recipient=cipher.decrypt_optional(TABLE, "recipient", row.id, row.recipient),
        body=cipher.decrypt(TABLE, "body", row.id, row.body),
        encounter_id=row.encounter_id,
        user_id=row.user_id,
        status=row.status,
        created_at=row.created_at,
        read_at=row.read_at,
    )


def for_encounter(conn: Connection, cipher: FieldCipher, encounter_id: str) -> list[Notification]:
    """Every message about one encounter, newest first."""
    query = (
        select(notifications)
        .where(notifications.c.encounter_id == encounter_id)
        .order_by(notifications.c.created_at.desc())
    )
    return [_decrypted(cipher, row) for row in conn.execute(query)]


def unread_for_user(conn: Connection, cipher: FieldCipher, user_id: str) -> list[Notification]:
    query = (
        select(notifications)
        .where(notifications.c.user_id == user_id, notifications.c.read_at.is_(None))
        .order_by(notifications.c.created_at.desc())
    )
    return [_decrypted(cipher, row) for row in conn.execute(query)]


def mark_read(conn: Connection, notification_id: str, user_id: str) -> None:
    conn.execute(
        update(notifications)
        .where(notifications.c.id == notification_id, notifications.c.user_id == user_id)
        .values(read_at=utcnow())
    )


def mark_sent(conn: Connection, notification_id: str) -> None:
    conn.execute(
        update(notifications)
        .where(notifications.c.id == notification_id)
        .values(status=NotificationStatus.SENT, sent_at=utcnow(), attempts=notifications.c.attempts + 1)
    )

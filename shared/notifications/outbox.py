"""Messages to patients and clinicians, written to the `notifications` outbox.

The outbox is the delivery record. A message is queued in the caller's
transaction, with the change it reports; the dispatcher
(`shared.notifications.dispatcher`, `manage.py deliver-notifications`) sends
it later and records what became of it. A message to a channel that no
service is configured for is stored `not_configured` at once, so the portal
can say plainly that it was not sent (and offer the link and QR code); the
dispatcher never touches it. Recipient and body are encrypted because an
invite body holds a live link, so every function that writes or reads a
message takes the field cipher (through the context).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, Row, select, update

from shared.clock import utcnow
from shared.config.messaging import MessagingSettings
from shared.context import AppContext
from shared.crypto.fields import FieldCipher
from shared.db.statuses import NotificationStatus
from shared.db.tables import notifications
from shared.ids import new_id
from shared.notifications import messages
from shared.notifications.messages import CHANNEL_EMAIL, CHANNEL_SMS, OutgoingMessage, UnknownMessage
from shared.staff.teams import organisation_name

TABLE = "notifications"
KIND_PATIENT_INVITE = "patient_invite"
KIND_PATIENT_REMINDER = "patient_reminder"
KIND_SUBMISSION = "submission_received"  # the portal's "files received" notice
KIND_CLINICIAN_ALERT = "clinician_alert"
PATIENT_KINDS = (KIND_PATIENT_INVITE, KIND_PATIENT_REMINDER)
CHANNEL_PORTAL = "portal"
DELIVERED_CHANNELS = (CHANNEL_SMS, CHANNEL_EMAIL)  # what the dispatcher sends; portal notices stay in MIA


@dataclass(frozen=True)
class Notification:
    """One outbox message, recipient and body decrypted, with where its delivery stands."""

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
    attempts: int = 0
    provider: str | None = None
    provider_id: str | None = None
    failure_reason: str | None = None  # words a clinician can act on
    next_attempt_at: dt.datetime | None = None
    sent_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    failed_at: dt.datetime | None = None

    @property
    def message(self) -> OutgoingMessage | None:
        """The message a provider is given, or None for a portal notice (its body is plain text)."""
        try:
            return OutgoingMessage.from_json(self.body)
        except UnknownMessage:
            return None

    @property
    def text(self) -> str:
        """What the message says, as the recipient reads it."""
        message = self.message
        return message.text if message is not None else self.body


def channel_configured(settings: MessagingSettings, channel: str) -> bool:
    """Whether a service is set up to carry messages on `channel` (texts: Notify; email: Notify or SMTP)."""
    if channel == CHANNEL_SMS:
        return settings.sms_configured
    if channel == CHANNEL_EMAIL:
        return settings.email_configured
    return False


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
    status: NotificationStatus = NotificationStatus.PENDING,
    dedupe_key: str | None = None,
) -> str:
    """Store one message (recipient and body encrypted to their row); returns its id.

    A `dedupe_key` already in the outbox makes the insert fail (IntegrityError): a reminder or an alert that
    two processes queue at once is queued once.
    """
    row_id = new_id()
    now = utcnow()
    conn.execute(
        notifications.insert().values(
            id=row_id,
            kind=kind,
            channel=channel,
            recipient=cipher.encrypt_optional(TABLE, "recipient", row_id, recipient),
            body=cipher.encrypt(TABLE, "body", row_id, body),
            encounter_id=encounter_id,
            user_id=user_id,
            status=status,
            created_at=now,
            next_attempt_at=now if status == NotificationStatus.PENDING else None,
            dedupe_key=dedupe_key,
        )
    )
    return row_id


def enqueue_message(
    conn: Connection,
    ctx: AppContext,
    *,
    kind: str,
    message: OutgoingMessage,
    recipient: str,
    encounter_id: str | None = None,
    user_id: str | None = None,
    dedupe_key: str | None = None,
) -> str:
    """Queue a message for a provider: `pending` when its channel is configured, else `not_configured`."""
    configured = channel_configured(ctx.settings.messaging, message.channel)
    return enqueue(
        conn,
        ctx.cipher,
        kind=kind,
        channel=message.channel,
        body=message.to_json(),
        recipient=recipient,
        encounter_id=encounter_id,
        user_id=user_id,
        status=NotificationStatus.PENDING if configured else NotificationStatus.NOT_CONFIGURED,
        dedupe_key=dedupe_key,
    )


def invite_patient(
    conn: Connection,
    ctx: AppContext,
    *,
    encounter_id: str,
    team: str | None,
    link: str,
    expires_text: str,
    phone: str | None,
    email: str | None,
) -> list[str]:
    """One message per contact route, in the team's organisation name; with neither route, a portal-only
    entry for in-clinic hand-over (it holds the link, which `shared.encounters.invites` reads back)."""
    organisation = organisation_name(conn, ctx, team)
    routes = [(channel, to) for channel, to in ((CHANNEL_SMS, phone), (CHANNEL_EMAIL, email)) if to]
    if not routes:
        words = messages.in_clinic_invite(organisation=organisation, link=link, expires_text=expires_text)
        return [
            enqueue(
                conn,
                ctx.cipher,
                kind=KIND_PATIENT_INVITE,
                channel=CHANNEL_PORTAL,
                body=words,
                encounter_id=encounter_id,
            )
        ]
    return [
        enqueue_message(
            conn,
            ctx,
            kind=KIND_PATIENT_INVITE,
            message=messages.patient_invite(channel, organisation=organisation, link=link, expires_text=expires_text),
            recipient=to,
            encounter_id=encounter_id,
        )
        for channel, to in routes
    ]


def remind_patient(
    conn: Connection,
    ctx: AppContext,
    *,
    encounter_id: str,
    team: str | None,
    channel: str,
    recipient: str,
    link: str,
    expires_text: str,
    dedupe_key: str | None = None,
) -> str:
    """One reminder on one of the invite's channels, with the same live link."""
    message = messages.patient_reminder(
        channel, organisation=organisation_name(conn, ctx, team), link=link, expires_text=expires_text
    )
    return enqueue_message(
        conn,
        ctx,
        kind=KIND_PATIENT_REMINDER,
        message=message,
        recipient=recipient,
        encounter_id=encounter_id,
        dedupe_key=dedupe_key,
    )


def alert_clinician(
    conn: Connection,
    ctx: AppContext,
    *,
    recipient: str,
    message: OutgoingMessage,
    encounter_id: str | None,
    user_id: str | None = None,
    dedupe_key: str | None = None,
) -> str:
    """An email alert (built by `messages.clinician_*`) to a clinician or a team mailbox."""
    return enqueue_message(
        conn,
        ctx,
        kind=KIND_CLINICIAN_ALERT,
        message=message,
        recipient=recipient,
        encounter_id=encounter_id,
        user_id=user_id,
        dedupe_key=dedupe_key,
    )


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


def decrypted(cipher: FieldCipher, row: Row) -> Notification:
    """A `notifications` row as a Notification (recipient and body decrypted)."""
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
        attempts=row.attempts,
        provider=row.provider,
        provider_id=row.provider_id,
        failure_reason=row.failure_reason,
        next_attempt_at=row.next_attempt_at,
        sent_at=row.sent_at,
        delivered_at=row.delivered_at,
        failed_at=row.failed_at,
    )


def load(conn: Connection, cipher: FieldCipher, notification_id: str) -> Notification | None:
    row = conn.execute(select(notifications).where(notifications.c.id == notification_id)).first()
    return decrypted(cipher, row) if row is not None else None


def for_encounter(conn: Connection, cipher: FieldCipher, encounter_id: str) -> list[Notification]:
    """Every message about one encounter, newest first."""
    query = (
        select(notifications)
        .where(notifications.c.encounter_id == encounter_id)
        .order_by(notifications.c.created_at.desc())
    )
    return [decrypted(cipher, row) for row in conn.execute(query)]


def unread_for_user(conn: Connection, cipher: FieldCipher, user_id: str) -> list[Notification]:
    query = (
        select(notifications)
        .where(notifications.c.user_id == user_id, notifications.c.read_at.is_(None))
        .order_by(notifications.c.created_at.desc())
    )
    return [decrypted(cipher, row) for row in conn.execute(query)]


def mark_read(conn: Connection, notification_id: str, user_id: str) -> None:
    conn.execute(
        update(notifications)
        .where(notifications.c.id == notification_id, notifications.c.user_id == user_id)
        .values(read_at=utcnow())
    )

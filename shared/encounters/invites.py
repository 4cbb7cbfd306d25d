"""The live patient link of an encounter: showing it, sending it again (or by email instead), and where each
message that carried it stands.

Only the SHA-256 of an invite token is kept with the encounter; the link
itself exists only inside the (encrypted) outbox message that carried it.
Sending again re-queues that same link, so the patient's first message
keeps working; a new link is `requests.reissue_invite`. Every action is
audited in its own transaction.

A message's state is what the clinician needs to know (`Delivery`): a
message to a channel no service is set up for was never sent and never will
be, whatever its row says, so it reads "not configured", not "queued". A
failed invite or reminder waits for the requesting clinician (the portal's
badge) until someone sends the link again or by email, or that clinician
opens the request: the failed row's `read_at` records that it was dealt with.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, Row, select, update

from shared import audit
from shared.clock import utcnow
from shared.config.messaging import MessagingSettings
from shared.context import Actor, AppContext
from shared.db.statuses import NotificationStatus
from shared.db.tables import encounters, notifications
from shared.encounters.encounter import Encounter, load_encounter
from shared.encounters.errors import EncounterError
from shared.encounters.identifiers import normalize_email
from shared.encounters.requests import (
    CLOSED_STATUSES,
    TABLE,
    Invite,
    decrypt_patient,
    invite_expiry_text,
    invite_link,
)
from shared.ids import token_hash
from shared.notifications import outbox
from shared.notifications.outbox import (
    CHANNEL_EMAIL,
    CHANNEL_PORTAL,
    CHANNEL_SMS,
    KIND_PATIENT_INVITE,
    KIND_PATIENT_REMINDER,
    PATIENT_KINDS,
    channel_configured,
)

NOT_IN_OUTBOX = "The current link is no longer in the outbox. Issue a new link instead."
PATIENT_MESSAGE_KINDS = PATIENT_KINDS
CHANNEL_SERVICES = {CHANNEL_SMS: "text message", CHANNEL_EMAIL: "email"}


class Delivery(StrEnum):
    """Where a message to the patient stands, as the clinician sees it."""

    NOT_CONFIGURED = "not_configured"  # no service for its channel is set up: it was not sent and will not be
    IN_CLINIC = "in_clinic"  # no phone or email: the link is handed over in clinic
    QUEUED = "queued"  # waiting for the dispatcher (first try, or a retry at `next_attempt_at`)
    SENDING = "sending"
    SENT = "sent"  # accepted by the provider
    DELIVERED = "delivered"  # the provider reported it reached the phone or mailbox
    FAILED = "failed"  # for good: `failure_reason` says why


def delivery_of(status: str, channel: str, messaging: MessagingSettings) -> Delivery:
    """The state a clinician reads from a row's status and channel under the running configuration."""
    if channel == CHANNEL_PORTAL:
        return Delivery.IN_CLINIC
    if status == NotificationStatus.NOT_CONFIGURED:
        return Delivery.NOT_CONFIGURED
    if status == NotificationStatus.PENDING:
        return Delivery.QUEUED if channel_configured(messaging, channel) else Delivery.NOT_CONFIGURED
    return {
        NotificationStatus.SENDING: Delivery.SENDING,
        NotificationStatus.SENT: Delivery.SENT,
        NotificationStatus.DELIVERED: Delivery.DELIVERED,
    }.get(status, Delivery.FAILED)


@dataclass(frozen=True)
class PatientMessage:
    """One invite or reminder to the patient: where it went and where it stands (recipient for display only)."""

    id: str
    kind: str
    channel: str
    recipient: str | None
    delivery: Delivery
    queued_at: dt.datetime
    sent_at: dt.datetime | None
    delivered_at: dt.datetime | None
    failed_at: dt.datetime | None
    failure_reason: str | None
    next_attempt_at: dt.datetime | None
    attempts: int
    dealt_with_at: dt.datetime | None  # for a failure: when it was acted on (sent again, or the request opened)

    @property
    def is_reminder(self) -> bool:
        return self.kind == KIND_PATIENT_REMINDER

    @property
    def needs_attention(self) -> bool:
        return self.delivery == Delivery.FAILED and self.dealt_with_at is None

    @property
    def since(self) -> dt.datetime:
        """When it reached its current state (as far as the row records it)."""
        moments = {
            Delivery.DELIVERED: self.delivered_at,
            Delivery.FAILED: self.failed_at,
            Delivery.SENT: self.sent_at,
        }
        return moments.get(self.delivery) or self.queued_at


_MESSAGE_COLUMNS = (
    notifications.c.id,
    notifications.c.kind,
    notifications.c.channel,
    notifications.c.recipient,
    notifications.c.encounter_id,
    notifications.c.status,
    notifications.c.created_at,
    notifications.c.sent_at,
    notifications.c.delivered_at,
    notifications.c.failed_at,
    notifications.c.failure_reason,
    notifications.c.next_attempt_at,
    notifications.c.attempts,
    notifications.c.read_at,
)


def _message(ctx: AppContext, row: Row, *, with_recipient: bool) -> PatientMessage:
    recipient = (
        ctx.cipher.decrypt_optional(outbox.TABLE, "recipient", row.id, row.recipient) if with_recipient else None
    )
    return PatientMessage(
        id=row.id,
        kind=row.kind,
        channel=row.channel,
        recipient=recipient,
        delivery=delivery_of(row.status, row.channel, ctx.settings.messaging),
        queued_at=row.created_at,
        sent_at=row.sent_at,
        delivered_at=row.delivered_at,
        failed_at=row.failed_at,
        failure_reason=row.failure_reason,
        next_attempt_at=row.next_attempt_at,
        attempts=int(row.attempts or 0),
        dealt_with_at=row.read_at,
    )


def _patient_rows(conn: Connection, encounter_ids: Sequence[str]) -> list[Row]:
    query = (
        select(*_MESSAGE_COLUMNS)
        .where(notifications.c.encounter_id.in_(list(encounter_ids)), notifications.c.kind.in_(PATIENT_MESSAGE_KINDS))
        .order_by(notifications.c.created_at.desc(), notifications.c.id.desc())
    )
    return list(conn.execute(query)) if encounter_ids else []


def patient_messages(ctx: AppContext, encounter_id: str) -> list[PatientMessage]:
    """Every invite and reminder of the encounter, newest first, recipients decrypted for display only."""
    with ctx.engine.connect() as conn:
        return [_message(ctx, row, with_recipient=True) for row in _patient_rows(conn, [encounter_id])]


def invite_messages(ctx: AppContext, encounter_id: str) -> list[outbox.Notification]:
    """The outbox rows that carried the encounter's invites, newest first (recipient decrypted for display only)."""
    with ctx.engine.connect() as conn:
        found = outbox.for_encounter(conn, ctx.cipher, encounter_id)
    return [message for message in found if message.kind == KIND_PATIENT_INVITE]


def latest_by_channel(
    ctx: AppContext, conn: Connection, encounter_ids: Sequence[str]
) -> dict[str, list[PatientMessage]]:
    """Per encounter, the newest message to each channel (for a list: no recipient decrypted)."""
    latest: dict[str, dict[str, PatientMessage]] = {}
    for row in _patient_rows(conn, encounter_ids):
        latest.setdefault(row.encounter_id, {}).setdefault(row.channel, _message(ctx, row, with_recipient=False))
    return {encounter_id: list(by_channel.values()) for encounter_id, by_channel in latest.items()}


# -- the live link -------------------------------------------------------------------------------


def _links_in(body: str, patient_base_url: str) -> list[str]:
    prefix = re.escape(invite_link(patient_base_url, ""))
    return re.findall(prefix + r"[A-Za-z0-9_-]+", body)


def current_invite(ctx: AppContext, conn: Connection, row: Encounter) -> Invite | None:
    """The encounter's live link read back from the outbox, or None when no message holds it."""
    if row.invite_token_hash is None or row.invite_expires_at is None:
        return None
    for message in outbox.for_encounter(conn, ctx.cipher, row.id):
        if message.kind != KIND_PATIENT_INVITE:
            continue
        for link in _links_in(message.body, ctx.settings.patient_base_url):
            token = link.rsplit("/", 1)[-1]
            if token_hash(token) == row.invite_token_hash:
                return Invite(row.id, token, link, row.invite_expires_at)
    return None


def _load(conn: Connection, encounter_id: str) -> Encounter:
    row = load_encounter(conn, encounter_id, lock=True)
    if row is None or row.deleted_at is not None:
        raise EncounterError("That encounter does not exist.")
    return row


def show_link(ctx: AppContext, encounter_id: str, *, actor: Actor) -> Invite:
    """The live link, to hand over in clinic (text and QR code); audited, and the first showing timed.

    `link_shown_at` is what the timeline says happened to a link nobody sent.
    """
    with ctx.engine.begin() as conn:
        invite = current_invite(ctx, conn, _load(conn, encounter_id))
        if invite is None:
            raise EncounterError(NOT_IN_OUTBOX)
        conn.execute(
            update(encounters)
            .where(encounters.c.id == encounter_id, encounters.c.link_shown_at.is_(None))
            .values(link_shown_at=utcnow())
        )
        audit.record(
            conn,
            "invite.shown",
            actor_type=audit.ACTOR_USER,
            actor_id=actor.user_id,
            encounter_id=encounter_id,
            remote_addr=actor.remote_addr,
        )
    return invite


def _live_invite(ctx: AppContext, conn: Connection, encounter_id: str, now: dt.datetime) -> tuple[Encounter, Invite]:
    """The encounter and its link, if the link may be sent again now; else an EncounterError saying why not."""
    row = _load(conn, encounter_id)
    if row.status in CLOSED_STATUSES:
        raise EncounterError("The patient has already sent their photos and videos.")
    if row.locked_at is not None:
        raise EncounterError("The link is locked after wrong dates of birth. Unlock it, or issue a new link.")
    if row.invite_expires_at is None or row.invite_expires_at <= now:
        raise EncounterError("The link has expired. Issue a new link instead.")
    invite = current_invite(ctx, conn, row)
    if invite is None:
        raise EncounterError(NOT_IN_OUTBOX)
    return row, invite


def _deal_with_failures(conn: Connection, encounter_id: str) -> int:
    """Mark the encounter's failed invites and reminders as acted on (the badge goes); how many there were."""
    return conn.execute(
        update(notifications)
        .where(
            notifications.c.encounter_id == encounter_id,
            notifications.c.kind.in_(PATIENT_MESSAGE_KINDS),
            notifications.c.status == NotificationStatus.FAILED.value,
            notifications.c.read_at.is_(None),
        )
        .values(read_at=utcnow())
    ).rowcount


def _queue(
    ctx: AppContext, conn: Connection, row: Encounter, invite: Invite, *, phone: str | None, email: str | None
) -> list[str]:
    return outbox.invite_patient(
        conn,
        ctx,
        encounter_id=invite.encounter_id,
        team=row.team,
        link=invite.link,
        expires_text=invite_expiry_text(invite.expires_at),
        phone=phone,
        email=email,
    )


def resend_invite(ctx: AppContext, encounter_id: str, *, actor: Actor, now: dt.datetime) -> Invite:
    """Queue the same live link again to the patient's phone and/or email (the channels it went to).

    Refused, with what to do instead, when the patient has no phone or
    email on record or no service is set up for either: queuing a message
    that cannot leave would only pretend.
    """
    messaging = ctx.settings.messaging
    with ctx.engine.begin() as conn:
        row, invite = _live_invite(ctx, conn, encounter_id, now)
        patient = decrypt_patient(ctx.cipher, row)
        channels = [channel for channel, to in ((CHANNEL_SMS, patient.phone), (CHANNEL_EMAIL, patient.email)) if to]
        if not channels:
            raise EncounterError(
                "There is no mobile number or email address for this patient. "
                "Send the link by email instead, or show the link and QR code to hand it over."
            )
        if not any(channel_configured(messaging, channel) for channel in channels):
            services = " or ".join(CHANNEL_SERVICES[channel] for channel in channels)
            raise EncounterError(
                f"Nothing was sent: no {services} service is set up. "
                "Show the link and QR code and hand it over instead."
            )
        _queue(ctx, conn, row, invite, phone=patient.phone, email=patient.email)
        dealt_with = _deal_with_failures(conn, row.id)
        audit.record(
            conn,
            "invite.resent",
            actor_type=audit.ACTOR_USER,
            actor_id=actor.user_id,
            encounter_id=row.id,
            remote_addr=actor.remote_addr,
            detail={"channels": channels, "failures_dealt_with": dealt_with},
        )
    return invite


def send_by_email(ctx: AppContext, encounter_id: str, email: str, *, actor: Actor, now: dt.datetime) -> Invite:
    """Queue the same live link to an email address (typed now, or the one on record), instead of a text.

    The address is checked (InvalidIdentifier with how to fix it) and kept
    on the encounter, encrypted, so that reminders go there too; the audit
    event says whether it changed, never what it is.
    """
    address = normalize_email(email)
    if not ctx.settings.messaging.email_configured:
        raise EncounterError(
            "No email service is set up, so the link cannot be emailed. "
            "Show the link and QR code and hand it over instead."
        )
    with ctx.engine.begin() as conn:
        row, invite = _live_invite(ctx, conn, encounter_id, now)
        changed = decrypt_patient(ctx.cipher, row).email != address
        if changed:
            conn.execute(
                update(encounters)
                .where(encounters.c.id == row.id)
                .values(email=ctx.cipher.encrypt(TABLE, "email", row.id, address), updated_at=utcnow())
            )
        _queue(ctx, conn, row, invite, phone=None, email=address)
        dealt_with = _deal_with_failures(conn, row.id)
        audit.record(
            conn,
            "invite.sent_by_email",
            actor_type=audit.ACTOR_USER,
            actor_id=actor.user_id,
            encounter_id=row.id,
            remote_addr=actor.remote_addr,
            detail={"address_changed": changed, "failures_dealt_with": dealt_with},
        )
    return invite


def failures_seen(ctx: AppContext, encounter_id: str, *, actor: Actor) -> int:
    """The requesting clinician opened the request: its failed messages no longer need a badge.

    Someone else opening it changes nothing (the badge is the requester's).
    Audited when there was something to clear; returns how many.
    """
    with ctx.engine.begin() as conn:
        row = load_encounter(conn, encounter_id)
        if row is None or row.clinician_id != actor.user_id:
            return 0
        dealt_with = _deal_with_failures(conn, encounter_id)
        if dealt_with:
            audit.record(
                conn,
                "invite.failure_seen",
                actor_type=audit.ACTOR_USER,
                actor_id=actor.user_id,
                encounter_id=encounter_id,
                remote_addr=actor.remote_addr,
                detail={"failures_dealt_with": dealt_with},
            )
    return dealt_with

"""Clinician alerts by email: a patient sent their files, a patient's link was not delivered, a file could not be
prepared.

Each alert is an outbox message (kind `clinician_alert`, channel email) to
the requesting clinician's address and to the team's mailbox
(`shared.staff.teams`), queued in the transaction of the change it reports.
The email leaves the trust, so it names the request by its reference
(`request_reference`, shown on the portal's review page too) and links to
the portal, where signing in shows the rest: never the patient's name, NHS
number, date of birth, contact details or the clinician's note. Every alert
carries a dedupe key per event and recipient, so it is queued once however
often, and by however many processes, the event is reported.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection, or_, select
from sqlalchemy.exc import IntegrityError

from shared.context import AppContext
from shared.db.statuses import EncounterStatus, MediaStatus, UserStatus
from shared.db.tables import encounters, media, notifications, users
from shared.email_addresses import InvalidEmail, normalize_email_address
from shared.logging.json_lines import get_logger
from shared.notifications import messages, outbox
from shared.notifications.messages import OutgoingMessage
from shared.notifications.outbox import CHANNEL_EMAIL, CHANNEL_SMS, KIND_CLINICIAN_ALERT, KIND_PATIENT_REMINDER
from shared.staff.teams import team_mailbox

log = get_logger(__name__)

REFERENCE_LENGTH = 8
# Statuses in which the clinician can see what the patient sent (before Send, nobody is told of their files).
SENT_STATUSES = (EncounterStatus.SUBMITTED, EncounterStatus.REVIEWED)
# How far back the sweep looks for files that failed (or whose request was sent) without an alert.
PROCESSING_SWEEP_WINDOW = dt.timedelta(days=7)
CLINICIAN, TEAM = "clinician", "team"
CHANNEL_WORDS = {CHANNEL_SMS: "text message", CHANNEL_EMAIL: "email"}
NO_DETAILS = "This email carries no patient details: sign in to the portal to see them."


def request_reference(encounter_id: str) -> str:
    """How an alert and the review page name a request: the first 8 characters of its id, upper case.

    Enough for a clinician to tell requests apart and find one; it reveals nothing about the patient.
    """
    return encounter_id[:REFERENCE_LENGTH].upper()


def review_link(portal_base_url: str, encounter_id: str) -> str:
    """The portal page of one request (sign-in first, then straight to it)."""
    return f"{portal_base_url}/review?encounter={encounter_id}"


class OutboxMessage(Protocol):
    """What `invite_failed` needs of a failed message (`outbox.Notification` has it)."""

    @property
    def id(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def channel(self) -> str: ...

    @property
    def encounter_id(self) -> str | None: ...


@dataclass(frozen=True)
class FailedMessage:
    """An `OutboxMessage` built from a row, where no decrypted `outbox.Notification` is at hand."""

    id: str
    kind: str
    channel: str
    encounter_id: str | None


@dataclass(frozen=True)
class Recipient:
    role: str  # CLINICIAN or TEAM
    address: str


@dataclass(frozen=True)
class Requester:
    """Who asked for an encounter, and where it stands."""

    encounter_id: str
    clinician_id: str
    team: str | None
    status: str
    deleted: bool

    @property
    def sent(self) -> bool:
        return self.status in SENT_STATUSES


# -- who hears of a request -----------------------------------------------------------------------------------
def requester(conn: Connection, encounter_id: str) -> Requester | None:
    row = conn.execute(
        select(
            encounters.c.id, encounters.c.clinician_id, encounters.c.team, encounters.c.status, encounters.c.deleted_at
        ).where(encounters.c.id == encounter_id)
    ).first()
    if row is None:
        return None
    return Requester(row.id, row.clinician_id, row.team, row.status, row.deleted_at is not None)


def recipients(conn: Connection, clinician_id: str, team: str | None) -> list[Recipient]:
    """The requesting clinician's address (unless their account is disabled) and the team's mailbox, once each."""
    found: list[Recipient] = []
    clinician = conn.execute(select(users.c.email, users.c.status).where(users.c.id == clinician_id)).first()
    if clinician is not None and clinician.email and clinician.status != UserStatus.DISABLED:
        try:
            found.append(Recipient(CLINICIAN, normalize_email_address(clinician.email)))
        except InvalidEmail:
            log.warning("a clinician's email address is not valid; no alert to it", extra={"user_id": clinician_id})
    mailbox = team_mailbox(conn, team)
    if mailbox and all(mailbox.lower() != other.address.lower() for other in found):
        found.append(Recipient(TEAM, mailbox))
    return found


def _queue_once(conn: Connection, ctx: AppContext, event: str, who: Requester, message: OutgoingMessage) -> list[str]:
    """One email per recipient; an event already alerted to a recipient is not queued again."""
    queued = []
    for recipient in recipients(conn, who.clinician_id, who.team):
        key = f"alert:{event}:{recipient.role}"
        if conn.execute(select(notifications.c.id).where(notifications.c.dedupe_key == key)).first():
            continue
        try:
            with conn.begin_nested():
                queued.append(
                    outbox.alert_clinician(
                        conn,
                        ctx,
                        recipient=recipient.address,
                        message=message,
                        encounter_id=who.encounter_id,
                        dedupe_key=key,
                    )
                )
        except IntegrityError:
            continue  # another process queued the same alert a moment ago
    return queued


# -- the alerts -----------------------------------------------------------------------------------------------
def submission_received(
    conn: Connection, ctx: AppContext, encounter_id: str, clinician_id: str, team: str | None
) -> list[str]:
    """The patient pressed Send: tell the requesting clinician and the team mailbox (in submit's transaction)."""
    who = Requester(encounter_id, clinician_id, team, EncounterStatus.SUBMITTED, deleted=False)
    message = messages.clinician_submission(
        reference=request_reference(encounter_id), portal_link=review_link(ctx.settings.portal_base_url, encounter_id)
    )
    return _queue_once(conn, ctx, f"submitted:{encounter_id}", who, message)


def invite_failed(conn: Connection, ctx: AppContext, notification: OutboxMessage) -> list[str]:
    """A patient's invite or reminder will not arrive: tell the clinician, with the reason, so they can act.

    Call it in the transaction that marks the message failed, once `failure_reason` is written (the email
    quotes it). Nothing is queued for a request that was deleted, or whose patient has sent anyway.
    """
    if notification.encounter_id is None:
        return []
    who = requester(conn, notification.encounter_id)
    if who is None or who.deleted or who.sent:
        return []
    reason = conn.execute(
        select(notifications.c.failure_reason).where(notifications.c.id == notification.id)
    ).scalar_one_or_none()
    what = CHANNEL_WORDS.get(notification.channel, "message")
    if notification.kind == KIND_PATIENT_REMINDER:
        what = f"reminder {what}"
    message = messages.clinician_invite_failed(
        reference=request_reference(who.encounter_id),
        portal_link=review_link(ctx.settings.portal_base_url, who.encounter_id),
        reason=f"the {what} was not delivered. {reason or ''}".strip(),
    )
    return _queue_once(conn, ctx, f"invite_failed:{notification.id}", who, message)


def processing_failed(conn: Connection, ctx: AppContext, media_id: str, encounter_id: str) -> list[str]:
    """A file the patient sent could not be prepared: tell the clinician, once the patient has sent it.

    Before the patient presses Send their files are theirs alone (they may still remove them), so a file
    that failed earlier is reported when the request is sent (`queue_processing_failures`).
    """
    who = requester(conn, encounter_id)
    if who is None or who.deleted or not who.sent:
        return []
    row = conn.execute(select(media.c.status, media.c.deleted_at).where(media.c.id == media_id)).first()
    if row is None or row.status != MediaStatus.FAILED or row.deleted_at is not None:
        return []
    message = messages.clinician_processing_failed(
        reference=request_reference(encounter_id), portal_link=review_link(ctx.settings.portal_base_url, encounter_id)
    )
    return _queue_once(conn, ctx, f"processing_failed:{media_id}", who, message)


def queue_processing_failures(ctx: AppContext, now: dt.datetime) -> int:
    """Alert on every file of a sent request that failed and has no alert yet; the dispatcher runs it each cycle.

    A sweep rather than a call where processing marks a file failed: processing runs in Lambda without the
    encryption keys an outbox message needs, and a file may fail before the patient has sent it. Each file
    is alerted once (dedupe keys); the sweep looks back PROCESSING_SWEEP_WINDOW from the later of the
    failure and the Send. Returns how many alert emails were queued.
    """
    since = now - PROCESSING_SWEEP_WINDOW
    with ctx.engine.connect() as conn:
        failed = conn.execute(
            select(media.c.id, media.c.encounter_id)
            .join(encounters, encounters.c.id == media.c.encounter_id)
            .where(
                media.c.status == MediaStatus.FAILED,
                media.c.deleted_at.is_(None),
                encounters.c.deleted_at.is_(None),
                encounters.c.status.in_(SENT_STATUSES),
                or_(media.c.processed_at >= since, encounters.c.submitted_at >= since),
            )
        ).all()
        if not failed:
            return 0
        alerted = {
            key
            for key in conn.execute(
                select(notifications.c.dedupe_key).where(
                    notifications.c.kind == KIND_CLINICIAN_ALERT,
                    notifications.c.encounter_id.in_(sorted({row.encounter_id for row in failed})),
                    notifications.c.dedupe_key.is_not(None),
                )
            ).scalars()
        }
    queued = 0
    for row in failed:
        if any(f"alert:processing_failed:{row.id}:{role}" in alerted for role in (CLINICIAN, TEAM)):
            continue
        with ctx.engine.begin() as conn:
            queued += len(processing_failed(conn, ctx, row.id, row.encounter_id))
    return queued

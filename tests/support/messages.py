"""Outbox rows as the dispatcher leaves them, and the people alerts go to, for tests of receipts, reminders
and alerts.

The dispatcher (shared.notifications.dispatcher) is built in parallel; these
helpers write what it writes once GOV.UK Notify accepted a message: status
`sent`, the provider and Notify's id, the time.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Row, select, update

from shared.clock import utcnow
from shared.context import Actor, AppContext
from shared.db.statuses import MediaKind, NotificationStatus, UploadStatus
from shared.db.tables import notifications, uploads, users
from shared.encounters.submission import submit
from shared.ids import new_id
from shared.notifications.receipts import PROVIDER_NOTIFY
from shared.staff.teams import save_team_settings
from tests.support.factories import PATIENT, REQUEST_NOTE, make_clinician
from tests.support.submissions import give_consent

CLINICIAN_EMAIL = "dr.jones@example.nhs.uk"
TEAM_MAILBOX = "dermatology.team@example.nhs.uk"
# Every way the test patient (tests.support.factories.PATIENT) could be named in a message.
PATIENT_DETAILS = (
    PATIENT.name,
    "Zebedee",
    "Quartermain",
    "9434765919",
    "943 476 5919",
    "1961-07-14",
    "14/07/1961",
    "14 July 1961",
    "07700 900123",
    "7700900123",
    "zebedee.q@example.org",
    REQUEST_NOTE,
    "rash",
    "forearm",
)


def make_alerted_clinician(ctx: AppContext, username: str = "drjones", *, mailbox: str | None = TEAM_MAILBOX) -> str:
    """A clinician with an email address, in a team whose mailbox hears of its requests."""
    clinician_id = make_clinician(ctx, username=username)
    with ctx.engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == clinician_id).values(email=CLINICIAN_EMAIL))
    save_team_settings(ctx, "Dermatology", organisation_name=None, mailbox=mailbox, actor=Actor(clinician_id))
    return clinician_id


def patient_sends(ctx: AppContext, encounter_id: str) -> None:
    """Consent, one finished photo, and "Send to my clinician" through the real `submission.submit`."""
    give_consent(ctx, encounter_id)
    now = utcnow()
    upload_id = new_id()
    with ctx.engine.begin() as conn:
        conn.execute(
            uploads.insert().values(
                id=upload_id,
                encounter_id=encounter_id,
                session_id="s" * 64,
                status=UploadStatus.COMPLETE,
                storage_key=f"uploads/{encounter_id}/{upload_id}/original",
                upload_length=1000,
                upload_offset=1000,
                kind=MediaKind.IMAGE,
                content_type="image/jpeg",
                created_at=now,
                updated_at=now,
                expires_at=now + dt.timedelta(hours=24),
                completed_at=now,
            )
        )
    submit(ctx, encounter_id, "s" * 64, None)


def mark_sent_by_notify(
    ctx: AppContext, notification_id: str, *, at: dt.datetime | None = None, provider_id: str | None = None
) -> str:
    """The message as the dispatcher leaves it once Notify accepted it; returns Notify's id."""
    provider_id = provider_id or str(uuid.uuid4())
    with ctx.engine.begin() as conn:
        conn.execute(
            update(notifications)
            .where(notifications.c.id == notification_id)
            .values(
                status=NotificationStatus.SENT,
                provider=PROVIDER_NOTIFY,
                provider_id=provider_id,
                sent_at=at or utcnow(),
                attempts=1,
            )
        )
    return provider_id


def message_rows(ctx: AppContext, encounter_id: str | None = None, kind: str | None = None) -> list[Row]:
    query = select(notifications).order_by(notifications.c.created_at, notifications.c.id)
    if encounter_id is not None:
        query = query.where(notifications.c.encounter_id == encounter_id)
    if kind is not None:
        query = query.where(notifications.c.kind == kind)
    with ctx.engine.connect() as conn:
        return list(conn.execute(query))


def assert_no_patient_details(text: str) -> None:
    for detail in PATIENT_DETAILS:
        assert detail.lower() not in text.lower(), f"{detail!r} is in a message that leaves the trust"

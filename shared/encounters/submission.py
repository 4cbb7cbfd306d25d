""" "Send to my clinician": what the patient is about to send, and sending it.

Sending makes the encounter visible to the clinician (who is notified in
the portal, and by email with the team mailbox: `notifications.alerts`),
discards unfinished uploads nobody is sending, and kills the link.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from shared import audit
from shared.clock import utcnow
from shared.context import AppContext
from shared.db.statuses import EncounterStatus, MediaKind, UploadStatus
from shared.db.tables import encounters, uploads
from shared.encounters.consent import consent_granted, latest_consent
from shared.encounters.encounter import load_encounter
from shared.encounters.errors import ConsentNeeded, NothingToSend, StillUploading
from shared.encounters.journey import access_problem, advance
from shared.notifications import alerts, outbox


@dataclass(frozen=True)
class SendSummary:
    photos: int
    videos: int
    unfinished: int

    @property
    def files(self) -> int:
        return self.photos + self.videos


def _count_kinds(rows: list[Any]) -> tuple[int, int]:
    photos = sum(1 for row in rows if row.kind == MediaKind.IMAGE)
    return photos, len(rows) - photos


def send_summary(conn: Connection, encounter_id: str) -> SendSummary:
    rows = conn.execute(
        select(uploads.c.kind, uploads.c.status).where(
            uploads.c.encounter_id == encounter_id,
            uploads.c.status.in_([UploadStatus.RECEIVING, UploadStatus.COMPLETE]),
        )
    ).all()
    complete = [row for row in rows if row.status == UploadStatus.COMPLETE]
    photos, videos = _count_kinds(complete)
    return SendSummary(photos, videos, len(rows) - len(complete))


def summary_for(engine: Engine, encounter_id: str) -> SendSummary:
    with engine.connect() as conn:
        return send_summary(conn, encounter_id)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def describe(summary: SendSummary) -> str:
    parts = [_plural(n, word) for n, word in ((summary.photos, "photo"), (summary.videos, "video")) if n]
    return " and ".join(parts) or "nothing"


@dataclass(frozen=True)
class Submitted:
    summary: SendSummary
    discarded: list[tuple[str, str, str]]  # (upload id, storage key, storage ref) to abort in the store


def submit(ctx: AppContext, encounter_id: str, session_id: str, remote_addr: str | None) -> Submitted:
    """ "Send to my clinician": the encounter becomes visible to the clinician, who is notified; the link dies.

    Unfinished uploads nobody is sending right now are discarded; one still
    being sent (its lock is held) makes the patient wait. Raises EncounterError.
    """
    with ctx.engine.begin() as conn:
        row = load_encounter(conn, encounter_id, lock=True)
        now = utcnow()
        problem = access_problem(row, now)
        if problem is not None:
            raise problem
        if not consent_granted(latest_consent(conn, encounter_id)):
            raise ConsentNeeded()
        pending = conn.execute(
            select(uploads).where(uploads.c.encounter_id == encounter_id, uploads.c.status == UploadStatus.RECEIVING)
        ).all()
        if any(item.lock_token is not None and item.locked_until > now for item in pending):
            raise StillUploading()
        summary = send_summary(conn, encounter_id)
        if summary.files == 0:
            raise NothingToSend()
        if pending:
            conn.execute(
                update(uploads)
                .where(uploads.c.id.in_([item.id for item in pending]), uploads.c.status == UploadStatus.RECEIVING)
                .values(status=UploadStatus.TERMINATED, updated_at=now, lock_token=None, locked_until=None)
            )
        advance(conn, row, EncounterStatus.SUBMITTED, now)
        conn.execute(update(encounters).where(encounters.c.id == encounter_id).values(invite_token_hash=None))
        outbox.notify_clinician(
            conn,
            ctx.cipher,
            user_id=row.clinician_id,
            encounter_id=encounter_id,
            message=(
                f"Your patient has sent {describe(summary)} for the request you made on "
                f"{row.created_at:%d %B %Y}. They are ready to review."
            ),
        )
        alerts.submission_received(conn, ctx, encounter_id, row.clinician_id, row.team)
        audit.record(
            conn,
            "patient.submitted",
            actor_type=audit.ACTOR_PATIENT,
            actor_id=session_id,
            encounter_id=encounter_id,
            remote_addr=remote_addr,
            detail={"photos": summary.photos, "videos": summary.videos, "discarded_unfinished": len(pending)},
        )
    return Submitted(summary, [(item.id, item.storage_key, item.storage_ref or "") for item in pending])

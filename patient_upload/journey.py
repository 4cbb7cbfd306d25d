"""The patient's steps on an encounter: open the link, prove the date of birth, consent, send.

Each step stamps the encounter (opened/verified/consented/submitted, status
only ever moving forward) and writes an audit event in the same
transaction. Every way a date-of-birth check can fail (unknown link, wrong
date, expired, locked or already used) gives the caller the same answer.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select, update

from patient_upload.consent_text import CONSENT_TEXT_VERSION, REQUIRED_FIELDS
from patient_upload.limits import Refusal, already_sent, consent_needed, link_expired
from shared import audit
from shared.clock import utcnow
from shared.context import AppContext
from shared.db.statuses import EncounterStatus, MediaKind, UploadStatus
from shared.db.tables import consents, encounters, uploads
from shared.encounters import CLOSED_STATUSES, decrypt_request_note
from shared.ids import new_id, token_hash

MAX_DOB_FAILURES = 5
STAGES = (
    EncounterStatus.INVITED,
    EncounterStatus.OPENED,
    EncounterStatus.VERIFIED,
    EncounterStatus.CONSENTED,
    EncounterStatus.SUBMITTED,
    EncounterStatus.REVIEWED,
)
STAMPS = {
    EncounterStatus.OPENED: "opened_at",
    EncounterStatus.VERIFIED: "verified_at",
    EncounterStatus.CONSENTED: "consented_at",
    EncounterStatus.SUBMITTED: "submitted_at",
}


def _for_update(conn: Connection, *conditions: Any) -> Any:
    return conn.execute(select(encounters).where(*conditions).with_for_update()).first()


def load_encounter(conn: Connection, encounter_id: str, lock: bool = False) -> Any:
    query = select(encounters).where(encounters.c.id == encounter_id)
    return conn.execute(query.with_for_update() if lock else query).first()


def encounter_for_token(conn: Connection, token: str) -> str | None:
    return conn.execute(select(encounters.c.id).where(encounters.c.invite_token_hash == token_hash(token))).scalar()


def link_is_usable(row: Any, now: dt.datetime) -> bool:
    """Can this link still be used to verify? (not sent, not locked, not expired, not deleted)"""
    return (
        row.deleted_at is None
        and row.locked_at is None
        and row.status not in CLOSED_STATUSES
        and row.invite_token_hash is not None
        and row.invite_expires_at is not None
        and row.invite_expires_at > now
    )


def access_problem(row: Any, now: dt.datetime) -> Refusal | None:
    """Why a verified patient can no longer add files, or None.

    A date-of-birth lockout does not end sessions that were verified before it:
    it guards the link, not the patient already through it.
    """
    if row is None or row.deleted_at is not None:
        return link_expired()
    if row.status in CLOSED_STATUSES:
        return already_sent()
    if row.invite_expires_at is None or row.invite_expires_at <= now:
        return link_expired()
    return None


def advance(conn: Connection, row: Any, stage: EncounterStatus, now: dt.datetime, **also: Any) -> None:
    """Stamp the stage (first time only) and move the status forward, never back (setting `also` with it)."""
    values: dict[str, Any] = {"updated_at": now, **also}
    for earlier in STAGES[1 : STAGES.index(stage) + 1]:
        column = STAMPS.get(earlier)
        if column and getattr(row, column) is None:
            values[column] = now
    if STAGES.index(EncounterStatus(row.status)) < STAGES.index(stage):
        values["status"] = stage
    conn.execute(update(encounters).where(encounters.c.id == row.id).values(**values))


def open_link(ctx: AppContext, token: str, remote_addr: str | None) -> None:
    """GET of the link: stamp `opened` and audit it. Consumes nothing (SMS link scanners prefetch)."""
    with ctx.engine.begin() as conn:
        row = _for_update(conn, encounters.c.invite_token_hash == token_hash(token))
        now = utcnow()
        if row is None or not link_is_usable(row, now):
            return
        advance(conn, row, EncounterStatus.OPENED, now)
        audit.record(
            conn, "patient.link_opened", actor_type=audit.ACTOR_PATIENT, encounter_id=row.id, remote_addr=remote_addr
        )


def _link_state(row: Any, now: dt.datetime) -> str:
    if row is None:
        return "unknown"
    if row.locked_at is not None:
        return "locked"
    if row.status in CLOSED_STATUSES or row.deleted_at is not None:
        return "closed"
    return "expired"


def verify_date_of_birth(ctx: AppContext, token: str, date_of_birth: dt.date, remote_addr: str | None) -> str | None:
    """The encounter id when the link is usable and the date matches, else None.

    Wrong dates on a live link are counted on the encounter (whatever session
    or address they come from); the MAX_DOB_FAILURES-th locks the link until a
    clinician reissues or unlocks it, and a right date sets the count back to
    zero (the limit is on wrong dates in a row). The comparison is
    constant-time, and every failure is audited (so each path costs a write).
    """
    with ctx.engine.begin() as conn:
        row = _for_update(conn, encounters.c.invite_token_hash == token_hash(token))
        now = utcnow()
        usable = row is not None and link_is_usable(row, now)
        expected = ctx.cipher.decrypt("encounters", "date_of_birth", row.id, row.date_of_birth) if usable else "-"
        matches = hmac.compare_digest(expected.encode("utf-8"), date_of_birth.isoformat().encode("utf-8"))
        if usable and matches:
            advance(conn, row, EncounterStatus.VERIFIED, now, dob_failures=0)
            audit.record(
                conn, "patient.verified", actor_type=audit.ACTOR_PATIENT, encounter_id=row.id, remote_addr=remote_addr
            )
            return str(row.id)
        if not usable:
            audit.record(
                conn,
                "patient.dob_failed",
                actor_type=audit.ACTOR_PATIENT,
                encounter_id=row.id if row is not None else None,
                remote_addr=remote_addr,
                detail={"link": _link_state(row, now)},
            )
            return None
        failures = row.dob_failures + 1
        locked = failures >= MAX_DOB_FAILURES
        conn.execute(
            update(encounters)
            .where(encounters.c.id == row.id)
            .values(dob_failures=failures, locked_at=now if locked else None, updated_at=now)
        )
        audit.record(
            conn,
            "patient.dob_failed",
            actor_type=audit.ACTOR_PATIENT,
            encounter_id=row.id,
            remote_addr=remote_addr,
            detail={"link": "live", "failures": failures},
        )
        if locked:
            audit.record(
                conn,
                "patient.link_locked",
                actor_type=audit.ACTOR_PATIENT,
                encounter_id=row.id,
                remote_addr=remote_addr,
                detail={"failures": failures},
            )
        return None


def request_note(ctx: AppContext, encounter_id: str) -> str | None:
    """The clinician's request, shown to the patient only after verification."""
    with ctx.engine.connect() as conn:
        row = load_encounter(conn, encounter_id)
    return decrypt_request_note(ctx.cipher, row) if row is not None else None


def latest_consent(conn: Connection, encounter_id: str) -> Any:
    return conn.execute(
        select(consents)
        .where(consents.c.encounter_id == encounter_id)
        .order_by(consents.c.answered_at.desc(), consents.c.id.desc())
        .limit(1)
    ).first()


def consent_granted(row: Any) -> bool:
    return row is not None and all(bool(getattr(row, name)) for name in REQUIRED_FIELDS)


def record_consent(
    ctx: AppContext, encounter_id: str, session_id: str, answers: Mapping[str, bool], remote_addr: str | None
) -> bool:
    """Store one set of answers with the text version; True when the required ones are yes."""
    granted = all(answers[name] for name in REQUIRED_FIELDS)
    with ctx.engine.begin() as conn:
        row = load_encounter(conn, encounter_id, lock=True)
        now = utcnow()
        conn.execute(
            consents.insert().values(
                id=new_id(),
                encounter_id=encounter_id,
                text_version=CONSENT_TEXT_VERSION,
                share_with_care_team=answers["share_with_care_team"],
                keep_in_record=answers["keep_in_record"],
                use_for_teaching=answers["use_for_teaching"],
                answered_at=now,
            )
        )
        if granted:
            advance(conn, row, EncounterStatus.CONSENTED, now)
        audit.record(
            conn,
            "patient.consent_given" if granted else "patient.consent_declined",
            actor_type=audit.ACTOR_PATIENT,
            actor_id=session_id,
            encounter_id=encounter_id,
            remote_addr=remote_addr,
            detail={"text_version": CONSENT_TEXT_VERSION, **answers},
        )
    return granted


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
    being sent (its lock is held) makes the patient wait. Raises Refusal.
    """
    with ctx.engine.begin() as conn:
        row = load_encounter(conn, encounter_id, lock=True)
        now = utcnow()
        problem = access_problem(row, now)
        if problem is not None:
            raise problem
        if not consent_granted(latest_consent(conn, encounter_id)):
            raise consent_needed()
        pending = conn.execute(
            select(uploads).where(uploads.c.encounter_id == encounter_id, uploads.c.status == UploadStatus.RECEIVING)
        ).all()
        if any(item.lock_token is not None and item.locked_until > now for item in pending):
            raise Refusal(
                409,
                "still_uploading",
                "A file is still being uploaded. Wait until every file shows as uploaded, then send.",
            )
        summary = send_summary(conn, encounter_id)
        if summary.files == 0:
            raise Refusal(409, "nothing_to_send", "Add at least one photo or video before you send.")
        if pending:
            conn.execute(
                update(uploads)
                .where(uploads.c.id.in_([item.id for item in pending]), uploads.c.status == UploadStatus.RECEIVING)
                .values(status=UploadStatus.TERMINATED, updated_at=now, lock_token=None, locked_until=None)
            )
        advance(conn, row, EncounterStatus.SUBMITTED, now)
        conn.execute(update(encounters).where(encounters.c.id == encounter_id).values(invite_token_hash=None))
        ctx.notifier.notify_clinician(
            conn,
            user_id=row.clinician_id,
            encounter_id=encounter_id,
            message=(
                f"Your patient has sent {describe(summary)} for the request you made on "
                f"{row.created_at:%d %B %Y}. They are ready to review."
            ),
        )
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


def count_uploads(conn: Connection, encounter_id: str) -> tuple[int, int]:
    """(files, declared bytes) counted against the per-request limits: everything not removed or expired."""
    row = conn.execute(
        select(func.count(uploads.c.id), func.coalesce(func.sum(uploads.c.upload_length), 0)).where(
            uploads.c.encounter_id == encounter_id,
            uploads.c.status.in_([UploadStatus.RECEIVING, UploadStatus.COMPLETE]),
        )
    ).one()
    return int(row[0]), int(row[1])

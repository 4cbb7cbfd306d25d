"""The patient's steps on an encounter: open the link, prove the date of birth, consent, send.

Each step stamps the encounter (opened/verified/consented/submitted, status
only ever moving forward) and writes an audit event in the same
transaction. Every way a date-of-birth check can fail (unknown link, wrong
date, expired, locked or already used) gives the caller the same answer, in
the same time: a link that is not live is replaced by a stand-in shaped like
one that is (`_stand_in`), so opening the link and every refusal run the
same statements whatever the token, and the response time does not tell
an old link's holder whether it still works.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, case, func, literal, not_, or_, select, update

from shared import audit
from shared.clock import utcnow
from shared.context import AppContext
from shared.crypto.fields import FieldCipher
from shared.db.statuses import EncounterStatus, MediaKind, UploadStatus
from shared.db.tables import consents, encounters, uploads
from shared.encounters.consent_text import CONSENT_TEXT_VERSION, REQUIRED_FIELDS
from shared.encounters.requests import CLOSED_STATUSES, decrypt_request_note
from shared.encounters.uploads.limits import Refusal, already_sent, consent_needed, link_expired
from shared.ids import new_id, token_hash
from shared.notifications import outbox

MAX_DOB_FAILURES = 5
NO_ENCOUNTER_ID = "0" * 32  # never a row id: new_id() is a UUID4, whose version digit is 4
STAND_IN_DATE = "0000-00-00"  # as long as an ISO date, and never one
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


@dataclass(frozen=True)
class LinkRow:
    """What opening the link and checking the date of birth work on: no more than a refusal needs."""

    id: str
    status: str
    date_of_birth: bytes
    dob_failures: int


_LINK_FIELDS = tuple(item.name for item in fields(LinkRow))


def _link_query() -> Select[Any]:
    """SELECT the encounter an invite token names (locked), with its link's state worked out in SQL.

    One row comes back whatever the token: an outer join from a one-row
    table, and COALESCE fills in the stand-in's values when no encounter
    matches (every column read is NOT NULL, so NULL means "no row"). The
    driver and Python then do the same work for an unknown token as for a
    known one. Built once: the statement is the same for every request.
    """
    closed = or_(*(encounters.c.status == status.value for status in CLOSED_STATUSES))
    live = and_(
        encounters.c.deleted_at.is_(None),
        encounters.c.locked_at.is_(None),
        not_(closed),
        encounters.c.invite_expires_at > bindparam("now", type_=encounters.c.invite_expires_at.type),
    )
    state = case(
        (encounters.c.id.is_(None), "unknown"),
        (live, "live"),
        (encounters.c.locked_at.is_not(None), "locked"),
        (or_(closed, encounters.c.deleted_at.is_not(None)), "closed"),
        else_="expired",
    )
    one_row = select(literal(1).label("one")).subquery("one_row")
    found = one_row.outerjoin(encounters, encounters.c.invite_token_hash == bindparam("token_hash"))
    columns = [
        func.coalesce(encounters.c[name], bindparam(f"stand_in_{name}", type_=encounters.c[name].type)).label(name)
        for name in _LINK_FIELDS
    ]
    return select(*columns, state.label("link")).select_from(found).with_for_update()


_LINK_QUERY = _link_query()


def _look_up_link(conn: Connection, cipher: FieldCipher, token: str, now: dt.datetime) -> tuple[str, LinkRow | None]:
    """The state of a link ("live", "unknown", "locked", "closed" or "expired") and its encounter, locked
    for this transaction (None for an unknown token)."""
    stand_in = {f"stand_in_{name}": getattr(_stand_in(cipher), name) for name in _LINK_FIELDS}
    result = conn.execute(_LINK_QUERY, {"token_hash": token_hash(token), "now": now, **stand_in}).one()
    row = LinkRow(*(result._mapping[name] for name in _LINK_FIELDS))
    return result.link, None if result.link == "unknown" else row


@functools.lru_cache(maxsize=4)
def _stand_in(cipher: FieldCipher) -> LinkRow:
    """What the link steps work on when the link is not live: an opened encounter that does not exist.

    Its date of birth is a real ciphertext of the same length (so it decrypts
    at the same cost and never matches), it is already opened (so `advance`
    sets the same columns as for a link opened before), and its id names no
    row (so the same UPDATE statements change nothing).
    """
    stored = cipher.encrypt("encounters", "date_of_birth", NO_ENCOUNTER_ID, STAND_IN_DATE)
    return LinkRow(id=NO_ENCOUNTER_ID, status=EncounterStatus.OPENED, date_of_birth=stored, dob_failures=0)


def _subject(cipher: FieldCipher, state: str, row: LinkRow | None) -> LinkRow:
    """The encounter when its link is live, else the stand-in."""
    return row if row is not None and state == "live" else _stand_in(cipher)


def load_encounter(conn: Connection, encounter_id: str, lock: bool = False) -> Any:
    query = select(encounters).where(encounters.c.id == encounter_id)
    return conn.execute(query.with_for_update() if lock else query).first()


def encounter_for_token(conn: Connection, token: str) -> str | None:
    return conn.execute(select(encounters.c.id).where(encounters.c.invite_token_hash == token_hash(token))).scalar()


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


def advance(
    conn: Connection, row: Any, stage: EncounterStatus, now: dt.datetime, *, first_time_only: bool = False, **also: Any
) -> None:
    """Stamp the stage and those before it and move the status forward, never back (setting `also` too).

    COALESCE keeps a stamp already there, so the statement depends on the
    stage and the status only, not on which stamps the row holds. With
    `first_time_only`, a row already stamped for this stage is left alone.
    """
    values: dict[str, Any] = {"updated_at": now, **also}
    for earlier in STAGES[1 : STAGES.index(stage) + 1]:
        column = STAMPS.get(earlier)
        if column:
            values[column] = func.coalesce(encounters.c[column], literal(now, encounters.c[column].type))
    if STAGES.index(EncounterStatus(row.status)) < STAGES.index(stage):
        values["status"] = stage
    statement = update(encounters).where(encounters.c.id == row.id)
    if first_time_only:
        statement = statement.where(encounters.c[STAMPS[stage]].is_(None))
    conn.execute(statement.values(**values))


def open_link(ctx: AppContext, token: str, remote_addr: str | None) -> None:
    """GET of the link: stamp `opened` (the first time) and audit it. Consumes nothing (SMS link scanners
    prefetch).

    A link that is not live is audited too and stamps the stand-in: the same
    statements whatever the token. Once opened, a link is not written again
    on opening (neither is the stand-in, which names no row): the GET can be
    repeated without limit, so it must not take longer for a live link.
    """
    with ctx.engine.begin() as conn:
        now = utcnow()
        state, row = _look_up_link(conn, ctx.cipher, token, now)
        advance(conn, _subject(ctx.cipher, state, row), EncounterStatus.OPENED, now, first_time_only=True)
        audit.record(
            conn,
            "patient.link_opened",
            actor_type=audit.ACTOR_PATIENT,
            encounter_id=row.id if row is not None else None,
            remote_addr=remote_addr,
            detail={"link": state},
        )


def verify_date_of_birth(ctx: AppContext, token: str, date_of_birth: dt.date, remote_addr: str | None) -> str | None:
    """The encounter id when the link is live and the date matches, else None.

    Wrong dates on a live link are counted on the encounter (whatever session
    or address they come from); the MAX_DOB_FAILURES-th locks the link until a
    clinician reissues or unlocks it, and a right date sets the count back to
    zero (the limit is on wrong dates in a row). The comparison is
    constant-time, and every refusal decrypts a date, runs the counting
    UPDATE and writes one audit event, whatever the link (see `_stand_in`).
    """
    with ctx.engine.begin() as conn:
        now = utcnow()
        state, row = _look_up_link(conn, ctx.cipher, token, now)
        subject = _subject(ctx.cipher, state, row)
        expected = ctx.cipher.decrypt("encounters", "date_of_birth", subject.id, subject.date_of_birth)
        matches = hmac.compare_digest(expected.encode("utf-8"), date_of_birth.isoformat().encode("utf-8"))
        if matches and subject is row:
            advance(conn, row, EncounterStatus.VERIFIED, now, dob_failures=0)
            audit.record(
                conn, "patient.verified", actor_type=audit.ACTOR_PATIENT, encounter_id=row.id, remote_addr=remote_addr
            )
            return str(row.id)
        _refuse(conn, state, row, subject, now, remote_addr)
        return None


def _refuse(
    conn: Connection, state: str, row: LinkRow | None, subject: LinkRow, now: dt.datetime, remote_addr: str | None
) -> None:
    """Count a wrong date on `subject` (the live encounter; the stand-in changes no row) and audit it."""
    failures = subject.dob_failures + 1
    locked = failures >= MAX_DOB_FAILURES
    conn.execute(
        update(encounters)
        .where(encounters.c.id == subject.id)
        .values(dob_failures=failures, locked_at=now if locked else None, updated_at=now)
    )
    held = row.dob_failures if row is not None else 0  # what a link that is not live keeps
    audit.record(
        conn,
        "patient.dob_failed",
        actor_type=audit.ACTOR_PATIENT,
        encounter_id=row.id if row is not None else None,
        remote_addr=remote_addr,
        detail={"link": state, "failures": failures if subject is row else held},
    )
    if locked:
        audit.record(
            conn,
            "patient.link_locked",
            actor_type=audit.ACTOR_PATIENT,
            encounter_id=subject.id,
            remote_addr=remote_addr,
            detail={"failures": failures},
        )


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

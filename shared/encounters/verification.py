"""Patient verification: opening the invite link and proving the date of birth.

Every way a date-of-birth check can fail (unknown link, wrong date, expired,
locked or already used) gives the caller the same answer, in the same time:
a link that is not live is replaced by a stand-in shaped like one that is
(`_stand_in`), so opening the link and every refusal run the same
statements and write the same rows whatever the token, and the response
time does not tell an old link's holder whether it still works. Wrong dates
are counted from the audit log (`wrong_dates_in_a_row`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Connection, Engine, Select, and_, bindparam, case, func, literal, not_, or_, select, update

from shared import audit
from shared.clock import utcnow
from shared.context import AppContext
from shared.crypto.fields import FieldCipher
from shared.db.statuses import EncounterStatus
from shared.db.tables import audit_events, encounters
from shared.encounters.journey import advance
from shared.encounters.requests import CLOSED_STATUSES
from shared.ids import token_hash

MAX_DOB_FAILURES = 5


DOB_FAILED = "patient.dob_failed"


# What starts the count of wrong dates again: a right date, a clinician's unlock or a new link (shared.encounters).
COUNT_RESETS = ("patient.verified", "invite.unlocked", "invite.reissued")


NO_ENCOUNTER_ID = "0" * 32  # never a row id: new_id() is a UUID4, whose version digit is 4


STAND_IN_DATE = "0000-00-00"  # as long as an ISO date, and never one


@dataclass(frozen=True)
class LinkRow:
    """What opening the link and checking the date of birth work on: no more than a refusal needs."""

    id: str
    status: str
    date_of_birth: bytes


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


def _wrong_dates_query() -> Select[Any]:
    """COUNT the encounter's wrong dates since its latest reset (audit ids only grow: the log is append-only).

    Both parts are ranges of `ix_audit_encounter_action` (encounter, action,
    id): a live link has at most MAX_DOB_FAILURES - 1 wrong dates to count,
    whatever else its log holds (a GET anyone can repeat writes an event).
    """
    encounter_id = bindparam("encounter_id", type_=audit_events.c.encounter_id.type)
    latest_reset = (
        select(func.coalesce(func.max(audit_events.c.id), 0))
        .where(audit_events.c.encounter_id == encounter_id, audit_events.c.action.in_(COUNT_RESETS))
        .scalar_subquery()
    )
    return select(func.count(audit_events.c.id)).where(
        audit_events.c.encounter_id == encounter_id,
        audit_events.c.action == DOB_FAILED,
        audit_events.c.id > latest_reset,
    )


_WRONG_DATES_QUERY = _wrong_dates_query()


def wrong_dates_in_a_row(conn: Connection, encounter_id: str) -> int:
    """How many wrong dates of birth the encounter's link has taken since the last right one, unlock or reissue.

    Read from the audit log rather than kept in a column, so a refusal writes
    one row (its `patient.dob_failed` event) whether or not the link is live.
    Wrong dates on a link that was not live (locked, expired) count too, but
    only until the reset that makes it live again. For the stand-in's id the
    count is 0: no event names it.
    """
    return int(conn.execute(_WRONG_DATES_QUERY, {"encounter_id": encounter_id}).scalar_one())


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
    row and no audit event (so the same statements change nothing, and count
    no wrong dates).
    """
    stored = cipher.encrypt("encounters", "date_of_birth", NO_ENCOUNTER_ID, STAND_IN_DATE)
    return LinkRow(id=NO_ENCOUNTER_ID, status=EncounterStatus.OPENED, date_of_birth=stored)


def _subject(cipher: FieldCipher, state: str, row: LinkRow | None) -> LinkRow:
    """The encounter when its link is live, else the stand-in."""
    return row if row is not None and state == "live" else _stand_in(cipher)


MAX_TOKEN_CHARS = 128  # an invite token is 43; anything much longer is not one, and is not looked up


def encounter_for_token(engine: Engine, token: str) -> str | None:
    """The encounter a live or dead invite token names (for a patient already signed in to it)."""
    if len(token) > MAX_TOKEN_CHARS:
        return None
    with engine.connect() as conn:
        query = select(encounters.c.id).where(encounters.c.invite_token_hash == token_hash(token))
        return conn.execute(query).scalar()


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
    zero (the limit is on wrong dates in a row: `wrong_dates_in_a_row`). The
    comparison is constant-time, and every refusal decrypts a date, runs the
    counting SELECT and writes one row, its audit event, whatever the link
    (see `_stand_in`). The encounter's row lock, taken first, puts attempts on
    one link in order, so each counts the events of those before it.
    """
    with ctx.engine.begin() as conn:
        now = utcnow()
        state, row = _look_up_link(conn, ctx.cipher, token, now)
        subject = _subject(ctx.cipher, state, row)
        expected = ctx.cipher.decrypt("encounters", "date_of_birth", subject.id, subject.date_of_birth)
        matches = hmac.compare_digest(expected.encode("utf-8"), date_of_birth.isoformat().encode("utf-8"))
        if matches and subject is row:
            advance(conn, row, EncounterStatus.VERIFIED, now)
            audit.record(  # also the reset of the count of wrong dates
                conn, "patient.verified", actor_type=audit.ACTOR_PATIENT, encounter_id=row.id, remote_addr=remote_addr
            )
            return str(row.id)
        _refuse(conn, state, row, subject, now, remote_addr)
        return None


def _refuse(
    conn: Connection, state: str, row: LinkRow | None, subject: LinkRow, now: dt.datetime, remote_addr: str | None
) -> None:
    """Audit a wrong date (the event is what counts it) and lock a live link at the MAX_DOB_FAILURES-th.

    The count is of `subject`'s events: the stand-in's is 0, so only a live
    link can lock. A link that is not live keeps its event under its own
    encounter id (the clinician sees it), with no count in the detail.
    """
    failures = wrong_dates_in_a_row(conn, subject.id) + 1
    audit.record(
        conn,
        DOB_FAILED,
        actor_type=audit.ACTOR_PATIENT,
        encounter_id=row.id if row is not None else None,
        remote_addr=remote_addr,
        detail={"link": state, "failures": failures if subject is row else None},
    )
    if failures >= MAX_DOB_FAILURES:
        conn.execute(update(encounters).where(encounters.c.id == subject.id).values(locked_at=now, updated_at=now))
        audit.record(
            conn,
            "patient.link_locked",
            actor_type=audit.ACTOR_PATIENT,
            encounter_id=subject.id,
            remote_addr=remote_addr,
            detail={"failures": failures},
        )

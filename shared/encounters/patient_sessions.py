"""Server-side patient sessions (`patient_sessions`).

The cookie carries a 256-bit random token; the table keeps only its SHA-256
as the row id, so a database leak yields no usable cookie. A session is bound
to one encounter, ends after `idle` without activity and, whatever the
activity, after ABSOLUTE_LIFETIME; signing out revokes it.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select, update

from shared.clock import utcnow
from shared.db.tables import patient_sessions
from shared.ids import new_secret_token, token_hash

ABSOLUTE_LIFETIME = dt.timedelta(hours=12)
TOUCH_EVERY = dt.timedelta(minutes=1)  # slide the idle expiry at most this often (one write a minute, not per request)
MAX_TOKEN_CHARS = 128


@dataclass(frozen=True)
class PatientSession:
    id: str  # SHA-256 of the cookie token
    encounter_id: str
    csrf_token: str


def start(conn: Connection, encounter_id: str, idle: dt.timedelta) -> tuple[str, PatientSession]:
    """A new session for a verified patient; returns the cookie token (never stored) and the session."""
    token = new_secret_token()
    session = PatientSession(token_hash(token), encounter_id, secrets.token_urlsafe(32))
    now = utcnow()
    conn.execute(
        patient_sessions.insert().values(
            id=session.id,
            encounter_id=encounter_id,
            csrf_token=session.csrf_token,
            created_at=now,
            last_seen_at=now,
            expires_at=now + min(idle, ABSOLUTE_LIFETIME),
        )
    )
    return token, session


def resume(engine: Engine, token: str | None, idle: dt.timedelta) -> PatientSession | None:
    """The live session a cookie token names, its idle expiry slid forward; None if unknown, ended or revoked."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    session_id = token_hash(token)
    with engine.connect() as conn:
        row = conn.execute(select(patient_sessions).where(patient_sessions.c.id == session_id)).first()
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        with engine.begin() as conn:
            conn.execute(
                update(patient_sessions)
                .where(patient_sessions.c.id == session_id, patient_sessions.c.revoked_at.is_(None))
                .values(last_seen_at=now, expires_at=min(now + idle, row.created_at + ABSOLUTE_LIFETIME))
            )
    return PatientSession(row.id, row.encounter_id, row.csrf_token)


def revoke(conn: Connection, session_id: str) -> None:
    conn.execute(
        update(patient_sessions)
        .where(patient_sessions.c.id == session_id, patient_sessions.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def begin(
    engine: Engine, encounter_id: str, idle: dt.timedelta, *, replacing: str | None
) -> tuple[str, PatientSession]:
    """After a right date of birth: a new session (the cookie token and the session), ending the one it replaces."""
    with engine.begin() as conn:
        if replacing is not None:
            revoke(conn, replacing)
        return start(conn, encounter_id, idle)


def end(engine: Engine, session_id: str) -> None:
    """The patient signed out."""
    with engine.begin() as conn:
        revoke(conn, session_id)

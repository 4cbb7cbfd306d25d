"""Finishing a staff account from its one-time enrollment link: password, then authenticator app.

The account becomes active, and the link dies, only when the person has
proved their app works by typing a code from it. Nothing is written before
that, so an abandoned set-up leaves the link usable until it expires.
Finishing runs in its own transaction and audits itself.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import Connection, Row, select, update

from shared import audit
from shared.context import AppContext
from shared.db.statuses import UserStatus
from shared.db.tables import users
from shared.ids import token_hash
from shared.staff import totp
from shared.staff.authentication import unix_time

TABLE = "users"
MAX_TOKEN_LENGTH = 128
BCRYPT_HASH = re.compile(r"\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}")

INVALID_LINK = (
    "This set-up link is not valid. It may have been used already or have expired (links last 72 hours). "
    "Ask a portal administrator for a new one."
)


class EnrollmentError(ValueError):
    """Enrollment cannot finish (message is for people)."""


@dataclass(frozen=True)
class PendingAccount:
    """Who a live set-up link is for: what the set-up page greets them with."""

    id: str
    username: str
    display_name: str


def _pending(conn: Connection, token: str | None, now: dt.datetime, *, lock: bool = False) -> Row | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    query = select(users).where(users.c.enrollment_token_hash == token_hash(token))
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None or row.status != UserStatus.PENDING:
        return None
    if row.enrollment_expires_at is None or row.enrollment_expires_at <= now:
        return None
    return row


def find_pending_enrollment(ctx: AppContext, token: str | None, now: dt.datetime) -> PendingAccount | None:
    """The pending account a live enrollment token belongs to, or None."""
    with ctx.engine.connect() as conn:
        row = _pending(conn, token, now)
    return PendingAccount(row.id, row.username, row.display_name) if row is not None else None


def complete_enrollment(
    ctx: AppContext,
    *,
    token: str,
    password_hash: str,
    secret: str,
    code: str,
    now: dt.datetime,
    remote_addr: str | None = None,
) -> str:
    """Activate the account once a code from the new authenticator matches; returns the user id."""
    with ctx.engine.begin() as conn:
        row = _pending(conn, token, now, lock=True)
        if row is None:
            raise EnrollmentError(INVALID_LINK)
        if not BCRYPT_HASH.fullmatch(password_hash):
            raise EnrollmentError("Set your password first.")
        step = totp.matching_step(secret, code, unix_time(now))
        if step is None:
            raise EnrollmentError(
                "That code is not right. Check that the app shows MIA with your username, "
                "wait for a fresh code and type all six digits."
            )
        activated = conn.execute(
            update(users)
            .where(
                users.c.id == row.id,
                users.c.status == UserStatus.PENDING,
                users.c.enrollment_token_hash == token_hash(token),
            )
            .values(
                password_hash=password_hash,
                totp_secret=ctx.cipher.encrypt(TABLE, "totp_secret", row.id, secret),
                totp_last_step=step,
                status=UserStatus.ACTIVE,
                enrollment_token_hash=None,
                enrollment_expires_at=None,
                failed_attempts=0,
                locked_until=None,
                sessions_valid_after=now,
                updated_at=now,
            )
        )
        if activated.rowcount != 1:
            raise EnrollmentError(INVALID_LINK)
        audit.record(conn, "user.enrolled", actor_type=audit.ACTOR_USER, actor_id=row.id, remote_addr=remote_addr)
    return str(row.id)

"""Staff accounts: creation with a one-time enrollment link, and looking accounts up.

The portal finishes enrollment (password, TOTP). Only the SHA-256 of the
enrollment token is stored. `create_user` runs in its own transaction and
audits itself; `reissue_enrollment` and `lookup_user_id` run in the
caller's (an administrator's reset, a sign-in failure).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import Connection, Row, select, update

from shared import audit
from shared.clock import utcnow
from shared.context import Actor, AppContext
from shared.db.statuses import Role, UserStatus
from shared.db.tables import users
from shared.ids import new_id, new_secret_token, token_hash

USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
ENROLLMENT_LIFETIME = dt.timedelta(hours=72)


class UserError(ValueError):
    """The account request is invalid (message is for people)."""


@dataclass(frozen=True)
class Enrollment:
    user_id: str
    token: str
    link: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class StaffRecord:
    """A `users` row as administrators see it: no password hash, no TOTP secret."""

    id: str
    username: str
    display_name: str
    role: str
    team: str | None
    email: str | None
    status: str
    failed_attempts: int
    locked_until: dt.datetime | None
    last_login_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Row) -> StaffRecord:
        return cls(
            row.id,
            row.username,
            row.display_name,
            row.role,
            row.team,
            row.email,
            row.status,
            row.failed_attempts,
            row.locked_until,
            row.last_login_at,
        )


def enrollment_link(portal_base_url: str, token: str) -> str:
    return f"{portal_base_url}/?enroll={token}"


def _new_enrollment(conn: Connection, user_id: str, portal_base_url: str) -> Enrollment:
    token = new_secret_token()
    expires_at = utcnow() + ENROLLMENT_LIFETIME
    conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(enrollment_token_hash=token_hash(token), enrollment_expires_at=expires_at, updated_at=utcnow())
    )
    return Enrollment(user_id, token, enrollment_link(portal_base_url, token), expires_at)


def create_user(
    ctx: AppContext,
    *,
    username: str,
    display_name: str,
    role: str,
    team: str | None = None,
    email: str | None = None,
    actor: Actor | None = None,
) -> Enrollment:
    """A pending account plus its one-time enrollment link (actor None: the operator's command line)."""
    username = username.strip().lower()
    if not USERNAME_PATTERN.fullmatch(username):
        raise UserError("A username has 3 to 64 characters: lower-case letters, digits, '.', '_' or '-'.")
    if role not in {r.value for r in Role}:
        raise UserError(f"The role must be one of: {', '.join(r.value for r in Role)}.")
    display_name = " ".join(display_name.split())
    if not display_name or len(display_name) > 200:
        raise UserError("Enter the person's name (at most 200 characters).")
    with ctx.engine.begin() as conn:
        if conn.execute(select(users.c.id).where(users.c.username == username)).first():
            raise UserError(f"The username {username!r} is already taken.")
        user_id = new_id()
        now = utcnow()
        conn.execute(
            users.insert().values(
                id=user_id,
                username=username,
                display_name=display_name,
                email=(email or "").strip() or None,
                role=role,
                team=(team or "").strip() or None,
                status=UserStatus.PENDING,
                created_at=now,
                updated_at=now,
            )
        )
        audit.record(
            conn,
            "user.created",
            actor_type=audit.ACTOR_USER if actor else audit.ACTOR_SYSTEM,
            actor_id=actor.user_id if actor else None,
            remote_addr=actor.remote_addr if actor else None,
            detail={"user_id": user_id, "role": role},
        )
        return _new_enrollment(conn, user_id, ctx.settings.portal_base_url)


def reissue_enrollment(conn: Connection, *, portal_base_url: str, user_id: str, actor: Actor | None) -> Enrollment:
    """A fresh one-time link (e.g. after a TOTP reset), in the caller's transaction; the old one stops working."""
    if conn.execute(select(users.c.id).where(users.c.id == user_id)).first() is None:
        raise UserError("That account does not exist.")
    enrollment = _new_enrollment(conn, user_id, portal_base_url)
    audit.record(
        conn,
        "user.enrollment_issued",
        actor_type=audit.ACTOR_USER if actor else audit.ACTOR_SYSTEM,
        actor_id=actor.user_id if actor else None,
        remote_addr=actor.remote_addr if actor else None,
        detail={"user_id": user_id},
    )
    return enrollment


def lookup_user_id(conn: Connection, username: str) -> str | None:
    """The id of the account with this username (case and spaces around it ignored), in the caller's connection."""
    return conn.execute(select(users.c.id).where(users.c.username == username.strip().lower())).scalar()


def user_id_for(ctx: AppContext, username: str) -> str | None:
    """The id of the account with this username, or None."""
    with ctx.engine.connect() as conn:
        return lookup_user_id(conn, username)


def list_staff(ctx: AppContext) -> list[StaffRecord]:
    """Every account, by role then username (for the administrators' Users page)."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(users).order_by(users.c.role, users.c.username)).all()
    return [StaffRecord.from_row(row) for row in rows]

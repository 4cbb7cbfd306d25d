"""Staff sign-in rules: password and TOTP failures, lockout, sessions and their revocation.

The portal's password step is streamlit-authenticator's; everything it does
not do lives here. Its cookie re-login skips the password but never the
code: a portal session exists only once `verify_second_factor` accepted a
code in that session. Failures of either factor count against the same
account and get the same answer, so a caller cannot tell which was wrong.
Logging out sets `users.sessions_valid_after`, which ends every session and
every sign-in cookie issued before it, on the server.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import Connection, or_, select, update

from shared import audit
from shared.context import AppContext
from shared.db.statuses import UserStatus
from shared.db.tables import users
from shared.staff import totp
from shared.staff.passwords import check_password

TABLE = "users"
MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=15)
THROTTLE_FROM = 3  # failures before sign-in starts pausing briefly
THROTTLE_BASE = dt.timedelta(seconds=30)
COOKIE_ALGORITHM = "HS256"  # what streamlit-authenticator 0.4.2 signs its cookie with

SIGN_IN_FAILED = (
    "Sign-in failed. The username, password or code is not right, or sign-in to this account is paused "
    "after repeated failures. Check them and try again in a few minutes; if it keeps happening, "
    "ask a portal administrator."
)

# A bcrypt hash of a throw-away string: checked against when the username is
# unknown, so that answer takes as long as a wrong password does.
_TIMING_HASH = "$2b$12$nCf2QwvdGpapWXFDtaxqvurLJ308gBxYvLley5WKzDEmEC9F9Vsye"


@dataclass(frozen=True)
class StaffUser:
    id: str
    username: str
    display_name: str
    role: str
    team: str | None
    email: str | None
    last_login_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Any) -> StaffUser:
        return cls(row.id, row.username, row.display_name, row.role, row.team, row.email, row.last_login_at)


@dataclass(frozen=True)
class StaffSession:
    """What a portal session remembers once both factors were accepted."""

    user_id: str
    signed_in_at: dt.datetime
    last_seen: dt.datetime


def unix_time(moment: dt.datetime) -> float:
    """Seconds since the epoch for a naive UTC datetime (how the database stores time)."""
    return moment.replace(tzinfo=dt.UTC).timestamp()


def pause_after(failures: int) -> dt.timedelta | None:
    """How long sign-in pauses after this many consecutive failures (throttle, then lockout)."""
    if failures >= MAX_FAILURES:
        return LOCKOUT
    if failures >= THROTTLE_FROM:
        return THROTTLE_BASE * 2 ** (failures - THROTTLE_FROM)
    return None


def is_locked(row: Any, now: dt.datetime) -> bool:
    return row.locked_until is not None and row.locked_until > now


def can_sign_in(row: Any, now: dt.datetime) -> bool:
    return (
        row.status == UserStatus.ACTIVE
        and row.password_hash is not None
        and row.totp_secret is not None
        and not is_locked(row, now)
    )


def authenticator_credentials(conn: Connection, now: dt.datetime) -> dict[str, dict[str, dict[str, Any]]]:
    """The credentials dict streamlit-authenticator expects, from the users who may sign in now.

    Disabled, pending and paused accounts are left out, so their password
    is not even checked and they fail exactly like an unknown username.
    """
    rows = conn.execute(
        select(users).where(
            users.c.status == UserStatus.ACTIVE,
            users.c.password_hash.is_not(None),
            users.c.totp_secret.is_not(None),
            or_(users.c.locked_until.is_(None), users.c.locked_until <= now),
        )
    )
    return {
        "usernames": {
            row.username: {
                "name": row.display_name,
                "email": row.email,
                "password": row.password_hash,
                "roles": [row.role],
            }
            for row in rows
        }
    }


def user_id_for(conn: Connection, username: str) -> str | None:
    return conn.execute(select(users.c.id).where(users.c.username == username.strip().lower())).scalar()


def record_failure(
    conn: Connection, user_id: str, *, factor: str, reason: str, now: dt.datetime, remote_addr: str | None = None
) -> int:
    """Count one failed attempt against the account and pause it if due; returns the failure count."""
    conn.execute(
        update(users).where(users.c.id == user_id).values(failed_attempts=users.c.failed_attempts + 1, updated_at=now)
    )
    failures = int(conn.execute(select(users.c.failed_attempts).where(users.c.id == user_id)).scalar() or 0)
    pause = pause_after(failures)
    if pause is not None:
        conn.execute(update(users).where(users.c.id == user_id).values(locked_until=now + pause))
    audit.record(
        conn,
        "auth.failed",
        actor_type=audit.ACTOR_USER,
        actor_id=user_id,
        remote_addr=remote_addr,
        detail={"factor": factor, "reason": reason, "failures": failures, "paused_seconds": pause_seconds(pause)},
    )
    if failures == MAX_FAILURES:
        audit.record(
            conn,
            "auth.locked",
            actor_type=audit.ACTOR_SYSTEM,
            remote_addr=remote_addr,
            detail={"user_id": user_id, "minutes": int(LOCKOUT.total_seconds() // 60)},
        )
    return failures


def pause_seconds(pause: dt.timedelta | None) -> int:
    return int(pause.total_seconds()) if pause else 0


def record_unavailable_account(conn: Connection, *, remote_addr: str | None = None) -> None:
    """A password attempt for an unknown, disabled, pending or paused account.

    Spends the time a bcrypt check takes (so timing does not tell which) and
    audits the attempt without the typed username, which may be a password.
    """
    check_password("", _TIMING_HASH)  # bcrypt costs the same whatever the input
    audit.record(
        conn,
        "auth.failed",
        actor_type=audit.ACTOR_USER,
        remote_addr=remote_addr,
        detail={"factor": "password", "reason": "unknown_or_unavailable_account"},
    )


def verify_second_factor(
    ctx: AppContext, conn: Connection, user_id: str, raw_code: str, *, now: dt.datetime, remote_addr: str | None = None
) -> StaffSession | None:
    """Accept a TOTP code once: a new session, or None (the failure is counted and audited)."""
    row = conn.execute(select(users).where(users.c.id == user_id).with_for_update()).first()
    if row is None or row.status != UserStatus.ACTIVE or row.totp_secret is None or is_locked(row, now):
        audit.record(
            conn,
            "auth.failed",
            actor_type=audit.ACTOR_USER,
            actor_id=user_id,
            remote_addr=remote_addr,
            detail={"factor": "totp", "reason": "paused" if row is not None and is_locked(row, now) else "unavailable"},
        )
        return None
    secret = ctx.cipher.decrypt(TABLE, "totp_secret", row.id, row.totp_secret)
    step = totp.matching_step(secret, raw_code, unix_time(now))
    if step is None:
        record_failure(conn, user_id, factor="totp", reason="wrong_code", now=now, remote_addr=remote_addr)
        return None
    accepted = conn.execute(
        update(users)
        .where(users.c.id == user_id, or_(users.c.totp_last_step.is_(None), users.c.totp_last_step < step))
        .values(totp_last_step=step, failed_attempts=0, locked_until=None, last_login_at=now, updated_at=now)
    )
    if accepted.rowcount != 1:  # this code, or a later one, was already used
        record_failure(conn, user_id, factor="totp", reason="replayed_code", now=now, remote_addr=remote_addr)
        return None
    audit.record(conn, "auth.signed_in", actor_type=audit.ACTOR_USER, actor_id=user_id, remote_addr=remote_addr)
    return StaffSession(user_id=user_id, signed_in_at=now, last_seen=now)


@dataclass(frozen=True)
class SessionCheck:
    user: StaffUser | None
    ended_because: str | None = None  # "disabled", "revoked" or "idle"


def check_session(conn: Connection, session: StaffSession, *, now: dt.datetime, idle: dt.timedelta) -> SessionCheck:
    """Whether a portal session may go on, decided on the server at every page run."""
    row = conn.execute(select(users).where(users.c.id == session.user_id)).first()
    if row is None or row.status != UserStatus.ACTIVE:
        return SessionCheck(None, "disabled")
    if row.sessions_valid_after is not None and session.signed_in_at <= row.sessions_valid_after:
        return SessionCheck(None, "revoked")
    if now - session.last_seen > idle:
        return SessionCheck(None, "idle")
    return SessionCheck(StaffUser.from_row(row))


def record_session_end(conn: Connection, user_id: str, reason: str, *, remote_addr: str | None = None) -> None:
    audit.record(
        conn,
        "auth.session_ended",
        actor_type=audit.ACTOR_USER,
        actor_id=user_id,
        remote_addr=remote_addr,
        detail={"reason": reason},
    )


def revoke_sessions(conn: Connection, user_id: str, now: dt.datetime) -> None:
    """End every session and sign-in cookie of the account issued up to now."""
    conn.execute(update(users).where(users.c.id == user_id).values(sessions_valid_after=now, updated_at=now))


def sign_out(conn: Connection, user_id: str, *, now: dt.datetime, remote_addr: str | None = None) -> None:
    """Logout ends the session on the server: old cookies and other tabs stop granting anything."""
    revoke_sessions(conn, user_id, now)
    audit.record(conn, "auth.signed_out", actor_type=audit.ACTOR_USER, actor_id=user_id, remote_addr=remote_addr)


def _is_time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def sign_in_cookie_claims(raw: str | None, key: str) -> dict[str, Any] | None:
    """The claims of a sign-in cookie that verifies (HS256 with our key, username and expiry), else None.

    Checked before streamlit-authenticator sees the cookie: 0.4.2 decodes it
    catching only DecodeError and InvalidSignatureError, so a token in
    another algorithm (`alg: none`, HS512), with a JWT `exp` in the past, or
    without `exp_date` raised out of its login() and broke the page. Any
    failure here means "no cookie", never an error.
    """
    if raw is None:
        return None
    try:
        claims = jwt.decode(raw, key, algorithms=[COOKIE_ALGORITHM])
    except jwt.PyJWTError:
        return None
    if not isinstance(claims.get("username"), str) or not _is_time(claims.get("exp_date")):
        return None
    return claims


def cookie_issued_at(token: Mapping[str, Any], cookie_hours: int) -> dt.datetime | None:
    """streamlit-authenticator's cookie holds only username and expiry; issue time = expiry - lifetime."""
    expires = token.get("exp_date")
    if not _is_time(expires):
        return None
    try:
        return dt.datetime.fromtimestamp(float(expires) - cookie_hours * 3600, dt.UTC).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):  # a time no calendar holds
        return None


def cookie_allows_password_skip(
    conn: Connection, token: Mapping[str, Any] | None, *, cookie_hours: int, now: dt.datetime
) -> bool:
    """Whether a signed sign-in cookie may stand in for the password (never for the code).

    Refused when expired, when it claims a longer life than the policy, when
    the account cannot sign in, or when it was issued before the account's
    sessions were revoked (logout, password change, reset, disable).
    """
    if not token or not isinstance(token.get("username"), str):
        return False
    issued_at = cookie_issued_at(token, cookie_hours)
    if issued_at is None:
        return False
    expires_at = issued_at + dt.timedelta(hours=cookie_hours)
    if expires_at <= now or issued_at > now + dt.timedelta(minutes=1):
        return False
    row = conn.execute(select(users).where(users.c.username == token["username"].lower())).first()
    if row is None or not can_sign_in(row, now):
        return False
    return row.sessions_valid_after is None or issued_at > row.sessions_valid_after

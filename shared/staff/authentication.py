"""Staff sign-in rules: password and TOTP failures, lockout, sessions and their revocation.

The portal's password step is streamlit-authenticator's; everything it does
not do lives here. Its cookie re-login skips the password but never the
code: a portal session exists only once `verify_second_factor` accepted a
code in that session. Failures of either factor count against the same
account and get the same answer, so a caller cannot tell which was wrong.
Logging out sets `users.sessions_valid_after`, which ends every session and
every sign-in cookie issued before it, on the server. Each service below
runs in its own transaction with its audit events; `revoke_sessions` and
`count_failure` run in the caller's (an administrator's change).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import Connection, Row, or_, select, update

from shared import audit
from shared.context import AppContext
from shared.db.statuses import UserStatus
from shared.db.tables import audit_events, users
from shared.staff import totp
from shared.staff.accounts import StaffRecord, lookup_user_id
from shared.staff.passwords import check_password

TABLE = "users"
MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=15)
THROTTLE_FROM = 3  # failures before sign-in starts pausing briefly
THROTTLE_BASE = dt.timedelta(seconds=30)
COOKIE_ALGORITHM = "HS256"  # what streamlit-authenticator 0.4.2 signs its cookie with

# streamlit-authenticator's credentials: {"usernames": {username: {"name", "email", "password", "roles", …}}}
Credentials = dict[str, dict[str, dict[str, Any]]]

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
    def from_row(cls, row: Row) -> StaffUser:
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


def is_locked(row: Row | StaffRecord, now: dt.datetime) -> bool:
    return row.locked_until is not None and row.locked_until > now


def can_sign_in(row: Row, now: dt.datetime) -> bool:
    return (
        row.status == UserStatus.ACTIVE
        and row.password_hash is not None
        and row.totp_secret is not None
        and not is_locked(row, now)
    )


def authenticator_credentials(ctx: AppContext, now: dt.datetime) -> Credentials:
    """The credentials dict streamlit-authenticator expects, from the users who may sign in now.

    Disabled, pending and paused accounts are left out, so their password
    is not even checked and they fail exactly like an unknown username.
    """
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(users).where(
                users.c.status == UserStatus.ACTIVE,
                users.c.password_hash.is_not(None),
                users.c.totp_secret.is_not(None),
                or_(users.c.locked_until.is_(None), users.c.locked_until <= now),
            )
        ).all()
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


def count_failure(
    conn: Connection, user_id: str, *, factor: str, reason: str, now: dt.datetime, remote_addr: str | None = None
) -> int:
    """Count one failed attempt against the account and pause it if due, in the caller's transaction.

    Returns the failure count.
    """
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


def record_failure(
    ctx: AppContext, user_id: str, *, factor: str, reason: str, now: dt.datetime, remote_addr: str | None = None
) -> int:
    """Count one failed attempt against the account and pause it if due; returns the failure count."""
    with ctx.engine.begin() as conn:
        return count_failure(conn, user_id, factor=factor, reason=reason, now=now, remote_addr=remote_addr)


def pause_seconds(pause: dt.timedelta | None) -> int:
    return int(pause.total_seconds()) if pause else 0


def record_password_failure(
    ctx: AppContext, username: str | None, *, now: dt.datetime, remote_addr: str | None = None
) -> str | None:
    """A wrong password: counted against the account it names, if one exists; returns that account's id.

    For an unknown username (or none) the time a bcrypt check takes is spent
    all the same, so timing does not tell which, and the attempt is audited
    without the typed username, which may be a password.
    """
    with ctx.engine.begin() as conn:
        user_id = lookup_user_id(conn, username) if username else None
        if user_id:
            count_failure(conn, user_id, factor="password", reason="wrong_password", now=now, remote_addr=remote_addr)
            return user_id
        check_password("", _TIMING_HASH)  # bcrypt costs the same whatever the input
        audit.record(
            conn,
            "auth.failed",
            actor_type=audit.ACTOR_USER,
            remote_addr=remote_addr,
            detail={"factor": "password", "reason": "unknown_or_unavailable_account"},
        )
        return None


def verify_second_factor(
    ctx: AppContext, user_id: str, raw_code: str, *, now: dt.datetime, remote_addr: str | None = None
) -> StaffSession | None:
    """Accept a TOTP code once: a new session, or None (the failure is counted and audited)."""
    with ctx.engine.begin() as conn:
        row = conn.execute(select(users).where(users.c.id == user_id).with_for_update()).first()
        if row is None or row.status != UserStatus.ACTIVE or row.totp_secret is None or is_locked(row, now):
            audit.record(
                conn,
                "auth.failed",
                actor_type=audit.ACTOR_USER,
                actor_id=user_id,
                remote_addr=remote_addr,
                detail={
                    "factor": "totp",
                    "reason": "paused" if row is not None and is_locked(row, now) else "unavailable",
                },
            )
            return None
        secret = ctx.cipher.decrypt(TABLE, "totp_secret", row.id, row.totp_secret)
        step = totp.matching_step(secret, raw_code, unix_time(now))
        if step is None:
            count_failure(conn, user_id, factor="totp", reason="wrong_code", now=now, remote_addr=remote_addr)
            return None
        accepted = conn.execute(
            update(users)
            .where(users.c.id == user_id, or_(users.c.totp_last_step.is_(None), users.c.totp_last_step < step))
            .values(totp_last_step=step, failed_attempts=0, locked_until=None, last_login_at=now, updated_at=now)
        )
        if accepted.rowcount != 1:  # this code, or a later one, was already used
            count_failure(conn, user_id, factor="totp", reason="replayed_code", now=now, remote_addr=remote_addr)
            return None
        audit.record(conn, "auth.signed_in", actor_type=audit.ACTOR_USER, actor_id=user_id, remote_addr=remote_addr)
    return StaffSession(user_id=user_id, signed_in_at=now, last_seen=now)


@dataclass(frozen=True)
class SessionCheck:
    user: StaffUser | None
    ended_because: str | None = None  # "disabled", "revoked" or "idle"


def check_session(
    ctx: AppContext, session: StaffSession, *, now: dt.datetime, idle: dt.timedelta, remote_addr: str | None = None
) -> SessionCheck:
    """Whether a portal session may go on, decided on the server at every page run; an ending is audited."""
    with ctx.engine.begin() as conn:
        row = conn.execute(select(users).where(users.c.id == session.user_id)).first()
        if row is None or row.status != UserStatus.ACTIVE:
            check = SessionCheck(None, "disabled")
        elif row.sessions_valid_after is not None and session.signed_in_at <= row.sessions_valid_after:
            check = SessionCheck(None, "revoked")
        elif now - session.last_seen > idle:
            check = SessionCheck(None, "idle")
        else:
            return SessionCheck(StaffUser.from_row(row))
        audit.record(
            conn,
            "auth.session_ended",
            actor_type=audit.ACTOR_USER,
            actor_id=session.user_id,
            remote_addr=remote_addr,
            detail={"reason": check.ended_because},
        )
    return check


def revoke_sessions(conn: Connection, user_id: str, now: dt.datetime) -> None:
    """End every session and sign-in cookie of the account issued up to now (in the caller's transaction)."""
    conn.execute(update(users).where(users.c.id == user_id).values(sessions_valid_after=now, updated_at=now))


def sign_out(ctx: AppContext, user_id: str, *, now: dt.datetime, remote_addr: str | None = None) -> None:
    """Logout ends the session on the server: old cookies and other tabs stop granting anything."""
    with ctx.engine.begin() as conn:
        revoke_sessions(conn, user_id, now)
        audit.record(conn, "auth.signed_out", actor_type=audit.ACTOR_USER, actor_id=user_id, remote_addr=remote_addr)


@dataclass(frozen=True)
class SignInEvent:
    """One line of a person's own sign-in history (My account)."""

    occurred_at: dt.datetime
    action: str
    remote_addr: str | None


def recent_sign_in_activity(ctx: AppContext, user_id: str, *, limit: int = 10) -> list[SignInEvent]:
    """The account's latest `auth.*` events, newest first, so a person can spot a sign-in that was not them."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(audit_events.c.occurred_at, audit_events.c.action, audit_events.c.remote_addr)
            .where(audit_events.c.actor_id == user_id, audit_events.c.action.startswith("auth.", autoescape=True))
            .order_by(audit_events.c.occurred_at.desc(), audit_events.c.id.desc())
            .limit(limit)
        ).all()
    return [SignInEvent(row.occurred_at, row.action, row.remote_addr) for row in rows]


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


def _cookie_allows(conn: Connection, token: Mapping[str, Any] | None, *, cookie_hours: int, now: dt.datetime) -> bool:
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


def cookie_allows_password_skip(
    ctx: AppContext, token: Mapping[str, Any] | None, *, cookie_hours: int, now: dt.datetime
) -> bool:
    """Whether a signed sign-in cookie's claims may stand in for the password (never for the code).

    Refused when expired, when it claims a longer life than the policy, when
    the account cannot sign in, or when it was issued before the account's
    sessions were revoked (logout, password change, reset, disable).
    """
    with ctx.engine.connect() as conn:
        return _cookie_allows(conn, token, cookie_hours=cookie_hours, now=now)


def accept_sign_in_cookie(
    ctx: AppContext, raw: str | None, key: str, *, cookie_hours: int, now: dt.datetime, remote_addr: str | None = None
) -> bool:
    """Whether the browser's sign-in cookie spares the password in this session.

    A cookie that does not verify (`sign_in_cookie_claims`) or that the rules
    refuse (`cookie_allows_password_skip`) is audited as `auth.cookie_refused`;
    no cookie at all is not an event.
    """
    if raw is None:
        return False
    claims = sign_in_cookie_claims(raw, key)
    with ctx.engine.begin() as conn:
        allowed = claims is not None and _cookie_allows(conn, claims, cookie_hours=cookie_hours, now=now)
        if not allowed:
            audit.record(
                conn,
                "auth.cookie_refused",
                actor_type=audit.ACTOR_SYSTEM,
                remote_addr=remote_addr,
                detail={"reason": "not_verified" if claims is None else "not_allowed"},
            )
    return allowed

"""Looking after staff accounts: disable, enable, reset sign-in, unlock, change password.

Every change that takes access away also revokes the account's sessions
(`sessions_valid_after`), so it applies at once in every open portal tab.
Each change runs in its own transaction and audits itself, naming the actor.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, Row, func, select, update

from shared import audit
from shared.context import Actor, AppContext
from shared.db.statuses import Role, UserStatus
from shared.db.tables import users
from shared.staff.accounts import Enrollment, reissue_enrollment
from shared.staff.authentication import count_failure, revoke_sessions
from shared.staff.passwords import PasswordError, check_new_password, check_password, hash_password


class AdminError(ValueError):
    """The change is not allowed (message is for people)."""


def _load(conn: Connection, user_id: str) -> Row:
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    if row is None:
        raise AdminError("That account does not exist.")
    return row


def _active_admins(conn: Connection) -> int:
    query = select(func.count()).where(users.c.role == Role.ADMIN, users.c.status == UserStatus.ACTIVE)
    return int(conn.execute(query).scalar() or 0)


def _guard_other_admin(conn: Connection, row: Row, actor: Actor, action: str) -> None:
    if row.id == actor.user_id:
        raise AdminError(f"You cannot {action} your own account; ask another administrator.")
    if row.role == Role.ADMIN and row.status == UserStatus.ACTIVE and _active_admins(conn) <= 1:
        raise AdminError(f"You cannot {action} the last active administrator.")


def _audit(conn: Connection, action: str, actor: Actor, user_id: str) -> None:
    audit.record(
        conn,
        action,
        actor_type=audit.ACTOR_USER,
        actor_id=actor.user_id,
        remote_addr=actor.remote_addr,
        detail={"user_id": user_id},
    )


def disable_user(ctx: AppContext, user_id: str, *, actor: Actor, now: dt.datetime) -> None:
    with ctx.engine.begin() as conn:
        row = _load(conn, user_id)
        _guard_other_admin(conn, row, actor, "disable")
        conn.execute(update(users).where(users.c.id == user_id).values(status=UserStatus.DISABLED, updated_at=now))
        revoke_sessions(conn, user_id, now)
        _audit(conn, "user.disabled", actor, user_id)


def enable_user(ctx: AppContext, user_id: str, *, actor: Actor, now: dt.datetime) -> str:
    """Back to active, or to pending when enrollment never finished; returns the new status."""
    with ctx.engine.begin() as conn:
        row = _load(conn, user_id)
        if row.status != UserStatus.DISABLED:
            raise AdminError("That account is not disabled.")
        status = UserStatus.ACTIVE if row.password_hash and row.totp_secret else UserStatus.PENDING
        conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(status=status, failed_attempts=0, locked_until=None, updated_at=now)
        )
        _audit(conn, "user.enabled", actor, user_id)
    return str(status)


def reset_sign_in(ctx: AppContext, user_id: str, *, actor: Actor, now: dt.datetime) -> Enrollment:
    """Forget the password and authenticator; the person sets both again from a new one-time link."""
    with ctx.engine.begin() as conn:
        row = _load(conn, user_id)
        _guard_other_admin(conn, row, actor, "reset sign-in for")
        if row.status == UserStatus.DISABLED:
            raise AdminError("Enable the account first.")
        conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(
                status=UserStatus.PENDING,
                password_hash=None,
                totp_secret=None,
                totp_last_step=None,
                failed_attempts=0,
                locked_until=None,
                updated_at=now,
            )
        )
        revoke_sessions(conn, user_id, now)
        _audit(conn, "user.sign_in_reset", actor, user_id)
        return reissue_enrollment(conn, portal_base_url=ctx.settings.portal_base_url, user_id=user_id, actor=actor)


def unlock_user(ctx: AppContext, user_id: str, *, actor: Actor, now: dt.datetime) -> None:
    """Lift a sign-in pause and forget the failures that led to it."""
    with ctx.engine.begin() as conn:
        _load(conn, user_id)
        conn.execute(
            update(users).where(users.c.id == user_id).values(failed_attempts=0, locked_until=None, updated_at=now)
        )
        _audit(conn, "user.unlocked", actor, user_id)


def change_password(
    ctx: AppContext,
    *,
    actor: Actor,
    current: str,
    new: str,
    repeated: str,
    now: dt.datetime,
    rounds: int | None = None,
) -> bool:
    """Replace the actor's own password; every session then signs in again.

    Raises PasswordError (nothing written) when the new password is not
    acceptable; returns False, with the failure counted and kept, when the
    current password is wrong.
    """
    with ctx.engine.begin() as conn:
        row = _load(conn, actor.user_id)
        check_new_password(new, repeated, username=row.username, display_name=row.display_name)
        if new == current:
            raise PasswordError("Choose a password different from the current one.")
        if not check_password(current, row.password_hash):
            count_failure(
                conn,
                actor.user_id,
                factor="password",
                reason="wrong_current_password",
                now=now,
                remote_addr=actor.remote_addr,
            )
            return False
        new_hash = hash_password(new) if rounds is None else hash_password(new, rounds)
        conn.execute(update(users).where(users.c.id == actor.user_id).values(password_hash=new_hash, updated_at=now))
        revoke_sessions(conn, actor.user_id, now)
        audit.record(
            conn,
            "user.password_changed",
            actor_type=audit.ACTOR_USER,
            actor_id=actor.user_id,
            remote_addr=actor.remote_addr,
        )
    return True

"""Looking after staff accounts: disable, enable, reset sign-in, unlock, change password.

Every change that takes access away also revokes the account's sessions
(`sessions_valid_after`), so it applies at once in every open portal tab.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, func, select, update

from shared import audit
from shared.db.statuses import Role, UserStatus
from shared.db.tables import users
from shared.staff.accounts import Enrollment, reissue_enrollment
from shared.staff.authentication import record_failure, revoke_sessions
from shared.staff.passwords import PasswordError, check_new_password, check_password, hash_password


class AdminError(ValueError):
    """The change is not allowed (message is for people)."""


def list_staff(conn: Connection) -> list[Any]:
    return list(conn.execute(select(users).order_by(users.c.role, users.c.username)))


def _load(conn: Connection, user_id: str) -> Any:
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    if row is None:
        raise AdminError("That account does not exist.")
    return row


def _active_admins(conn: Connection) -> int:
    query = select(func.count()).where(users.c.role == Role.ADMIN, users.c.status == UserStatus.ACTIVE)
    return int(conn.execute(query).scalar() or 0)


def _guard_other_admin(conn: Connection, row: Any, actor_id: str, action: str) -> None:
    if row.id == actor_id:
        raise AdminError(f"You cannot {action} your own account; ask another administrator.")
    if row.role == Role.ADMIN and row.status == UserStatus.ACTIVE and _active_admins(conn) <= 1:
        raise AdminError(f"You cannot {action} the last active administrator.")


def _audit(conn: Connection, action: str, actor_id: str, user_id: str, remote_addr: str | None) -> None:
    audit.record(
        conn,
        action,
        actor_type=audit.ACTOR_USER,
        actor_id=actor_id,
        remote_addr=remote_addr,
        detail={"user_id": user_id},
    )


def disable_user(
    conn: Connection, *, user_id: str, actor_id: str, now: dt.datetime, remote_addr: str | None = None
) -> None:
    row = _load(conn, user_id)
    _guard_other_admin(conn, row, actor_id, "disable")
    conn.execute(update(users).where(users.c.id == user_id).values(status=UserStatus.DISABLED, updated_at=now))
    revoke_sessions(conn, user_id, now)
    _audit(conn, "user.disabled", actor_id, user_id, remote_addr)


def enable_user(
    conn: Connection, *, user_id: str, actor_id: str, now: dt.datetime, remote_addr: str | None = None
) -> str:
    """Back to active, or to pending when enrollment never finished; returns the new status."""
    row = _load(conn, user_id)
    if row.status != UserStatus.DISABLED:
        raise AdminError("That account is not disabled.")
    status = UserStatus.ACTIVE if row.password_hash and row.totp_secret else UserStatus.PENDING
    conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(status=status, failed_attempts=0, locked_until=None, updated_at=now)
    )
    _audit(conn, "user.enabled", actor_id, user_id, remote_addr)
    return str(status)


def reset_sign_in(
    conn: Connection,
    *,
    portal_base_url: str,
    user_id: str,
    actor_id: str,
    now: dt.datetime,
    remote_addr: str | None = None,
) -> Enrollment:
    """Forget the password and authenticator; the person sets both again from a new one-time link."""
    row = _load(conn, user_id)
    _guard_other_admin(conn, row, actor_id, "reset sign-in for")
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
    _audit(conn, "user.sign_in_reset", actor_id, user_id, remote_addr)
    return reissue_enrollment(conn, portal_base_url=portal_base_url, user_id=user_id, actor_id=actor_id)


def unlock_user(
    conn: Connection, *, user_id: str, actor_id: str, now: dt.datetime, remote_addr: str | None = None
) -> None:
    _load(conn, user_id)
    conn.execute(
        update(users).where(users.c.id == user_id).values(failed_attempts=0, locked_until=None, updated_at=now)
    )
    _audit(conn, "user.unlocked", actor_id, user_id, remote_addr)


def change_password(
    conn: Connection,
    *,
    user_id: str,
    current: str,
    new: str,
    repeated: str,
    now: dt.datetime,
    remote_addr: str | None = None,
    rounds: int | None = None,
) -> bool:
    """Replace the password; every session then signs in again.

    Raises PasswordError (nothing written) when the new password is not
    acceptable; returns False, with the failure counted, when the current
    password is wrong, so the caller's commit keeps the count.
    """
    row = _load(conn, user_id)
    check_new_password(new, repeated, username=row.username, display_name=row.display_name)
    if new == current:
        raise PasswordError("Choose a password different from the current one.")
    if not check_password(current, row.password_hash):
        record_failure(
            conn, user_id, factor="password", reason="wrong_current_password", now=now, remote_addr=remote_addr
        )
        return False
    new_hash = hash_password(new) if rounds is None else hash_password(new, rounds)
    conn.execute(update(users).where(users.c.id == user_id).values(password_hash=new_hash, updated_at=now))
    revoke_sessions(conn, user_id, now)
    audit.record(conn, "user.password_changed", actor_type=audit.ACTOR_USER, actor_id=user_id, remote_addr=remote_addr)
    return True

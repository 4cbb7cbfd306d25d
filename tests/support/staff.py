"""Staff accounts for tests, made through the real create-user and enrollment code paths."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import update

from shared.clock import utcnow
from shared.context import AppContext
from shared.db.tables import users
from shared.staff import totp
from shared.staff.accounts import create_user
from shared.staff.authentication import unix_time
from shared.staff.enrollment import complete_enrollment
from shared.staff.passwords import hash_password

TEST_BCRYPT_ROUNDS = 4  # the cheapest bcrypt cost: tests sign in many times; production uses 12


@dataclass
class StaffAccount:
    user_id: str
    username: str
    password: str
    secret: str
    role: str
    team: str | None

    def code(self, offset: int = 0, at: dt.datetime | None = None) -> str:
        """The code the person's app shows now (or `offset` steps away)."""
        return totp.code_for_step(self.secret, totp.current_step(unix_time(at or utcnow())) + offset)


def make_staff(
    ctx: AppContext,
    username: str,
    role: str = "clinician",
    team: str | None = "Dermatology",
    password: str = "Zebra-lamp-orbit-42",
    display_name: str | None = None,
) -> StaffAccount:
    """An active account: enrolled with the previous step's code, so the current code is still unused."""
    enrollment = create_user(
        ctx, username=username, display_name=display_name or f"Dr {username.capitalize()}", role=role, team=team
    )
    secret = totp.new_secret()
    now = utcnow()
    complete_enrollment(
        ctx,
        token=enrollment.token,
        password_hash=hash_password(password, rounds=TEST_BCRYPT_ROUNDS),
        secret=secret,
        code=totp.code_for_step(secret, totp.current_step(unix_time(now)) - 1),
        now=now - dt.timedelta(seconds=1),
    )
    return StaffAccount(enrollment.user_id, username, password, secret, role, team)


def forget_used_codes(ctx: AppContext, account: StaffAccount) -> None:
    """Let the current code be used again, as if its 30 seconds had passed (tests that sign in twice).

    Also forgets failed attempts and any pause they caused: a test that
    signs in must not depend on what an earlier test in the module did.
    """
    with ctx.engine.begin() as conn:
        conn.execute(
            update(users)
            .where(users.c.id == account.user_id)
            .values(totp_last_step=None, failed_attempts=0, locked_until=None)
        )

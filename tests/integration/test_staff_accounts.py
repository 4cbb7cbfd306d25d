"""Enrollment and account administration on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from shared import audit
from shared.clock import utcnow
from shared.context import AppContext
from shared.db.tables import users
from shared.staff import account_admin, authentication, totp
from shared.staff.accounts import create_user
from shared.staff.authentication import StaffSession, unix_time
from shared.staff.enrollment import EnrollmentError, complete_enrollment, find_pending_enrollment
from shared.staff.passwords import PasswordError, check_password, hash_password
from tests.support.staff import make_staff


def row_of(ctx: AppContext, user_id: str):  # type: ignore[no-untyped-def]
    with ctx.engine.connect() as conn:
        return conn.execute(select(users).where(users.c.id == user_id)).one()


def enroll(ctx: AppContext, token: str, secret: str, code: str, moment: dt.datetime) -> str:
    with ctx.engine.begin() as conn:
        return complete_enrollment(
            ctx,
            conn,
            token=token,
            password_hash=hash_password("walnut tractor velvet", rounds=4),
            secret=secret,
            code=code,
            now=moment,
        )


def test_enrollment_activates_the_account_once_the_app_works_and_uses_up_the_link(ctx: AppContext) -> None:
    with ctx.engine.begin() as conn:
        enrollment = create_user(
            conn, portal_base_url="http://portal", username="drjones", display_name="Dr Jones", role="clinician"
        )
    moment = utcnow()
    with ctx.engine.connect() as conn:
        assert find_pending_enrollment(conn, enrollment.token, moment).id == enrollment.user_id
        assert find_pending_enrollment(conn, enrollment.token + "x", moment) is None
    secret = totp.new_secret()
    with pytest.raises(EnrollmentError, match="code is not right"):
        enroll(ctx, enrollment.token, secret, "000000", moment)
    assert row_of(ctx, enrollment.user_id).status == "pending"  # nothing saved by a wrong code
    step = totp.current_step(unix_time(moment))
    enroll(ctx, enrollment.token, secret, totp.code_for_step(secret, step), moment)
    row = row_of(ctx, enrollment.user_id)
    assert row.status == "active" and row.enrollment_token_hash is None and row.totp_last_step == step
    assert ctx.cipher.decrypt("users", "totp_secret", row.id, row.totp_secret) == secret
    assert secret.encode() not in bytes(row.totp_secret)
    assert check_password("walnut tractor velvet", row.password_hash)
    with pytest.raises(EnrollmentError, match="not valid"):
        enroll(ctx, enrollment.token, totp.new_secret(), totp.code_for_step(secret, step + 1), moment)
    with ctx.engine.connect() as conn:
        assert audit.search(conn, action="user.enrolled", actor_id=enrollment.user_id)


def test_an_expired_enrollment_link_does_nothing(ctx: AppContext) -> None:
    with ctx.engine.begin() as conn:
        enrollment = create_user(
            conn, portal_base_url="http://portal", username="drjones", display_name="Dr Jones", role="clinician"
        )
    later = enrollment.expires_at + dt.timedelta(seconds=1)
    secret = totp.new_secret()
    with pytest.raises(EnrollmentError, match="not valid"):
        enroll(ctx, enrollment.token, secret, totp.code_for_step(secret, totp.current_step(unix_time(later))), later)


def test_disabling_revokes_sessions_and_keeps_the_last_admin(ctx: AppContext) -> None:
    admin = make_staff(ctx, "admin1", role="admin")
    clinician = make_staff(ctx, "drjones")
    moment = utcnow()
    session = StaffSession(clinician.user_id, moment, moment)
    with ctx.engine.begin() as conn:
        account_admin.disable_user(conn, user_id=clinician.user_id, actor_id=admin.user_id, now=moment)
    with ctx.engine.connect() as conn:
        check = authentication.check_session(conn, session, now=moment, idle=dt.timedelta(minutes=30))
        assert check.user is None
        assert "drjones" not in authentication.authenticator_credentials(conn, moment)["usernames"]
    with ctx.engine.begin() as conn:
        assert (
            account_admin.enable_user(conn, user_id=clinician.user_id, actor_id=admin.user_id, now=moment) == "active"
        )
    with pytest.raises(account_admin.AdminError, match="your own account"), ctx.engine.begin() as conn:
        account_admin.disable_user(conn, user_id=admin.user_id, actor_id=admin.user_id, now=moment)
    other_admin = make_staff(ctx, "admin2", role="admin")
    with ctx.engine.begin() as conn:  # two admins: one may disable the other...
        account_admin.disable_user(conn, user_id=other_admin.user_id, actor_id=admin.user_id, now=moment)
    with ctx.engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == other_admin.user_id).values(status="active"))
        conn.execute(update(users).where(users.c.id == admin.user_id).values(status="disabled"))
    with pytest.raises(account_admin.AdminError, match="last active administrator"), ctx.engine.begin() as conn:
        account_admin.disable_user(conn, user_id=other_admin.user_id, actor_id=admin.user_id, now=moment)


def test_reset_sign_in_forgets_password_and_app_and_issues_a_new_link(ctx: AppContext) -> None:
    admin = make_staff(ctx, "admin1", role="admin")
    clinician = make_staff(ctx, "drjones")
    moment = utcnow()
    with ctx.engine.begin() as conn:
        enrollment = account_admin.reset_sign_in(
            conn, portal_base_url="http://portal", user_id=clinician.user_id, actor_id=admin.user_id, now=moment
        )
    row = row_of(ctx, clinician.user_id)
    assert row.status == "pending" and row.password_hash is None and row.totp_secret is None
    assert row.sessions_valid_after == moment
    assert enrollment.link.startswith("http://portal/?enroll=")
    with ctx.engine.connect() as conn:
        assert find_pending_enrollment(conn, enrollment.token, moment) is not None
        assert {e["action"] for e in audit.search(conn, actor_id=admin.user_id)} >= {
            "user.sign_in_reset",
            "user.enrollment_issued",
        }


def test_unlock_lifts_a_pause(ctx: AppContext) -> None:
    admin = make_staff(ctx, "admin1", role="admin")
    clinician = make_staff(ctx, "drjones")
    moment = utcnow()
    with ctx.engine.begin() as conn:
        for _ in range(authentication.MAX_FAILURES):
            authentication.record_failure(conn, clinician.user_id, factor="totp", reason="wrong_code", now=moment)
    assert authentication.is_locked(row_of(ctx, clinician.user_id), moment)
    with ctx.engine.begin() as conn:
        account_admin.unlock_user(conn, user_id=clinician.user_id, actor_id=admin.user_id, now=moment)
    row = row_of(ctx, clinician.user_id)
    assert row.failed_attempts == 0 and not authentication.is_locked(row, moment)


def test_changing_password_checks_the_current_one_and_signs_out_everywhere(ctx: AppContext) -> None:
    clinician = make_staff(ctx, "drjones")
    moment = utcnow()
    with pytest.raises(PasswordError, match="too short"), ctx.engine.begin() as conn:
        account_admin.change_password(
            conn, user_id=clinician.user_id, current=clinician.password, new="short", repeated="short", now=moment
        )
    new = "walnut tractor velvet"
    with ctx.engine.begin() as conn:
        assert not account_admin.change_password(
            conn, user_id=clinician.user_id, current="wrong password", new=new, repeated=new, now=moment, rounds=4
        )
    assert row_of(ctx, clinician.user_id).failed_attempts == 1  # the wrong guess counted and was kept
    with ctx.engine.begin() as conn:
        assert account_admin.change_password(
            conn, user_id=clinician.user_id, current=clinician.password, new=new, repeated=new, now=moment, rounds=4
        )
    row = row_of(ctx, clinician.user_id)
    assert check_password(new, row.password_hash) and row.sessions_valid_after == moment

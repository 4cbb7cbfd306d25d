"""Enrollment and account administration on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from shared import audit
from shared.clock import utcnow
from shared.context import Actor, AppContext
from shared.db.tables import users
from shared.staff import account_admin, authentication, totp
from shared.staff.accounts import StaffRecord, create_user, list_staff, user_id_for
from shared.staff.authentication import StaffSession, unix_time
from shared.staff.enrollment import EnrollmentError, complete_enrollment, find_pending_enrollment
from shared.staff.passwords import PasswordError, check_password, hash_password
from tests.support.staff import make_staff


def row_of(ctx: AppContext, user_id: str):  # type: ignore[no-untyped-def]
    with ctx.engine.connect() as conn:
        return conn.execute(select(users).where(users.c.id == user_id)).one()


def enroll(ctx: AppContext, token: str, secret: str, code: str, moment: dt.datetime) -> str:
    return complete_enrollment(
        ctx,
        token=token,
        password_hash=hash_password("walnut tractor velvet", rounds=4),
        secret=secret,
        code=code,
        now=moment,
    )


def test_enrollment_activates_the_account_once_the_app_works_and_uses_up_the_link(ctx: AppContext) -> None:
    enrollment = create_user(ctx, username="drjones", display_name="Dr Jones", role="clinician")
    moment = utcnow()
    pending = find_pending_enrollment(ctx, enrollment.token, moment)
    assert pending is not None and (pending.id, pending.username) == (enrollment.user_id, "drjones")
    assert find_pending_enrollment(ctx, enrollment.token + "x", moment) is None
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
    enrollment = create_user(ctx, username="drjones", display_name="Dr Jones", role="clinician")
    later = enrollment.expires_at + dt.timedelta(seconds=1)
    secret = totp.new_secret()
    with pytest.raises(EnrollmentError, match="not valid"):
        enroll(ctx, enrollment.token, secret, totp.code_for_step(secret, totp.current_step(unix_time(later))), later)


def test_disabling_revokes_sessions_and_keeps_the_last_admin(ctx: AppContext) -> None:
    admin = make_staff(ctx, "admin1", role="admin")
    clinician = make_staff(ctx, "drjones")
    by_admin = Actor(admin.user_id, "192.0.2.20")
    moment = utcnow()
    session = StaffSession(clinician.user_id, moment, moment)
    account_admin.disable_user(ctx, clinician.user_id, actor=by_admin, now=moment)
    check = authentication.check_session(ctx, session, now=moment, idle=dt.timedelta(minutes=30))
    assert check.user is None
    assert "drjones" not in authentication.authenticator_credentials(ctx, moment)["usernames"]
    assert account_admin.enable_user(ctx, clinician.user_id, actor=by_admin, now=moment) == "active"
    with pytest.raises(account_admin.AdminError, match="your own account"):
        account_admin.disable_user(ctx, admin.user_id, actor=by_admin, now=moment)
    other_admin = make_staff(ctx, "admin2", role="admin")
    account_admin.disable_user(ctx, other_admin.user_id, actor=by_admin, now=moment)  # two admins: one may...
    with ctx.engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == other_admin.user_id).values(status="active"))
        conn.execute(update(users).where(users.c.id == admin.user_id).values(status="disabled"))
    with pytest.raises(account_admin.AdminError, match="last active administrator"):
        account_admin.disable_user(ctx, other_admin.user_id, actor=by_admin, now=moment)
    with ctx.engine.connect() as conn:
        disabled = audit.search(conn, action="user.disabled", actor_id=admin.user_id)
    assert len(disabled) == 2 and {e["remote_addr"] for e in disabled} == {"192.0.2.20"}


def test_reset_sign_in_forgets_password_and_app_and_issues_a_new_link(ctx: AppContext) -> None:
    admin = make_staff(ctx, "admin1", role="admin")
    clinician = make_staff(ctx, "drjones")
    moment = utcnow()
    enrollment = account_admin.reset_sign_in(ctx, clinician.user_id, actor=Actor(admin.user_id), now=moment)
    row = row_of(ctx, clinician.user_id)
    assert row.status == "pending" and row.password_hash is None and row.totp_secret is None
    assert row.sessions_valid_after == moment
    assert enrollment.link.startswith(f"{ctx.settings.portal_base_url}/?enroll=")
    assert find_pending_enrollment(ctx, enrollment.token, moment) is not None
    with ctx.engine.connect() as conn:
        assert {e["action"] for e in audit.search(conn, actor_id=admin.user_id)} >= {
            "user.sign_in_reset",
            "user.enrollment_issued",
        }


def test_unlock_lifts_a_pause(ctx: AppContext) -> None:
    admin = make_staff(ctx, "admin1", role="admin")
    clinician = make_staff(ctx, "drjones")
    moment = utcnow()
    for _ in range(authentication.MAX_FAILURES):
        authentication.record_failure(ctx, clinician.user_id, factor="totp", reason="wrong_code", now=moment)
    assert authentication.is_locked(row_of(ctx, clinician.user_id), moment)
    (listed,) = [record for record in list_staff(ctx) if record.id == clinician.user_id]
    assert isinstance(listed, StaffRecord) and authentication.is_locked(listed, moment)
    account_admin.unlock_user(ctx, clinician.user_id, actor=Actor(admin.user_id), now=moment)
    row = row_of(ctx, clinician.user_id)
    assert row.failed_attempts == 0 and not authentication.is_locked(row, moment)


def test_changing_password_checks_the_current_one_and_signs_out_everywhere(ctx: AppContext) -> None:
    clinician = make_staff(ctx, "drjones")
    me = Actor(clinician.user_id)
    moment = utcnow()
    with pytest.raises(PasswordError, match="too short"):
        account_admin.change_password(
            ctx, actor=me, current=clinician.password, new="short", repeated="short", now=moment
        )
    new = "walnut tractor velvet"
    assert not account_admin.change_password(
        ctx, actor=me, current="wrong password", new=new, repeated=new, now=moment, rounds=4
    )
    assert row_of(ctx, clinician.user_id).failed_attempts == 1  # the wrong guess counted and was kept
    assert account_admin.change_password(
        ctx, actor=me, current=clinician.password, new=new, repeated=new, now=moment, rounds=4
    )
    row = row_of(ctx, clinician.user_id)
    assert check_password(new, row.password_hash) and row.sessions_valid_after == moment


def test_an_account_is_found_by_its_username(ctx: AppContext) -> None:
    clinician = make_staff(ctx, "drjones")
    assert user_id_for(ctx, " DrJones ") == clinician.user_id
    assert user_id_for(ctx, "nobody") is None

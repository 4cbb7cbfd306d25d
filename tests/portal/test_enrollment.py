"""Setting up an account from its one-time link: password rule, QR code, confirming a code."""

from __future__ import annotations

from sqlalchemy import select

from shared.clock import utcnow
from shared.context import AppContext
from shared.db.tables import users
from shared.staff import totp
from shared.staff.accounts import create_user
from shared.staff.authentication import unix_time
from tests.support.portal import enter_code, enter_password, new_app, texts, widget


def enrollment_app(token: str):  # type: ignore[no-untyped-def]
    at = new_app()
    at.query_params["enroll"] = token
    return at.run()


def test_enrollment_sets_password_and_authenticator_then_the_link_is_spent(portal: AppContext) -> None:
    enrollment = create_user(
        portal, username="drjones", display_name="Dr Ada Jones", role="clinician", team="Dermatology"
    )
    at = enrollment_app(enrollment.token)
    assert "Welcome, **Dr Ada Jones**" in texts(at)
    for weak, says in [("Summer2024!!", "too easy to guess"), ("short", "too short")]:
        widget(at.text_input, "New password").input(weak)
        widget(at.text_input, "New password again").input(weak)
        widget(at.button, "Continue").click().run()
        assert says in texts(at)
    password = "walnut tractor velvet"
    widget(at.text_input, "New password").input(password)
    widget(at.text_input, "New password again").input(password)
    widget(at.button, "Continue").click().run()
    assert "Add MIA to your authenticator app" in texts(at)
    assert len(at.get("image")) == 1  # the QR code
    secret = at.session_state["mia_enrollment"].secret
    key_shown = [c.value for c in at.code]
    assert key_shown == [totp.grouped_secret(secret)]
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if totp.matching_step(secret, c) is None)
    widget(at.text_input, "6-digit code from the app").input(wrong)
    widget(at.button, "Confirm and finish").click().run()
    assert "code is not right" in texts(at)
    step = totp.current_step(unix_time(utcnow()))
    widget(at.text_input, "6-digit code from the app").input(totp.code_for_step(secret, step - 1))
    widget(at.button, "Confirm and finish").click().run()
    assert "Your account is ready" in texts(at)
    with portal.engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.id == enrollment.user_id)).one()
    assert row.status == "active" and row.enrollment_token_hash is None
    # The link is spent; the new password and a new code sign in.
    assert "not valid" in texts(enrollment_app(enrollment.token))
    widget(at.button, "Go to sign-in").click().run()
    enter_password(at, "drjones", password)
    enter_code(at, totp.code_for_step(secret, step))
    assert "Encounters" in texts(at)


def test_an_unknown_link_explains_what_to_do(sqlite_portal: AppContext) -> None:
    at = enrollment_app("not-a-real-token")
    assert "not valid" in texts(at) and "administrator" in texts(at)
    assert not at.text_input

"""Signing in through the portal's form widgets: password, code, one answer for every failure, logout."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from portal_ui import navigation
from portal_ui.auth_gate import REQUESTED_KEY, RequestedPage
from portal_ui.session import SESSION_KEY
from shared import audit
from shared.context import AppContext
from shared.db.tables import users
from shared.staff.authentication import MAX_FAILURES, SIGN_IN_FAILED
from tests.support.factories import make_encounter
from tests.support.portal import (
    enter_code,
    enter_password,
    new_app,
    open_page,
    run_page_alone,
    sign_in,
    texts,
    widget,
)
from tests.support.staff import StaffAccount, forget_used_codes, make_staff

PAGES = [spec.key for spec in navigation.PAGES]


def wrong_code(account: StaffAccount) -> str:
    valid = {account.code(offset) for offset in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


def attempt(account: StaffAccount, password: str, code: str, username: str | None = None) -> str:
    at = new_app().run()
    enter_password(at, username or account.username, password)
    assert "Enter your code" in texts(at)  # the code is asked for whatever the password was
    enter_code(at, code)
    assert not at.exception, at.exception
    return texts(at)


def test_password_then_code_opens_the_portal(portal: AppContext) -> None:
    account = make_staff(portal, "drjones")
    make_encounter(portal, account.user_id)
    at = new_app().run()
    assert "Sign in" in texts(at) and "Encounters" not in texts(at)
    enter_password(at, account.username, account.password)
    assert "Enter your code" in texts(at) and "Zebedee" not in texts(at)
    enter_code(at, account.code())
    page = texts(at)
    assert "Encounters" in page and "Zebedee Quartermain" not in page  # names are in the table, not prose
    assert widget(at.button, "Sign out")
    with portal.engine.connect() as conn:
        assert audit.search(conn, action="auth.signed_in", actor_id=account.user_id)
        row = conn.execute(select(users.c.failed_attempts, users.c.last_login_at).where(users.c.id == account.user_id))
        failures, last_login = row.one()
    assert failures == 0 and last_login is not None


def test_every_failure_gets_the_same_answer(sqlite_portal: AppContext) -> None:
    account = make_staff(sqlite_portal, "drjones")
    wrong_password = attempt(account, "not the password at all", account.code())
    wrong_code_answer = attempt(account, account.password, wrong_code(account))
    unknown_user = attempt(account, account.password, account.code(), username="nobody")
    for answer in (wrong_password, wrong_code_answer, unknown_user):
        assert SIGN_IN_FAILED in answer and "Encounters" not in answer
    assert wrong_password == wrong_code_answer == unknown_user
    with sqlite_portal.engine.connect() as conn:
        failures = audit.search(conn, action="auth.failed")
    reasons = sorted(e["detail"].split('"reason": "')[1].split('"')[0] for e in failures)
    assert reasons == ["unknown_or_unavailable_account", "wrong_code", "wrong_password"]


def test_a_code_cannot_be_used_in_a_second_session(sqlite_portal: AppContext) -> None:
    account = make_staff(sqlite_portal, "drjones")
    code = account.code()
    sign_in(account, code=code)
    replay = attempt(account, account.password, code)
    assert SIGN_IN_FAILED in replay and "Encounters" not in replay


def end_pause(ctx: AppContext, account: StaffAccount) -> None:
    """As if the short pause after the third and fourth failures had passed."""
    with ctx.engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == account.user_id).values(locked_until=None))


def test_repeated_failures_pause_then_lock_the_account_even_for_the_right_code(sqlite_portal: AppContext) -> None:
    account = make_staff(sqlite_portal, "drjones")
    for _ in range(2):
        attempt(account, account.password, wrong_code(account))
    attempt(account, "still not the password", wrong_code(account))
    paused = attempt(account, account.password, account.code())  # third failure paused sign-in
    assert SIGN_IN_FAILED in paused and "Encounters" not in paused
    for _ in range(MAX_FAILURES - 3):
        end_pause(sqlite_portal, account)
        attempt(account, "still not the password", wrong_code(account))
    locked = attempt(account, account.password, account.code())
    assert SIGN_IN_FAILED in locked and "Encounters" not in locked
    with sqlite_portal.engine.connect() as conn:
        assert audit.search(conn, action="auth.locked")


def test_authenticated_by_the_library_but_without_a_code_sees_nothing(portal: AppContext) -> None:
    """What streamlit-authenticator's cookie re-login leaves behind: authentication_status True, no code yet."""
    account = make_staff(portal, "drjones")
    invite = make_encounter(portal, account.user_id)
    at = new_app()
    at.session_state["authentication_status"] = True
    at.session_state["username"] = account.username
    at.session_state["name"] = "Dr Drjones"
    at.run()
    assert "Enter your code" in texts(at) and "Encounters" not in texts(at)
    assert not [b for b in at.button if b.label == "Sign out"]
    library_state = {"authentication_status": True, "username": account.username, "name": "Dr Drjones"}
    for key in PAGES:
        url_path = navigation.PAGES_BY_KEY[key].url_path
        for opened in (
            open_page(at, key, encounter=invite.encounter_id),  # in this session
            run_page_alone(key, library_state, encounter=invite.encounter_id),  # its file run by itself
        ):
            page = texts(opened)
            assert "Enter your code" in page, key  # the gate, at this address
            assert "Zebedee" not in page and not opened.dataframe and not opened.metric, key
            assert not [b for b in opened.button if b.label == "Sign out"], key
            # and back here after the code: the page and its query are kept
            assert opened.session_state[REQUESTED_KEY] == RequestedPage(url_path, {"encounter": [invite.encounter_id]})


def test_sign_out_ends_the_session_on_the_server(sqlite_portal: AppContext) -> None:
    account = make_staff(sqlite_portal, "drjones")
    at = sign_in(account)
    stolen = at.session_state[SESSION_KEY]
    widget(at.button, "Sign out").click().run()
    assert "You have signed out" in texts(at) and "Encounters" not in texts(at)
    assert widget(at.text_input, "Username")  # the sign-in form
    # The same session record in another Streamlit session (another tab, a copied state) is refused too.
    other = new_app()
    other.session_state[SESSION_KEY] = stolen
    other.run()
    assert "You have been signed out" in texts(other) and "Encounters" not in texts(other)
    alone = run_page_alone("encounters", {SESSION_KEY: stolen})
    assert "You have been signed out" in texts(alone) and "Encounters" not in texts(alone)
    assert widget(alone.text_input, "Username") and not alone.dataframe
    with sqlite_portal.engine.connect() as conn:
        assert audit.search(conn, action="auth.signed_out", actor_id=account.user_id)
        assert audit.search(conn, action="auth.session_ended", actor_id=account.user_id)


def test_an_idle_session_ends(sqlite_portal: AppContext) -> None:
    account = make_staff(sqlite_portal, "drjones")
    at = sign_in(account)
    session = at.session_state[SESSION_KEY]
    idle = sqlite_portal.settings.portal_idle_minutes
    at.session_state[SESSION_KEY] = type(session)(
        session.user_id, session.signed_in_at, session.last_seen - dt.timedelta(minutes=idle + 1)
    )
    at.run()
    assert f"after {idle} minutes without activity" in texts(at)
    assert "Encounters" not in texts(at)
    # Signing in again needs a fresh code (and the password, as the library state was cleared).
    forget_used_codes(sqlite_portal, account)
    enter_password(at, account.username, account.password)
    enter_code(at, account.code())
    assert "Encounters" in texts(at)

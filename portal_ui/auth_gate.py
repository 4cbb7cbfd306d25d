"""The portal's sign-in gate: password (streamlit-authenticator), then a TOTP code in every new session.

streamlit-authenticator checks the password against the bcrypt hashes from
the `users` table and, through its signed cookie, can skip the password in a
later session. It knows nothing of second factors: its
`authentication_status` is never trusted here. A session is signed in only
once `shared.staff.authentication.verify_second_factor` accepted a code in
it (`portal_ui.session` keeps it and checks it at every run), and every page
run passes `require_page` for the page's role check.

The password step gives no verdict of its own: right or wrong, the code
step follows, and only then is the single, same answer given. A link opened
before sign-in is remembered here and followed once both factors are in.
"""

from __future__ import annotations

import base64
import contextlib
from dataclasses import dataclass

import streamlit as st
import streamlit_authenticator as stauth
from streamlit_authenticator.utilities import LoginError

from portal_ui import navigation
from portal_ui.runtime import actor, now, remote_addr
from portal_ui.session import (
    DELETE_COOKIE_KEY,
    LIBRARY_IGNORE_COOKIE,
    PENDING_KEY,
    SESSION_KEY,
    notify,
    reset_library_state,
    show_notice,
)
from shared.context import AppContext
from shared.staff import access, authentication
from shared.staff.accounts import user_id_for
from shared.staff.authentication import Credentials, StaffUser

REQUESTED_KEY = "mia_requested_page"
ISSUE_COOKIE_KEY = "mia_issue_cookie"
FORM_FIELDS = {"Form name": "Sign in", "Username": "Username", "Password": "Password", "Login": "Continue"}


@dataclass(frozen=True)
class RequestedPage:
    """The page address (and query) a link opened before sign-in, to open once signed in."""

    url_path: str
    query: dict[str, list[str]]


@dataclass(frozen=True)
class PendingSignIn:
    """Between the password step and the code step of one session."""

    user_id: str | None
    password_ok: bool
    via_cookie: bool


def cookie_key(ctx: AppContext) -> str:
    """The JWT signing key for the sign-in cookie: MIA_COOKIE_KEY, never the library's default."""
    return base64.urlsafe_b64encode(ctx.keys.cookie).decode("ascii")


def make_authenticator(ctx: AppContext, credentials: Credentials) -> stauth.Authenticate:
    """One per page run (its cookie manager is a component that must render every run).

    Built with a cookie lifetime of 0 so that `login()` does not set the
    cookie after the password alone; `issue_cookie` sets it once the code
    was accepted. No wait before the form: 0.4.2 reads the cookie from the
    request (`st.context.cookies`), not from the component.
    """
    return stauth.Authenticate(
        credentials,
        cookie_name=ctx.settings.portal_cookie_name,
        cookie_key=cookie_key(ctx),
        cookie_expiry_days=0,
        auto_hash=False,
        login_sleep_time=0,
    )


def load_credentials(ctx: AppContext) -> Credentials:
    return authentication.authenticator_credentials(ctx, now())


def issue_cookie(authenticator: stauth.Authenticate, cookie_hours: int) -> None:
    """Set the sign-in cookie (username + expiry, signed) after both factors were accepted."""
    model = authenticator.cookie_controller.cookie_model
    model.cookie_expiry_days = cookie_hours / 24
    try:
        authenticator.cookie_controller.set_cookie()
    finally:
        model.cookie_expiry_days = 0


def settle_cookie(authenticator: stauth.Authenticate, cookie_hours: int) -> None:
    """Once signed in: stop deleting an old cookie, and set a new one if the password was given in this session."""
    st.session_state.pop(DELETE_COOKIE_KEY, None)
    if st.session_state.pop(ISSUE_COOKIE_KEY, False):
        issue_cookie(authenticator, cookie_hours)


def _delete_cookie(authenticator: stauth.Authenticate) -> None:
    """Ask the browser to drop the sign-in cookie: drawn at every sign-in run until signed in again.

    The cookie component acts only once its frame has loaded; a rerun that
    no longer draws it would cancel the deletion, so it stays on the page.
    (The library's delete_cookie prints a KeyError to stdout when the
    component has not reported the cookie; our logs are JSON lines.)
    """
    model = authenticator.cookie_controller.cookie_model
    with contextlib.suppress(KeyError):
        model.cookie_manager.delete(model.cookie_name)


def current_query() -> dict[str, list[str]]:
    """This run's query parameters, every value of each (as st.switch_page takes them back)."""
    return {name: st.query_params.get_all(name) for name in st.query_params}


def remember_requested_page(url_path: str) -> None:
    """Before sign-in: keep the page a link asked for (not the sign-in page, url_path "") and its query."""
    if url_path:
        st.session_state[REQUESTED_KEY] = RequestedPage(url_path, current_query())


def take_requested_page() -> RequestedPage | None:
    """Once signed in: the page asked for before sign-in, handed over once."""
    requested = st.session_state.pop(REQUESTED_KEY, None)
    return requested if isinstance(requested, RequestedPage) else None


def refuse_link(ctx: AppContext, user: StaffUser, requested: RequestedPage) -> None:
    """A link to a page the role may not open: audited like any refused page; the notice says why."""
    page = navigation.PAGES_BY_URL.get(requested.url_path)
    access.record_page_refused(ctx, actor(user), page=page.key if page else requested.url_path, role=user.role)
    title = f"“{page.title}”" if page else "That page"
    notify("info", f"{title} is not open to your role ({user.role}), so you are on your home page instead.")


def require_page(ctx: AppContext, user: StaffUser, page_key: str) -> None:
    """Every page run starts here: the signed-in user's role must allow the page.

    The navigation offers only the role's pages, but every page address is
    registered (so an address typed or linked is answered), and this check
    is what refuses the others: audited as `page.refused`, and the run ends.
    """
    if navigation.allowed(page_key, user.role):
        return
    access.record_page_refused(ctx, actor(user), page=page_key, role=user.role)
    st.title("Not available")
    st.error("Your role does not give access to this page.")
    st.stop()


def render_sign_in(ctx: AppContext, authenticator: stauth.Authenticate, credentials: Credentials) -> None:
    """The sign-in page: password step (or cookie), then the code step."""
    st.title("MIA clinician portal")
    st.caption("Medical Image Acquisition · for NHS staff")
    show_notice()
    pending = st.session_state.get(PENDING_KEY)
    password_step = not isinstance(pending, PendingSignIn)
    if password_step:
        pending = _password_step(ctx, authenticator, credentials)
    if st.session_state.get(DELETE_COOKIE_KEY):
        _delete_cookie(authenticator)
    if pending is None:
        return
    if password_step:
        st.session_state[PENDING_KEY] = pending
        if not pending.via_cookie:
            st.rerun()  # show the code form on its own
    _code_step(ctx, pending)


def _cookie_stands_in(ctx: AppContext, authenticator: stauth.Authenticate) -> bool:
    """Whether a sign-in cookie may stand in for the password in this session.

    The raw cookie is verified first (`authentication.accept_sign_in_cookie`).
    One that does not verify, or that the rules refuse, is audited once,
    deleted, and hidden from streamlit-authenticator for the rest of the
    session (LIBRARY_IGNORE_COOKIE makes its get_cookie return at once,
    before decoding anything), so its login() only draws the form.
    """
    if st.session_state.get("authentication_status") or st.session_state.get(LIBRARY_IGNORE_COOKIE):
        return False
    raw = st.context.cookies.get(ctx.settings.portal_cookie_name)
    if raw is None:
        return False
    allowed = authentication.accept_sign_in_cookie(
        ctx, raw, cookie_key(ctx), cookie_hours=ctx.settings.portal_cookie_hours, now=now(), remote_addr=remote_addr()
    )
    if not allowed:
        st.session_state[LIBRARY_IGNORE_COOKIE] = True
        st.session_state[DELETE_COOKIE_KEY] = True
    return allowed


def _password_step(
    ctx: AppContext, authenticator: stauth.Authenticate, credentials: Credentials
) -> PendingSignIn | None:
    via_cookie = _cookie_stands_in(ctx, authenticator)
    already = bool(st.session_state.get("authentication_status"))
    try:
        authenticator.login(location="main", fields=FORM_FIELDS, key="mia-sign-in", clear_on_submit=True)
    except LoginError:  # its cookie names an account that may not sign in now
        st.session_state[LIBRARY_IGNORE_COOKIE] = True
        reset_library_state()
        st.rerun()
    status = st.session_state.get("authentication_status")
    if status is True:
        user_id = user_id_for(ctx, st.session_state.get("username") or "")
        return PendingSignIn(user_id, password_ok=user_id is not None, via_cookie=via_cookie or already)
    if status is False:
        return _password_failed(ctx, credentials)
    return None


def _password_failed(ctx: AppContext, credentials: Credentials) -> PendingSignIn:
    """Count the failure against the account the library checked (if any); the verdict waits for the code."""
    checked = [name for name, record in credentials["usernames"].items() if record.get("failed_login_attempts")]
    user_id = authentication.record_password_failure(
        ctx, checked[0] if checked else None, now=now(), remote_addr=remote_addr()
    )
    reset_library_state()
    return PendingSignIn(user_id, password_ok=False, via_cookie=False)


def _restart(ignore_cookie: bool = False) -> None:
    st.session_state.pop(PENDING_KEY, None)
    reset_library_state()
    if ignore_cookie:
        st.session_state[LIBRARY_IGNORE_COOKIE] = True


def _code_step(ctx: AppContext, pending: PendingSignIn) -> None:
    st.subheader("Enter your code")
    st.write("Open the authenticator app on your phone and type the 6-digit code it shows for **MIA**.")
    with st.form("mia-code", clear_on_submit=True):
        code = st.text_input("6-digit code", max_chars=7, autocomplete="one-time-code", placeholder="123456")
        submitted = st.form_submit_button("Sign in", type="primary")
    if st.button("Start again with a different account"):
        _restart(ignore_cookie=True)
        st.rerun()
    if not submitted:
        return
    session = None
    if pending.password_ok and pending.user_id:
        session = authentication.verify_second_factor(ctx, pending.user_id, code, now=now(), remote_addr=remote_addr())
    if session is None:
        _restart()
        notify("error", authentication.SIGN_IN_FAILED)
        st.rerun()
    st.session_state.pop(PENDING_KEY, None)
    st.session_state[SESSION_KEY] = session
    if not pending.via_cookie:
        st.session_state[ISSUE_COOKIE_KEY] = True
    st.rerun()

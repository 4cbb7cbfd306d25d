"""The portal's sign-in gate: password (streamlit-authenticator), then a TOTP code in every new session.

streamlit-authenticator checks the password against the bcrypt hashes from
the `users` table and, through its signed cookie, can skip the password in a
later session. It knows nothing of second factors: its
`authentication_status` is never trusted here. A session is signed in only
once `shared.staff_auth.verify_second_factor` accepted a code in it, which
this module records under SESSION_KEY; every page run checks that session on
the server (`current_user`), and every page calls `require_page`.

The password step gives no verdict of its own: right or wrong, the code
step follows, and only then is the single, same answer given.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import streamlit as st
import streamlit_authenticator as stauth
from streamlit.runtime.pages_manager import PagesManager
from streamlit_authenticator.utilities import LoginError

from portal_ui import navigation
from portal_ui.runtime import now, portal_context, remote_addr
from shared import audit
from shared.context import AppContext
from shared.staff import authentication
from shared.staff.authentication import StaffSession, StaffUser

SESSION_KEY = "mia_session"
PENDING_KEY = "mia_pending"
NOTICE_KEY = "mia_notice"
REQUESTED_KEY = "mia_requested_page"
ISSUE_COOKIE_KEY = "mia_issue_cookie"
DELETE_COOKIE_KEY = "mia_delete_cookie"
LIBRARY_KEYS = ("authentication_status", "username", "name", "email", "roles")
LIBRARY_IGNORE_COOKIE = "logout"  # streamlit-authenticator skips its cookie while this is True
FORM_FIELDS = {"Form name": "Sign in", "Username": "Username", "Password": "Password", "Login": "Continue"}

SESSION_END_NOTICES = {
    "idle": "You were signed out after {minutes} minutes without activity. Sign in again to carry on.",
    "revoked": "You have been signed out: you signed out elsewhere, or your password or access changed.",
    "disabled": "Your account is not active any more. Ask a portal administrator if you need access.",
}


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


def make_authenticator(ctx: AppContext, credentials: dict[str, Any]) -> stauth.Authenticate:
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


def load_credentials(ctx: AppContext) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        return authentication.authenticator_credentials(conn, now())


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


def _reset_library_state() -> None:
    for key in LIBRARY_KEYS:
        st.session_state[key] = None


def _forget_session() -> None:
    st.session_state.pop(SESSION_KEY, None)
    st.session_state.pop(PENDING_KEY, None)
    _reset_library_state()


def _notify(kind: str, text: str) -> None:
    st.session_state[NOTICE_KEY] = (kind, text)


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
    _record_page_refused(ctx, user, page.key if page else requested.url_path)
    title = f"“{page.title}”" if page else "That page"
    _notify("info", f"{title} is not open to your role ({user.role}), so you are on your home page instead.")


def show_notice() -> None:
    """A notice left for the next run (sign-in outcome, a link that could not be followed), shown once."""
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        kind, text = notice
        {"error": st.error, "success": st.success}.get(kind, st.info)(text)


def current_user(ctx: AppContext) -> StaffUser | None:
    """The signed-in user of this session, checked on the server at every run, or None."""
    session = st.session_state.get(SESSION_KEY)
    if not isinstance(session, StaffSession):
        return None
    moment = now()
    idle = dt.timedelta(minutes=ctx.settings.portal_idle_minutes)
    with ctx.engine.begin() as conn:
        check = authentication.check_session(conn, session, now=moment, idle=idle)
        if check.user is None:
            authentication.record_session_end(
                conn, session.user_id, check.ended_because or "", remote_addr=remote_addr()
            )
    if check.user is None:
        _forget_session()
        notice = SESSION_END_NOTICES.get(check.ended_because or "", SESSION_END_NOTICES["revoked"])
        _notify("info", notice.format(minutes=ctx.settings.portal_idle_minutes))
        return None
    st.session_state[SESSION_KEY] = replace(session, last_seen=moment)
    return check.user


def sign_out() -> None:
    """Button callback: end the session on the server, then in this browser (cookie deleted on the next run)."""
    ctx = portal_context()
    session = st.session_state.get(SESSION_KEY)
    if isinstance(session, StaffSession):
        with ctx.engine.begin() as conn:
            authentication.sign_out(conn, session.user_id, now=now(), remote_addr=remote_addr())
    _forget_session()
    st.session_state[LIBRARY_IGNORE_COOKIE] = True
    st.session_state[DELETE_COOKIE_KEY] = True
    _notify("success", "You have signed out. Your other MIA tabs and sign-in cookies have ended too.")


def require_page(page_key: str) -> StaffUser:
    """Every page starts here: a signed-in user (password and code) whose role may open the page."""
    ctx = portal_context()
    user = current_user(ctx)
    if user is None:
        _hand_over_to_entry_point()
        st.title("Sign in first")
        show_notice()
        st.info("Sign in with your password and authenticator code to use the MIA portal.")
        st.markdown(f"[Go to the sign-in page]({_this_address(page_key)})")
        st.stop()
    if not navigation.allowed(page_key, user.role):
        _record_page_refused(ctx, user, page_key)
        st.title("Not available")
        st.error("Your role does not give access to this page.")
        st.stop()
    return user


def _this_address(page_key: str) -> str:
    """This page's address with its query, relative to the portal: signing in there comes back here."""
    page = navigation.PAGES_BY_KEY.get(page_key)
    query = urlencode(current_query(), doseq=True)
    return f"./{page.url_path if page else ''}" + (f"?{query}" if query else "")


def _hand_over_to_entry_point() -> None:
    """On a fresh server, let portal_app.py's gate answer a page address instead of the page alone.

    Until some session has run portal_app.py (whose st.navigation switches
    the process out of Streamlit's pages-directory mode), a request to
    `review?encounter=ID` runs pages/review.py by itself. Switching the mode
    here, as that first st.navigation call would, and running again gives
    the same request to the entry point: the sign-in form at this address,
    and the link followed after sign-in. Only a session's first run is run
    again (it has no widget events a rerun would drop); any other gets the
    "Sign in first" link back to this address, which now reaches the gate.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if not len(st.session_state):
            st.rerun()


def _record_page_refused(ctx: AppContext, user: StaffUser, page_key: str) -> None:
    with ctx.engine.begin() as conn:
        audit.record(
            conn,
            "page.refused",
            actor_type=audit.ACTOR_USER,
            actor_id=user.id,
            remote_addr=remote_addr(),
            detail={"page": page_key, "role": user.role},
        )


def render_sign_in(ctx: AppContext, authenticator: stauth.Authenticate, credentials: dict[str, Any]) -> None:
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

    The raw cookie is verified here first (`authentication.sign_in_cookie_claims`).
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
    claims = authentication.sign_in_cookie_claims(raw, cookie_key(ctx))
    with ctx.engine.begin() as conn:
        allowed = claims is not None and authentication.cookie_allows_password_skip(
            conn, claims, cookie_hours=ctx.settings.portal_cookie_hours, now=now()
        )
        if not allowed:
            audit.record(
                conn,
                "auth.cookie_refused",
                actor_type=audit.ACTOR_SYSTEM,
                remote_addr=remote_addr(),
                detail={"reason": "not_verified" if claims is None else "not_allowed"},
            )
    if not allowed:
        st.session_state[LIBRARY_IGNORE_COOKIE] = True
        st.session_state[DELETE_COOKIE_KEY] = True
    return allowed


def _password_step(
    ctx: AppContext, authenticator: stauth.Authenticate, credentials: dict[str, Any]
) -> PendingSignIn | None:
    via_cookie = _cookie_stands_in(ctx, authenticator)
    already = bool(st.session_state.get("authentication_status"))
    try:
        authenticator.login(location="main", fields=FORM_FIELDS, key="mia-sign-in", clear_on_submit=True)
    except LoginError:  # its cookie names an account that may not sign in now
        st.session_state[LIBRARY_IGNORE_COOKIE] = True
        _reset_library_state()
        st.rerun()
    status = st.session_state.get("authentication_status")
    if status is True:
        with ctx.engine.connect() as conn:
            user_id = authentication.user_id_for(conn, st.session_state.get("username") or "")
        return PendingSignIn(user_id, password_ok=user_id is not None, via_cookie=via_cookie or already)
    if status is False:
        return _password_failed(ctx, credentials)
    return None


def _password_failed(ctx: AppContext, credentials: dict[str, Any]) -> PendingSignIn:
    """Count the failure against the account the library checked (if any); the verdict waits for the code."""
    checked = [name for name, record in credentials["usernames"].items() if record.get("failed_login_attempts")]
    user_id = None
    with ctx.engine.begin() as conn:
        if checked:
            user_id = authentication.user_id_for(conn, checked[0])
        if user_id:
            authentication.record_failure(
                conn, user_id, factor="password", reason="wrong_password", now=now(), remote_addr=remote_addr()
            )
        else:
            authentication.record_unavailable_account(conn, remote_addr=remote_addr())
    _reset_library_state()
    return PendingSignIn(user_id, password_ok=False, via_cookie=False)


def _restart(ignore_cookie: bool = False) -> None:
    st.session_state.pop(PENDING_KEY, None)
    _reset_library_state()
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
        with ctx.engine.begin() as conn:
            session = authentication.verify_second_factor(
                ctx, conn, pending.user_id, code, now=now(), remote_addr=remote_addr()
            )
    if session is None:
        _restart()
        _notify("error", authentication.SIGN_IN_FAILED)
        st.rerun()
    st.session_state.pop(PENDING_KEY, None)
    st.session_state[SESSION_KEY] = session
    if not pending.via_cookie:
        st.session_state[ISSUE_COOKIE_KEY] = True
    st.rerun()

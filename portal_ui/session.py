"""The signed-in portal session: who it is for, checked on the server at every run, and ending it.

A session exists only once both factors were accepted in it (the gate,
`portal_ui.auth_gate`, stores it under SESSION_KEY). Every run asks
`current_user`, which checks it against the database (account active, not
revoked, not idle); a session that ended is forgotten here, with a notice
saying why, shown once on the next page drawn.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import streamlit as st

from portal_ui.runtime import now, portal_context, remote_addr
from shared.context import AppContext
from shared.staff import authentication
from shared.staff.authentication import StaffSession, StaffUser

SESSION_KEY = "mia_session"
PENDING_KEY = "mia_pending"
NOTICE_KEY = "mia_notice"
DELETE_COOKIE_KEY = "mia_delete_cookie"
LIBRARY_KEYS = ("authentication_status", "username", "name", "email", "roles")
LIBRARY_IGNORE_COOKIE = "logout"  # streamlit-authenticator skips its cookie while this is True

SESSION_END_NOTICES = {
    "idle": "You were signed out after {minutes} minutes without activity. Sign in again to carry on.",
    "revoked": "You have been signed out: you signed out elsewhere, or your password or access changed.",
    "disabled": "Your account is not active any more. Ask a portal administrator if you need access.",
}


def notify(kind: str, text: str) -> None:
    """Leave a notice ("success", "warning", "error" or "info") for the next page drawn."""
    st.session_state[NOTICE_KEY] = (kind, text)


def show_notice() -> None:
    """A notice left for the next run (sign-in outcome, a link that could not be followed), shown once."""
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        kind, text = notice
        {"error": st.error, "warning": st.warning, "success": st.success}.get(kind, st.info)(text)


def reset_library_state() -> None:
    """Forget what streamlit-authenticator decided in this session (its verdict is never trusted here)."""
    for key in LIBRARY_KEYS:
        st.session_state[key] = None


def forget_session() -> None:
    st.session_state.pop(SESSION_KEY, None)
    st.session_state.pop(PENDING_KEY, None)
    reset_library_state()


def current_user(ctx: AppContext) -> StaffUser | None:
    """The signed-in user of this session, checked on the server at every run, or None."""
    session = st.session_state.get(SESSION_KEY)
    if not isinstance(session, StaffSession):
        return None
    moment = now()
    idle = dt.timedelta(minutes=ctx.settings.portal_idle_minutes)
    check = authentication.check_session(ctx, session, now=moment, idle=idle, remote_addr=remote_addr())
    if check.user is None:
        forget_session()
        notice = SESSION_END_NOTICES.get(check.ended_because or "", SESSION_END_NOTICES["revoked"])
        notify("info", notice.format(minutes=ctx.settings.portal_idle_minutes))
        return None
    st.session_state[SESSION_KEY] = replace(session, last_seen=moment)
    return check.user


def sign_out() -> None:
    """Button callback: end the session on the server, then in this browser (cookie deleted on the next run)."""
    session = st.session_state.get(SESSION_KEY)
    if isinstance(session, StaffSession):
        authentication.sign_out(portal_context(), session.user_id, now=now(), remote_addr=remote_addr())
    forget_session()
    st.session_state[LIBRARY_IGNORE_COOKIE] = True
    st.session_state[DELETE_COOKIE_KEY] = True
    notify("success", "You have signed out. Your other MIA tabs and sign-in cookies have ended too.")

"""Setting up an account from its one-time link: choose a password, add MIA to an authenticator app.

Nothing is saved until a code from the app is confirmed; the password is
kept only as its bcrypt hash, and the new secret only in this session, until
then. Opening the link does not use it up (link scanners fetch links too).
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from portal_ui.feedback import shown_on_page
from portal_ui.formatting import plain
from portal_ui.qr import qr_png
from portal_ui.runtime import now, remote_addr
from shared.context import AppContext
from shared.staff import totp
from shared.staff.enrollment import INVALID_LINK, complete_enrollment, find_pending_enrollment
from shared.staff.passwords import RULE_TEXT, check_new_password, hash_password

STATE_KEY = "mia_enrollment"
QUERY_PARAM = "enroll"


@dataclass
class EnrollmentProgress:
    user_id: str
    password_hash: str | None = None
    secret: str | None = None
    done: bool = False


def _progress(user_id: str) -> EnrollmentProgress:
    progress = st.session_state.get(STATE_KEY)
    if not isinstance(progress, EnrollmentProgress) or progress.user_id != user_id:
        progress = EnrollmentProgress(user_id)
        st.session_state[STATE_KEY] = progress
    return progress


def _finished() -> None:
    st.success("Your account is ready. Sign in with your username, your new password and a code from the app.")
    if st.button("Go to sign-in", type="primary"):
        st.session_state.pop(STATE_KEY, None)
        st.query_params.clear()
        st.rerun()


def render_enrollment(ctx: AppContext) -> None:
    st.title("Set up your MIA account")
    progress = st.session_state.get(STATE_KEY)
    if isinstance(progress, EnrollmentProgress) and progress.done:
        _finished()
        return
    token = st.query_params.get(QUERY_PARAM, "")
    account = find_pending_enrollment(ctx, token, now())
    if account is None:
        st.error(INVALID_LINK)
        return
    progress = _progress(account.id)
    st.write(f"Welcome, **{plain(account.display_name)}**. Your username is **{plain(account.username)}**.")
    if progress.password_hash is None:
        _password_form(account.username, account.display_name, progress)
    else:
        _authenticator_form(ctx, token, account.username, progress)


def _password_form(username: str, display_name: str, progress: EnrollmentProgress) -> None:
    st.subheader("1. Choose a password")
    st.caption(RULE_TEXT)
    with st.form("mia-enroll-password"):
        password = st.text_input("New password", type="password", autocomplete="new-password")
        repeated = st.text_input("New password again", type="password", autocomplete="new-password")
        submitted = st.form_submit_button("Continue", type="primary")
    if not submitted:
        return
    with shown_on_page():
        check_new_password(password, repeated, username=username, display_name=display_name)
        progress.password_hash = hash_password(password)
        progress.secret = totp.new_secret()
        st.rerun()


def _authenticator_form(ctx: AppContext, token: str, username: str, progress: EnrollmentProgress) -> None:
    assert progress.secret is not None and progress.password_hash is not None
    st.subheader("2. Add MIA to your authenticator app")
    st.write(
        "Scan this code with an authenticator app on your phone (for example Microsoft Authenticator "
        "or Google Authenticator). You will type a code from it every time you sign in."
    )
    st.image(qr_png(totp.provisioning_uri(progress.secret, username)), width=240, caption="MIA sign-in code")
    with st.expander("Can't scan it? Type this key into the app instead"):
        st.code(totp.grouped_secret(progress.secret), language=None)
    with st.form("mia-enroll-code", clear_on_submit=True):
        code = st.text_input("6-digit code from the app", max_chars=7, autocomplete="one-time-code")
        submitted = st.form_submit_button("Confirm and finish", type="primary")
    if st.button("Choose a different password"):
        progress.password_hash = None
        progress.secret = None
        st.rerun()
    if not submitted:
        return
    with shown_on_page():
        complete_enrollment(
            ctx,
            token=token,
            password_hash=progress.password_hash,
            secret=progress.secret,
            code=code,
            now=now(),
            remote_addr=remote_addr(),
        )
        progress.done = True
        progress.password_hash = None
        progress.secret = None
        st.rerun()

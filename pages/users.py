"""Users (administrators): create accounts, disable or enable them, reset sign-in, lift a sign-in pause."""

from __future__ import annotations

from typing import Any

import streamlit as st

from portal_ui.auth_gate import require_page
from portal_ui.formatting import local_time
from portal_ui.qr import qr_png
from portal_ui.runtime import now, portal_context, remote_addr
from shared.db.statuses import Role, UserStatus
from shared.staff.account_admin import AdminError, disable_user, enable_user, list_staff, reset_sign_in, unlock_user
from shared.staff.accounts import Enrollment, UserError, create_user
from shared.staff.authentication import is_locked

LINK_KEY = "mia_users_enrollment"

user = require_page("users")
ctx = portal_context()
moment = now()
st.title("Users")


def show_enrollment(enrollment: Enrollment, username: str) -> None:
    st.success(f"One-time set-up link for {username}. Give it to them in person or by NHS email; it works once.")
    left, right = st.columns([3, 2])
    left.code(enrollment.link, language=None, wrap_lines=True)
    left.caption(f"Valid until {local_time(enrollment.expires_at)} (UK time).")
    right.image(qr_png(enrollment.link), width=200)


shown = st.session_state.get(LINK_KEY)
if shown is not None:
    show_enrollment(*shown)
    if st.button("Done"):
        st.session_state.pop(LINK_KEY, None)
        st.rerun()

with ctx.engine.connect() as conn:
    staff = list_staff(conn)


def state_of(row: Any) -> str:
    if row.status == UserStatus.ACTIVE and is_locked(row, moment):
        return f"paused until {local_time(row.locked_until)}"
    return {"pending": "set-up not finished", "active": "active", "disabled": "disabled"}.get(row.status, row.status)


st.dataframe(
    [
        {
            "Username": row.username,
            "Name": row.display_name,
            "Role": row.role,
            "Team": row.team or "—",
            "State": state_of(row),
            "Failed attempts": row.failed_attempts,
            "Last sign-in": local_time(row.last_login_at),
        }
        for row in staff
    ],
    hide_index=True,
    width="stretch",
)

create_tab, manage_tab = st.tabs(["Create a user", "Manage a user"])

with create_tab, st.form("mia-create-user", clear_on_submit=True):
    username = st.text_input("Username", help="3 to 64 lower-case letters, digits, '.', '_' or '-'")
    display_name = st.text_input("Full name, as colleagues know it", placeholder="Dr Ada Jones")
    role = st.selectbox("Role", [r.value for r in Role])
    team = st.text_input("Team or department", placeholder="Dermatology")
    email = st.text_input("NHS email (optional)")
    if st.form_submit_button("Create user and set-up link", type="primary"):
        try:
            with ctx.engine.begin() as conn:
                enrollment = create_user(
                    conn,
                    portal_base_url=ctx.settings.portal_base_url,
                    username=username,
                    display_name=display_name,
                    role=role,
                    team=team,
                    email=email,
                    actor_id=user.id,
                )
        except UserError as exc:
            st.error(str(exc))
        else:
            st.session_state[LINK_KEY] = (enrollment, username.strip().lower())
            st.rerun()

with manage_tab:
    by_id = {row.id: row for row in staff}
    chosen = st.selectbox(
        "User",
        list(by_id),
        format_func=lambda i: f"{by_id[i].display_name} ({by_id[i].username}, {by_id[i].role}) — {state_of(by_id[i])}",
    )
    target = by_id[chosen]
    disable_col, reset_col, unlock_col = st.columns(3)
    try:
        if target.status == UserStatus.DISABLED:
            if disable_col.button("Enable"):
                with ctx.engine.begin() as conn:
                    enable_user(conn, user_id=target.id, actor_id=user.id, now=moment, remote_addr=remote_addr())
                st.rerun()
        elif disable_col.button("Disable", help="Signs them out everywhere at once"):
            with ctx.engine.begin() as conn:
                disable_user(conn, user_id=target.id, actor_id=user.id, now=moment, remote_addr=remote_addr())
            st.rerun()
        if reset_col.button(
            "Reset password and authenticator",
            help="They choose a new password and set up their app again from a new one-time link",
        ):
            with ctx.engine.begin() as conn:
                enrollment = reset_sign_in(
                    conn,
                    portal_base_url=ctx.settings.portal_base_url,
                    user_id=target.id,
                    actor_id=user.id,
                    now=moment,
                    remote_addr=remote_addr(),
                )
            st.session_state[LINK_KEY] = (enrollment, target.username)
            st.rerun()
        if unlock_col.button("Lift sign-in pause", disabled=not (target.failed_attempts or is_locked(target, moment))):
            with ctx.engine.begin() as conn:
                unlock_user(conn, user_id=target.id, actor_id=user.id, now=moment, remote_addr=remote_addr())
            st.rerun()
    except AdminError as exc:
        st.error(str(exc))

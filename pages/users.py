"""Users (administrators): create accounts, disable or enable them, reset sign-in, lift a sign-in pause."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from portal_ui.feedback import shown_on_page
from portal_ui.formatting import local_time
from portal_ui.qr import qr_png
from portal_ui.runtime import actor, now
from shared.context import Actor, AppContext
from shared.db.statuses import Role, UserStatus
from shared.staff import account_admin
from shared.staff.accounts import Enrollment, StaffRecord, create_user, list_staff
from shared.staff.authentication import StaffUser, is_locked

LINK_KEY = "mia_users_enrollment"


def render(user: StaffUser, ctx: AppContext) -> None:
    moment = now()
    person = actor(user)
    st.title("Users")
    shown = st.session_state.get(LINK_KEY)
    if shown is not None:
        _enrollment(*shown)
        if st.button("Done"):
            st.session_state.pop(LINK_KEY, None)
            st.rerun()
    staff = list_staff(ctx)
    _table(staff, moment)
    create_tab, manage_tab = st.tabs(["Create a user", "Manage a user"])
    with create_tab:
        _create_form(ctx, person)
    with manage_tab:
        _manage(ctx, staff, person, moment)


def _enrollment(enrollment: Enrollment, username: str) -> None:
    st.success(f"One-time set-up link for {username}. Give it to them in person or by NHS email; it works once.")
    left, right = st.columns([3, 2])
    left.code(enrollment.link, language=None, wrap_lines=True)
    left.caption(f"Valid until {local_time(enrollment.expires_at)} (UK time).")
    right.image(qr_png(enrollment.link), width=200)


def _state_of(record: StaffRecord, moment: dt.datetime) -> str:
    if record.status == UserStatus.ACTIVE and is_locked(record, moment):
        return f"paused until {local_time(record.locked_until)}"
    return {"pending": "set-up not finished", "active": "active", "disabled": "disabled"}.get(
        record.status, record.status
    )


def _table(staff: list[StaffRecord], moment: dt.datetime) -> None:
    st.dataframe(
        [
            {
                "Username": record.username,
                "Name": record.display_name,
                "Role": record.role,
                "Team": record.team or "—",
                "State": _state_of(record, moment),
                "Failed attempts": record.failed_attempts,
                "Last sign-in": local_time(record.last_login_at),
            }
            for record in staff
        ],
        hide_index=True,
        width="stretch",
    )


def _create_form(ctx: AppContext, person: Actor) -> None:
    with st.form("mia-create-user", clear_on_submit=True):
        username = st.text_input("Username", help="3 to 64 lower-case letters, digits, '.', '_' or '-'")
        display_name = st.text_input("Full name, as colleagues know it", placeholder="Dr Ada Jones")
        role = st.selectbox("Role", [r.value for r in Role])
        team = st.text_input("Team or department", placeholder="Dermatology")
        email = st.text_input("NHS email (optional)")
        if st.form_submit_button("Create user and set-up link", type="primary"):
            with shown_on_page():
                enrollment = create_user(
                    ctx,
                    username=username,
                    display_name=display_name,
                    role=role,
                    team=team,
                    email=email,
                    actor=person,
                )
                st.session_state[LINK_KEY] = (enrollment, username.strip().lower())
                st.rerun()


def _manage(ctx: AppContext, staff: list[StaffRecord], person: Actor, moment: dt.datetime) -> None:
    by_id = {record.id: record for record in staff}
    chosen = st.selectbox(
        "User",
        list(by_id),
        format_func=lambda i: (
            f"{by_id[i].display_name} ({by_id[i].username}, {by_id[i].role}) — {_state_of(by_id[i], moment)}"
        ),
    )
    target = by_id[chosen]
    disable_col, reset_col, unlock_col = st.columns(3)
    with shown_on_page():
        if target.status == UserStatus.DISABLED:
            if disable_col.button("Enable"):
                account_admin.enable_user(ctx, target.id, actor=person, now=moment)
                st.rerun()
        elif disable_col.button("Disable", help="Signs them out everywhere at once"):
            account_admin.disable_user(ctx, target.id, actor=person, now=moment)
            st.rerun()
        if reset_col.button(
            "Reset password and authenticator",
            help="They choose a new password and set up their app again from a new one-time link",
        ):
            enrollment = account_admin.reset_sign_in(ctx, target.id, actor=person, now=moment)
            st.session_state[LINK_KEY] = (enrollment, target.username)
            st.rerun()
        if unlock_col.button("Lift sign-in pause", disabled=not (target.failed_attempts or is_locked(target, moment))):
            account_admin.unlock_user(ctx, target.id, actor=person, now=moment)
            st.rerun()


if __name__ == "__main__":  # Streamlit ran this file by itself: the entry point answers (portal_app.main)
    import portal_app

    portal_app.main()

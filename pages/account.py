"""My account (every role): who I am signed in as, my recent sign-ins, and changing my password."""

from __future__ import annotations

import streamlit as st

from portal_ui import session
from portal_ui.feedback import shown_on_page
from portal_ui.formatting import local_time, plain
from portal_ui.runtime import actor, now
from shared.context import AppContext
from shared.staff.account_admin import change_password
from shared.staff.authentication import StaffUser, recent_sign_in_activity
from shared.staff.passwords import RULE_TEXT

RECENT = 10


def render(user: StaffUser, ctx: AppContext) -> None:
    st.title("My account")
    st.markdown(
        f"**{plain(user.display_name)}** · username **{plain(user.username)}** · {user.role}"
        + (f" · {plain(user.team)}" if user.team else "")
    )
    st.caption(f"Last sign-in: {local_time(user.last_login_at)} (UK time).")
    _recent_sign_ins(ctx, user)
    _change_password(ctx, user)


def _recent_sign_ins(ctx: AppContext, user: StaffUser) -> None:
    st.subheader("Recent sign-in activity")
    events = recent_sign_in_activity(ctx, user.id, limit=RECENT)
    if not events:
        return
    st.dataframe(
        [{"When": local_time(e.occurred_at), "What": e.action, "From": e.remote_addr or ""} for e in events],
        hide_index=True,
        width="stretch",
    )
    st.caption("If you see a sign-in you do not recognise, change your password and tell your administrator.")


def _change_password(ctx: AppContext, user: StaffUser) -> None:
    st.subheader("Change password")
    st.caption(RULE_TEXT + " Changing it signs you out everywhere.")
    with st.form("mia-change-password", clear_on_submit=True):
        current = st.text_input("Current password", type="password", autocomplete="current-password")
        new = st.text_input("New password", type="password", autocomplete="new-password")
        repeated = st.text_input("New password again", type="password", autocomplete="new-password")
        submitted = st.form_submit_button("Change password", type="primary")
    if not submitted:
        return
    with shown_on_page():
        if not change_password(ctx, actor=actor(user), current=current, new=new, repeated=repeated, now=now()):
            st.error("Your current password is not right.")
            return
        session.sign_out()
        session.notify("success", "Password changed. Sign in with your new password.")
        st.rerun()


if __name__ == "__main__":  # Streamlit ran this file by itself: the entry point answers (portal_app.main)
    import portal_app

    portal_app.main()

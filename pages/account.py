"""My account (every role): who I am signed in as, my recent sign-ins, and changing my password."""

from __future__ import annotations

import streamlit as st

from portal_ui import auth_gate
from portal_ui.formatting import local_time, plain
from portal_ui.runtime import now, portal_context, remote_addr
from shared import audit
from shared.staff.account_admin import change_password
from shared.staff.passwords import RULE_TEXT, PasswordError

RECENT = 10

user = auth_gate.require_page("account")
ctx = portal_context()
st.title("My account")
st.markdown(
    f"**{plain(user.display_name)}** · username **{plain(user.username)}** · {user.role}"
    + (f" · {plain(user.team)}" if user.team else "")
)
st.caption(f"Last sign-in: {local_time(user.last_login_at)} (UK time).")

st.subheader("Recent sign-in activity")
with ctx.engine.connect() as conn:
    events = [e for e in audit.search(conn, actor_id=user.id, limit=200) if e["action"].startswith("auth.")][:RECENT]
if events:
    st.dataframe(
        [{"When": local_time(e["occurred_at"]), "What": e["action"], "From": e["remote_addr"] or ""} for e in events],
        hide_index=True,
        width="stretch",
    )
    st.caption("If you see a sign-in you do not recognise, change your password and tell your administrator.")

st.subheader("Change password")
st.caption(RULE_TEXT + " Changing it signs you out everywhere.")
with st.form("mia-change-password", clear_on_submit=True):
    current = st.text_input("Current password", type="password", autocomplete="current-password")
    new = st.text_input("New password", type="password", autocomplete="new-password")
    repeated = st.text_input("New password again", type="password", autocomplete="new-password")
    submitted = st.form_submit_button("Change password", type="primary")
if submitted:
    try:
        with ctx.engine.begin() as conn:
            changed = change_password(
                conn, user_id=user.id, current=current, new=new, repeated=repeated, now=now(), remote_addr=remote_addr()
            )
    except PasswordError as exc:
        st.error(str(exc))
    else:
        if not changed:
            st.error("Your current password is not right.")
        else:
            auth_gate.sign_out()
            st.session_state[auth_gate.NOTICE_KEY] = ("success", "Password changed. Sign in with your new password.")
            st.rerun()

"""Register an encounter: who the patient is, what to photograph, and the link that asks them for it."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from portal_ui import links
from portal_ui.feedback import shown_on_page
from portal_ui.invite_panel import lifetime_select, show_link, show_outbox
from portal_ui.runtime import actor, now
from shared.context import AppContext
from shared.encounters.requests import MAX_REQUEST_NOTE, Invite, patient_from_form, register_encounter
from shared.staff.authentication import StaffUser

LAST_INVITE_KEY = "mia_register_last_invite"


def render(user: StaffUser, ctx: AppContext) -> None:
    st.title("New request for photos or videos")
    last: Invite | None = st.session_state.get(LAST_INVITE_KEY)
    if last is not None:
        _created(ctx, last)
        return
    _form(user, ctx)


def _created(ctx: AppContext, invite: Invite) -> None:
    st.success("Request created. The link has been queued to the patient; you can also hand it over now.")
    show_link(invite, now())
    show_outbox(ctx, invite.encounter_id)
    open_col, again_col = st.columns(2)
    if open_col.button("Open this encounter", type="primary"):
        st.session_state.pop(LAST_INVITE_KEY, None)
        links.switch_to("review", encounter=invite.encounter_id)
    if again_col.button("Register another patient"):
        st.session_state.pop(LAST_INVITE_KEY, None)
        st.rerun()


def _form(user: StaffUser, ctx: AppContext) -> None:
    today = dt.date.today()
    with st.form("mia-register"):
        st.markdown("**Patient**")
        name = st.text_input("Full name")
        dob = st.date_input(
            "Date of birth",
            value=None,
            min_value=dt.date(today.year - 130, 1, 1),
            max_value=today,
            format="DD/MM/YYYY",
        )
        nhs_number = st.text_input("NHS number (optional)", placeholder="943 476 5919")
        st.markdown("**How the link reaches the patient**")
        phone = st.text_input("UK mobile number", placeholder="07700 900123", help="The link is sent by text message.")
        email = st.text_input("Email address", placeholder="name@example.com")
        in_clinic = st.checkbox("No phone or email: I will hand the link over in clinic (QR code)")
        st.markdown("**Request**")
        note = st.text_area(
            "What to photograph or film (the patient sees this)",
            placeholder="Photos of the rash on your left forearm, in daylight",
            max_chars=MAX_REQUEST_NOTE,
        )
        lifetime = lifetime_select("The link works for", ctx.settings.invite_lifetime_hours)
        submitted = st.form_submit_button("Create request and link", type="primary")
    if not submitted:
        return
    with shown_on_page():
        patient = patient_from_form(
            name=name, date_of_birth=dob, nhs_number=nhs_number, phone=phone, email=email, in_clinic=in_clinic
        )
        st.session_state[LAST_INVITE_KEY] = register_encounter(
            ctx, actor(user), patient=patient, request_note=note, lifetime_hours=lifetime
        )
        st.rerun()


if __name__ == "__main__":  # Streamlit ran this file by itself: the entry point answers (portal_app.main)
    import portal_app

    portal_app.main()

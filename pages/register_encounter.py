"""Register an encounter: who the patient is, what to photograph, and the link that asks them for it."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from portal_ui.auth_gate import require_page
from portal_ui.invite_panel import lifetime_select, show_link, show_outbox
from portal_ui.runtime import now, portal_context, remote_addr
from shared.encounters.identifiers import InvalidIdentifier
from shared.encounters.requests import MAX_REQUEST_NOTE, EncounterError, Invite, PatientDetails, register_encounter

LAST_INVITE_KEY = "mia_register_last_invite"

user = require_page("register")
ctx = portal_context()
st.title("New request for photos or videos")

last: Invite | None = st.session_state.get(LAST_INVITE_KEY)
if last is not None:
    st.success("Request created. The link has been queued to the patient; you can also hand it over now.")
    show_link(last, now())
    with ctx.engine.connect() as conn:
        show_outbox(ctx, conn, last.encounter_id)
    open_col, again_col = st.columns(2)
    if open_col.button("Open this encounter", type="primary"):
        st.session_state.pop(LAST_INVITE_KEY, None)
        st.switch_page("pages/review.py", query_params={"encounter": last.encounter_id})
    if again_col.button("Register another patient"):
        st.session_state.pop(LAST_INVITE_KEY, None)
        st.rerun()
    st.stop()

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

if submitted:
    try:
        if not (phone.strip() or email.strip() or in_clinic):
            raise InvalidIdentifier("Enter a UK mobile number or an email address, or tick the in-clinic box.")
        if dob is None:
            raise InvalidIdentifier("Enter the patient's date of birth.")
        patient = PatientDetails.from_input(
            name=name,
            date_of_birth=dob.isoformat(),
            nhs_number=nhs_number.strip() or None,
            phone=phone.strip() or None,
            email=email.strip() or None,
        )
        with ctx.engine.begin() as conn:
            invite = register_encounter(
                ctx,
                conn,
                clinician_id=user.id,
                patient=patient,
                request_note=note,
                lifetime_hours=lifetime,
                remote_addr=remote_addr(),
            )
    except (InvalidIdentifier, EncounterError) as exc:
        st.error(str(exc))
    else:
        st.session_state[LAST_INVITE_KEY] = invite
        st.rerun()

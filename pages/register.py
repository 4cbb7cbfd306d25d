"""Register an encounter: who the patient is, what to photograph, and the link that asks them for it.

Once created, the page says plainly what happened to the link: on its way
by text message or email (with each message's state), or not sent at all
because no service is set up (or the patient has no phone or email), in
which case the link and its QR code are shown at once to hand over.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from portal_ui import links
from portal_ui.feedback import shown_on_page
from portal_ui.invite_panel import lifetime_select, nothing_configured, show_link, show_messages
from portal_ui.runtime import actor, now
from shared.context import AppContext
from shared.encounters import invites
from shared.encounters.invites import CHANNEL_SERVICES, Delivery, PatientMessage
from shared.encounters.requests import (
    MAX_BODY_SITE,
    MAX_REQUEST_NOTE,
    Invite,
    patient_from_form,
    register_encounter,
)
from shared.staff.authentication import StaffUser

LAST_INVITE_KEY = "mia_register_last_invite"
SHOWN_KEY = "mia_register_link_shown"
NOT_SENT = "no text message or email service is configured"
ON_ITS_WAY = (Delivery.QUEUED, Delivery.SENDING, Delivery.SENT, Delivery.DELIVERED)
HAND_OVER = "Hand it over now: let the patient scan the QR code with their phone camera, or give them the link."


def render(user: StaffUser, ctx: AppContext) -> None:
    st.title("New request for photos or videos")
    last: Invite | None = st.session_state.get(LAST_INVITE_KEY)
    if last is not None:
        _created(user, ctx, last)
        return
    _form(user, ctx)


def _outcome(messages: list[PatientMessage]) -> bool:
    """Say what happened to the link; True when it must be handed over (nothing is on its way)."""
    going = [m for m in messages if m.delivery in ON_ITS_WAY]
    unsent = [m for m in messages if m.delivery == Delivery.NOT_CONFIGURED]
    failed = [m for m in messages if m.delivery == Delivery.FAILED]
    if going:
        ways = " and ".join(sorted({CHANNEL_SERVICES[m.channel] for m in going}))
        st.success(f"Request created. The link is on its way to the patient by {ways}; you can also hand it over now.")
    elif unsent:
        st.warning(f"Request created. The link was not sent: {NOT_SENT}. {HAND_OVER}")
    elif not failed:
        st.success(f"Request created. {HAND_OVER}")
    for message in failed:
        st.error(
            f"The {CHANNEL_SERVICES[message.channel]} with the link was not delivered: {message.failure_reason}. "
            "Open the encounter to send it again or by email, or hand the link over now."
        )
    if going:
        for message in unsent:
            service = CHANNEL_SERVICES[message.channel]
            st.warning(f"The link was not sent by {service}: no {service} service is set up.")
    return not going


def _created(user: StaffUser, ctx: AppContext, invite: Invite) -> None:
    messages = invites.patient_messages(ctx, invite.encounter_id)
    must_hand_over = _outcome(messages)
    shown = st.session_state.get(SHOWN_KEY) == invite.encounter_id
    with shown_on_page():
        if not shown and (must_hand_over or st.button("Show the link and QR code to hand over")):
            invites.show_link(ctx, invite.encounter_id, actor=actor(user))  # times the first showing; audited
            st.session_state[SHOWN_KEY] = invite.encounter_id
            shown = True
    if shown:
        show_link(invite, now())
    show_messages(ctx, invite.encounter_id)
    open_col, again_col = st.columns(2)
    if open_col.button("Open this encounter", type="primary"):
        st.session_state.pop(LAST_INVITE_KEY, None)
        links.switch_to("review", encounter=invite.encounter_id)
    if again_col.button("Register another patient"):
        st.session_state.pop(LAST_INVITE_KEY, None)
        st.rerun()


def _form(user: StaffUser, ctx: AppContext) -> None:
    today = dt.date.today()
    if nothing_configured(ctx.settings.messaging):
        st.info(
            "No text message or email service is set up on this system, so the link will not be sent to the "
            "patient. Once the request is created, hand the link over: the patient scans its QR code."
        )
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
        phone = st.text_input(
            "UK mobile number", placeholder="07700 900123", help="The link is sent by text message (UK mobiles only)."
        )
        email = st.text_input("Email address", placeholder="name@example.com")
        in_clinic = st.checkbox("No phone or email: I will hand the link over in clinic (QR code)")
        st.markdown("**Request**")
        note = st.text_area(
            "What to photograph or film (the patient sees this)",
            placeholder="Photos of the rash on your left forearm, in daylight",
            max_chars=MAX_REQUEST_NOTE,
        )
        body_site = st.text_input(
            "Body site (optional)",
            placeholder="left forearm",
            max_chars=MAX_BODY_SITE,
            help="Where on the body the photos or videos are of; filed with them to the patient record.",
        )
        lifetime = lifetime_select("The link works for", ctx.settings.invite_lifetime_hours)
        reminders = st.checkbox("Remind the patient if they have not sent anything", value=True)
        submitted = st.form_submit_button("Create request and link", type="primary")
    if not submitted:
        return
    with shown_on_page():
        patient = patient_from_form(
            name=name, date_of_birth=dob, nhs_number=nhs_number, phone=phone, email=email, in_clinic=in_clinic
        )
        st.session_state[LAST_INVITE_KEY] = register_encounter(
            ctx,
            actor(user),
            patient=patient,
            request_note=note,
            body_site=body_site,
            lifetime_hours=lifetime,
            reminders=reminders,
        )
        st.session_state.pop(SHOWN_KEY, None)
        st.rerun()


if __name__ == "__main__":  # Streamlit ran this file by itself: the entry point answers (portal_app.main)
    import portal_app

    portal_app.main()

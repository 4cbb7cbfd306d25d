"""The patient link in the portal: showing it for in-clinic hand-over (text and QR code), the messages that
carried it and where each stands, sending it by email instead, and the reminders switch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import streamlit as st

from portal_ui.feedback import shown_on_page
from portal_ui.formatting import plain, when
from portal_ui.message_states import failures_to_explain, table_rows
from portal_ui.qr import qr_png
from portal_ui.runtime import now
from shared.config.messaging import MessagingSettings
from shared.context import Actor, AppContext
from shared.encounters import invites
from shared.encounters.encounter import Encounter
from shared.encounters.invites import Delivery, PatientMessage
from shared.encounters.requests import Invite, set_reminders

LINK_LIFETIMES = {24: "1 day", 72: "3 days", 168: "1 week", 336: "2 weeks", 672: "4 weeks"}
# While a message waits for the dispatcher, its state is read again this often (the fragment alone reruns).
REFRESH_WHILE_WAITING = dt.timedelta(seconds=5)
WAITING = (Delivery.QUEUED, Delivery.SENDING)


def lifetime_select(label: str, default_hours: int) -> int:
    """How long a patient link works: a few plain choices, plus the configured default."""
    choices = dict(LINK_LIFETIMES)
    choices.setdefault(default_hours, f"{default_hours} hours")
    hours = sorted(choices)
    return int(st.selectbox(label, hours, index=hours.index(default_hours), format_func=choices.__getitem__))


def show_link(invite: Invite, moment: dt.datetime) -> None:
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Patient link**")
        st.code(invite.link, language=None, wrap_lines=True)
        st.caption(
            f"Works until {when(invite.expires_at, moment)}. The patient opens it on their phone and confirms "
            "their date of birth. Hand it over only to the patient."
        )
    with right:
        st.image(qr_png(invite.link), width=220, caption="The patient can scan this with their phone camera")


def nothing_configured(messaging: MessagingSettings) -> bool:
    return not (messaging.sms_configured or messaging.email_configured)


def _draw_messages(messages: list[PatientMessage]) -> None:
    if not messages:
        return
    st.markdown("**Messages to the patient**")
    st.dataframe(table_rows(messages, now()), hide_index=True, width="stretch")
    for sentence in failures_to_explain(messages):
        st.error(plain(sentence))


def show_messages(ctx: AppContext, encounter_id: str) -> list[PatientMessage]:
    """Every invite and reminder with its state and time; read again every few seconds while one is waiting."""
    messages = invites.patient_messages(ctx, encounter_id)
    waiting = any(message.delivery in WAITING for message in messages)

    @st.fragment(run_every=REFRESH_WHILE_WAITING if waiting else None)
    def live() -> None:
        _draw_messages(invites.patient_messages(ctx, encounter_id))

    live()
    return messages


def send_by_email_form(
    ctx: AppContext, encounter_id: str, on_record: str | None, person: Actor, *, on_sent: Callable[[Invite], None]
) -> None:
    """'Send by email instead': the address on record to start with, checked before anything is queued."""
    if not ctx.settings.messaging.email_configured:
        st.caption("No email service is set up, so the link cannot be emailed from here.")
        return
    with st.form(f"mia-email-instead-{encounter_id}"):
        st.markdown("**Send the link by email instead**")
        address = st.text_input("Patient's email address", value=on_record or "", placeholder="name@example.com")
        if st.form_submit_button("Send the link by email"):
            with shown_on_page():
                on_sent(invites.send_by_email(ctx, encounter_id, address, actor=person, now=now()))


def reminders_switch(ctx: AppContext, encounter: Encounter, person: Actor) -> None:
    """Reminders on or off for this request (audited by the service); says when they would go."""
    messaging = ctx.settings.messaging
    key = f"mia_reminders_{encounter.id}"

    def changed() -> None:
        with shown_on_page():
            set_reminders(ctx, encounter.id, bool(st.session_state[key]), actor=person)

    st.toggle(
        "Remind the patient if they have not sent anything",
        value=encounter.reminders_enabled,
        key=key,
        on_change=changed,
    )
    if nothing_configured(messaging):
        st.caption("No reminder can go: no text message or email service is set up.")
        return
    schedule = []
    if messaging.reminder_after_hours:
        schedule.append(f"{messaging.reminder_after_hours} hours after the link")
    if messaging.reminder_before_expiry_hours:
        schedule.append(f"{messaging.reminder_before_expiry_hours} hours before it expires")
    if schedule:
        st.caption(
            f"Reminders go {' and '.join(schedule)}, the same way as the link, "
            "only while the patient has not sent anything."
        )
    else:
        st.caption("No reminders are scheduled on this system.")

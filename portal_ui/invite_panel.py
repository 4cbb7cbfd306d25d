"""Showing a patient link for in-clinic hand-over (text and QR code) and the messages that carried it."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from portal_ui.formatting import local_time, when
from portal_ui.qr import qr_png
from shared.context import AppContext
from shared.encounters.invites import invite_messages
from shared.encounters.requests import Invite
from shared.notifications.outbox import CHANNEL_EMAIL, CHANNEL_PORTAL, CHANNEL_SMS

CHANNEL_LABELS = {CHANNEL_SMS: "Text message", CHANNEL_EMAIL: "Email", CHANNEL_PORTAL: "In clinic only"}
LINK_LIFETIMES = {24: "1 day", 72: "3 days", 168: "1 week", 336: "2 weeks", 672: "4 weeks"}


def lifetime_select(label: str, default_hours: int) -> int:
    """How long a patient link works: a few plain choices, plus the configured default."""
    choices = dict(LINK_LIFETIMES)
    choices.setdefault(default_hours, f"{default_hours} hours")
    hours = sorted(choices)
    return int(st.selectbox(label, hours, index=hours.index(default_hours), format_func=choices.__getitem__))


def show_link(invite: Invite, now: dt.datetime) -> None:
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Patient link**")
        st.code(invite.link, language=None, wrap_lines=True)
        st.caption(
            f"Works until {when(invite.expires_at, now)}. The patient opens it on their phone and confirms "
            "their date of birth. Hand it over only to the patient."
        )
    with right:
        st.image(qr_png(invite.link), width=220, caption="The patient can scan this with their phone camera")


def show_outbox(ctx: AppContext, encounter_id: str) -> None:
    """Where the invite messages went (recipient decrypted for display only)."""
    rows = [
        {
            "Queued": local_time(message.created_at),
            "How": CHANNEL_LABELS.get(message.channel, message.channel),
            "To": message.recipient or "—",
            "Status": message.status,
        }
        for message in invite_messages(ctx, encounter_id)
    ]
    if rows:
        st.markdown("**Invite messages**")
        st.dataframe(rows, hide_index=True, width="stretch")

"""Review one encounter: patient, link, consent, the files sent (gallery), review note, deletion.

Opened as `review?encounter=ID`; without one it lists what waits for review.
Patient details are decrypted only to draw this page. Media URLs are
time-limited and re-issued (and audited) as they near expiry.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from portal_ui import links, session
from portal_ui.feedback import shown_on_page
from portal_ui.filing_panel import filing_section
from portal_ui.filing_states import after_delete, before_delete
from portal_ui.formatting import date_of_birth, local_time, plain, status_label, when
from portal_ui.invite_panel import lifetime_select, reminders_switch, send_by_email_form, show_link, show_messages
from portal_ui.media_grid import gallery_html, label
from portal_ui.runtime import actor, now
from portal_ui.timeline import timeline
from shared.context import Actor, AppContext
from shared.db.statuses import EncounterStatus
from shared.encounters import invites, queries, review
from shared.encounters.encounter import Encounter
from shared.encounters.identifiers import format_nhs_number
from shared.encounters.invites import PatientMessage
from shared.encounters.queries import Viewer
from shared.encounters.requests import (
    CLOSED_STATUSES,
    Invite,
    decrypt_body_site,
    decrypt_patient,
    decrypt_request_note,
    derived_status,
    reissue_invite,
    unlock,
)
from shared.encounters.review import MediaItem, MediaUrls
from shared.notifications.alerts import request_reference
from shared.records import filings
from shared.staff.authentication import StaffUser


def render(user: StaffUser, ctx: AppContext) -> None:
    viewer = Viewer(user.id, user.team)
    moment = now()
    encounter_id = st.query_params.get("encounter", "")
    if not encounter_id:
        _queue(ctx, viewer, moment)
        return
    person = actor(user)
    encounter = review.open_encounter(ctx, viewer, encounter_id, actor=person)
    if encounter is None:
        st.title("Review")
        st.error("That encounter does not exist, was deleted, or is not one you or your team registered.")
        return
    _record_first_view(ctx, encounter, person, moment)
    messages = invites.patient_messages(ctx, encounter.id)
    _failures_seen(ctx, encounter, messages, person)
    _patient(ctx, encounter, messages, moment)
    _consent(ctx, encounter)
    _media(ctx, encounter, person, moment)
    _review(ctx, encounter, person, moment)
    filing_section(ctx, encounter, person, moment)
    _link_actions(ctx, encounter, person, moment)
    _delete(ctx, encounter, person, moment)


def _queue(ctx: AppContext, viewer: Viewer, moment: dt.datetime) -> None:
    st.title("Review")
    queue = queries.awaiting_review(ctx, viewer, now=moment)
    if not queue:
        st.info("Nothing is waiting for review. Submissions appear here when a patient presses Send.")
        links.link_to("encounters", "All encounters", icon=":material/list_alt:")
        return
    st.write(f"{len(queue)} submission{'s' if len(queue) != 1 else ''} waiting, oldest first.")
    by_id = {s.id: s for s in queue}
    choice = st.selectbox(
        "Choose a submission",
        list(by_id),
        format_func=lambda i: (
            f"{by_id[i].patient_name} · sent {local_time(by_id[i].submitted_at)} · "
            f"{by_id[i].media_count} file{'s' if by_id[i].media_count != 1 else ''}"
        ),
    )
    if st.button("Open", type="primary"):
        st.query_params["encounter"] = choice
        st.rerun()


def _record_first_view(ctx: AppContext, encounter: Encounter, person: Actor, moment: dt.datetime) -> None:
    """One 'viewed' event per encounter per session (not one per rerun); reading it clears its notices."""
    seen_key = f"mia_viewed_{encounter.id}"
    if st.session_state.get(seen_key):
        return
    review.record_view(ctx, encounter.id, actor=person, now=moment)
    st.session_state[seen_key] = True


def _failures_seen(ctx: AppContext, encounter: Encounter, messages: list[PatientMessage], person: Actor) -> None:
    """The requesting clinician has the request open: a failed invite no longer needs their badge."""
    if encounter.clinician_id != person.user_id or not any(m.needs_attention for m in messages):
        return
    if invites.failures_seen(ctx, encounter.id, actor=person):
        st.rerun()  # the sidebar, drawn before this page, loses its badge


def _patient(ctx: AppContext, encounter: Encounter, messages: list[PatientMessage], moment: dt.datetime) -> None:
    patient = decrypt_patient(ctx.cipher, encounter)
    st.title(plain(patient.name))
    st.caption(f"Request reference {request_reference(encounter.id)} (the one alert emails name)")
    facts = [f"Born {date_of_birth(patient.date_of_birth)}"]
    if patient.nhs_number:
        facts.append(f"NHS number {format_nhs_number(patient.nhs_number)}")
    facts += [x for x in (patient.phone, patient.email) if x]
    st.markdown(" · ".join(plain(fact) for fact in facts))
    st.markdown(f"**Status:** {status_label(derived_status(encounter, moment))}")
    note = decrypt_request_note(ctx.cipher, encounter)
    if note:
        st.markdown("**Request shown to the patient**")
        st.info(plain(note))
    body_site = decrypt_body_site(ctx.cipher, encounter)
    if body_site:
        st.markdown(f"**Body site:** {plain(body_site)}")
    with st.expander("Timeline"):
        st.dataframe(
            [
                {"Step": name, "When": when(at, moment)}
                for name, at in timeline(encounter, messages, filings.filing_states(ctx, encounter.id))
            ],
            hide_index=True,
            width="stretch",
        )


def _link_actions(ctx: AppContext, encounter: Encounter, person: Actor, moment: dt.datetime) -> None:
    if encounter.status in CLOSED_STATUSES:
        return
    st.subheader("Patient link")
    status = derived_status(encounter, moment)
    live = status == encounter.status
    if status == EncounterStatus.LOCKED:
        st.warning("The link is locked after too many wrong dates of birth. Unlock it or issue a new link.")
    elif status == EncounterStatus.EXPIRED:
        st.warning("The link has expired. Issue a new link to ask again.")
    else:
        st.caption(f"The link works until {when(encounter.invite_expires_at, moment)}.")
    show_messages(ctx, encounter.id)
    shown_key = f"mia_show_link_{encounter.id}"

    def done(notice: str, shown: Invite | None = None) -> None:
        """Say what was done above the page and draw it again (the messages table then shows the new rows)."""
        session.notify("success", notice)
        if shown is not None:
            st.session_state[shown_key] = shown
        st.rerun()

    show_col, resend_col, unlock_col = st.columns(3)
    with shown_on_page():
        if show_col.button("Show link and QR code", disabled=not live):
            st.session_state[shown_key] = invites.show_link(ctx, encounter.id, actor=person)
        if resend_col.button("Send the link again", disabled=not live):
            invites.resend_invite(ctx, encounter.id, actor=person, now=moment)
            done("The same link has been queued again to the patient.")
        if unlock_col.button("Unlock the link", disabled=status != EncounterStatus.LOCKED):
            unlock(ctx, encounter.id, actor=person)
            st.rerun()
    invite = st.session_state.get(shown_key)
    if invite is not None and invite.expires_at > moment:
        show_link(invite, moment)
    if live:
        patient = decrypt_patient(ctx.cipher, encounter)
        send_by_email_form(
            ctx, encounter.id, patient.email, person, on_sent=lambda _: done("The link has been queued by email.")
        )
    reminders_switch(ctx, encounter, person)
    with shown_on_page(), st.form(f"mia-reissue-{encounter.id}"):
        st.markdown("**Issue a new link** (the old one stops working)")
        lifetime = lifetime_select("The new link works for", ctx.settings.invite_lifetime_hours)
        if st.form_submit_button("Issue a new link"):
            reissue_invite(ctx, encounter.id, actor=person, lifetime_hours=lifetime)
            shown = invites.show_link(ctx, encounter.id, actor=person)  # drawn below: its showing is recorded
            done("A new link has been issued; the old one no longer works.", shown)


def _consent(ctx: AppContext, encounter: Encounter) -> None:
    records = review.consents_for(ctx, encounter.id)
    st.subheader("Consent")
    if not records:
        st.caption("The patient has not answered the consent questions yet.")
        return

    def yes_no(value: bool) -> str:
        return "Yes" if value else "No"

    st.dataframe(
        [
            {
                "Answered": local_time(r.answered_at),
                "Consent text version": r.text_version,
                "Share with my care team": yes_no(r.share_with_care_team),
                "Keep in my health record": yes_no(r.keep_in_record),
                "Use for teaching (de-identified)": yes_no(r.use_for_teaching),
            }
            for r in records
        ],
        hide_index=True,
        width="stretch",
    )
    if len(records) > 1:
        st.caption("The first line is the patient's current answer; earlier lines are kept as given.")


def _media_urls(
    ctx: AppContext, encounter: Encounter, items: list[MediaItem], person: Actor, moment: dt.datetime
) -> dict[str, MediaUrls]:
    """Re-use this session's URLs while they have over half their life left; otherwise issue (and audit) new ones."""
    cache_key = f"mia_urls_{encounter.id}"
    cached: dict[str, MediaUrls] = st.session_state.get(cache_key, {})
    half_life = dt.timedelta(seconds=ctx.settings.media_url_lifetime_seconds / 2)
    ready = [item for item in items if item.is_ready]
    fresh = all(item.id in cached and cached[item.id].expires_at - moment > half_life for item in ready)
    if not fresh:
        cached = review.issue_view_urls(ctx, ready, actor=person, now=moment)
        st.session_state[cache_key] = cached
    return cached


def _file_actions(
    ctx: AppContext, encounter: Encounter, item: MediaItem, number: int, person: Actor, moment: dt.datetime
) -> None:
    name = label(item, number)
    with st.expander(f"{name}: details, download, delete"):
        if item.note:
            st.markdown(f"**Patient's note:** {plain(item.note)}")
        if item.original_filename:
            st.caption(f"Sent as “{plain(item.original_filename)}”, {local_time(item.created_at)}")
        if item.failure_reason:
            st.error(plain(item.failure_reason))
        download_key = f"mia_download_{item.id}"
        if st.button("Get a download link for the original", key=f"dl-{item.id}"):
            st.session_state[download_key] = (
                review.issue_original_download(ctx, item, actor=person),
                moment + dt.timedelta(seconds=ctx.settings.media_url_lifetime_seconds),
            )
        download = st.session_state.get(download_key)
        if download and download[1] > moment:
            st.link_button("Download original", download[0])
            st.caption(
                "The link works for a few minutes. The original is the file exactly as sent: it may hold "
                "the phone's location and other details the gallery copy does not."
            )
        copies = filings.filed_copies(ctx, encounter.id, item.id)
        warning = before_delete(copies, name, moment)
        if warning:
            st.warning(warning)
        with st.form(f"mia-delete-media-{item.id}", clear_on_submit=True):
            reason = st.text_input("Reason for deleting this file", key=f"reason-{item.id}")
            if st.form_submit_button("Delete this file"):
                with shown_on_page():
                    review.delete_medium(
                        ctx, encounter_id=encounter.id, media_id=item.id, actor=person, reason=reason, now=moment
                    )
                    if copies:
                        session.notify("warning", after_delete(copies, name, moment))
                    st.rerun()


def _media(ctx: AppContext, encounter: Encounter, person: Actor, moment: dt.datetime) -> None:
    st.subheader("Photos and videos")
    if not review.media_visible(encounter):
        st.info("The patient has not sent anything yet. Their photos and videos appear here once they press Send.")
        return
    items = review.media_for(ctx, encounter)
    if not items:
        st.info("The patient sent no files, or every file has been deleted.")
        return
    st.html(gallery_html(items, _media_urls(ctx, encounter, items, person, moment)))
    st.caption("Select a photo to see it full size; select it again to close.")
    for number, item in enumerate(items, start=1):
        _file_actions(ctx, encounter, item, number, person, moment)


def _review(ctx: AppContext, encounter: Encounter, person: Actor, moment: dt.datetime) -> None:
    record = review.review_record(ctx, encounter)
    if record is not None:
        st.subheader("Review")
        st.success(f"Reviewed by {plain(record.reviewer_name)}, {when(record.reviewed_at, moment)}")
        if record.note:
            st.markdown(f"**Clinical note:** {plain(record.note)}")
        return
    if encounter.status != EncounterStatus.SUBMITTED:
        return
    st.subheader("Review")
    with st.form("mia-review"):
        note = st.text_area("Clinical note", max_chars=review.MAX_REVIEW_NOTE)
        if st.form_submit_button("Mark as reviewed", type="primary"):
            with shown_on_page():
                review.mark_reviewed(ctx, encounter.id, actor=person, note=note, now=moment)
                st.rerun()


def _delete(ctx: AppContext, encounter: Encounter, person: Actor, moment: dt.datetime) -> None:
    with st.expander("Delete this encounter"):
        st.caption(
            "Deleting hides the encounter and its files from everyone and stops the patient link. "
            "The reason is kept (encrypted) with the audit trail."
        )
        copies = filings.filed_copies(ctx, encounter.id)
        warning = before_delete(copies, "This request", moment)
        if warning:
            st.warning(warning)
        with st.form("mia-delete-encounter"):
            reason = st.text_input("Reason for deleting the encounter")
            if st.form_submit_button("Delete encounter"):
                with shown_on_page():
                    review.delete_encounter(ctx, encounter_id=encounter.id, actor=person, reason=reason, now=moment)
                    if copies:
                        session.notify("warning", after_delete(copies, "The request", moment))
                    st.query_params.clear()
                    links.switch_to("encounters")


if __name__ == "__main__":  # Streamlit ran this file by itself: the entry point answers (portal_app.main)
    import portal_app

    portal_app.main()

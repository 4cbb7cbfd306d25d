"""Review one encounter: patient, link, consent, the files sent (gallery), review note, deletion.

Opened as `review?encounter=ID`; without one it lists what waits for review.
Patient details are decrypted only to draw this page. Media URLs are
time-limited and re-issued (and audited) as they near expiry.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import streamlit as st

from portal_ui.auth_gate import require_page
from portal_ui.formatting import date_of_birth, local_time, plain, status_label, when
from portal_ui.invite_panel import lifetime_select, show_link, show_outbox
from portal_ui.media_grid import gallery_html, label
from portal_ui.runtime import now, portal_context, remote_addr
from shared import audit
from shared.db.statuses import EncounterStatus
from shared.encounters import review
from shared.encounters.identifiers import format_nhs_number
from shared.encounters.invites import current_invite, resend_invite
from shared.encounters.queries import Viewer, awaiting_review, load_visible, summarize
from shared.encounters.requests import (
    CLOSED_STATUSES,
    EncounterError,
    decrypt_patient,
    decrypt_request_note,
    derived_status,
    reissue_invite,
    unlock,
)
from shared.encounters.review import MediaItem, MediaUrls

user = require_page("review")
ctx = portal_context()
viewer = Viewer(user.id, user.team)
moment = now()
encounter_id = st.query_params.get("encounter", "")


def show_queue() -> None:
    st.title("Review")
    with ctx.engine.connect() as conn:
        queue = summarize(ctx, conn, awaiting_review(conn, viewer), now=moment)
    if not queue:
        st.info("Nothing is waiting for review. Submissions appear here when a patient presses Send.")
        st.page_link("pages/encounters.py", label="All encounters", icon=":material/list_alt:")
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


def record_first_view(row: Any) -> None:
    """One 'viewed' event per encounter per session (not one per rerun); reading it clears its notices."""
    seen_key = f"mia_viewed_{row.id}"
    if st.session_state.get(seen_key):
        return
    with ctx.engine.begin() as conn:
        review.record_encounter_view(conn, row.id, actor_id=user.id, remote_addr=remote_addr())
        review.mark_notifications_read(conn, user_id=user.id, encounter_id=row.id, now=moment)
    st.session_state[seen_key] = True


def show_patient(row: Any) -> None:
    patient = decrypt_patient(ctx.cipher, row)
    st.title(plain(patient.name))
    facts = [f"Born {date_of_birth(patient.date_of_birth)}"]
    if patient.nhs_number:
        facts.append(f"NHS number {format_nhs_number(patient.nhs_number)}")
    facts += [x for x in (patient.phone, patient.email) if x]
    st.markdown(" · ".join(plain(fact) for fact in facts))
    status = derived_status(row, moment)
    st.markdown(f"**Status:** {status_label(status)}")
    note = decrypt_request_note(ctx.cipher, row)
    if note:
        st.markdown("**Request shown to the patient**")
        st.info(plain(note))
    with st.expander("Timeline"):
        steps = [
            ("Requested", row.created_at),
            ("Link sent", row.invited_at),
            ("Link opened", row.opened_at),
            ("Date of birth confirmed", row.verified_at),
            ("Consent given", row.consented_at),
            ("Sent by the patient", row.submitted_at),
            ("Reviewed", row.reviewed_at),
        ]
        st.dataframe(
            [{"Step": name, "When": when(at, moment)} for name, at in steps if at is not None],
            hide_index=True,
            width="stretch",
        )


def show_link_actions(row: Any) -> None:
    if row.status in CLOSED_STATUSES:
        return
    st.subheader("Patient link")
    status = derived_status(row, moment)
    if status == EncounterStatus.LOCKED:
        st.warning("The link is locked after too many wrong dates of birth. Unlock it or issue a new link.")
    elif status == EncounterStatus.EXPIRED:
        st.warning("The link has expired. Issue a new link to ask again.")
    else:
        st.caption(f"The link works until {when(row.invite_expires_at, moment)}.")
    show_col, resend_col, unlock_col = st.columns(3)
    shown_key = f"mia_show_link_{row.id}"
    try:
        if show_col.button("Show link and QR code", disabled=status != row.status):
            with ctx.engine.begin() as conn:
                invite = current_invite(ctx, conn, row)
                if invite is None:
                    raise EncounterError("The current link is no longer in the outbox. Issue a new link instead.")
                audit.record(
                    conn,
                    "invite.shown",
                    actor_type=audit.ACTOR_USER,
                    actor_id=user.id,
                    encounter_id=row.id,
                    remote_addr=remote_addr(),
                )
            st.session_state[shown_key] = invite
        if resend_col.button("Send the link again", disabled=status != row.status):
            with ctx.engine.begin() as conn:
                invite = resend_invite(ctx, conn, row, actor_id=user.id, now=moment, remote_addr=remote_addr())
            st.session_state[shown_key] = invite
            st.toast("The link has been queued again.")
        if unlock_col.button("Unlock the link", disabled=status != EncounterStatus.LOCKED):
            with ctx.engine.begin() as conn:
                unlock(ctx, conn, row.id, actor_id=user.id, remote_addr=remote_addr())
            st.rerun()
        with st.form(f"mia-reissue-{row.id}"):
            st.markdown("**Issue a new link** (the old one stops working)")
            lifetime = lifetime_select("The new link works for", ctx.settings.invite_lifetime_hours)
            if st.form_submit_button("Issue a new link"):
                with ctx.engine.begin() as conn:
                    invite = reissue_invite(
                        ctx, conn, row.id, actor_id=user.id, lifetime_hours=lifetime, remote_addr=remote_addr()
                    )
                st.session_state[shown_key] = invite
                st.rerun()
    except EncounterError as exc:
        st.error(str(exc))
    invite = st.session_state.get(shown_key)
    if invite is not None and invite.expires_at > moment:
        show_link(invite, moment)
    with ctx.engine.connect() as conn:
        show_outbox(ctx, conn, row.id)


def show_consent(row: Any) -> None:
    with ctx.engine.connect() as conn:
        records = review.consents_for(conn, row.id)
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


def media_urls(items: list[MediaItem]) -> dict[str, MediaUrls]:
    """Re-use this session's URLs while they have over half their life left; otherwise issue (and audit) new ones."""
    cache_key = f"mia_urls_{encounter_id}"
    cached: dict[str, MediaUrls] = st.session_state.get(cache_key, {})
    half_life = dt.timedelta(seconds=ctx.settings.media_url_lifetime_seconds / 2)
    ready = [item for item in items if item.is_ready]
    fresh = all(item.id in cached and cached[item.id].expires_at - moment > half_life for item in ready)
    if not fresh:
        with ctx.engine.begin() as conn:
            cached = review.issue_view_urls(ctx, conn, ready, actor_id=user.id, now=moment, remote_addr=remote_addr())
        st.session_state[cache_key] = cached
    return cached


def file_actions(row: Any, item: MediaItem, number: int) -> None:
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
            with ctx.engine.begin() as conn:
                st.session_state[download_key] = (
                    review.issue_original_download(ctx, conn, item, actor_id=user.id, remote_addr=remote_addr()),
                    moment + dt.timedelta(seconds=ctx.settings.media_url_lifetime_seconds),
                )
        download = st.session_state.get(download_key)
        if download and download[1] > moment:
            st.link_button("Download original", download[0])
            st.caption(
                "The link works for a few minutes. The original is the file exactly as sent: it may hold "
                "the phone's location and other details the gallery copy does not."
            )
        with st.form(f"mia-delete-media-{item.id}", clear_on_submit=True):
            reason = st.text_input("Reason for deleting this file", key=f"reason-{item.id}")
            if st.form_submit_button("Delete this file"):
                try:
                    with ctx.engine.begin() as conn:
                        review.delete_medium(
                            ctx,
                            conn,
                            encounter_id=row.id,
                            media_id=item.id,
                            actor_id=user.id,
                            reason=reason,
                            now=moment,
                            remote_addr=remote_addr(),
                        )
                except EncounterError as exc:
                    st.error(str(exc))
                else:
                    st.rerun()


def show_media(row: Any) -> None:
    st.subheader("Photos and videos")
    if not review.media_visible(row):
        st.info("The patient has not sent anything yet. Their photos and videos appear here once they press Send.")
        return
    with ctx.engine.connect() as conn:
        items = review.media_for(ctx, conn, row)
    if not items:
        st.info("The patient sent no files, or every file has been deleted.")
        return
    st.html(gallery_html(items, media_urls(items)))
    st.caption("Select a photo to see it full size; select it again to close.")
    for number, item in enumerate(items, start=1):
        file_actions(row, item, number)


def show_review(row: Any) -> None:
    with ctx.engine.connect() as conn:
        record = review.review_record(ctx, conn, row)
    if record is not None:
        st.subheader("Review")
        st.success(f"Reviewed by {plain(record.reviewer_name)}, {when(record.reviewed_at, moment)}")
        if record.note:
            st.markdown(f"**Clinical note:** {plain(record.note)}")
        return
    if row.status != EncounterStatus.SUBMITTED:
        return
    st.subheader("Review")
    with st.form("mia-review"):
        note = st.text_area("Clinical note", max_chars=review.MAX_REVIEW_NOTE)
        if st.form_submit_button("Mark as reviewed", type="primary"):
            try:
                with ctx.engine.begin() as conn:
                    review.mark_reviewed(
                        ctx, conn, row.id, actor_id=user.id, note=note, now=moment, remote_addr=remote_addr()
                    )
            except EncounterError as exc:
                st.error(str(exc))
            else:
                st.rerun()


def show_delete(row: Any) -> None:
    with st.expander("Delete this encounter"):
        st.caption(
            "Deleting hides the encounter and its files from everyone and stops the patient link. "
            "The reason is kept (encrypted) with the audit trail."
        )
        with st.form("mia-delete-encounter"):
            reason = st.text_input("Reason for deleting the encounter")
            if st.form_submit_button("Delete encounter"):
                try:
                    with ctx.engine.begin() as conn:
                        review.delete_encounter(
                            ctx,
                            conn,
                            encounter_id=row.id,
                            actor_id=user.id,
                            reason=reason,
                            now=moment,
                            remote_addr=remote_addr(),
                        )
                except EncounterError as exc:
                    st.error(str(exc))
                else:
                    st.query_params.clear()
                    st.switch_page("pages/encounters.py")


if not encounter_id:
    show_queue()
    st.stop()

with ctx.engine.begin() as conn:
    encounter = load_visible(conn, viewer, encounter_id)
    if encounter is None:
        audit.record(
            conn,
            "encounter.access_refused",
            actor_type=audit.ACTOR_USER,
            actor_id=user.id,
            encounter_id=encounter_id[:32],
            remote_addr=remote_addr(),
        )
if encounter is None:
    st.title("Review")
    st.error("That encounter does not exist, was deleted, or is not one you or your team registered.")
    st.stop()

record_first_view(encounter)
show_patient(encounter)
show_consent(encounter)
show_media(encounter)
show_review(encounter)
show_link_actions(encounter)
show_delete(encounter)

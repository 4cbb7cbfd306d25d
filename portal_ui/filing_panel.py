"""The review page's "Patient record" section: file to the record, each destination's state, retry, the FHIR bundle.

One "File to record" button for every destination that is on, or, where
filing cannot be offered, the reason instead (never a dead button). While a
filing is on its way the states redraw themselves every few seconds. The
FHIR bundle is built only when the clinician downloads it, and that
download is audited like the download of an original.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from portal_ui import session
from portal_ui.feedback import shown_on_page
from portal_ui.filing_states import state_words
from shared.context import Actor, AppContext
from shared.db.statuses import FilingStatus
from shared.encounters.encounter import Encounter
from shared.notifications.alerts import request_reference
from shared.records import downloads, filings
from shared.records.errors import RecordsError
from shared.records.filings import FilingState
from shared.records.gather import load_document
from shared.staff.teams import team_settings

ACTIVE = (FilingStatus.QUEUED, FilingStatus.SENDING)


def filing_section(ctx: AppContext, encounter: Encounter, person: Actor, moment: dt.datetime) -> None:
    st.subheader("Patient record")
    states = filings.filing_states(ctx, encounter.id)
    poll = ctx.settings.records.poll_seconds if any(s.status in ACTIVE for s in states) else None
    if states:
        _states(ctx, encounter.id, person, poll)
    elif _files_on_review(ctx, encounter):
        st.caption(
            "Your team files reviewed requests automatically: the records service queues this one within "
            "a few seconds, or press File to record now."
        )
    _file_action(ctx, encounter, person, moment)
    if encounter.reviewed_at is not None:
        _bundle_download(ctx, encounter, person)


def _files_on_review(ctx: AppContext, encounter: Encounter) -> bool:
    """The runner will queue this reviewed request by itself (its team files on review, a destination is on)."""
    if encounter.reviewed_at is None or not ctx.settings.records.destinations:
        return False
    with ctx.engine.connect() as conn:
        team = team_settings(conn, encounter.team)
    return team is not None and team.file_on_review


def _states(ctx: AppContext, encounter_id: str, person: Actor, poll: int | None) -> None:
    """Each destination's state; redrawn every `poll` seconds while one is on its way."""

    @st.fragment(run_every=poll)
    def draw() -> None:
        moment = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        states = filings.filing_states(ctx, encounter_id)
        st.dataframe(
            [{"Destination": s.label, "State": state_words(s, moment)} for s in states],
            hide_index=True,
            width="stretch",
        )
        for state in states:
            if state.can_retry:
                _retry(ctx, state, person, moment)
        if poll is not None and not any(s.status in ACTIVE for s in states):
            st.rerun(scope="app")  # done: the timeline and the button reflect it too

    draw()


def _retry(ctx: AppContext, state: FilingState, person: Actor, moment: dt.datetime) -> None:
    reason_col, button_col = st.columns([4, 1], vertical_alignment="center")
    reason_col.error(f"Not filed to {state.label}: {state.failure_reason or 'the destination gave no reason'}")
    if button_col.button("Retry", key=f"mia-retry-filing-{state.id}", help=f"File to {state.label} again"):
        with shown_on_page():
            filings.retry_filing(ctx, state.id, actor=person, now=moment)
            session.notify("success", f"Filing to {state.label} is queued again.")
            st.rerun(scope="app")


def _file_action(ctx: AppContext, encounter: Encounter, person: Actor, moment: dt.datetime) -> None:
    reason = filings.filing_unavailable(ctx, encounter.id)
    if reason is not None:
        st.info(reason)
        return
    labels = [filings.LABELS[name] for name in ctx.settings.records.destinations]
    st.caption(f"Files every photo and video of this request to: {', '.join(labels)}.")
    if st.button("File to record", type="primary"):
        with shown_on_page():
            queued = filings.request_filing(ctx, encounter.id, actor=person, now=moment)
            names = ", ".join(state.label for state in queued)
            session.notify("success", f"Queued for filing to {names}. Each destination's state is shown below.")
            st.rerun()


def _bundle_download(ctx: AppContext, encounter: Encounter, person: Actor) -> None:
    try:
        document = load_document(ctx, encounter.id)
    except RecordsError as error:
        st.caption(f"FHIR bundle: {error}")
        return
    st.download_button(
        "Download FHIR bundle",
        data=lambda: downloads.fhir_bundle_json(ctx, document, actor=person),
        file_name=f"mia-{request_reference(encounter.id)}-fhir-bundle.json",
        mime="application/fhir+json",
        on_click="ignore",
        help="The FHIR R4 transaction Bundle (JSON) this request files as, for a record system MIA does not reach.",
    )

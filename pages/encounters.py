"""Encounters: mine or my team's, their status, filters, NHS-number search and new-submission counts."""

from __future__ import annotations

import streamlit as st

from portal_ui.auth_gate import require_page
from portal_ui.formatting import STATUS_LABELS, date_of_birth, local_time, status_label, utc_bound
from portal_ui.runtime import now, portal_context, remote_addr
from shared.db.statuses import EncounterStatus
from shared.encounters.identifiers import InvalidIdentifier, format_nhs_number
from shared.encounters.queries import (
    SCOPE_MINE,
    SCOPE_TEAM,
    EncounterFilter,
    EncounterSummary,
    Viewer,
    list_encounters,
    search_by_nhs_number,
    submission_counts,
    summarize,
)

PAGE_SIZE = 50
PAGE_KEY = "mia_encounters_page"

user = require_page("encounters")
ctx = portal_context()
viewer = Viewer(user.id, user.team)
moment = now()

st.title("Encounters")
with ctx.engine.connect() as conn:
    counts = submission_counts(conn, viewer)
new_col, mine_col, team_col = st.columns(3)
new_col.metric("New submissions for you", counts.new_for_me)
mine_col.metric("Waiting for review: mine", counts.awaiting_mine)
team_col.metric("Waiting for review: my team", counts.awaiting_team if user.team else counts.awaiting_mine)

with st.container(border=True):
    scope_col, status_col = st.columns([1, 2])
    scope_options = [SCOPE_MINE, SCOPE_TEAM] if user.team else [SCOPE_MINE]
    scope = scope_col.radio(
        "Show",
        scope_options,
        format_func=lambda s: "Mine" if s == SCOPE_MINE else f"My team's ({user.team})",
        horizontal=True,
        key="mia_encounters_scope",
    )
    statuses = status_col.multiselect(
        "Status", list(EncounterStatus), format_func=lambda s: STATUS_LABELS[s], key="mia_encounters_statuses"
    )
    from_col, to_col, nhs_col = st.columns(3)
    created_from = from_col.date_input("Requested from", value=None, format="DD/MM/YYYY", key="mia_encounters_from")
    created_to = to_col.date_input("Requested to", value=None, format="DD/MM/YYYY", key="mia_encounters_to")
    nhs_query = nhs_col.text_input("Find by NHS number", placeholder="943 476 5919", key="mia_encounters_nhs")

flt = EncounterFilter(
    scope=scope,
    statuses=tuple(statuses),
    created_since=utc_bound(created_from),
    created_before=utc_bound(created_to, end=True),
)
filter_signature = repr((flt, nhs_query))
new_filter = st.session_state.get("mia_encounters_filter") != filter_signature
if new_filter:
    st.session_state["mia_encounters_filter"] = filter_signature
    st.session_state[PAGE_KEY] = 0
page = int(st.session_state.get(PAGE_KEY, 0))

summaries: list[EncounterSummary] = []
total = 0
with ctx.engine.begin() as conn:
    if nhs_query.strip():
        try:
            rows = search_by_nhs_number(
                ctx, conn, viewer, nhs_query, flt, now=moment, remote_addr=remote_addr(), record=new_filter
            )
        except InvalidIdentifier as exc:
            st.error(str(exc))
            st.stop()
        total = len(rows)
    else:
        rows, total = list_encounters(conn, viewer, flt, now=moment, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    summaries = summarize(ctx, conn, rows, now=moment)

if not summaries:
    st.info("No encounters match. Change the filters, or register a new request.")
    st.page_link("pages/register_encounter.py", label="New request", icon=":material/person_add:")
    st.stop()

st.caption(f"{total} encounter{'s' if total != 1 else ''}, newest first.")
st.dataframe(
    [
        {
            "Patient": s.patient_name,
            "Date of birth": date_of_birth(s.date_of_birth),
            "NHS number": format_nhs_number(s.nhs_number) if s.nhs_number else "—",
            "Status": status_label(s.status),
            "Requested": local_time(s.created_at),
            "Submitted": local_time(s.submitted_at),
            "Files": f"{s.media_count} ({s.media_ready} ready)" if s.media_count else "—",
            "Clinician": s.clinician_name,
        }
        for s in summaries
    ],
    hide_index=True,
    width="stretch",
)

if total > PAGE_SIZE and not nhs_query.strip():
    previous_col, position_col, next_col = st.columns([1, 2, 1])
    last_page = (total - 1) // PAGE_SIZE
    if previous_col.button("Newer", disabled=page == 0):
        st.session_state[PAGE_KEY] = page - 1
        st.rerun()
    position_col.caption(f"Page {page + 1} of {last_page + 1}")
    if next_col.button("Older", disabled=page >= last_page):
        st.session_state[PAGE_KEY] = page + 1
        st.rerun()

by_id = {s.id: s for s in summaries}
choice = st.selectbox(
    "Open an encounter",
    list(by_id),
    format_func=lambda encounter_id: (
        f"{by_id[encounter_id].patient_name} · born {date_of_birth(by_id[encounter_id].date_of_birth)} · "
        f"{status_label(by_id[encounter_id].status)} · requested {local_time(by_id[encounter_id].created_at)}"
    ),
    key="mia_encounters_choice",
)
if st.button("Open", type="primary"):
    st.switch_page("pages/review.py", query_params={"encounter": choice})

"""Encounters: mine or my team's, their status and the state of the messages that carried each link, filters,
NHS-number search, new-submission counts, and a warning for my requests whose link could not be delivered."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from portal_ui import links
from portal_ui.feedback import shown_on_page
from portal_ui.formatting import STATUS_LABELS, date_of_birth, local_time, status_label, utc_bound
from portal_ui.message_states import failed_invites_text, summary
from portal_ui.runtime import actor, now
from shared.context import AppContext
from shared.db.statuses import EncounterStatus
from shared.encounters import queries
from shared.encounters.identifiers import format_nhs_number
from shared.encounters.queries import (
    SCOPE_MINE,
    SCOPE_TEAM,
    EncounterFilter,
    EncounterSummary,
    SubmissionCounts,
    Viewer,
)
from shared.staff.authentication import StaffUser

NEEDS_YOU = "⚠ Needs you ·"
WHAT_TO_DO = "Open the request to see why, then send the link again, send it by email instead, or hand it over."
PAGE_SIZE = 50
PAGE_KEY = "mia_encounters_page"
FILTER_KEY = "mia_encounters_filter"


def render(user: StaffUser, ctx: AppContext) -> None:
    viewer = Viewer(user.id, user.team)
    moment = now()
    st.title("Encounters")
    counts = _counts(ctx, viewer, has_team=bool(user.team))
    _failed_invites(counts.invites_failed)
    flt, nhs_query = _filters(user)
    signature = repr((flt, nhs_query))
    new_filter = st.session_state.get(FILTER_KEY) != signature
    if new_filter:
        st.session_state[FILTER_KEY] = signature
        st.session_state[PAGE_KEY] = 0
    page = int(st.session_state.get(PAGE_KEY, 0))

    with shown_on_page(stop=True):
        if nhs_query.strip():
            summaries = queries.search_by_nhs_number(
                ctx, viewer, nhs_query, flt, actor=actor(user), now=moment, record=new_filter
            )
            total = len(summaries)
        else:
            summaries, total = queries.list_encounters(
                ctx, viewer, flt, now=moment, limit=PAGE_SIZE, offset=page * PAGE_SIZE
            )
    if not summaries:
        st.info("No encounters match. Change the filters, or register a new request.")
        links.link_to("register", "New request", icon=":material/person_add:")
        return

    st.caption(f"{total} encounter{'s' if total != 1 else ''}, newest first.")
    _table(summaries, user, moment)
    if total > PAGE_SIZE and not nhs_query.strip():
        _pager(page, total)
    _open_one(summaries, user)


def _counts(ctx: AppContext, viewer: Viewer, *, has_team: bool) -> SubmissionCounts:
    counts = queries.submission_counts(ctx, viewer)
    new_col, mine_col, team_col = st.columns(3)
    new_col.metric("New submissions for you", counts.new_for_me)
    mine_col.metric("Waiting for review: mine", counts.awaiting_mine)
    team_col.metric("Waiting for review: my team", counts.awaiting_team if has_team else counts.awaiting_mine)
    return counts


def _failed_invites(failed: int) -> None:
    """The badge: my requests whose link was not delivered, until I send it again, by email, or open the request."""
    if failed:
        st.warning(f"{failed_invites_text(failed)} {WHAT_TO_DO}")


def _filters(user: StaffUser) -> tuple[EncounterFilter, str]:
    """The filter the clinician chose, and the NHS number typed (if any)."""
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
    return flt, nhs_query


def _table(summaries: list[EncounterSummary], user: StaffUser, moment: dt.datetime) -> None:
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
                "Messages to the patient": _messages(s, user, moment),
            }
            for s in summaries
        ],
        hide_index=True,
        width="stretch",
    )


def _messages(s: EncounterSummary, user: StaffUser, moment: dt.datetime) -> str:
    """The newest message to each channel, marked when it is my request and its link could not be delivered."""
    return (f"{NEEDS_YOU} " if _needs_me(s, user) else "") + summary(s.messages, moment)


def _needs_me(s: EncounterSummary, user: StaffUser) -> bool:
    return s.invite_failed and s.clinician_id == user.id


def _pager(page: int, total: int) -> None:
    previous_col, position_col, next_col = st.columns([1, 2, 1])
    last_page = (total - 1) // PAGE_SIZE
    if previous_col.button("Newer", disabled=page == 0):
        st.session_state[PAGE_KEY] = page - 1
        st.rerun()
    position_col.caption(f"Page {page + 1} of {last_page + 1}")
    if next_col.button("Older", disabled=page >= last_page):
        st.session_state[PAGE_KEY] = page + 1
        st.rerun()


def _open_one(summaries: list[EncounterSummary], user: StaffUser) -> None:
    by_id = {s.id: s for s in summaries}
    choice = st.selectbox(
        "Open an encounter",
        list(by_id),
        format_func=lambda encounter_id: (
            ("⚠ " if _needs_me(by_id[encounter_id], user) else "")
            + f"{by_id[encounter_id].patient_name} · born {date_of_birth(by_id[encounter_id].date_of_birth)} · "
            f"{status_label(by_id[encounter_id].status)} · requested {local_time(by_id[encounter_id].created_at)}"
        ),
        key="mia_encounters_choice",
    )
    if st.button("Open", type="primary"):
        links.switch_to("review", encounter=choice)


if __name__ == "__main__":  # Streamlit ran this file by itself: the entry point answers (portal_app.main)
    import portal_app

    portal_app.main()

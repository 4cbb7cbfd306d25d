"""Audit log (administrators): who did what to which encounter or file, and when, filtered."""

from __future__ import annotations

import csv
import io

import streamlit as st

from portal_ui.formatting import local_time, utc_bound
from shared import audit
from shared.context import AppContext
from shared.reporting import audit_log
from shared.reporting.audit_log import AuditEvent, AuditFilter
from shared.staff.authentication import StaffUser

PAGE_SIZE = 100
PAGE_KEY = "mia_audit_page"
FILTER_KEY = "mia_audit_filter"
ANY = ""


def render(user: StaffUser, ctx: AppContext) -> None:
    st.title("Audit log")
    st.caption("Every view of an encounter or file, every change and every sign-in, newest first. Times are UK time.")
    people = audit_log.usernames(ctx)
    flt = _filters(people, audit_log.actions(ctx))
    signature = repr(flt)
    if st.session_state.get(FILTER_KEY) != signature:
        st.session_state[FILTER_KEY] = signature
        st.session_state[PAGE_KEY] = 0
    page = int(st.session_state.get(PAGE_KEY, 0))

    events = audit_log.search_events(ctx, flt, limit=PAGE_SIZE + 1, offset=page * PAGE_SIZE)
    has_older = len(events) > PAGE_SIZE
    rows = [_row(event, people) for event in events[:PAGE_SIZE]]
    if not rows:
        st.info("No events match these filters.")
        return
    st.dataframe(rows, hide_index=True, width="stretch")
    newer_col, position_col, older_col = st.columns([1, 2, 1])
    if newer_col.button("Newer", disabled=page == 0):
        st.session_state[PAGE_KEY] = page - 1
        st.rerun()
    position_col.caption(f"Events {page * PAGE_SIZE + 1}–{page * PAGE_SIZE + len(rows)}")
    if older_col.button("Older", disabled=not has_older):
        st.session_state[PAGE_KEY] = page + 1
        st.rerun()
    st.download_button("Download these events (CSV)", _csv(rows), file_name="mia-audit.csv", mime="text/csv")


def _filters(people: dict[str, str], actions: list[str]) -> AuditFilter:
    with st.container(border=True):
        from_col, to_col, action_col = st.columns(3)
        since = from_col.date_input("From", value=None, format="DD/MM/YYYY")
        until = to_col.date_input("To (inclusive)", value=None, format="DD/MM/YYYY")
        action = action_col.selectbox("Action", [ANY, *actions], format_func=lambda a: a or "Any action")
        actor_col, encounter_col, media_col = st.columns(3)
        actor_options = [ANY, *sorted(people, key=people.__getitem__), *audit.ACTOR_TYPES]
        actor = actor_col.selectbox(
            "Who",
            actor_options,
            format_func=lambda a: "Anyone" if a == ANY else people.get(a) or f"any {a}",
        )
        encounter_id = encounter_col.text_input("Encounter id").strip()
        media_id = media_col.text_input("File (media) id").strip()
    return AuditFilter(
        since=utc_bound(since, end=False),
        until=utc_bound(until, end=True),
        action=action or None,
        actor_type=actor if actor in audit.ACTOR_TYPES else None,
        actor_id=actor if actor in people else None,
        encounter_id=encounter_id or None,
        media_id=media_id or None,
    )


def _who(event: AuditEvent, people: dict[str, str]) -> str:
    if event.actor_type == audit.ACTOR_USER:
        return people.get(event.actor_id, "unknown user") if event.actor_id else "unknown user"
    return event.actor_type


def _detail(event: AuditEvent, people: dict[str, str]) -> str:
    return ", ".join(f"{key}: {people.get(str(value), value)}" for key, value in sorted(event.detail.items()))


def _row(event: AuditEvent, people: dict[str, str]) -> dict[str, str]:
    return {
        "When": local_time(event.occurred_at),
        "Who": _who(event, people),
        "Action": event.action,
        "Encounter": event.encounter_id or "",
        "File": event.media_id or "",
        "From": event.remote_addr or "",
        "Details": _detail(event, people),
    }


def _csv(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


if __name__ == "__main__":  # Streamlit ran this file by itself: the entry point answers (portal_app.main)
    import portal_app

    portal_app.main()

"""Audit log (administrators): who did what to which encounter or file, and when, filtered."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import streamlit as st
from sqlalchemy import select

from portal_ui.auth_gate import require_page
from portal_ui.formatting import local_time, utc_bound
from portal_ui.runtime import portal_context
from shared import audit
from shared.db.tables import audit_events, users

PAGE_SIZE = 100
PAGE_KEY = "mia_audit_page"
ANY = ""

require_page("audit")
ctx = portal_context()
st.title("Audit log")
st.caption("Every view of an encounter or file, every change and every sign-in, newest first. Times are UK time.")

with ctx.engine.connect() as conn:
    people = dict(conn.execute(select(users.c.id, users.c.username)).all())
    actions = sorted(conn.execute(select(audit_events.c.action).distinct()).scalars())

with st.container(border=True):
    from_col, to_col, action_col = st.columns(3)
    since = from_col.date_input("From", value=None, format="DD/MM/YYYY")
    until = to_col.date_input("To (inclusive)", value=None, format="DD/MM/YYYY")
    action = action_col.selectbox("Action", [ANY, *actions], format_func=lambda a: a or "Any action")
    actor_col, encounter_col, media_col = st.columns(3)
    actor_options = [ANY, *sorted(people, key=people.get), *audit.ACTOR_TYPES]
    actor = actor_col.selectbox(
        "Who",
        actor_options,
        format_func=lambda a: "Anyone" if a == ANY else people.get(a) or f"any {a}",
    )
    encounter_id = encounter_col.text_input("Encounter id").strip()
    media_id = media_col.text_input("File (media) id").strip()


filters: dict[str, Any] = {
    "since": utc_bound(since, end=False),
    "until": utc_bound(until, end=True),
    "action": action or None,
    "actor_type": actor if actor in audit.ACTOR_TYPES else None,
    "actor_id": actor if actor in people else None,
    "encounter_id": encounter_id or None,
    "media_id": media_id or None,
}
signature = repr(filters)
if st.session_state.get("mia_audit_filter") != signature:
    st.session_state["mia_audit_filter"] = signature
    st.session_state[PAGE_KEY] = 0
page = int(st.session_state.get(PAGE_KEY, 0))

with ctx.engine.connect() as conn:
    events = audit.search(conn, **filters, limit=PAGE_SIZE + 1, offset=page * PAGE_SIZE)
has_older = len(events) > PAGE_SIZE
events = events[:PAGE_SIZE]


def who(event: dict[str, Any]) -> str:
    if event["actor_type"] == audit.ACTOR_USER:
        return people.get(event["actor_id"], "unknown user") if event["actor_id"] else "unknown user"
    return event["actor_type"]


def detail(event: dict[str, Any]) -> str:
    if not event["detail"]:
        return ""
    values = json.loads(event["detail"])
    return ", ".join(f"{key}: {people.get(str(value), value)}" for key, value in sorted(values.items()))


rows = [
    {
        "When": local_time(event["occurred_at"]),
        "Who": who(event),
        "Action": event["action"],
        "Encounter": event["encounter_id"] or "",
        "File": event["media_id"] or "",
        "From": event["remote_addr"] or "",
        "Details": detail(event),
    }
    for event in events
]
if not rows:
    st.info("No events match these filters.")
    st.stop()

st.dataframe(rows, hide_index=True, width="stretch")
newer_col, position_col, older_col = st.columns([1, 2, 1])
if newer_col.button("Newer", disabled=page == 0):
    st.session_state[PAGE_KEY] = page - 1
    st.rerun()
position_col.caption(f"Events {page * PAGE_SIZE + 1}–{page * PAGE_SIZE + len(rows)}")
if older_col.button("Older", disabled=not has_older):
    st.session_state[PAGE_KEY] = page + 1
    st.rerun()

buffer = io.StringIO()
writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
writer.writeheader()
writer.writerows(rows)
st.download_button("Download these events (CSV)", buffer.getvalue(), file_name="mia-audit.csv", mime="text/csv")

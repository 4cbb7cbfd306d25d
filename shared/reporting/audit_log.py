"""The audit log as administrators browse it: filtered pages of events, and the names to filter by.

Events are read through `shared.audit.search` (newest first) and handed
over as dataclasses with their details parsed; each query opens its own
connection.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select

from shared import audit
from shared.context import AppContext
from shared.db.tables import audit_events, users


@dataclass(frozen=True)
class AuditFilter:
    """What the administrator narrowed the log to; None means any."""

    since: dt.datetime | None = None  # naive UTC, inclusive
    until: dt.datetime | None = None  # naive UTC, exclusive
    action: str | None = None
    actor_type: str | None = None
    actor_id: str | None = None
    encounter_id: str | None = None
    media_id: str | None = None


@dataclass(frozen=True)
class AuditEvent:
    occurred_at: dt.datetime
    actor_type: str
    actor_id: str | None
    action: str
    encounter_id: str | None
    media_id: str | None
    remote_addr: str | None
    detail: dict[str, Any]


def search_events(ctx: AppContext, flt: AuditFilter, *, limit: int, offset: int = 0) -> list[AuditEvent]:
    """One page of matching events, newest first."""
    with ctx.engine.connect() as conn:
        rows = audit.search(conn, **asdict(flt), limit=limit, offset=offset)
    return [
        AuditEvent(
            occurred_at=row["occurred_at"],
            actor_type=row["actor_type"],
            actor_id=row["actor_id"],
            action=row["action"],
            encounter_id=row["encounter_id"],
            media_id=row["media_id"],
            remote_addr=row["remote_addr"],
            detail=json.loads(row["detail"]) if row["detail"] else {},
        )
        for row in rows
    ]


def usernames(ctx: AppContext) -> dict[str, str]:
    """Every account's username by id: who an event names."""
    with ctx.engine.connect() as conn:
        return {row.id: row.username for row in conn.execute(select(users.c.id, users.c.username))}


def actions(ctx: AppContext) -> list[str]:
    """Every action the log holds, alphabetically."""
    with ctx.engine.connect() as conn:
        return sorted(conn.execute(select(audit_events.c.action).distinct()).scalars())

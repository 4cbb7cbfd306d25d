"""The audit log: who did what to which encounter or medium, and when.

Append-only by construction: this module (and the rest of the code) has no
update or delete path for `audit_events`. Details must not contain patient
identifiers; record ids and outcomes instead.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select

from shared.clock import utcnow
from shared.db.tables import audit_events
from shared.logging.json_lines import get_logger

log = get_logger("mia.audit")

ACTOR_PATIENT = "patient"
ACTOR_USER = "user"
ACTOR_SYSTEM = "system"
ACTOR_TYPES = (ACTOR_PATIENT, ACTOR_USER, ACTOR_SYSTEM)


def record(
    conn: Connection,
    action: str,
    *,
    actor_type: str,
    actor_id: str | None = None,
    encounter_id: str | None = None,
    media_id: str | None = None,
    remote_addr: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Write one audit event inside the caller's transaction (so it commits with the change)."""
    if actor_type not in ACTOR_TYPES:
        raise ValueError(f"unknown actor type {actor_type!r}")
    row = {
        "occurred_at": utcnow(),
        "actor_type": actor_type,
        "actor_id": actor_id,
        "action": action,
        "encounter_id": encounter_id,
        "media_id": media_id,
        "remote_addr": remote_addr,
        "detail": json.dumps(dict(detail), sort_keys=True, default=str) if detail else None,
    }
    conn.execute(audit_events.insert().values(**row))
    log.info("audit event", extra={k: v for k, v in row.items() if k not in ("occurred_at", "detail")})


def search(
    conn: Connection,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    actor_type: str | None = None,
    actor_id: str | None = None,
    action: str | None = None,
    encounter_id: str | None = None,
    media_id: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Newest first, filtered; for the admin audit page and reviews."""
    query = select(audit_events)
    conditions = {
        "actor_type": actor_type,
        "actor_id": actor_id,
        "action": action,
        "encounter_id": encounter_id,
        "media_id": media_id,
    }
    for column, value in conditions.items():
        if value:
            query = query.where(audit_events.c[column] == value)
    if since:
        query = query.where(audit_events.c.occurred_at >= since)
    if until:
        query = query.where(audit_events.c.occurred_at < until)
    query = query.order_by(audit_events.c.occurred_at.desc(), audit_events.c.id.desc()).limit(limit).offset(offset)
    return [dict(row._mapping) for row in conn.execute(query)]

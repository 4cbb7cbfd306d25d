"""Leased claims on an outbox table: the notifications dispatcher's and the records runner's.

Such a table has `status`, `attempts`, `next_attempt_at`, `lease_owner` and
`lease_until`. A row is due when it waits and its next try is not in the
future, or when it is still marked as in flight after its lease ran out (its
process died: claimed again). The claim marks the row in flight, names the
owner and counts the attempt in its own transaction, before anything is sent;
every later change names the owner (`held`), so a process that lost its
lease changes nothing. On MySQL the claim uses `SELECT … FOR UPDATE SKIP
LOCKED`; on SQLite every write transaction is BEGIN IMMEDIATE (engine.py).
The wait between tries is the jobs table's `backoff`.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Engine, Row, Table, and_, or_, select, update


def new_owner_id() -> str:
    """Names a process in `lease_owner` (host, process, and a random part for restarts)."""
    return f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def due(table: Table, *, waiting: str, in_flight: str, now: dt.datetime) -> ColumnElement[bool]:
    """Waiting and due now, or in flight under a lease that ran out."""
    ready = and_(
        table.c.status == waiting,
        or_(table.c.next_attempt_at.is_(None), table.c.next_attempt_at <= now),
    )
    abandoned = and_(table.c.status == in_flight, table.c.lease_until < now)
    return or_(ready, abandoned)


def claim_next(
    engine: Engine,
    table: Table,
    condition: ColumnElement[bool],
    order_by: Sequence[ColumnElement[object]],
    *,
    in_flight: str,
    owner: str,
    lease: dt.timedelta,
    now: dt.datetime,
) -> Row | None:
    """Mark the first row matching `condition` in flight under `owner`'s lease; the row as it stands after."""
    with engine.begin() as conn:
        row = conn.execute(
            select(table).where(condition).order_by(*order_by).limit(1).with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return None
        conn.execute(
            update(table)
            .where(table.c.id == row.id)
            .values(status=in_flight, lease_owner=owner, lease_until=now + lease, attempts=row.attempts + 1)
        )
        return conn.execute(select(table).where(table.c.id == row.id)).one()


def held(table: Table, row_id: str, owner: str, in_flight: str) -> ColumnElement[bool]:
    """The row, only while `owner` still holds it in flight."""
    return and_(table.c.id == row_id, table.c.lease_owner == owner, table.c.status == in_flight)


def released(**values: object) -> dict[str, object]:
    """Update values that also give the lease up."""
    return {"lease_owner": None, "lease_until": None, **values}

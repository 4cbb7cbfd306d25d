"""The records runner's changes to a filing: claim under a lease, then filed, tried again later, or failed.

queued → (claim) sending → sent / acknowledged; or back to queued with a
later `next_attempt_at` (the destination was unavailable: the jobs table's
backoff), or failed with a reason. A filing still `sending` after its lease
ran out belonged to a runner that died: it is claimed again, which is safe
because a refiling carries the same derived ids. Leases and claims are
`shared.db.leases`; every change after the claim names the owner, so a
runner that lost its lease changes nothing. Filed and failed are audited in
the same transaction as the change.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, Engine, update
from sqlalchemy.exc import IntegrityError

from shared import audit
from shared.db import leases
from shared.db.jobs import backoff
from shared.db.statuses import FilingStatus
from shared.db.tables import record_filings
from shared.ids import new_id
from shared.records.filer import FilingOutcome
from shared.records.filings import MAX_REASON, FilingState

_QUEUE_ORDER = (record_filings.c.next_attempt_at, record_filings.c.queued_at, record_filings.c.id)


def claim_next(
    engine: Engine, owner: str, lease: dt.timedelta, now: dt.datetime, encounter_id: str | None = None
) -> FilingState | None:
    """Take the next due filing (of this encounter, if given) under a lease; None when nothing is due."""
    condition = leases.due(record_filings, waiting=FilingStatus.QUEUED, in_flight=FilingStatus.SENDING, now=now)
    if encounter_id is not None:
        condition = condition & (record_filings.c.encounter_id == encounter_id)
    row = leases.claim_next(
        engine,
        record_filings,
        condition,
        _QUEUE_ORDER,
        in_flight=FilingStatus.SENDING,
        owner=owner,
        lease=lease,
        now=now,
    )
    return FilingState.from_row(row) if row is not None else None


def _held(filing: FilingState, owner: str) -> ColumnElement[bool]:
    return leases.held(record_filings, filing.id, owner, FilingStatus.SENDING)


def mark_filed(engine: Engine, filing: FilingState, owner: str, outcome: FilingOutcome, now: dt.datetime) -> bool:
    """The destination took the documents (and, when `acknowledged`, confirmed the record holds them)."""
    status = FilingStatus.ACKNOWLEDGED if outcome.acknowledged else FilingStatus.SENT
    with engine.begin() as conn:
        changed = conn.execute(
            update(record_filings)
            .where(_held(filing, owner))
            .values(
                **leases.released(
                    status=status,
                    sent_at=now,
                    acknowledged_at=now if outcome.acknowledged else None,
                    next_attempt_at=None,
                    detail=outcome.detail[:MAX_REASON],
                    updated_at=now,
                )
            )
        ).rowcount
        if changed:
            audit.record(
                conn,
                "records.filed",
                actor_type=audit.ACTOR_SYSTEM,
                encounter_id=filing.encounter_id,
                detail={
                    "destination": filing.destination,
                    "acknowledged": outcome.acknowledged,
                    "attempts": filing.attempts,
                },
            )
    return changed == 1


def schedule_retry(
    engine: Engine, filing: FilingState, owner: str, reason: str, now: dt.datetime
) -> dt.datetime | None:
    """Back to the queue, due after the backoff for this attempt; returns when (None: the lease was lost)."""
    due = now + backoff(filing.attempts)
    with engine.begin() as conn:
        changed = conn.execute(
            update(record_filings)
            .where(_held(filing, owner))
            .values(
                **leases.released(
                    status=FilingStatus.QUEUED,
                    next_attempt_at=due,
                    detail=f"Not reached on try {filing.attempts}: {reason}"[:MAX_REASON],
                    updated_at=now,
                )
            )
        ).rowcount
    return due if changed == 1 else None


def mark_failed(engine: Engine, filing: FilingState, owner: str, reason: str, now: dt.datetime) -> bool:
    """Failed for good with a reason a person can act on; only while `owner` holds the lease, like every change.

    A filing that cannot be made on review never gets here: `record_refused` inserts it failed.
    """
    with engine.begin() as conn:
        changed = conn.execute(
            update(record_filings)
            .where(_held(filing, owner))
            .values(
                **leases.released(
                    status=FilingStatus.FAILED,
                    failed_at=now,
                    failure_reason=reason[:MAX_REASON],
                    next_attempt_at=None,
                    updated_at=now,
                )
            )
        ).rowcount
        if changed:
            audit.record(
                conn,
                "records.filing_failed",
                actor_type=audit.ACTOR_SYSTEM,
                encounter_id=filing.encounter_id,
                detail={"destination": filing.destination, "attempts": filing.attempts},
            )
    return changed == 1


def record_refused(engine: Engine, encounter_id: str, destination: str, reason: str, now: dt.datetime) -> bool:
    """A filing MIA was to make on review that cannot be made (no NHS number, say): one failed row, audited,
    so the clinician sees why and can retry once it is put right; False when a row already exists."""
    values = {
        "id": new_id(),
        "encounter_id": encounter_id,
        "destination": destination,
        "status": FilingStatus.FAILED,
        "attempts": 0,
        "queued_at": now,
        "failed_at": now,
        "failure_reason": reason[:MAX_REASON],
        "updated_at": now,
    }
    try:
        with engine.begin() as conn:
            conn.execute(record_filings.insert().values(**values))
            audit.record(
                conn,
                "records.filing_failed",
                actor_type=audit.ACTOR_SYSTEM,
                encounter_id=encounter_id,
                detail={"destination": destination, "attempts": 0, "on_review": True},
            )
    except IntegrityError:
        return False  # queued or recorded meanwhile: one row per encounter and destination
    return True

"""Filing to the record as the portal and manage.py ask for it: queue, see, retry, and what was filed.

One `record_filings` row per encounter and destination. Asking again
re-queues that row (a failed or filed one) rather than adding one: the
destination sees the same study, document and entry ids (derived from the
encounter and media ids, `document`), so a refiling updates rather than
duplicates. Each change is audited in its own transaction. The runner
(`runner`, with `claims`) does the sending.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Row, select, update
from sqlalchemy.exc import IntegrityError

from shared import audit
from shared.config.records import DESTINATIONS
from shared.context import Actor, AppContext
from shared.db.statuses import FilingStatus
from shared.db.tables import media, record_filings
from shared.ids import new_id
from shared.records.errors import RecordsError
from shared.records.gather import read_document

LABELS = {"dicom": "PACS (DICOM)", "fhir": "FHIR record", "xds": "XDS repository"}
SETTING = {"dicom": "MIA_DICOMWEB_URL", "fhir": "MIA_FHIR_BASE_URL", "xds": "MIA_XDS_REPOSITORY_URL"}
NOTHING_CONFIGURED = (
    "No record destination is configured (set MIA_DICOMWEB_URL, MIA_FHIR_BASE_URL or MIA_XDS_REPOSITORY_URL)."
)
IN_PROGRESS = (FilingStatus.QUEUED, FilingStatus.SENDING)
MAX_REASON = 300


@dataclass(frozen=True)
class FilingState:
    """One destination's filing of one encounter, as the timeline shows it."""

    id: str
    encounter_id: str
    destination: str
    status: str
    attempts: int
    queued_at: dt.datetime
    sent_at: dt.datetime | None  # the last time the destination took it (kept while it is filed again)
    acknowledged_at: dt.datetime | None
    failed_at: dt.datetime | None
    failure_reason: str | None
    detail: str | None  # the destination's answer, or why the last try did not reach it
    requested_by: str | None  # user id; None when MIA filed it on review or an operator without --by
    next_attempt_at: dt.datetime | None = None

    @property
    def label(self) -> str:
        return LABELS.get(self.destination, self.destination)

    @property
    def can_retry(self) -> bool:
        return self.status == FilingStatus.FAILED

    @classmethod
    def from_row(cls, row: Row) -> FilingState:
        return cls(
            id=row.id,
            encounter_id=row.encounter_id,
            destination=row.destination,
            status=row.status,
            attempts=row.attempts,
            queued_at=row.queued_at,
            sent_at=row.sent_at,
            acknowledged_at=row.acknowledged_at,
            failed_at=row.failed_at,
            failure_reason=row.failure_reason,
            detail=row.detail,
            requested_by=row.requested_by,
            next_attempt_at=row.next_attempt_at,
        )


def _ordered(rows: Sequence[Row]) -> list[FilingState]:
    return sorted((FilingState.from_row(row) for row in rows), key=lambda state: DESTINATIONS.index(state.destination))


def filing_states(ctx: AppContext, encounter_id: str) -> list[FilingState]:
    """Every destination this encounter was queued for, in filing order (dicom, fhir, xds)."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(record_filings).where(record_filings.c.encounter_id == encounter_id)).all()
    return _ordered(rows)


def filing_unavailable(ctx: AppContext, encounter_id: str) -> str | None:
    """Why "File to record" cannot be offered for this encounter now, in words for the clinician; None if it can."""
    if not ctx.settings.records.destinations:
        return NOTHING_CONFIGURED
    try:
        with ctx.engine.connect() as conn:
            read_document(conn, ctx, encounter_id)
    except RecordsError as refusal:
        return str(refusal)
    return None


def request_filing(
    ctx: AppContext,
    encounter_id: str,
    *,
    actor: Actor | None,
    now: dt.datetime,
    destinations: Sequence[str] | None = None,
) -> list[FilingState]:
    """Queue the encounter for each destination (default: every configured one); audited per destination.

    A destination already queued or sending is left as it is; a failed or
    filed one is queued again. `actor` None: MIA itself (filing on review, an
    operator's command). Raises RecordsError with what to do.
    """
    chosen = _configured(ctx, destinations)
    with ctx.engine.begin() as conn:
        read_document(conn, ctx, encounter_id)
        for destination in chosen:
            _queue(conn, encounter_id, destination, actor, now, action="records.filing_requested")
        rows = conn.execute(
            select(record_filings).where(
                record_filings.c.encounter_id == encounter_id, record_filings.c.destination.in_(chosen)
            )
        ).all()
    return _ordered(rows)


def retry_filing(ctx: AppContext, filing_id: str, *, actor: Actor | None, now: dt.datetime) -> FilingState:
    """Queue a failed filing again (the retry button); audited. Raises RecordsError with what to do."""
    with ctx.engine.begin() as conn:
        row = conn.execute(select(record_filings).where(record_filings.c.id == filing_id).with_for_update()).first()
        if row is None:
            raise RecordsError("That filing does not exist.")
        if row.status != FilingStatus.FAILED:
            raise RecordsError(
                f"The filing to the {LABELS[row.destination]} has not failed, so there is nothing to retry."
            )
        _configured(ctx, [row.destination])
        read_document(conn, ctx, row.encounter_id)
        _queue(conn, row.encounter_id, row.destination, actor, now, action="records.filing_retried")
        fresh = conn.execute(select(record_filings).where(record_filings.c.id == filing_id)).one()
    return FilingState.from_row(fresh)


def filed_copies(ctx: AppContext, encounter_id: str, media_id: str | None = None) -> list[FilingState]:
    """Destinations that hold a copy of the encounter (or of this medium): what deleting it in MIA leaves behind.

    A filing holds a medium when it was sent after the medium was ready
    (a filing sends every item ready at the time).
    """
    query = select(record_filings).where(
        record_filings.c.encounter_id == encounter_id, record_filings.c.sent_at.is_not(None)
    )
    with ctx.engine.connect() as conn:
        if media_id is not None:
            ready_at = conn.execute(
                select(media.c.processed_at).where(media.c.id == media_id, media.c.encounter_id == encounter_id)
            ).scalar()
            if ready_at is None:
                return []
            query = query.where(record_filings.c.sent_at >= ready_at)
        rows = conn.execute(query).all()
    return _ordered(rows)


def _configured(ctx: AppContext, destinations: Sequence[str] | None) -> list[str]:
    on = ctx.settings.records.destinations
    if not on:
        raise RecordsError(NOTHING_CONFIGURED)
    if destinations is None:
        return list(on)
    for destination in destinations:
        if destination not in LABELS:
            raise RecordsError(f"Unknown record destination {destination!r}: choose dicom, fhir or xds.")
        if destination not in on:
            raise RecordsError(f"The {LABELS[destination]} is not configured (set {SETTING[destination]}).")
    return [destination for destination in DESTINATIONS if destination in destinations]


def _queue(
    conn: Connection, encounter_id: str, destination: str, actor: Actor | None, now: dt.datetime, *, action: str
) -> None:
    """Insert the row, or put a finished one back in the queue; nothing when it is already in progress."""
    row = conn.execute(
        select(record_filings)
        .where(record_filings.c.encounter_id == encounter_id, record_filings.c.destination == destination)
        .with_for_update()
    ).first()
    if row is not None and row.status in IN_PROGRESS:
        return
    requested_by = actor.user_id if actor is not None else None
    values = {
        "status": FilingStatus.QUEUED,
        "attempts": 0,
        "requested_by": requested_by,
        "queued_at": now,
        "next_attempt_at": None,
        "lease_owner": None,
        "lease_until": None,
        "failed_at": None,
        "failure_reason": None,
        "updated_at": now,
    }
    if row is None:
        try:
            with conn.begin_nested():
                conn.execute(
                    record_filings.insert().values(
                        id=new_id(), encounter_id=encounter_id, destination=destination, **values
                    )
                )
        except IntegrityError:
            return  # queued at the same moment by someone else: one row, as it should be
    else:
        conn.execute(update(record_filings).where(record_filings.c.id == row.id).values(**values))
    audit.record(
        conn,
        action,
        actor_type=audit.ACTOR_USER if actor is not None else audit.ACTOR_SYSTEM,
        actor_id=requested_by,
        encounter_id=encounter_id,
        remote_addr=actor.remote_addr if actor is not None else None,
        detail={"destination": destination, "again": row is not None},
    )

"""The encounter as the clinician side reads it: one dataclass per `encounters` row.

Rows become `Encounter` at the edge of the database layer, so the rest of
the code (and the portal) handles typed fields rather than SQLAlchemy rows.
Patient fields stay encrypted here; `requests.decrypt_patient` opens them
for display only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, fields

from sqlalchemy import Connection, Row, select

from shared.db.tables import encounters


@dataclass(frozen=True)
class Encounter:
    """An `encounters` row; field names are the column names."""

    id: str
    clinician_id: str
    team: str | None
    status: str
    patient_name: bytes
    date_of_birth: bytes
    nhs_number: bytes | None
    nhs_number_index: str | None
    phone: bytes | None
    email: bytes | None
    request_note: bytes | None
    invite_token_hash: str | None
    invite_expires_at: dt.datetime | None
    locked_at: dt.datetime | None
    created_at: dt.datetime
    invited_at: dt.datetime | None
    opened_at: dt.datetime | None
    verified_at: dt.datetime | None
    consented_at: dt.datetime | None
    submitted_at: dt.datetime | None
    reviewed_at: dt.datetime | None
    reviewed_by: str | None
    review_note: bytes | None
    deleted_at: dt.datetime | None
    deleted_by: str | None
    delete_reason: bytes | None
    updated_at: dt.datetime
    reminders_enabled: bool
    link_shown_at: dt.datetime | None  # first time a clinician showed the link or its QR code (not "sent")
    body_site: bytes | None  # encrypted: where the clinician said the photos are of, e.g. "left forearm"

    @classmethod
    def from_row(cls, row: Row) -> Encounter:
        values = row._mapping
        return cls(**{field.name: values[field.name] for field in fields(cls)})


def load_encounter(conn: Connection, encounter_id: str, *, lock: bool = False) -> Encounter | None:
    """The encounter with this id (deleted or not), or None; `lock` holds the row for a change."""
    query = select(encounters).where(encounters.c.id == encounter_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    return Encounter.from_row(row) if row is not None else None


def encounters_from(rows: Iterable[Row]) -> list[Encounter]:
    """Every row of a `select(encounters)` result, as Encounters."""
    return [Encounter.from_row(row) for row in rows]

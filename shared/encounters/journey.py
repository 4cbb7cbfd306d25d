"""The patient's journey through an encounter: its stages, and whether the patient may still add files.

Each step of the journey (`verification`, `consent`, `submission`) stamps
the encounter through `advance` (opened, verified, consented, submitted;
the status only ever moves forward) and writes its audit event in the same
transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from sqlalchemy import Connection, func, literal, update

from shared.context import AppContext
from shared.db.statuses import EncounterStatus
from shared.db.tables import encounters
from shared.encounters.encounter import Encounter, load_encounter
from shared.encounters.errors import AlreadySent, EncounterError, LinkExpired
from shared.encounters.requests import CLOSED_STATUSES, decrypt_request_note


class Staged(Protocol):
    """What `advance` needs of an encounter: which row, and where it stands."""

    @property
    def id(self) -> str: ...

    @property
    def status(self) -> str: ...


STAGES = (
    EncounterStatus.INVITED,
    EncounterStatus.OPENED,
    EncounterStatus.VERIFIED,
    EncounterStatus.CONSENTED,
    EncounterStatus.SUBMITTED,
    EncounterStatus.REVIEWED,
)
STAMPS = {
    EncounterStatus.OPENED: "opened_at",
    EncounterStatus.VERIFIED: "verified_at",
    EncounterStatus.CONSENTED: "consented_at",
    EncounterStatus.SUBMITTED: "submitted_at",
}


def access_problem(row: Encounter | None, now: dt.datetime) -> EncounterError | None:
    """Why a verified patient can no longer add files, or None.

    A date-of-birth lockout does not end sessions that were verified before it:
    it guards the link, not the patient already through it.
    """
    if row is None or row.deleted_at is not None:
        return LinkExpired()
    if row.status in CLOSED_STATUSES:
        return AlreadySent()
    if row.invite_expires_at is None or row.invite_expires_at <= now:
        return LinkExpired()
    return None


def advance(
    conn: Connection,
    row: Staged,
    stage: EncounterStatus,
    now: dt.datetime,
    *,
    first_time_only: bool = False,
    **also: Any,
) -> None:
    """Stamp the stage and those before it and move the status forward, never back (setting `also` too).

    COALESCE keeps a stamp already there, so the statement depends on the
    stage and the status only, not on which stamps the row holds. With
    `first_time_only`, a row already stamped for this stage is left alone.
    """
    values: dict[str, Any] = {"updated_at": now, **also}
    for earlier in STAGES[1 : STAGES.index(stage) + 1]:
        column = STAMPS.get(earlier)
        if column:
            values[column] = func.coalesce(encounters.c[column], literal(now, encounters.c[column].type))
    if STAGES.index(EncounterStatus(row.status)) < STAGES.index(stage):
        values["status"] = stage
    statement = update(encounters).where(encounters.c.id == row.id)
    if first_time_only:
        statement = statement.where(encounters.c[STAMPS[stage]].is_(None))
    conn.execute(statement.values(**values))


def request_note(ctx: AppContext, encounter_id: str) -> str | None:
    """The clinician's request, shown to the patient only after verification."""
    with ctx.engine.connect() as conn:
        row = load_encounter(conn, encounter_id)
    return decrypt_request_note(ctx.cipher, row) if row is not None else None

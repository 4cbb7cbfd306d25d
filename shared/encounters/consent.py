"""The patient's consent: answers stored with the text version they were given, and whether they allow uploads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Row, select

from shared import audit
from shared.clock import utcnow
from shared.context import AppContext
from shared.db.statuses import EncounterStatus
from shared.db.tables import consents
from shared.encounters.consent_text import CONSENT_TEXT_VERSION, REQUIRED_FIELDS
from shared.encounters.encounter import Encounter, load_encounter
from shared.encounters.journey import advance
from shared.ids import new_id


@dataclass(frozen=True)
class ConsentRecord:
    """One set of answers, as given (a later set may change an optional one)."""

    text_version: str
    share_with_care_team: bool
    keep_in_record: bool
    use_for_teaching: bool
    answered_at: dt.datetime

    @classmethod
    def from_row(cls, row: Row) -> ConsentRecord:
        return cls(
            row.text_version,
            bool(row.share_with_care_team),
            bool(row.keep_in_record),
            bool(row.use_for_teaching),
            row.answered_at,
        )


def latest_consent(conn: Connection, encounter_id: str) -> ConsentRecord | None:
    row = conn.execute(
        select(consents)
        .where(consents.c.encounter_id == encounter_id)
        .order_by(consents.c.answered_at.desc(), consents.c.id.desc())
        .limit(1)
    ).first()
    return ConsentRecord.from_row(row) if row is not None else None


def consent_granted(answers: ConsentRecord | None) -> bool:
    return answers is not None and all(bool(getattr(answers, name)) for name in REQUIRED_FIELDS)


def record_consent(
    ctx: AppContext, encounter_id: str, session_id: str, answers: Mapping[str, bool], remote_addr: str | None
) -> bool:
    """Store one set of answers with the text version; True when the required ones are yes."""
    granted = all(answers[name] for name in REQUIRED_FIELDS)
    with ctx.engine.begin() as conn:
        row = load_encounter(conn, encounter_id, lock=True)
        now = utcnow()
        conn.execute(
            consents.insert().values(
                id=new_id(),
                encounter_id=encounter_id,
                text_version=CONSENT_TEXT_VERSION,
                share_with_care_team=answers["share_with_care_team"],
                keep_in_record=answers["keep_in_record"],
                use_for_teaching=answers["use_for_teaching"],
                answered_at=now,
            )
        )
        if granted:
            advance(conn, row, EncounterStatus.CONSENTED, now)
        audit.record(
            conn,
            "patient.consent_given" if granted else "patient.consent_declined",
            actor_type=audit.ACTOR_PATIENT,
            actor_id=session_id,
            encounter_id=encounter_id,
            remote_addr=remote_addr,
            detail={"text_version": CONSENT_TEXT_VERSION, **answers},
        )
    return granted


@dataclass(frozen=True)
class Position:
    """Where a patient stands: their encounter (None once it is gone) and their latest consent answers."""

    encounter: Encounter | None
    consent: ConsentRecord | None

    @property
    def consented(self) -> bool:
        return consent_granted(self.consent)


def position(engine: Engine, encounter_id: str) -> Position:
    with engine.connect() as conn:
        return Position(load_encounter(conn, encounter_id), latest_consent(conn, encounter_id))

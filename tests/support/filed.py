"""Encounters reviewed and filed at chosen times, through the real services and runner, for the usage figures.

The context must file to FHIR (`MIA_FHIR_BASE_URL` pointing at the loopback
FHIR server); the runner's clock says when the record took the documents.
"""

from __future__ import annotations

import datetime as dt

from shared.context import Actor, AppContext
from shared.encounters.review import mark_reviewed
from shared.records.fhir import file_fhir
from shared.records.filings import request_filing
from shared.records.runner import FilingRunner
from tests.support.records import reviewed_encounter


def reviewed_and_filed(ctx: AppContext, username: str, *, reviewed_at: dt.datetime, filed_at: dt.datetime) -> str:
    """A request reviewed at `reviewed_at`, asked to be filed then, and filed to FHIR by the runner at `filed_at`."""
    encounter = reviewed_encounter(
        ctx, username=username, photos=1, review=False, start=reviewed_at - dt.timedelta(hours=1)
    )
    actor = Actor(encounter.clinician_id)
    mark_reviewed(ctx, encounter.encounter_id, actor=actor, note="Seen; file to the record.", now=reviewed_at)
    request_filing(ctx, encounter.encounter_id, actor=actor, now=reviewed_at, destinations=["fhir"])
    FilingRunner(ctx, {"fhir": file_fhir}, clock=lambda: filed_at).file_due(encounter_id=encounter.encounter_id)
    return encounter.encounter_id

"""Reviewed encounters ready to file, and a recording destination, for the records tests.

`reviewed_encounter` goes through the real services where they exist
(register, mark reviewed) and writes what the patient's side writes
(consent, ready media with display copies in the store, Send) as
tests.support.submissions does. `RecordingFiler` is a destination that keeps
what it was sent and answers as told (filed, unavailable, refused): the
runner's contract, not a stand-in for any of our code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import update

from shared.clock import utcnow
from shared.config.records import RecordSettings
from shared.context import Actor, AppContext
from shared.db.statuses import MediaKind
from shared.db.tables import media
from shared.encounters.requests import PatientDetails, register_encounter
from shared.encounters.review import mark_reviewed
from shared.records.document import ItemContent, RecordDocument
from shared.records.errors import DestinationRefused, DestinationUnavailable
from shared.records.filer import FilingOutcome
from tests.support.factories import PATIENT, REQUEST_NOTE, make_clinician
from tests.support.processed_media import photo_jpeg
from tests.support.submissions import add_media, give_consent, submit

NO_NHS_NUMBER = PatientDetails.from_input(name="Ottoline Fairweather", date_of_birth="1988-03-02")
BODY_SITE = "left forearm"


@dataclass(frozen=True)
class Reviewed:
    encounter_id: str
    clinician_id: str
    media_ids: tuple[str, ...]


def reviewed_encounter(
    ctx: AppContext,
    *,
    patient: PatientDetails = PATIENT,
    photos: int = 2,
    username: str = "drjones",
    team: str = "Dermatology",
    review: bool = True,
    start: dt.datetime | None = None,
) -> Reviewed:
    """A request with `photos` ready photos (display copies stored), sent by the patient and (by default) reviewed."""
    clinician_id = make_clinician(ctx, username, team)
    invite = register_encounter(
        ctx, Actor(clinician_id), patient=patient, request_note=REQUEST_NOTE, body_site=BODY_SITE
    )
    encounter_id = invite.encounter_id
    start = start or utcnow() - dt.timedelta(minutes=30)
    give_consent(ctx, encounter_id, at=start)
    media_ids = tuple(add_photo(ctx, encounter_id, seed=n, at=start + dt.timedelta(minutes=n)) for n in range(photos))
    submit(ctx, encounter_id, clinician_id, at=start + dt.timedelta(minutes=20))
    if review:
        mark_reviewed(ctx, encounter_id, actor=Actor(clinician_id), note="Eczema; review in 6 weeks", now=utcnow())
    return Reviewed(encounter_id, clinician_id, media_ids)


def add_photo(ctx: AppContext, encounter_id: str, *, seed: int, at: dt.datetime) -> str:
    """A ready photo whose display copy (a baseline JPEG, as the processors make) is in the store."""
    display = photo_jpeg(320, 240, seed=seed)
    key = f"display/{encounter_id}/{seed}.jpg"
    ctx.store.put(key, display, content_type="image/jpeg")
    return add_media(
        ctx,
        encounter_id,
        kind=MediaKind.IMAGE,
        width=320,
        height=240,
        display_key=key,
        display_content_type="image/jpeg",
        display_size=len(display),
        note=f"photo {seed} note",
        created_at=at,
    )


def set_acquired_at(ctx: AppContext, media_id: str, at: dt.datetime) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(update(media).where(media.c.id == media_id).values(acquired_at=at))


@dataclass
class RecordingFiler:
    """A destination that answers each call with the next of `answers` ("ack", "sent", "down", "refuse")."""

    answers: list[str] = field(default_factory=lambda: ["ack"])
    received: list[tuple[RecordDocument, list[bytes]]] = field(default_factory=list)

    def __call__(self, document: RecordDocument, content: ItemContent, settings: RecordSettings) -> FilingOutcome:
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if answer == "down":
            raise DestinationUnavailable("The test destination is down.")
        if answer == "refuse":
            raise DestinationRefused("The test destination refused the documents: missing patient identifier.")
        self.received.append((document, [content(item) for item in document.items]))
        return FilingOutcome(acknowledged=answer == "ack", detail=f"{len(document.items)} documents taken")

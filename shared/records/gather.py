"""Reads one reviewed encounter from the database into the `RecordDocument` every filer sends.

The patient's fields are decrypted here and nowhere else in records: the
document lives in memory for one filing and is never logged or stored. What
stops a filing (not reviewed, deleted, nothing ready, no NHS number where
the team does not allow a local identifier) is a `RecordsError` whose
message tells the clinician what to do; `filings.filing_unavailable` shows
the same sentence before anyone presses the button.
"""

from __future__ import annotations

from sqlalchemy import Connection, Row, select

from shared.context import AppContext
from shared.db.statuses import EncounterStatus, MediaKind, MediaStatus
from shared.db.tables import media, users
from shared.encounters.consent import latest_consent
from shared.encounters.encounter import Encounter, load_encounter
from shared.encounters.requests import decrypt_body_site, decrypt_patient, decrypt_request_note
from shared.notifications.alerts import request_reference
from shared.records.document import (
    ItemContent,
    PatientIdentifier,
    RecordAuthor,
    RecordConsent,
    RecordDocument,
    RecordItem,
    RecordPatient,
)
from shared.records.errors import RecordsError
from shared.staff.teams import organisation_name, team_settings

NOT_FOUND = "That request does not exist."
DELETED = "This request has been deleted, so it cannot be filed to the record."
NOT_REVIEWED = "Mark the request as reviewed first: only reviewed requests are filed to the record."
NOTHING_READY = "Nothing is ready to file: none of the patient's photos or videos has been prepared for viewing."
NO_CONSENT = "The patient's consent to keep these in their health record is not on file, so they cannot be filed."
NO_NHS_NUMBER = (
    "This patient has no NHS number; your team does not allow filing under a local identifier. "
    "Add the NHS number (register the request again with it), or ask an administrator to allow "
    "local identifiers for your team on the Teams page."
)
KIND_WORDS = {MediaKind.IMAGE: "Photo", MediaKind.VIDEO: "Video"}


def load_document(ctx: AppContext, encounter_id: str) -> RecordDocument:
    """The encounter as it is filed now; raises RecordsError with what to do when it cannot be."""
    with ctx.engine.connect() as conn:
        return read_document(conn, ctx, encounter_id)


def read_document(conn: Connection, ctx: AppContext, encounter_id: str) -> RecordDocument:
    """`load_document` inside the caller's transaction."""
    encounter = load_encounter(conn, encounter_id)
    if encounter is None:
        raise RecordsError(NOT_FOUND)
    if encounter.deleted_at is not None:
        raise RecordsError(DELETED)
    if encounter.status != EncounterStatus.REVIEWED or encounter.reviewed_at is None or encounter.reviewed_by is None:
        raise RecordsError(NOT_REVIEWED)
    items = _items(conn, ctx, encounter.id)
    if not items:
        raise RecordsError(NOTHING_READY)
    consent = latest_consent(conn, encounter.id)
    if consent is None or not consent.keep_in_record:
        raise RecordsError(NO_CONSENT)
    patient = decrypt_patient(ctx.cipher, encounter)
    return RecordDocument(
        encounter_id=encounter.id,
        reference=request_reference(encounter.id),
        organisation_name=organisation_name(conn, ctx, encounter.team),
        team=encounter.team,
        patient=RecordPatient(
            name=patient.name,
            date_of_birth=patient.date_of_birth,
            identifier=_identifier(conn, ctx, encounter, patient.nhs_number),
        ),
        request_note=decrypt_request_note(ctx.cipher, encounter),
        body_site=decrypt_body_site(ctx.cipher, encounter),
        consent=RecordConsent(
            text_version=consent.text_version,
            share_with_care_team=consent.share_with_care_team,
            keep_in_record=consent.keep_in_record,
            use_for_teaching=consent.use_for_teaching,
            answered_at=consent.answered_at,
        ),
        author=_author(conn, encounter.reviewed_by),
        submitted_at=encounter.submitted_at or encounter.reviewed_at,
        reviewed_at=encounter.reviewed_at,
        review_note=ctx.cipher.decrypt_optional("encounters", "review_note", encounter.id, encounter.review_note),
        items=items,
    )


def store_content(ctx: AppContext) -> ItemContent:
    """Reads an item's display copy from the object store (the filers never see the store itself)."""

    def content(item: RecordItem) -> bytes:
        return ctx.store.get(item.storage_key)

    return content


def _identifier(conn: Connection, ctx: AppContext, encounter: Encounter, nhs_number: str | None) -> PatientIdentifier:
    """The NHS number; else, where the team allows it, the encounter id under MIA's local issuer."""
    if nhs_number:
        return PatientIdentifier.nhs_number(nhs_number)
    team = team_settings(conn, encounter.team)
    if team is None or not team.allow_local_identifier:
        raise RecordsError(NO_NHS_NUMBER)
    records = ctx.settings.records
    return PatientIdentifier(
        value=encounter.id,
        issuer=records.local_id_issuer,
        oid=records.local_id_oid,
        system=f"urn:oid:{records.local_id_oid}",
        is_nhs_number=False,
    )


def _author(conn: Connection, user_id: str) -> RecordAuthor:
    row = conn.execute(select(users).where(users.c.id == user_id)).one()
    return RecordAuthor(user_id=row.id, username=row.username, display_name=row.display_name, team=row.team)


def _items(conn: Connection, ctx: AppContext, encounter_id: str) -> tuple[RecordItem, ...]:
    """Ready, not deleted media with a display copy, in upload order, titled "Photo 1 of 2" per kind."""
    rows = conn.execute(
        select(media)
        .where(
            media.c.encounter_id == encounter_id,
            media.c.deleted_at.is_(None),
            media.c.status == MediaStatus.READY,
            media.c.display_key.is_not(None),
        )
        .order_by(media.c.created_at, media.c.id)
    ).all()
    totals = {kind: sum(1 for row in rows if row.kind == kind) for kind in KIND_WORDS}
    seen = dict.fromkeys(KIND_WORDS, 0)
    items = []
    for row in rows:
        seen[row.kind] += 1
        items.append(_item(ctx, row, f"{KIND_WORDS[row.kind]} {seen[row.kind]} of {totals[row.kind]}"))
    return tuple(items)


def _item(ctx: AppContext, row: Row, title: str) -> RecordItem:
    return RecordItem(
        media_id=row.id,
        kind="video" if row.kind == MediaKind.VIDEO else "photo",
        content_type=row.display_content_type or ("video/mp4" if row.kind == MediaKind.VIDEO else "image/jpeg"),
        size=row.display_size or 0,
        width=row.width,
        height=row.height,
        duration_seconds=row.duration_seconds,
        acquired_at=row.acquired_at or row.created_at,
        title=title,
        note=ctx.cipher.decrypt_optional("media", "note", row.id, row.note),
        storage_key=row.display_key,
    )

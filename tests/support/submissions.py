"""The patient's side of an encounter, for portal tests: consent, files, and pressing Send.

The upload service (issue 3) is built in parallel and is not on this branch,
so these helpers write what it writes, through the same tables, encryption
and outbox: timestamps and status, a `consents` row, `media` rows, and the
clinician's "files received" notice.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from shared.clock import utcnow
from shared.context import AppContext
from shared.db.statuses import EncounterStatus, MediaKind, MediaStatus
from shared.db.tables import consents, encounters, media
from shared.ids import new_id
from shared.notifications import outbox

CONSENT_VERSION = "2026-11-v1"


def give_consent(ctx: AppContext, encounter_id: str, *, teaching: bool = True, at: dt.datetime | None = None) -> None:
    at = at or utcnow()
    with ctx.engine.begin() as conn:
        conn.execute(
            consents.insert().values(
                id=new_id(),
                encounter_id=encounter_id,
                text_version=CONSENT_VERSION,
                share_with_care_team=True,
                keep_in_record=True,
                use_for_teaching=teaching,
                answered_at=at,
            )
        )
        conn.execute(
            update(encounters)
            .where(encounters.c.id == encounter_id)
            .values(
                status=EncounterStatus.CONSENTED,
                opened_at=at - dt.timedelta(minutes=3),
                verified_at=at - dt.timedelta(minutes=2),
                consented_at=at,
                updated_at=at,
            )
        )


def add_media(
    ctx: AppContext,
    encounter_id: str,
    *,
    kind: str = MediaKind.IMAGE,
    content_type: str = "image/jpeg",
    status: str = MediaStatus.READY,
    original_size: int = 1000,
    width: int | None = None,
    height: int | None = None,
    duration_seconds: float | None = None,
    display_key: str | None = None,
    display_content_type: str | None = None,
    display_size: int | None = None,
    thumbnail_key: str | None = None,
    thumbnail_size: int | None = None,
    failure_reason: str | None = None,
    note: str | None = None,
    original_filename: str | None = None,
    media_id: str | None = None,
    upload_id: str | None = None,
    created_at: dt.datetime | None = None,
) -> str:
    """A `media` row as the upload service and processors leave it (note and name encrypted)."""
    media_id = media_id or new_id()
    upload_id = upload_id or new_id()
    created_at = created_at or utcnow()
    with ctx.engine.begin() as conn:
        conn.execute(
            media.insert().values(
                id=media_id,
                encounter_id=encounter_id,
                upload_id=upload_id,
                kind=kind,
                content_type=content_type,
                status=status,
                failure_reason=failure_reason,
                original_key=original_key(encounter_id, upload_id),
                original_size=original_size,
                original_filename=ctx.cipher.encrypt_optional(
                    "media", "original_filename", media_id, original_filename
                ),
                note=ctx.cipher.encrypt_optional("media", "note", media_id, note),
                width=width,
                height=height,
                duration_seconds=duration_seconds,
                display_key=display_key,
                display_content_type=display_content_type,
                display_size=display_size,
                thumbnail_key=thumbnail_key,
                thumbnail_size=thumbnail_size,
                created_at=created_at,
                processed_at=created_at if status in (MediaStatus.READY, MediaStatus.FAILED) else None,
            )
        )
    return media_id


def original_key(encounter_id: str, upload_id: str) -> str:
    """Where the upload service stores what the patient sent (the tus target)."""
    return f"uploads/{encounter_id}/{upload_id}/original"


def submit(ctx: AppContext, encounter_id: str, clinician_id: str, *, at: dt.datetime | None = None) -> None:
    """The patient pressed Send: the encounter is submitted and the clinician notified."""
    at = at or utcnow()
    with ctx.engine.begin() as conn:
        conn.execute(
            update(encounters)
            .where(encounters.c.id == encounter_id)
            .values(status=EncounterStatus.SUBMITTED, submitted_at=at, updated_at=at)
        )
        outbox.notify_clinician(
            conn,
            ctx.cipher,
            user_id=clinician_id,
            encounter_id=encounter_id,
            message="A patient has sent photos or videos for you to review.",
        )

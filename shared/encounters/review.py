"""What a clinician reviews and does to an encounter: consent, media and their URLs, review, delete.

Media become visible only once the patient pressed Send (encounter
`submitted` or `reviewed`). Every URL handed out is time-limited
(`ctx.store.url`) and every hand-out is audited, as are views, refused
openings, downloads of originals, reviews and deletions: each service runs
in its own transaction with its audit event. Notes and reasons are stored
encrypted.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Row, select, update

from shared import audit
from shared.context import Actor, AppContext
from shared.db.statuses import EncounterStatus, MediaKind, MediaStatus
from shared.db.tables import consents, encounters, media, notifications, users
from shared.encounters.consent import ConsentRecord
from shared.encounters.encounter import Encounter, load_encounter
from shared.encounters.errors import ReviewError
from shared.encounters.queries import Viewer, visible_in

REVIEWABLE = (EncounterStatus.SUBMITTED, EncounterStatus.REVIEWED)
MAX_REVIEW_NOTE = 4000
MAX_DELETE_REASON = 1000
THUMBNAIL_CONTENT_TYPE = "image/jpeg"
EXTENSIONS = {"image/jpeg": ".jpg", "image/heic": ".heic", "image/heif": ".heif", "video/quicktime": ".mov"}


def open_encounter(ctx: AppContext, viewer: Viewer, encounter_id: str, *, actor: Actor) -> Encounter | None:
    """The encounter to review, if the viewer may see it; a refusal (unknown, deleted, not theirs) is audited."""
    with ctx.engine.begin() as conn:
        encounter = visible_in(conn, viewer, encounter_id)
        if encounter is None:
            audit.record(
                conn,
                "encounter.access_refused",
                actor_type=audit.ACTOR_USER,
                actor_id=actor.user_id,
                encounter_id=encounter_id[:32],
                remote_addr=actor.remote_addr,
            )
    return encounter


def consents_for(ctx: AppContext, encounter_id: str) -> list[ConsentRecord]:
    """Every answer the patient gave, newest first (a later row may withdraw optional consent)."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(consents)
            .where(consents.c.encounter_id == encounter_id)
            .order_by(consents.c.answered_at.desc(), consents.c.id)
        ).all()
    return [ConsentRecord.from_row(row) for row in rows]


@dataclass(frozen=True)
class MediaItem:
    """One file the patient sent, with its patient note and original name decrypted for display."""

    id: str
    encounter_id: str
    kind: str
    status: str
    content_type: str
    failure_reason: str | None
    width: int | None
    height: int | None
    duration_seconds: float | None
    original_key: str
    original_size: int
    display_key: str | None
    display_content_type: str | None
    display_size: int | None
    thumbnail_key: str | None
    thumbnail_size: int | None
    created_at: dt.datetime
    processed_at: dt.datetime | None
    note: str | None
    original_filename: str | None

    @property
    def is_ready(self) -> bool:
        return self.status == MediaStatus.READY and self.display_key is not None

    @property
    def is_video(self) -> bool:
        return self.kind == MediaKind.VIDEO

    @property
    def download_name(self) -> str:
        """A neutral file name: the patient's own may carry personal details (and odd characters)."""
        extension = EXTENSIONS.get(self.content_type) or mimetypes.guess_extension(self.content_type) or ""
        return f"mia-{self.encounter_id[:8]}-{self.id[:8]}-original{extension}"


def media_visible(row: Encounter) -> bool:
    return row.deleted_at is None and row.status in REVIEWABLE


def media_for(ctx: AppContext, encounter: Encounter) -> list[MediaItem]:
    """The encounter's files in upload order, or none until the patient has sent them."""
    if not media_visible(encounter):
        return []
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(media)
            .where(media.c.encounter_id == encounter.id, media.c.deleted_at.is_(None))
            .order_by(media.c.created_at, media.c.id)
        ).all()
    return [_item(ctx, row) for row in rows]


def _item(ctx: AppContext, row: Row) -> MediaItem:
    def decrypted(column: str) -> str | None:
        return ctx.cipher.decrypt_optional("media", column, row.id, getattr(row, column))

    return MediaItem(
        id=row.id,
        encounter_id=row.encounter_id,
        kind=row.kind,
        status=row.status,
        content_type=row.content_type,
        failure_reason=row.failure_reason,
        width=row.width,
        height=row.height,
        duration_seconds=row.duration_seconds,
        original_key=row.original_key,
        original_size=row.original_size,
        display_key=row.display_key,
        display_content_type=row.display_content_type,
        display_size=row.display_size,
        thumbnail_key=row.thumbnail_key,
        thumbnail_size=row.thumbnail_size,
        created_at=row.created_at,
        processed_at=row.processed_at,
        note=decrypted("note"),
        original_filename=decrypted("original_filename"),
    )


@dataclass(frozen=True)
class MediaUrls:
    """Time-limited URLs for one ready file: its thumbnail (or poster) and its display copy (or video)."""

    media_id: str
    thumbnail: str | None
    display: str
    expires_at: dt.datetime


def issue_view_urls(
    ctx: AppContext, items: Sequence[MediaItem], *, actor: Actor, now: dt.datetime
) -> dict[str, MediaUrls]:
    """URLs for the ready files, one audit event per file (the URL is the access)."""
    lifetime = ctx.settings.media_url_lifetime_seconds
    issued: dict[str, MediaUrls] = {}
    with ctx.engine.begin() as conn:
        for item in items:
            if not item.is_ready or item.display_key is None:
                continue
            thumbnail = (
                ctx.store.url(item.thumbnail_key, lifetime, content_type=THUMBNAIL_CONTENT_TYPE)
                if item.thumbnail_key
                else None
            )
            display = ctx.store.url(item.display_key, lifetime, content_type=item.display_content_type)
            issued[item.id] = MediaUrls(item.id, thumbnail, display, now + dt.timedelta(seconds=lifetime))
            audit.record(
                conn,
                "media.viewed",
                actor_type=audit.ACTOR_USER,
                actor_id=actor.user_id,
                encounter_id=item.encounter_id,
                media_id=item.id,
                remote_addr=actor.remote_addr,
                detail={"renditions": ["thumbnail", "display"] if thumbnail else ["display"], "url_seconds": lifetime},
            )
    return issued


def issue_original_download(ctx: AppContext, item: MediaItem, *, actor: Actor) -> str:
    """A time-limited download URL for the file exactly as the patient sent it (audited)."""
    lifetime = ctx.settings.media_url_lifetime_seconds
    url = ctx.store.url(item.original_key, lifetime, download_name=item.download_name, content_type=item.content_type)
    with ctx.engine.begin() as conn:
        audit.record(
            conn,
            "media.original_downloaded",
            actor_type=audit.ACTOR_USER,
            actor_id=actor.user_id,
            encounter_id=item.encounter_id,
            media_id=item.id,
            remote_addr=actor.remote_addr,
            detail={"url_seconds": lifetime, "bytes": item.original_size},
        )
    return url


def record_view(ctx: AppContext, encounter_id: str, *, actor: Actor, now: dt.datetime) -> int:
    """Audit that the clinician opened the encounter, and read its "files received" notices to them.

    Returns how many notices were read.
    """
    with ctx.engine.begin() as conn:
        audit.record(
            conn,
            "encounter.viewed",
            actor_type=audit.ACTOR_USER,
            actor_id=actor.user_id,
            encounter_id=encounter_id,
            remote_addr=actor.remote_addr,
        )
        result = conn.execute(
            update(notifications)
            .where(
                notifications.c.user_id == actor.user_id,
                notifications.c.encounter_id == encounter_id,
                notifications.c.read_at.is_(None),
            )
            .values(read_at=now)
        )
    return int(result.rowcount or 0)


def _clean_text(text: str | None, *, name: str, maximum: int) -> str:
    cleaned = (text or "").strip()
    if not cleaned:
        raise ReviewError(f"Enter the {name}.")
    if len(cleaned) > maximum:
        raise ReviewError(f"The {name} is too long ({len(cleaned)} characters; at most {maximum}).")
    return cleaned


def _load_for_change(conn: Connection, encounter_id: str) -> Encounter:
    row = load_encounter(conn, encounter_id, lock=True)
    if row is None or row.deleted_at is not None:
        raise ReviewError("That encounter does not exist.")
    return row


def mark_reviewed(ctx: AppContext, encounter_id: str, *, actor: Actor, note: str, now: dt.datetime) -> None:
    """Record that the submission was reviewed, with the clinician's note (encrypted)."""
    text = _clean_text(note, name="clinical note", maximum=MAX_REVIEW_NOTE)
    with ctx.engine.begin() as conn:
        row = _load_for_change(conn, encounter_id)
        if row.status == EncounterStatus.REVIEWED:
            raise ReviewError("This encounter has already been marked as reviewed.")
        if row.status != EncounterStatus.SUBMITTED:
            raise ReviewError("The patient has not sent their files yet, so there is nothing to review.")
        conn.execute(
            update(encounters)
            .where(encounters.c.id == encounter_id, encounters.c.status == EncounterStatus.SUBMITTED.value)
            .values(
                status=EncounterStatus.REVIEWED,
                reviewed_at=now,
                reviewed_by=actor.user_id,
                review_note=ctx.cipher.encrypt("encounters", "review_note", encounter_id, text),
                updated_at=now,
            )
        )
        audit.record(
            conn,
            "encounter.reviewed",
            actor_type=audit.ACTOR_USER,
            actor_id=actor.user_id,
            encounter_id=encounter_id,
            remote_addr=actor.remote_addr,
        )


@dataclass(frozen=True)
class ReviewRecord:
    reviewed_at: dt.datetime
    reviewer_name: str
    note: str | None


def review_record(ctx: AppContext, encounter: Encounter) -> ReviewRecord | None:
    """Who reviewed the encounter, when, and their note (decrypted for display); None before a review."""
    if encounter.reviewed_at is None:
        return None
    with ctx.engine.connect() as conn:
        name = conn.execute(select(users.c.display_name).where(users.c.id == encounter.reviewed_by)).scalar()
    note = ctx.cipher.decrypt_optional("encounters", "review_note", encounter.id, encounter.review_note)
    return ReviewRecord(encounter.reviewed_at, name or "—", note)


def delete_medium(
    ctx: AppContext, *, encounter_id: str, media_id: str, actor: Actor, reason: str, now: dt.datetime
) -> None:
    """Hide one file from review for a stated reason (soft delete; the reason is encrypted)."""
    text = _clean_text(reason, name="reason for deleting", maximum=MAX_DELETE_REASON)
    with ctx.engine.begin() as conn:
        encounter = _load_for_change(conn, encounter_id)
        if not media_visible(encounter):
            raise ReviewError("The patient has not sent their files yet.")
        deleted = conn.execute(
            update(media)
            .where(media.c.id == media_id, media.c.encounter_id == encounter_id, media.c.deleted_at.is_(None))
            .values(
                deleted_at=now,
                deleted_by=actor.user_id,
                delete_reason=ctx.cipher.encrypt("media", "delete_reason", media_id, text),
            )
        )
        if deleted.rowcount != 1:
            raise ReviewError("That file does not exist or has already been deleted.")
        audit.record(
            conn,
            "media.deleted",
            actor_type=audit.ACTOR_USER,
            actor_id=actor.user_id,
            encounter_id=encounter_id,
            media_id=media_id,
            remote_addr=actor.remote_addr,
        )


def delete_encounter(ctx: AppContext, *, encounter_id: str, actor: Actor, reason: str, now: dt.datetime) -> None:
    """Withdraw a whole encounter for a stated reason: hidden from lists, its patient link stops working."""
    text = _clean_text(reason, name="reason for deleting", maximum=MAX_DELETE_REASON)
    with ctx.engine.begin() as conn:
        _load_for_change(conn, encounter_id)
        conn.execute(
            update(encounters)
            .where(encounters.c.id == encounter_id)
            .values(
                deleted_at=now,
                deleted_by=actor.user_id,
                delete_reason=ctx.cipher.encrypt("encounters", "delete_reason", encounter_id, text),
                invite_token_hash=None,
                updated_at=now,
            )
        )
        audit.record(
            conn,
            "encounter.deleted",
            actor_type=audit.ACTOR_USER,
            actor_id=actor.user_id,
            encounter_id=encounter_id,
            remote_addr=actor.remote_addr,
        )

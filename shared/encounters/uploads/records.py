"""Upload rows (`uploads`): creation under the per-request limits, the cross-process write lock
(with the expiry and progress it carries), completion into a `media` row plus a processing job, removal.

All functions are synchronous (SQLAlchemy Core); the tus service calls them
from a worker thread. File names and notes are stored only encrypted, bound
to their table, column and row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, exists, func, or_, select, update

from shared import audit
from shared.clock import utcnow
from shared.context import AppContext
from shared.db import jobs
from shared.db.statuses import MediaStatus, UploadStatus
from shared.db.tables import encounters, media, uploads
from shared.encounters.consent import consent_granted, latest_consent
from shared.encounters.encounter import load_encounter
from shared.encounters.errors import AlreadySent, ConsentNeeded, EncounterError, UploadBusy, UploadGone, UploadNotFound
from shared.encounters.journey import access_problem
from shared.encounters.requests import CLOSED_STATUSES
from shared.encounters.uploads.limits import UploadLimits
from shared.ids import new_id
from shared.media_types.sniff import FileType

TABLE = "uploads"
PROCESS_MEDIA = "process_media"
REMOVED_REASON = "Removed by the patient before sending."


def storage_key(encounter_id: str, upload_id: str) -> str:
    return f"uploads/{encounter_id}/{upload_id}/original"


def derived_prefix(encounter_id: str, media_id: str) -> str:
    return f"derived/{encounter_id}/{media_id}/"


@dataclass(frozen=True)
class Upload:
    id: str
    encounter_id: str
    session_id: str
    status: str
    storage_key: str
    storage_ref: str
    length: int
    offset: int
    kind: str | None
    content_type: str | None
    expires_at: dt.datetime
    media_id: str | None
    lock_token: str | None
    locked_until: dt.datetime | None
    filename: bytes | None
    note: bytes | None

    @classmethod
    def from_row(cls, row: Any) -> Upload:
        return cls(
            id=row.id,
            encounter_id=row.encounter_id,
            session_id=row.session_id,
            status=row.status,
            storage_key=row.storage_key,
            storage_ref=row.storage_ref or "",
            length=int(row.upload_length),
            offset=int(row.upload_offset),
            kind=row.kind,
            content_type=row.content_type,
            expires_at=row.expires_at,
            media_id=row.media_id,
            lock_token=row.lock_token,
            locked_until=row.locked_until,
            filename=row.original_filename,
            note=row.note,
        )

    def is_locked(self, now: dt.datetime) -> bool:
        return self.lock_token is not None and self.locked_until is not None and self.locked_until > now


def decrypt_filename(ctx: AppContext, upload: Upload) -> str | None:
    return ctx.cipher.decrypt_optional(TABLE, "original_filename", upload.id, upload.filename)


def decrypt_note(ctx: AppContext, upload: Upload) -> str | None:
    return ctx.cipher.decrypt_optional(TABLE, "note", upload.id, upload.note)


def precheck(ctx: AppContext, encounter_id: str, length: int, limits: UploadLimits) -> None:
    """Refuse an obviously unacceptable creation before any storage work (re-checked under lock on insert)."""
    with ctx.engine.connect() as conn:
        _check_can_add(conn, encounter_id, length, limits)


def _check_can_add(conn: Connection, encounter_id: str, length: int, limits: UploadLimits, lock: bool = False) -> None:
    problem = access_problem(load_encounter(conn, encounter_id, lock=lock), utcnow())
    if problem is not None:
        raise problem
    if not consent_granted(latest_consent(conn, encounter_id)):
        raise ConsentNeeded()
    files, total = count_uploads(conn, encounter_id)
    limits.check_new_file(length, files, total)


def insert(
    ctx: AppContext,
    *,
    upload_id: str,
    encounter_id: str,
    session_id: str,
    key: str,
    ref: str,
    length: int,
    filename: str,
    note: str | None,
    limits: UploadLimits,
    lifetime: dt.timedelta,
    remote_addr: str | None,
) -> Upload:
    """Record a new upload; the encounter row is locked so concurrent creations cannot overrun the limits."""
    with ctx.engine.begin() as conn:
        _check_can_add(conn, encounter_id, length, limits, lock=True)
        now = utcnow()
        conn.execute(
            uploads.insert().values(
                id=upload_id,
                encounter_id=encounter_id,
                session_id=session_id,
                status=UploadStatus.RECEIVING,
                storage_key=key,
                storage_ref=ref,
                upload_length=length,
                upload_offset=0,
                original_filename=ctx.cipher.encrypt(TABLE, "original_filename", upload_id, filename),
                note=ctx.cipher.encrypt_optional(TABLE, "note", upload_id, note),
                created_at=now,
                updated_at=now,
                expires_at=now + lifetime,
            )
        )
        audit.record(
            conn,
            "patient.upload_started",
            actor_type=audit.ACTOR_PATIENT,
            actor_id=session_id,
            encounter_id=encounter_id,
            remote_addr=remote_addr,
            detail={"upload_id": upload_id, "length": length},
        )
        return Upload.from_row(conn.execute(select(uploads).where(uploads.c.id == upload_id)).one())


def get_for_session(engine: Engine, upload_id: str, session_id: str) -> Upload | None:
    """Only the session that created an upload may see it; for anyone else it does not exist."""
    with engine.connect() as conn:
        row = conn.execute(select(uploads).where(uploads.c.id == upload_id, uploads.c.session_id == session_id)).first()
    return Upload.from_row(row) if row is not None else None


def _open_encounter(now: dt.datetime) -> Any:
    """SQL for "the upload's encounter still takes files" (journey.access_problem, in the lock statement)."""
    return exists().where(
        encounters.c.id == uploads.c.encounter_id,
        encounters.c.deleted_at.is_(None),
        encounters.c.status.not_in([status.value for status in CLOSED_STATUSES]),
        encounters.c.invite_expires_at > now,
    )


def claim(
    engine: Engine,
    upload_id: str,
    session_id: str,
    *,
    token: str,
    locked_until: dt.datetime,
    expires_at: dt.datetime | None,
    now: dt.datetime,
    encounter_must_take_files: bool = True,
) -> Upload:
    """Take this session's upload's write lock, in one transaction; the upload as it then is.

    One conditional UPDATE (atomic across processes and hosts) takes the lock
    and slides the expiry (`expires_at`, None to leave it), on the conditions
    a write needs: the session's own upload, still receiving and not expired,
    nobody else's live lock, and (unless told otherwise) an encounter that
    still takes files. A finished upload comes back unlocked (status
    complete). Anything else raises the domain error that says why.
    """
    conditions = [
        uploads.c.id == upload_id,
        uploads.c.session_id == session_id,
        uploads.c.status == UploadStatus.RECEIVING,
        uploads.c.expires_at > now,
        or_(uploads.c.lock_token.is_(None), uploads.c.locked_until < now),
    ]
    if encounter_must_take_files:
        conditions.append(_open_encounter(now))
    values: dict[str, Any] = {"lock_token": token, "locked_until": locked_until, "updated_at": now}
    if expires_at is not None:
        values["expires_at"] = expires_at
    with engine.begin() as conn:
        taken = conn.execute(update(uploads).where(*conditions).values(**values)).rowcount == 1
        row = conn.execute(select(uploads).where(uploads.c.id == upload_id, uploads.c.session_id == session_id)).first()
        upload = Upload.from_row(row) if row is not None else None
        if taken and upload is not None:
            return upload
        problem = _why_not_claimed(conn, upload, now, encounter_must_take_files)
    if problem is None:
        assert upload is not None
        return upload
    raise problem


def _why_not_claimed(
    conn: Connection, upload: Upload | None, now: dt.datetime, encounter_must_take_files: bool
) -> EncounterError | None:
    """Why `claim` did not take the lock; None for a finished upload (returned unlocked)."""
    if upload is None or upload.status == UploadStatus.TERMINATED:
        return UploadNotFound()
    if upload.status == UploadStatus.EXPIRED or (upload.status == UploadStatus.RECEIVING and upload.expires_at <= now):
        return UploadGone()
    if encounter_must_take_files:
        problem = access_problem(load_encounter(conn, upload.encounter_id), now)
        if problem is not None:
            return problem
    if upload.status == UploadStatus.COMPLETE:
        return None
    return UploadBusy()


def renew_lock(engine: Engine, upload_id: str, token: str, locked_until: dt.datetime) -> bool:
    with engine.begin() as conn:
        result = conn.execute(
            update(uploads)
            .where(uploads.c.id == upload_id, uploads.c.lock_token == token)
            .values(locked_until=locked_until)
        )
    return result.rowcount == 1


def release_lock(engine: Engine, upload_id: str, token: str, offset: int | None = None) -> None:
    """Free the lock, recording how far the upload got (`offset`) in the same statement."""
    values: dict[str, Any] = {"lock_token": None, "locked_until": None}
    if offset is not None:
        values.update(upload_offset=offset, updated_at=utcnow())
    with engine.begin() as conn:
        conn.execute(update(uploads).where(uploads.c.id == upload_id, uploads.c.lock_token == token).values(**values))


@dataclass(frozen=True)
class DatabaseLocker:
    """The `Locker` port on the `uploads` row (works across processes and hosts)."""

    engine: Engine

    def acquire(
        self,
        upload_id: str,
        session_id: str,
        *,
        token: str,
        until: dt.datetime,
        expires_at: dt.datetime | None,
        encounter_must_take_files: bool = True,
    ) -> Upload:
        return claim(
            self.engine,
            upload_id,
            session_id,
            token=token,
            locked_until=until,
            expires_at=expires_at,
            now=utcnow(),
            encounter_must_take_files=encounter_must_take_files,
        )

    def renew(self, upload_id: str, token: str, until: dt.datetime) -> bool:
        return renew_lock(self.engine, upload_id, token, until)

    def release(self, upload_id: str, token: str, offset: int | None) -> None:
        release_lock(self.engine, upload_id, token, offset)


def record_type(engine: Engine, upload_id: str, file_type: FileType) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(uploads)
            .where(uploads.c.id == upload_id)
            .values(kind=file_type.kind, content_type=file_type.content_type, updated_at=utcnow())
        )


def mark_refused(ctx: AppContext, upload: Upload, refusal: EncounterError, remote_addr: str | None) -> None:
    """An upload that can never be accepted (wrong type, too big for its kind) ends here."""
    with ctx.engine.begin() as conn:
        now = utcnow()
        conn.execute(
            update(uploads)
            .where(uploads.c.id == upload.id)
            .values(status=UploadStatus.TERMINATED, updated_at=now, lock_token=None, locked_until=None)
        )
        audit.record(
            conn,
            "patient.upload_refused",
            actor_type=audit.ACTOR_PATIENT,
            actor_id=upload.session_id,
            encounter_id=upload.encounter_id,
            remote_addr=remote_addr,
            detail={"upload_id": upload.id, "reason": refusal.code},
        )


def complete(ctx: AppContext, upload_id: str, remote_addr: str | None) -> str:
    """Turn a fully received upload into a `media` row (status uploaded) and its processing job; idempotent."""
    with ctx.engine.begin() as conn:
        row = conn.execute(select(uploads).where(uploads.c.id == upload_id).with_for_update()).one()
        upload = Upload.from_row(row)
        if upload.status == UploadStatus.COMPLETE and upload.media_id:
            return upload.media_id
        if upload.status != UploadStatus.RECEIVING or upload.kind is None or upload.content_type is None:
            raise RuntimeError(f"upload {upload_id} cannot complete from status {upload.status}")
        media_id = new_id()
        now = utcnow()
        conn.execute(
            media.insert().values(
                id=media_id,
                encounter_id=upload.encounter_id,
                upload_id=upload.id,
                kind=upload.kind,
                content_type=upload.content_type,
                status=MediaStatus.UPLOADED,
                original_key=upload.storage_key,
                original_size=upload.length,
                original_filename=ctx.cipher.encrypt_optional(
                    "media", "original_filename", media_id, decrypt_filename(ctx, upload)
                ),
                note=ctx.cipher.encrypt_optional("media", "note", media_id, decrypt_note(ctx, upload)),
                created_at=now,
            )
        )
        jobs.enqueue(conn, PROCESS_MEDIA, media_id=media_id, dedupe_key=f"media:{media_id}")
        conn.execute(
            update(uploads)
            .where(uploads.c.id == upload.id)
            .values(
                status=UploadStatus.COMPLETE,
                upload_offset=upload.length,
                media_id=media_id,
                completed_at=now,
                updated_at=now,
                lock_token=None,
                locked_until=None,
            )
        )
        audit.record(
            conn,
            "patient.upload_completed",
            actor_type=audit.ACTOR_PATIENT,
            actor_id=upload.session_id,
            encounter_id=upload.encounter_id,
            media_id=media_id,
            remote_addr=remote_addr,
            detail={"upload_id": upload.id, "kind": upload.kind, "size": upload.length},
        )
        return media_id


def remove(ctx: AppContext, upload: Upload, remote_addr: str | None) -> None:
    """tus termination by the patient: only before the encounter is sent.

    A finished upload's media row is soft-deleted with its name and note wiped;
    the caller then deletes the bytes (original and anything derived).
    """
    with ctx.engine.begin() as conn:
        encounter = load_encounter(conn, upload.encounter_id, lock=True)
        if encounter.status in CLOSED_STATUSES:
            raise AlreadySent()
        now = utcnow()
        conn.execute(
            update(uploads)
            .where(uploads.c.id == upload.id)
            .values(
                status=UploadStatus.TERMINATED,
                original_filename=None,
                note=None,
                updated_at=now,
                lock_token=None,
                locked_until=None,
            )
        )
        if upload.media_id:
            conn.execute(
                update(media)
                .where(media.c.id == upload.media_id)
                .values(
                    deleted_at=now,
                    original_filename=None,
                    note=None,
                    delete_reason=ctx.cipher.encrypt("media", "delete_reason", upload.media_id, REMOVED_REASON),
                )
            )
        audit.record(
            conn,
            "patient.upload_removed",
            actor_type=audit.ACTOR_PATIENT,
            actor_id=upload.session_id,
            encounter_id=upload.encounter_id,
            media_id=upload.media_id,
            remote_addr=remote_addr,
            detail={"upload_id": upload.id, "was": upload.status},
        )


def set_note(ctx: AppContext, upload: Upload, note: str | None) -> None:
    """Change a file's note until the encounter is sent (kept on the media row too once it exists)."""
    with ctx.engine.begin() as conn:
        encounter = load_encounter(conn, upload.encounter_id, lock=True)
        problem = access_problem(encounter, utcnow())
        if problem is not None:
            raise problem
        conn.execute(
            update(uploads)
            .where(uploads.c.id == upload.id)
            .values(note=ctx.cipher.encrypt_optional(TABLE, "note", upload.id, note), updated_at=utcnow())
        )
        if upload.media_id:
            conn.execute(
                update(media)
                .where(media.c.id == upload.media_id)
                .values(note=ctx.cipher.encrypt_optional("media", "note", upload.media_id, note))
            )


@dataclass(frozen=True)
class Listed:
    id: str
    filename: str
    note: str | None
    size: int
    offset: int
    kind: str | None
    status: str
    mine: bool


def list_for_encounter(ctx: AppContext, encounter_id: str, session_id: str) -> list[Listed]:
    """What the patient has added so far (on any device), oldest first."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(uploads)
            .where(
                uploads.c.encounter_id == encounter_id,
                uploads.c.status.in_([UploadStatus.RECEIVING, UploadStatus.COMPLETE]),
            )
            .order_by(uploads.c.created_at, uploads.c.id)
        ).all()
    items = []
    for row in rows:
        upload = Upload.from_row(row)
        items.append(
            Listed(
                id=upload.id,
                filename=decrypt_filename(ctx, upload) or "file",
                note=decrypt_note(ctx, upload),
                size=upload.length,
                offset=upload.length if upload.status == UploadStatus.COMPLETE else upload.offset,
                kind=upload.kind,
                status=upload.status,
                mine=upload.session_id == session_id,
            )
        )
    return items


def count_uploads(conn: Connection, encounter_id: str) -> tuple[int, int]:
    """(files, declared bytes) counted against the per-request limits: everything not removed or expired."""
    row = conn.execute(
        select(func.count(uploads.c.id), func.coalesce(func.sum(uploads.c.upload_length), 0)).where(
            uploads.c.encounter_id == encounter_id,
            uploads.c.status.in_([UploadStatus.RECEIVING, UploadStatus.COMPLETE]),
        )
    ).one()
    return int(row[0]), int(row[1])

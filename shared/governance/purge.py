"""Clean-up of what has expired (`manage.py purge-expired`, run periodically).

Abandoned resumable uploads are aborted in the store (S3 multipart parts and
tails cost money and hold patient data), expired patient sessions are
removed, and dead invite and enrollment token hashes are cleared.
"""

from __future__ import annotations

from sqlalchemy import and_, delete, select, update

from shared import audit
from shared.clock import utcnow
from shared.context import AppContext
from shared.db.statuses import EncounterStatus, UploadStatus
from shared.db.tables import encounters, patient_sessions, uploads, users
from shared.logging.json_lines import get_logger
from shared.storage.base import StorageError

log = get_logger(__name__)


def purge_expired(ctx: AppContext) -> dict[str, int]:
    now = utcnow()
    counts = {"uploads": 0, "upload_errors": 0, "sessions": 0, "invites": 0, "enrollments": 0}
    with ctx.engine.connect() as conn:
        stale = conn.execute(
            select(uploads.c.id, uploads.c.storage_key, uploads.c.storage_ref).where(
                uploads.c.status == UploadStatus.RECEIVING, uploads.c.expires_at < now
            )
        ).all()
    for row in stale:
        try:
            ctx.store.abort_resumable(row.storage_key, row.storage_ref or "")
        except StorageError as exc:
            counts["upload_errors"] += 1
            log.error("could not abort expired upload", extra={"upload_id": row.id, "error": str(exc)})
            continue
        with ctx.engine.begin() as conn:
            result = conn.execute(
                update(uploads)
                .where(uploads.c.id == row.id, uploads.c.status == UploadStatus.RECEIVING)
                .values(status=UploadStatus.EXPIRED, updated_at=now)
            )
            counts["uploads"] += result.rowcount
    with ctx.engine.begin() as conn:
        counts["sessions"] = conn.execute(delete(patient_sessions).where(patient_sessions.c.expires_at < now)).rowcount
        counts["invites"] = conn.execute(
            update(encounters)
            .where(
                and_(
                    encounters.c.invite_token_hash.is_not(None),
                    encounters.c.invite_expires_at < now,
                    encounters.c.status.not_in([EncounterStatus.SUBMITTED, EncounterStatus.REVIEWED]),
                )
            )
            .values(invite_token_hash=None, updated_at=now)
        ).rowcount
        counts["enrollments"] = conn.execute(
            update(users)
            .where(users.c.enrollment_token_hash.is_not(None), users.c.enrollment_expires_at < now)
            .values(enrollment_token_hash=None, updated_at=now)
        ).rowcount
        if any(counts.values()):
            audit.record(conn, "maintenance.purge_expired", actor_type=audit.ACTOR_SYSTEM, detail=counts)
    return counts

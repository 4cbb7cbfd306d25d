from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from shared.clock import utcnow
from shared.context import AppContext
from shared.db.statuses import UploadStatus
from shared.db.tables import encounters, patient_sessions, uploads, users
from shared.governance.purge import purge_expired
from shared.ids import new_id
from tests.support.factories import make_clinician, make_encounter

PAST = dt.datetime(2001, 1, 1)


def add_upload(ctx: AppContext, encounter_id: str, expires_at: dt.datetime) -> str:
    upload_id = new_id()
    key = f"uploads/{encounter_id}/{upload_id}/original"
    ref = ctx.store.create_resumable(key)
    ctx.store.append(key, ref, 0, [b"partial bytes"])
    with ctx.engine.begin() as conn:
        conn.execute(
            uploads.insert().values(
                id=upload_id,
                encounter_id=encounter_id,
                session_id="s" * 64,
                status=UploadStatus.RECEIVING,
                storage_key=key,
                storage_ref=ref,
                upload_length=100,
                created_at=utcnow(),
                updated_at=utcnow(),
                expires_at=expires_at,
            )
        )
    return upload_id


def test_purge_expired(ctx: AppContext) -> None:
    clinician = make_clinician(ctx)
    invite = make_encounter(ctx, clinician)
    stale = add_upload(ctx, invite.encounter_id, PAST)
    fresh = add_upload(ctx, invite.encounter_id, utcnow() + dt.timedelta(hours=1))
    with ctx.engine.begin() as conn:
        for expires in (PAST, utcnow() + dt.timedelta(hours=1)):
            conn.execute(
                patient_sessions.insert().values(
                    id=new_id() * 2,
                    encounter_id=invite.encounter_id,
                    csrf_token="c",
                    created_at=utcnow(),
                    last_seen_at=utcnow(),
                    expires_at=expires,
                )
            )
        conn.execute(update(encounters).values(invite_expires_at=PAST))
        conn.execute(update(users).values(enrollment_expires_at=PAST))

    counts = purge_expired(ctx)
    assert counts == {"uploads": 1, "upload_errors": 0, "sessions": 1, "invites": 1, "enrollments": 1}
    with ctx.engine.connect() as conn:
        statuses = dict(conn.execute(select(uploads.c.id, uploads.c.status)).all())
        assert conn.execute(select(encounters.c.invite_token_hash)).scalar() is None
        assert conn.execute(select(users.c.enrollment_token_hash)).scalar() is None
    assert statuses == {stale: UploadStatus.EXPIRED, fresh: UploadStatus.RECEIVING}
    assert [info.key for info in ctx.store.list("").objects] == []
    assert purge_expired(ctx)["uploads"] == 0

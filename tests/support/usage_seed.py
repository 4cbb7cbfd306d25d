"""A small dataset whose dashboard answers are known (worked out by hand in the docstrings).

Two clinicians; seven encounters in November 2026 (one soft-deleted, one in
October, outside the range); seven media rows (one soft-deleted, one in
October). `tests/integration/test_usage_stats.py` states the expected figures.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from shared.context import AppContext
from shared.db.statuses import EncounterStatus, MediaStatus
from shared.db.tables import encounters, media
from shared.ids import new_id
from tests.support.factories import make_clinician


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _encounter(ctx: AppContext, clinician_id: str, created: str, **stages: Any) -> str:
    encounter_id = new_id()
    stamps = {name: at(value) for name, value in stages.items() if name != "deleted_at" and value}
    status = EncounterStatus.INVITED
    for stage in ("opened", "verified", "consented", "submitted", "reviewed"):
        if f"{stage}_at" in stamps:
            status = EncounterStatus(stage)
    row = {
        "id": encounter_id,
        "clinician_id": clinician_id,
        "status": status,
        "patient_name": ctx.cipher.encrypt("encounters", "patient_name", encounter_id, "Seed Patient"),
        "date_of_birth": ctx.cipher.encrypt("encounters", "date_of_birth", encounter_id, "1970-01-01"),
        "created_at": at(created),
        "invited_at": at(created),
        "updated_at": at(created),
        "deleted_at": at(stages["deleted_at"]) if stages.get("deleted_at") else None,
        **stamps,
    }
    with ctx.engine.begin() as conn:
        conn.execute(encounters.insert().values(**row))
    return encounter_id


def _medium(
    ctx: AppContext,
    encounter_id: str,
    created: str,
    kind: str,
    content_type: str,
    size: int,
    *,
    display: int | None = None,
    thumb: int | None = None,
    failed: str | None = None,
    deleted: bool = False,
) -> None:
    media_id = new_id()
    with ctx.engine.begin() as conn:
        conn.execute(
            media.insert().values(
                id=media_id,
                encounter_id=encounter_id,
                kind=kind,
                content_type=content_type,
                status=MediaStatus.FAILED if failed else MediaStatus.READY,
                failure_reason=failed,
                original_key=f"uploads/{encounter_id}/{media_id}/original",
                original_size=size,
                display_key=f"derived/{encounter_id}/{media_id}/display" if display else None,
                display_size=display,
                thumbnail_key=f"derived/{encounter_id}/{media_id}/thumb.jpg" if thumb else None,
                thumbnail_size=thumb,
                created_at=at(created),
                deleted_at=at(created) if deleted else None,
            )
        )


def seed_usage(ctx: AppContext) -> dict[str, str]:
    ada = make_clinician(ctx, "ada.lovelace", team="Dermatology")
    bo = make_clinician(ctx, "bo.diddley", team="Neurology")
    e1 = _encounter(
        ctx, ada, "2026-11-02 09:00", opened_at="2026-11-02 10:00", verified_at="2026-11-02 10:05",
        consented_at="2026-11-02 10:06", submitted_at="2026-11-02 12:00", reviewed_at="2026-11-03 12:00",
    )  # fmt: skip
    e2 = _encounter(
        ctx, ada, "2026-11-03 09:00", opened_at="2026-11-04 09:00", verified_at="2026-11-04 09:01",
        consented_at="2026-11-04 09:02", submitted_at="2026-11-04 15:00", reviewed_at="2026-11-04 17:00",
    )  # fmt: skip
    _encounter(ctx, bo, "2026-11-10 08:00", opened_at="2026-11-10 09:00", verified_at="2026-11-10 09:10")
    _encounter(ctx, bo, "2026-11-10 08:30")
    e5 = _encounter(
        ctx, bo, "2026-11-11 10:00", opened_at="2026-11-11 10:10", verified_at="2026-11-11 10:11",
        consented_at="2026-11-11 10:12", submitted_at="2026-11-11 11:00",
    )  # fmt: skip
    e6 = _encounter(ctx, ada, "2026-11-12 10:00", opened_at="2026-11-12 11:00", deleted_at="2026-11-12 12:00")
    e7 = _encounter(ctx, ada, "2026-10-01 10:00", opened_at="2026-10-01 11:00", submitted_at="2026-10-01 12:00")

    _medium(ctx, e1, "2026-11-02 11:00", "image", "image/jpeg", 500_000, display=400_000, thumb=50_000)
    _medium(ctx, e1, "2026-11-02 11:30", "image", "image/jpeg", 3_000_000, display=1_000_000, thumb=50_000)
    _medium(ctx, e2, "2026-11-04 14:00", "video", "video/quicktime", 150_000_000, display=140_000_000, thumb=100_000)
    _medium(ctx, e2, "2026-11-04 14:30", "image", "image/heic", 2_000_000, failed="The file is not a valid image.")
    _medium(ctx, e5, "2026-11-11 10:30", "video", "video/mp4", 2_000_000_000, failed="The video could not be read.")
    _medium(ctx, e5, "2026-11-11 10:40", "image", "image/png", 20_000_000, display=5_000_000, deleted=True)
    _medium(ctx, e7, "2026-10-01 11:30", "image", "image/jpeg", 1_000_000)
    return {"ada": ada, "bo": bo, "e1": e1, "e2": e2, "e5": e5, "e6": e6, "e7": e7}

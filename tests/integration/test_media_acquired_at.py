"""The processing pipeline records when each item was taken (`media.acquired_at`), on both databases."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from shared.context import AppContext
from shared.db.tables import media
from tests.support.factories import make_clinician, make_encounter
from tests.support.processed_media import store_photo, store_video


def acquired_at(ctx: AppContext, media_id: str) -> dt.datetime | None:
    with ctx.engine.connect() as conn:
        return conn.execute(select(media.c.acquired_at).where(media.c.id == media_id)).scalar_one()


def test_the_recording_time_is_kept_and_an_undated_photo_has_none(ctx: AppContext) -> None:
    encounter_id = make_encounter(ctx, make_clinician(ctx)).encounter_id

    video = store_video(ctx, encounter_id, seconds=1)
    photo = store_photo(ctx, encounter_id, width=320, height=240)  # its EXIF has no DateTimeOriginal

    assert acquired_at(ctx, video.media_id) == dt.datetime(2026, 3, 1, 9, 59, 58)
    assert acquired_at(ctx, photo.media_id) is None

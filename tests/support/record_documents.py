"""Record documents built in the test from real display-copy bytes, for the filers' tests (no database needed).

The photo is a baseline JPEG as the image pipeline writes it; the video an
H.264/AAC MP4 with `+faststart`, as the video pipeline writes it. The NHS
number is a test one (999…, valid check digit).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Mapping
from pathlib import Path

from shared.records.document import (
    ItemContent,
    PatientIdentifier,
    RecordAuthor,
    RecordConsent,
    RecordDocument,
    RecordItem,
    RecordPatient,
)
from tests.support.media_samples import ffmpeg
from tests.support.processed_media import photo_jpeg

TEST_NHS_NUMBER = "9990000018"
REVIEWED_AT = dt.datetime(2026, 11, 30, 14, 5, 0)


def display_mp4(seconds: int = 1, size: str = "320x240") -> bytes:
    """An H.264 High / AAC MP4 with the moov atom first, like the video pipeline's display copy."""
    with tempfile.TemporaryDirectory() as directory:
        target = Path(directory) / "display.mp4"
        ffmpeg(
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
            "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "high",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart", "-f", "mp4", str(target),
        )  # fmt: skip
        return target.read_bytes()


def record_item(media_id: str, kind: str, data: bytes, position: int, count: int) -> RecordItem:
    is_video = kind == "video"
    return RecordItem(
        media_id=media_id,
        kind=kind,
        content_type="video/mp4" if is_video else "image/jpeg",
        size=len(data),
        width=320 if is_video else 640,
        height=240 if is_video else 480,
        duration_seconds=1.0 if is_video else None,
        acquired_at=dt.datetime(2026, 11, 29, 9, 30, position),
        title=f"{'Video' if is_video else 'Photo'} {position} of {count}",
        note="It itches at night" if position == 1 else None,
        storage_key=f"display/{media_id}",
    )


def record_document(
    contents: Mapping[str, tuple[str, bytes]],
    *,
    encounter_id: str = "5f2d0c7e9a1b4c3d8e6f7a8b9c0d1e2f",
    identifier: PatientIdentifier | None = None,
) -> RecordDocument:
    """A reviewed encounter whose items are `contents` (media id → (kind, display-copy bytes)), in that order."""
    items = tuple(
        record_item(media_id, kind, data, position, len(contents))
        for position, (media_id, (kind, data)) in enumerate(contents.items(), start=1)
    )
    return RecordDocument(
        encounter_id=encounter_id,
        reference=encounter_id[:8].upper(),
        organisation_name="Riverside NHS Foundation Trust",
        team="Dermatology",
        patient=RecordPatient(
            name="Ada Lovelace",
            date_of_birth=dt.date(1985, 12, 10),
            identifier=identifier or PatientIdentifier.nhs_number(TEST_NHS_NUMBER),
        ),
        request_note="Please send photos of the rash on your forearm",
        body_site="left forearm",
        consent=RecordConsent(
            text_version="2026-01",
            share_with_care_team=True,
            keep_in_record=True,
            use_for_teaching=False,
            answered_at=dt.datetime(2026, 11, 29, 9, 20, 0),
        ),
        author=RecordAuthor(
            user_id="a1b2c3d4e5f60718293a4b5c6d7e8f90",
            username="drjones",
            display_name="Dr Jo Jones",
            team="Dermatology",
        ),
        submitted_at=dt.datetime(2026, 11, 29, 9, 40, 0),
        reviewed_at=REVIEWED_AT,
        review_note="Eczema flare; no sign of infection",
        items=items,
    )


def photo_and_video() -> dict[str, tuple[str, bytes]]:
    """Two photos and a video, each a real display copy."""
    return {
        "0a0b0c0d0e0f40a1b2c3d4e5f6a7b8c9": ("photo", photo_jpeg(640, 480, seed=1)),
        "1a1b1c1d1e1f41a1b2c3d4e5f6a7b8c9": ("photo", photo_jpeg(640, 480, seed=2)),
        "2a2b2c2d2e2f42a1b2c3d4e5f6a7b8c9": ("video", display_mp4()),
    }


def content_of(contents: Mapping[str, tuple[str, bytes]]) -> ItemContent:
    """The ItemContent reading from `contents`, as store_content reads from the object store."""

    def read(item: RecordItem) -> bytes:
        return contents[item.media_id][1]

    return read

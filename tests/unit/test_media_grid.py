"""The review gallery's HTML: reserved space, full size on click, video, states, and escaping."""

from __future__ import annotations

import datetime as dt
import re

from portal_ui.media_grid import gallery_html
from shared.encounters.review import MediaItem, MediaUrls

NOW = dt.datetime(2026, 11, 21, 12, 0)


def item(media_id: str, **changes: object) -> MediaItem:
    values: dict[str, object] = {
        "id": media_id,
        "encounter_id": "e" * 32,
        "kind": "image",
        "status": "ready",
        "content_type": "image/jpeg",
        "failure_reason": None,
        "width": 1600,
        "height": 1200,
        "duration_seconds": None,
        "original_key": f"uploads/e/{media_id}/original",
        "original_size": 2_500_000,
        "display_key": f"derived/e/{media_id}/display.jpg",
        "display_content_type": "image/jpeg",
        "display_size": 900_000,
        "thumbnail_key": f"derived/e/{media_id}/thumb.jpg",
        "thumbnail_size": 40_000,
        "created_at": NOW,
        "processed_at": NOW,
        "note": None,
        "original_filename": "IMG_0001.HEIC",
    }
    values.update(changes)
    return MediaItem(**values)  # type: ignore[arg-type]


def urls(media_id: str) -> MediaUrls:
    return MediaUrls(
        media_id,
        f"https://s3.example/thumb-{media_id}?X-Amz-Expires=300&a=1",
        f"https://s3.example/{media_id}?b=2",
        NOW,
    )


def test_photo_tile_reserves_its_space_and_opens_full_size() -> None:
    html = gallery_html([item("m1")], {"m1": urls("m1")})
    assert 'style="aspect-ratio: 1600 / 1200"' in html
    assert 'width="1600" height="1200"' in html
    assert '<details class="mia-zoom">' in html
    assert 'class="mia-thumb" src="https://s3.example/thumb-m1?X-Amz-Expires=300&amp;a=1"' in html
    assert 'class="mia-full" src="https://s3.example/m1?b=2"' in html
    assert "Photo 1" in html and "2.4 MiB" in html and "1600×1200" in html


def test_video_tile_uses_the_html5_player_with_its_poster() -> None:
    video = item("v1", kind="video", width=640, height=360, duration_seconds=75.2, display_content_type="video/mp4")
    html = gallery_html([video], {"v1": urls("v1")})
    assert 'style="aspect-ratio: 640 / 360"' in html
    assert re.search(r'<video controls preload="metadata"[^>]*poster="https://s3.example/thumb-v1', html)
    assert '<source src="https://s3.example/v1?b=2" type="video/mp4">' in html
    assert "Video 1" in html and "1:15" in html


def test_processing_and_failed_files_say_so_and_get_no_url() -> None:
    waiting = item("p1", status="processing", width=None, height=None, display_key=None)
    failed = item("f1", status="failed", width=None, height=None, display_key=None, failure_reason="It is damaged.")
    html = gallery_html([waiting, failed], {})
    assert "Being prepared for viewing" in html
    assert "Could not be shown: It is damaged." in html
    assert html.count("aspect-ratio: 4 / 3") == 2
    assert "src=" not in html


def test_everything_the_patient_typed_is_escaped() -> None:
    hostile = item("x1", note='<img src=x onerror="alert(1)"> "quoted"', failure_reason=None)
    html = gallery_html([hostile], {"x1": urls("x1")})
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html

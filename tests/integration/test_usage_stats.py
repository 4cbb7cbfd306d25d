"""Every dashboard aggregate against a seeded dataset whose answers are known, on both databases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine

from shared.context import AppContext, build_context
from shared.reporting import activity as stats
from shared.reporting.storage_metrics import daily_totals, embedded_series, weekly_growth
from tests.conftest import make_settings
from tests.support.fhir_server import TOKEN, Fault, FhirServer
from tests.support.filed import reviewed_and_filed
from tests.support.usage_seed import seed_usage

NOVEMBER = stats.DateRange.inclusive(dt.date(2026, 11, 1), dt.date(2026, 11, 30))
D = dt.date


@pytest.fixture
def seeded(ctx: AppContext) -> AppContext:
    seed_usage(ctx)
    return ctx


def counts(rows: list[dict], stage: str) -> dict[dt.date, int]:
    return {row["period_start"]: row["encounters"] for row in rows if row["stage"] == stage}


def test_stage_counts_per_day(seeded: AppContext) -> None:
    with seeded.engine.connect() as conn:
        rows = stats.stage_counts(conn, NOVEMBER, "day")
    assert counts(rows, "created") == {D(2026, 11, 2): 1, D(2026, 11, 3): 1, D(2026, 11, 10): 2, D(2026, 11, 11): 1}
    assert counts(rows, "opened") == {D(2026, 11, 2): 1, D(2026, 11, 4): 1, D(2026, 11, 10): 1, D(2026, 11, 11): 1}
    assert counts(rows, "consented") == {D(2026, 11, 2): 1, D(2026, 11, 4): 1, D(2026, 11, 11): 1}
    assert counts(rows, "reviewed") == {D(2026, 11, 3): 1, D(2026, 11, 4): 1}


def test_stage_counts_per_week_start_on_monday(seeded: AppContext) -> None:
    with seeded.engine.connect() as conn:
        rows = stats.stage_counts(conn, NOVEMBER, "week")
    assert counts(rows, "created") == {D(2026, 11, 2): 2, D(2026, 11, 9): 3}
    assert counts(rows, "verified") == {D(2026, 11, 2): 2, D(2026, 11, 9): 2}
    assert counts(rows, "submitted") == {D(2026, 11, 2): 2, D(2026, 11, 9): 1}
    assert counts(rows, "reviewed") == {D(2026, 11, 2): 2}


def test_funnel_and_conversion(seeded: AppContext) -> None:
    with seeded.engine.connect() as conn:
        funnel = {row["stage"]: row for row in stats.funnel(conn, NOVEMBER)}
    assert [funnel[s]["encounters"] for s, _ in stats.STAGES] == [5, 4, 4, 3, 3, 2]
    assert funnel["created"]["from_previous"] is None
    assert funnel["opened"]["from_previous"] == pytest.approx(0.8)
    assert funnel["consented"]["from_previous"] == pytest.approx(0.75)
    assert funnel["reviewed"]["from_previous"] == pytest.approx(2 / 3)
    assert funnel["reviewed"]["from_created"] == pytest.approx(0.4)


def test_median_durations(seeded: AppContext) -> None:
    with seeded.engine.connect() as conn:
        medians = stats.median_durations(conn, NOVEMBER)
    assert medians["invite_to_submission"] == pytest.approx(3 * 3600, abs=1)  # of 3 h, 30 h and 1 h
    assert medians["submission_to_review"] == pytest.approx((24 * 3600 + 2 * 3600) / 2, abs=1)  # of 24 h and 2 h


def test_empty_range_has_no_median_and_no_conversion(seeded: AppContext) -> None:
    empty = stats.DateRange.inclusive(D(2025, 1, 1), D(2025, 1, 31))
    with seeded.engine.connect() as conn:
        assert stats.median_durations(conn, empty) == {
            "invite_to_submission": None,
            "submission_to_review": None,
            "review_to_filing": None,
        }
        assert all(row["from_created"] is None for row in stats.funnel(conn, empty))
        assert stats.stage_counts(conn, empty) == []


def test_media_by_type_and_size(seeded: AppContext) -> None:
    with seeded.engine.connect() as conn:
        by_type = stats.media_by_type(conn, NOVEMBER)
        sizes = stats.media_size_distribution(conn, NOVEMBER)
    assert [(r["content_type"], r["files"], r["original_bytes"]) for r in by_type] == [
        ("image/heic", 1, 2_000_000),
        ("image/jpeg", 2, 3_500_000),
        ("video/mp4", 1, 2_000_000_000),
        ("video/quicktime", 1, 150_000_000),
    ]
    table = {(r["band"], r["kind"]): r["files"] for r in sizes}
    assert table == {
        ("under 1 MB", "image"): 1,
        ("under 1 MB", "video"): 0,
        ("1–10 MB", "image"): 2,
        ("1–10 MB", "video"): 0,
        ("10–100 MB", "image"): 0,
        ("10–100 MB", "video"): 0,
        ("100 MB–1 GB", "image"): 0,
        ("100 MB–1 GB", "video"): 1,
        ("1 GB and over", "image"): 0,
        ("1 GB and over", "video"): 1,
    }


def test_per_clinician(seeded: AppContext) -> None:
    with seeded.engine.connect() as conn:
        rows = stats.per_clinician(conn, NOVEMBER)
    assert rows == [
        {"clinician": "Dr bo.diddley", "team": "Neurology", "encounters": 3, "submitted": 1, "reviewed": 0, "files": 1},
        {
            "clinician": "Dr ada.lovelace",
            "team": "Dermatology",
            "encounters": 2,
            "submitted": 2,
            "reviewed": 2,
            "files": 4,
        },
    ]


def test_processing_failures(seeded: AppContext) -> None:
    with seeded.engine.connect() as conn:
        failures = stats.processing_failures(conn, NOVEMBER)
    assert failures["by_period"] == [
        {"period_start": D(2026, 11, 4), "failures": 1},
        {"period_start": D(2026, 11, 11), "failures": 1},
    ]
    assert failures["by_reason"] == [
        {"reason": "The file is not a valid image.", "failures": 1},
        {"reason": "The video could not be read.", "failures": 1},
    ]


def test_embedded_storage_history_and_current_totals(seeded: AppContext) -> None:
    seeded.store.put("uploads/e/u/original", b"x" * 1000)
    seeded.store.put("derived/e/m/thumb.jpg", b"y" * 24)
    with seeded.engine.connect() as conn:
        series = embedded_series(conn, seeded.store, NOVEMBER)
    assert series.source == "embedded"
    # October's 1 MB original is the baseline; then 5 MB, 292.1 MB and 2025 MB arrive (deleted media still stored).
    assert [(r["day"], r["bytes"]) for r in series.daily_bytes] == [
        (D(2026, 11, 1), 1_000_000),
        (D(2026, 11, 2), 6_000_000),
        (D(2026, 11, 4), 298_100_000),
        (D(2026, 11, 11), 2_323_100_000),
    ]
    assert [r["objects"] for r in series.daily_objects] == [1, 7, 11, 14]
    assert (series.current_bytes, series.current_objects) == (1024, 2)
    # Sunday 1 November closes the week of 26 October at the 1 MB baseline
    # (Monday 30 November is the range's last day: that week is in progress)
    assert weekly_growth(daily_totals(series.daily_bytes), NOVEMBER.last_day) == [
        {"week_start": D(2026, 11, 2), "bytes_added": 297_100_000, "full_week": True},
        {"week_start": D(2026, 11, 9), "bytes_added": 2_025_000_000, "full_week": True},
        {"week_start": D(2026, 11, 16), "bytes_added": 0, "full_week": True},
        {"week_start": D(2026, 11, 23), "bytes_added": 0, "full_week": True},
        {"week_start": D(2026, 11, 30), "bytes_added": 0, "full_week": False},
    ]


def test_median_review_to_filing_counts_filed_requests_in_the_range(tmp_path: Path, engine: Engine) -> None:
    with FhirServer() as fhir:
        settings = make_settings(
            tmp_path / "var", MIA_FHIR_BASE_URL=fhir.base_url, MIA_FHIR_TOKEN=TOKEN, MIA_RECORDS_MAX_ATTEMPTS="1"
        )
        ctx = build_context(settings, engine=engine)
        day = dt.datetime(2026, 11, 5, 10, 0)
        reviewed_and_filed(ctx, "dr.ada", reviewed_at=day, filed_at=day + dt.timedelta(hours=1))
        reviewed_and_filed(ctx, "dr.bo", reviewed_at=day, filed_at=day + dt.timedelta(hours=3))
        reviewed_and_filed(ctx, "dr.cy", reviewed_at=day, filed_at=day + dt.timedelta(hours=2))
        fhir.fail_next(Fault(status=503))
        reviewed_and_filed(ctx, "dr.di", reviewed_at=day, filed_at=day + dt.timedelta(hours=9))  # failed: not filed
        october = dt.datetime(2026, 10, 20, 10, 0)
        reviewed_and_filed(ctx, "dr.ed", reviewed_at=october, filed_at=october + dt.timedelta(hours=20))
    with ctx.engine.connect() as conn:
        medians = stats.median_durations(conn, NOVEMBER)
        assert stats.median_durations(conn, stats.DateRange.inclusive(D(2026, 10, 1), D(2026, 10, 31)))[
            "review_to_filing"
        ] == pytest.approx(20 * 3600, abs=1)
    assert medians["review_to_filing"] == pytest.approx(2 * 3600, abs=1)  # of 1 h, 2 h and 3 h

"""The managers' usage page, in-process (AppTest), on a seeded dataset whose answers are known."""

from __future__ import annotations

import datetime as dt

import pytest

from portal_ui.session import SESSION_KEY
from shared.clock import utcnow
from shared.context import AppContext
from tests.support.filed import reviewed_and_filed
from tests.support.portal import menu, open_page, run_page_alone, sign_in, texts, widget
from tests.support.staff import make_staff
from tests.support.usage_seed import seed_usage

NOVEMBER = (dt.date(2026, 11, 1), dt.date(2026, 11, 21))
# storage by day, objects by day, growth, projection, requests per period, funnel, medians,
# files by type, file sizes, by clinician, failures per period, failure reasons: each with its CSV
TABLES = 12


@pytest.fixture
def manager_page(portal: AppContext):  # type: ignore[no-untyped-def]
    seed_usage(portal)
    at = sign_in(make_staff(portal, "manager1", role="manager", team=None))
    assert texts(at).splitlines()[0] == "Usage"  # where a manager lands
    widget(at.date_input, "Dates").set_value(NOVEMBER).run()
    assert not at.exception, at.exception
    return at


def frame(at, column: str):  # type: ignore[no-untyped-def]
    """The first table on the page that has this column."""
    for element in at.dataframe:
        if column in element.value.columns:
            return element.value
    raise AssertionError(f"no table with a {column!r} column")


def test_usage_page_shows_the_known_figures(manager_page) -> None:  # type: ignore[no-untyped-def]
    at = manager_page
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Median, invite to submission"] == "3 hours"
    assert metrics["Median, submission to review"] == "13 hours"
    assert metrics["Stored now"] == "0 Bytes" and metrics["Objects now"] == "0"

    funnel = frame(at, "Conversion from previous")
    assert list(funnel["Encounters"]) == [5, 4, 4, 3, 3, 2]
    assert list(funnel["Conversion from previous"]) == ["", "80%", "100%", "75%", "100%", "67%"]
    clinicians = frame(at, "Clinician")
    assert list(clinicians["Clinician"]) == ["Dr bo.diddley", "Dr ada.lovelace"]
    assert list(clinicians["Encounters"]) == [3, 2] and list(clinicians["Files"]) == [1, 4]
    reasons = frame(at, "Reason")
    assert set(reasons["Reason"]) == {"The file is not a valid image.", "The video could not be read."}
    by_type = frame(at, "Original size")
    assert list(by_type["Files"]) == [1, 2, 1, 1]
    storage = frame(at, "Storage type").set_index("Day")["Bytes"]
    assert len(storage) == 21  # every day of 1–21 November, carried forward between uploads
    assert storage[dt.date(2026, 11, 1)] == 1_000_000 and storage[dt.date(2026, 11, 3)] == 6_000_000
    assert storage[dt.date(2026, 11, 21)] == 2_323_100_000
    assert len(at.get("download_button")) == TABLES


def test_grouping_by_week(manager_page) -> None:  # type: ignore[no-untyped-def]
    at = manager_page
    widget(at.radio, "Group by").set_value("week").run()
    counts = frame(at, "Created")
    # the weeks overlapping 1–21 November, from Monday 26 October; empty weeks are zeros
    assert [str(day)[:10] for day in counts["Period starting"]] == [
        "2026-10-26",
        "2026-11-02",
        "2026-11-09",
        "2026-11-16",
    ]
    assert list(counts["Created"]) == [0, 2, 3, 0] and list(counts["Reviewed"]) == [0, 2, 0, 0]


def test_clinicians_and_admins_cannot_open_the_usage_page(sqlite_portal: AppContext) -> None:
    for role in ("clinician", "admin"):
        at = sign_in(make_staff(sqlite_portal, f"{role}2", role=role))
        assert "usage" not in menu(at)
        open_page(at, "usage")
        assert "Your role does not give access to this page." in texts(at)
        assert not at.dataframe and not at.metric
        alone = run_page_alone("usage", {SESSION_KEY: at.session_state[SESSION_KEY]})
        assert "Your role does not give access to this page." in texts(alone)
        assert not alone.dataframe and not alone.metric


@pytest.mark.parametrize(
    ("last_day", "expected", "in_progress"),
    [
        (dt.date(2026, 11, 12), "283.3 MiB", "2026-11-09"),  # a Thursday: 2–8 November, not the week so far
        (dt.date(2026, 11, 15), "1.9 GiB", None),  # a Sunday: the week ending that day counts
    ],
)
def test_added_last_full_week_is_the_last_week_that_ended(manager_page, last_day, expected, in_progress) -> None:  # type: ignore[no-untyped-def]
    at = widget(manager_page.date_input, "Dates").set_value((NOVEMBER[0], last_day)).run()
    assert not at.exception, at.exception
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Added last full week"] == expected
    growth = frame(at, "Bytes added")
    shown_in_progress = [str(day)[:10] for day in growth.loc[growth["Week"] == "in progress", "Week starting"]]
    assert shown_in_progress == ([in_progress] if in_progress else [])


def test_usage_page_shows_the_median_time_from_review_to_filing(records_portal: AppContext) -> None:
    now = utcnow()
    for hours, name in ((1, "dr.ada"), (3, "dr.bo")):
        reviewed_at = now - dt.timedelta(hours=6)
        reviewed_and_filed(
            records_portal, name, reviewed_at=reviewed_at, filed_at=reviewed_at + dt.timedelta(hours=hours)
        )
    at = sign_in(make_staff(records_portal, "manager1", role="manager", team=None))
    assert not at.exception, at.exception
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Median, review to filing"] == "2 hours"  # of 1 h and 3 h
    medians = frame(at, "Interval").set_index("Interval")
    assert medians.loc["Review to filing in the record", "Median seconds"] == pytest.approx(2 * 3600, abs=1)

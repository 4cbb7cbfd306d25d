"""How the portal writes times, sizes and other people's text."""

from __future__ import annotations

import datetime as dt

from portal_ui.formatting import duration, file_size, local_time, plain, relative_time, utc_bound


def test_times_are_shown_in_uk_time_with_a_relative_hint() -> None:
    summer = dt.datetime(2026, 7, 1, 12, 0)  # naive UTC, as stored
    assert local_time(summer) == "01 Jul 2026 13:00"
    assert local_time(dt.datetime(2026, 12, 1, 12, 0)) == "01 Dec 2026 12:00"
    assert relative_time(summer - dt.timedelta(minutes=3), summer) == "3 minutes ago"
    assert local_time(None) == "—"


def test_uk_calendar_days_become_utc_bounds() -> None:
    assert utc_bound(dt.date(2026, 7, 1)) == dt.datetime(2026, 6, 30, 23, 0)
    assert utc_bound(dt.date(2026, 7, 1), end=True) == dt.datetime(2026, 7, 1, 23, 0)
    assert utc_bound(dt.date(2026, 12, 1)) == dt.datetime(2026, 12, 1, 0, 0)
    assert utc_bound(None) is None


def test_sizes_and_durations_read_naturally() -> None:
    assert file_size(350 * 1024 * 1024) == "350.0 MiB"
    assert duration(75.4) == "1:15" and duration(None) == "—"


def test_other_peoples_text_cannot_become_markdown() -> None:
    assert plain("[click](http://evil.example) **now**") == "\\[click\\]\\(http\\://evil\\.example\\) \\*\\*now\\*\\*"
    assert plain("line one\nline two") == "line one  \nline two"

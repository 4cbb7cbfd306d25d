import datetime as dt

from shared.storage_metrics import daily_totals, projection, weekly_growth

START = dt.date(2026, 9, 7)  # a Monday


def linear(days: int, per_day: int = 1_000_000, base: int = 5_000_000) -> list[tuple[dt.date, float]]:
    return [(START + dt.timedelta(days=n), float(base + per_day * n)) for n in range(days)]


def test_projection_of_a_steady_growth_is_exact() -> None:
    totals = linear(70)
    rows = projection(totals)
    last = totals[-1][1]
    assert [row["days_ahead"] for row in rows] == [30, 90, 365]
    assert [row["projected_bytes"] for row in rows] == [int(last + 30e6), int(last + 90e6), int(last + 365e6)]
    assert rows[0]["bytes_per_day"] == 1_000_000


def test_projection_needs_two_points_and_never_goes_negative() -> None:
    assert projection(linear(1)) == []
    shrinking = [(START, 10.0), (START + dt.timedelta(days=1), 5.0)]
    assert all(row["projected_bytes"] == 0 for row in projection(shrinking))


def test_weekly_growth_and_daily_totals() -> None:
    rows = [
        {"day": START, "storage_type": "StandardStorage", "bytes": 100},
        {"day": START, "storage_type": "GlacierStorage", "bytes": 5},
        {"day": START + dt.timedelta(days=6), "storage_type": "StandardStorage", "bytes": 150},
        {"day": START + dt.timedelta(days=13), "storage_type": "StandardStorage", "bytes": 400},
    ]
    totals = daily_totals(rows)
    assert totals == [(START, 105), (START + dt.timedelta(days=6), 150), (START + dt.timedelta(days=13), 400)]
    assert weekly_growth(totals) == [{"week_start": START + dt.timedelta(days=7), "bytes_added": 250}]

import datetime as dt

from shared.reporting.storage_metrics import daily_totals, last_full_week, projection, weekly_growth

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
    assert weekly_growth(totals, START + dt.timedelta(days=13)) == [
        {"week_start": START + dt.timedelta(days=7), "bytes_added": 250, "full_week": True}
    ]


def test_last_full_week_of_a_mid_week_range_is_the_week_before() -> None:
    wednesday = START + dt.timedelta(days=16)  # Monday 21 September is in progress
    weekly = weekly_growth(linear(17), wednesday)
    assert weekly == [
        {"week_start": START + dt.timedelta(days=7), "bytes_added": 7_000_000, "full_week": True},
        {"week_start": START + dt.timedelta(days=14), "bytes_added": 3_000_000, "full_week": False},
    ]
    assert last_full_week(weekly) == weekly[0]


def test_a_week_ending_on_the_last_day_is_full() -> None:
    sunday = START + dt.timedelta(days=13)
    weekly = weekly_growth(linear(14), sunday)
    assert [row["full_week"] for row in weekly] == [True]
    assert last_full_week(weekly) == weekly[0]
    assert weekly[0] == {"week_start": START + dt.timedelta(days=7), "bytes_added": 7_000_000, "full_week": True}


def test_a_quiet_week_adds_nothing_and_a_range_without_a_full_week_has_no_figure() -> None:
    sparse = [(START, 100.0), (START + dt.timedelta(days=8), 600.0), (START + dt.timedelta(days=22), 900.0)]
    weekly = weekly_growth(sparse, START + dt.timedelta(days=23))  # Wednesday 30 September
    assert [(row["bytes_added"], row["full_week"]) for row in weekly] == [(500, True), (0, True), (300, False)]
    assert last_full_week(weekly) == {"week_start": START + dt.timedelta(days=14), "bytes_added": 0, "full_week": True}
    assert last_full_week(weekly_growth(sparse[:1], START + dt.timedelta(days=10))) is None
    assert weekly_growth([], START) == []

"""The reminder schedule as a plain function of the link's issue and expiry times and the two settings."""

from __future__ import annotations

import datetime as dt

from shared.notifications.reminders import AFTER_INVITE, BEFORE_EXPIRY, Stage, schedule

T0 = dt.datetime(2026, 12, 1, 9, 0)
HOUR = dt.timedelta(hours=1)


def test_a_week_long_link_gets_a_reminder_after_48_hours_and_one_a_day_before_it_expires() -> None:
    assert schedule(T0, T0 + 168 * HOUR, 48, 24) == [
        Stage(AFTER_INVITE, T0 + 48 * HOUR),
        Stage(BEFORE_EXPIRY, T0 + 144 * HOUR),
    ]


def test_the_default_72_hour_link_gets_one_reminder_where_the_two_fall_together() -> None:
    assert schedule(T0, T0 + 72 * HOUR, 48, 24) == [Stage(AFTER_INVITE, T0 + 48 * HOUR)]


def test_two_reminders_less_than_12_hours_apart_become_the_earlier_one() -> None:
    assert schedule(T0, T0 + 80 * HOUR, 48, 24) == [Stage(AFTER_INVITE, T0 + 48 * HOUR)]  # 56 h: 8 h later
    assert schedule(T0, T0 + 84 * HOUR, 48, 24) == [  # 60 h: 12 h later
        Stage(AFTER_INVITE, T0 + 48 * HOUR),
        Stage(BEFORE_EXPIRY, T0 + 60 * HOUR),
    ]
    # a 60-hour link: the day-before reminder (36 h) comes first and alone
    assert schedule(T0, T0 + 60 * HOUR, 48, 24) == [Stage(BEFORE_EXPIRY, T0 + 36 * HOUR)]


def test_zero_switches_a_stage_off_and_a_stage_outside_the_links_life_is_dropped() -> None:
    assert schedule(T0, T0 + 168 * HOUR, 0, 24) == [Stage(BEFORE_EXPIRY, T0 + 144 * HOUR)]
    assert schedule(T0, T0 + 168 * HOUR, 48, 0) == [Stage(AFTER_INVITE, T0 + 48 * HOUR)]
    assert schedule(T0, T0 + 168 * HOUR, 0, 0) == []
    assert schedule(T0, T0 + 24 * HOUR, 48, 24) == []  # a day's link: after it, and before its start
    assert schedule(T0, T0 + 48 * HOUR, 48, 0) == []  # due the moment it expires

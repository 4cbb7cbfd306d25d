"""Activity figures for the managers' usage dashboard, aggregated in the database.

Every function runs a GROUP BY (or window) query and returns a few rows per
period or category — never one row per encounter or medium — so the page
stays fast at hundreds of thousands of rows. Soft-deleted encounters and
media are left out. Times are UTC; a `DateRange` is [start, end) in days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Subquery, and_, case, func, literal, select, union_all

from shared.db.sql_functions import seconds_between, week_start
from shared.db.statuses import MediaStatus
from shared.db.tables import encounters, media, record_filings, users

STAGES: tuple[tuple[str, str], ...] = (
    ("created", "created_at"),
    ("opened", "opened_at"),
    ("verified", "verified_at"),
    ("consented", "consented_at"),
    ("submitted", "submitted_at"),
    ("reviewed", "reviewed_at"),
)
MB = 1000 * 1000
SIZE_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("under 1 MB", 1 * MB),
    ("1–10 MB", 10 * MB),
    ("10–100 MB", 100 * MB),
    ("100 MB–1 GB", 1000 * MB),
    ("1 GB and over", None),
)
PERIODS = ("day", "week")


@dataclass(frozen=True)
class DateRange:
    start: dt.date
    end: dt.date  # exclusive

    @classmethod
    def inclusive(cls, first: dt.date, last: dt.date) -> DateRange:
        """From a date picker's first and last day (both included)."""
        if last < first:
            raise ValueError("The end date is before the start date.")
        return cls(first, last + dt.timedelta(days=1))

    @property
    def last_day(self) -> dt.date:
        """The range's last day (`end` is exclusive)."""
        return self.end - dt.timedelta(days=1)

    def contains(self, column: Any) -> ColumnElement[bool]:
        start = dt.datetime.combine(self.start, dt.time())
        end = dt.datetime.combine(self.end, dt.time())
        return and_(column >= start, column < end)


def period_starts(date_range: DateRange, period: str) -> list[dt.date]:
    """Every day, or every Monday, that starts a period overlapping the range (for zero-filled charts)."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}")
    step = dt.timedelta(days=1 if period == "day" else 7)
    first = date_range.start if period == "day" else date_range.start - dt.timedelta(days=date_range.start.weekday())
    starts = []
    while first < date_range.end:
        starts.append(first)
        first += step
    return starts


def _as_date(value: Any) -> dt.date:
    """SQLite returns dates as text, MySQL as date objects."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _period(column: Any, period: str) -> Any:
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}")
    return func.date(column) if period == "day" else week_start(column)


def stage_counts(conn: Connection, date_range: DateRange, period: str = "day") -> list[dict[str, Any]]:
    """How many encounters reached each stage in each day/week (by that stage's own timestamp)."""
    selects = []
    for stage, column_name in STAGES:
        column = encounters.c[column_name]
        bucket = _period(column, period).label("period_start")
        selects.append(
            select(bucket, literal(stage).label("stage"), func.count().label("encounters"))
            .where(date_range.contains(column), encounters.c.deleted_at.is_(None))
            .group_by(bucket)
        )
    rows = conn.execute(union_all(*selects)).all()
    order = {stage: index for index, (stage, _) in enumerate(STAGES)}
    result = [
        {"period_start": _as_date(row.period_start), "stage": row.stage, "encounters": int(row.encounters)}
        for row in rows
    ]
    return sorted(result, key=lambda item: (item["period_start"], order[item["stage"]]))


def funnel(conn: Connection, date_range: DateRange) -> list[dict[str, Any]]:
    """Of the encounters created in the range: how many reached each stage, and the conversion rates."""
    counts = [
        func.coalesce(func.sum(case((encounters.c[column].is_not(None), 1), else_=0)), 0).label(stage)
        for stage, column in STAGES
    ]
    row = conn.execute(
        select(*counts).where(date_range.contains(encounters.c.created_at), encounters.c.deleted_at.is_(None))
    ).one()
    result, previous, created = [], None, int(row.created)
    for stage, _ in STAGES:
        count = int(getattr(row, stage))
        result.append(
            {
                "stage": stage,
                "encounters": count,
                "from_previous": (count / previous) if previous else None,
                "from_created": (count / created) if created else None,
            }
        )
        previous = count
    return result


def _median(conn: Connection, durations: Subquery) -> float | None:
    """Median of a subquery's `seconds`, with window functions (no MEDIAN in SQLite or MySQL)."""
    ranked = select(
        durations.c.seconds,
        func.row_number().over(order_by=durations.c.seconds).label("rn"),
        func.count().over().label("n"),
    ).subquery()
    middle = select(func.avg(ranked.c.seconds)).where(ranked.c.rn * 2 >= ranked.c.n, ranked.c.rn * 2 <= ranked.c.n + 2)
    value = conn.execute(middle).scalar()
    return None if value is None else float(value)


def _median_seconds(conn: Connection, later: Any, earlier: Any, date_range: DateRange) -> float | None:
    """Median of `later - earlier` over the encounters whose `later` falls in the range."""
    durations = (
        select(seconds_between(later, earlier).label("seconds"))
        .where(
            later.is_not(None),
            earlier.is_not(None),
            date_range.contains(later),
            encounters.c.deleted_at.is_(None),
        )
        .subquery()
    )
    return _median(conn, durations)


def _review_to_filing_seconds(conn: Connection, date_range: DateRange) -> float | None:
    """Median from review to the record first holding the encounter (its earliest filing by any destination).

    A destination holds it from `sent_at` (or, where only the acknowledgement
    was stamped, `acknowledged_at`); a filing refused or still queued has
    neither. Counted in the range of that first filing.
    """
    first_filed = (
        select(
            record_filings.c.encounter_id,
            func.min(func.coalesce(record_filings.c.sent_at, record_filings.c.acknowledged_at)).label("filed_at"),
        )
        .group_by(record_filings.c.encounter_id)
        .subquery()
    )
    durations = (
        select(seconds_between(first_filed.c.filed_at, encounters.c.reviewed_at).label("seconds"))
        .join_from(first_filed, encounters, encounters.c.id == first_filed.c.encounter_id)
        .where(
            encounters.c.reviewed_at.is_not(None),
            first_filed.c.filed_at.is_not(None),
            date_range.contains(first_filed.c.filed_at),
            encounters.c.deleted_at.is_(None),
        )
        .subquery()
    )
    return _median(conn, durations)


def median_durations(conn: Connection, date_range: DateRange) -> dict[str, float | None]:
    """Median seconds from invite to submission (submitted in range), submission to review (reviewed in range)
    and review to filing (first filed in range)."""
    return {
        "invite_to_submission": _median_seconds(conn, encounters.c.submitted_at, encounters.c.invited_at, date_range),
        "submission_to_review": _median_seconds(conn, encounters.c.reviewed_at, encounters.c.submitted_at, date_range),
        "review_to_filing": _review_to_filing_seconds(conn, date_range),
    }


def _live_media(date_range: DateRange) -> ColumnElement[bool]:
    return and_(date_range.contains(media.c.created_at), media.c.deleted_at.is_(None))


def media_by_type(conn: Connection, date_range: DateRange) -> list[dict[str, Any]]:
    query = (
        select(
            media.c.kind,
            media.c.content_type,
            func.count().label("files"),
            func.coalesce(func.sum(media.c.original_size), 0).label("original_bytes"),
        )
        .where(_live_media(date_range))
        .group_by(media.c.kind, media.c.content_type)
        .order_by(media.c.kind, media.c.content_type)
    )
    return [
        {"kind": r.kind, "content_type": r.content_type, "files": int(r.files), "original_bytes": int(r.original_bytes)}
        for r in conn.execute(query)
    ]


def media_size_distribution(conn: Connection, date_range: DateRange) -> list[dict[str, Any]]:
    """Files per size band and kind; every band is listed, empty ones with zero."""
    whens = [(media.c.original_size < limit, literal(label)) for label, limit in SIZE_BUCKETS if limit is not None]
    band = case(*whens, else_=literal(SIZE_BUCKETS[-1][0])).label("band")
    query = (
        select(band, media.c.kind, func.count().label("files"))
        .where(_live_media(date_range))
        .group_by(band, media.c.kind)
    )
    found = {(row.band, row.kind): int(row.files) for row in conn.execute(query)}
    kinds = sorted({kind for _, kind in found}) or ["image", "video"]
    return [
        {"band": label, "kind": kind, "files": found.get((label, kind), 0)}
        for label, _ in SIZE_BUCKETS
        for kind in kinds
    ]


def per_clinician(conn: Connection, date_range: DateRange) -> list[dict[str, Any]]:
    """Encounters each clinician created in the range, how far they got, and the files received."""
    in_range = and_(date_range.contains(encounters.c.created_at), encounters.c.deleted_at.is_(None))
    stages = conn.execute(
        select(
            users.c.id,
            users.c.display_name,
            users.c.team,
            func.count(encounters.c.id).label("encounters"),
            func.coalesce(func.sum(case((encounters.c.submitted_at.is_not(None), 1), else_=0)), 0).label("submitted"),
            func.coalesce(func.sum(case((encounters.c.reviewed_at.is_not(None), 1), else_=0)), 0).label("reviewed"),
        )
        .select_from(encounters.join(users, users.c.id == encounters.c.clinician_id))
        .where(in_range)
        .group_by(users.c.id, users.c.display_name, users.c.team)
    ).all()
    files = dict(
        conn.execute(
            select(encounters.c.clinician_id, func.count(media.c.id))
            .select_from(encounters.join(media, media.c.encounter_id == encounters.c.id))
            .where(in_range, media.c.deleted_at.is_(None))
            .group_by(encounters.c.clinician_id)
        ).all()
    )
    rows = [
        {
            "clinician": row.display_name,
            "team": row.team or "",
            "encounters": int(row.encounters),
            "submitted": int(row.submitted),
            "reviewed": int(row.reviewed),
            "files": int(files.get(row.id, 0)),
        }
        for row in stages
    ]
    return sorted(rows, key=lambda row: (-row["encounters"], row["clinician"]))


def processing_failures(
    conn: Connection, date_range: DateRange, period: str = "day"
) -> dict[str, list[dict[str, Any]]]:
    """Failed media per day/week, and the most common reasons."""
    failed = and_(_live_media(date_range), media.c.status == MediaStatus.FAILED)
    bucket = _period(media.c.created_at, period).label("period_start")
    by_period = conn.execute(
        select(bucket, func.count().label("failures")).where(failed).group_by(bucket).order_by(bucket)
    ).all()
    reason = func.coalesce(media.c.failure_reason, literal("(no reason recorded)")).label("reason")
    by_reason = conn.execute(
        select(reason, func.count().label("failures"))
        .where(failed)
        .group_by(reason)
        .order_by(func.count().desc(), reason)
        .limit(20)
    ).all()
    return {
        "by_period": [{"period_start": _as_date(r.period_start), "failures": int(r.failures)} for r in by_period],
        "by_reason": [{"reason": r.reason, "failures": int(r.failures)} for r in by_reason],
    }

"""The usage report as named tables: what the page shows, charts and offers as CSV.

Numbers stay numeric (bytes, seconds, ratios) so the CSV files are useful in
a spreadsheet; human-readable columns (sizes, percentages) sit beside them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import humanize
import pandas as pd

from shared.reporting.activity import STAGES, period_starts
from shared.reporting.usage_report import UsageReport

STAGE_ORDER = [stage for stage, _ in STAGES]


def _missing(value: float | None) -> bool:
    return value is None or bool(pd.isna(value))


def human_size(size: float | None) -> str:
    return "" if _missing(size) else humanize.naturalsize(size, binary=True)


def human_duration(seconds: float | None) -> str:
    if seconds is None or _missing(seconds):
        return "no data yet"
    minimum = "minutes" if seconds >= 60 else "seconds"
    return humanize.precisedelta(seconds, minimum_unit=minimum, format="%0.0f")


def percent(ratio: float | None) -> str:
    return "" if _missing(ratio) else f"{ratio:.0%}"


def _frame(rows: list[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
    """Rows as a DataFrame with the given columns, renamed for people, even when empty."""
    frame = pd.DataFrame(rows, columns=list(columns))
    return frame.rename(columns=columns)


def _days_shown(report: UsageReport, first_known: dt.date) -> list[dt.date]:
    """From the first known value to the end of the range (or today, whichever is first)."""
    today = dt.datetime.now(dt.UTC).date()
    return [day for day in period_starts(report.date_range, "day") if first_known <= day <= today]


def _carried_forward(frame: pd.DataFrame, days: list[dt.date], value: str) -> pd.DataFrame:
    """A value per day: a total stays as it was on days without a new figure."""
    return frame.set_index("day").reindex(days).ffill().rename_axis("day").reset_index().astype({value: "int64"})


def storage_by_day(report: UsageReport) -> pd.DataFrame:
    rows = pd.DataFrame(report.storage.daily_bytes, columns=["day", "storage_type", "bytes"])
    parts = []
    for storage_type, part in rows.groupby("storage_type"):
        filled = _carried_forward(part[["day", "bytes"]], _days_shown(report, min(part["day"])), "bytes")
        filled.insert(1, "storage_type", storage_type)
        parts.append(filled)
    frame = pd.concat(parts, ignore_index=True) if parts else rows
    frame = frame.rename(columns={"day": "Day", "storage_type": "Storage type", "bytes": "Bytes"})
    frame["Size"] = frame["Bytes"].map(human_size)
    return frame


def objects_by_day(report: UsageReport) -> pd.DataFrame:
    rows = pd.DataFrame(report.storage.daily_objects, columns=["day", "objects"])
    if not rows.empty:
        rows = _carried_forward(rows, _days_shown(report, min(rows["day"])), "objects")
    return rows.rename(columns={"day": "Day", "objects": "Objects"})


def week_span(week_start: dt.date) -> str:
    """'Monday 9 November to Sunday 15 November 2026', for the week starting that Monday."""
    sunday = week_start + dt.timedelta(days=6)
    return f"Monday {week_start.day} {week_start:%B} to Sunday {sunday.day} {sunday:%B %Y}"


def storage_growth(report: UsageReport) -> pd.DataFrame:
    frame = _frame(
        report.storage_weekly_growth,
        {"week_start": "Week starting", "bytes_added": "Bytes added", "full_week": "Week"},
    )
    frame["Week"] = frame["Week"].map({True: "full", False: "in progress"})
    frame["Added"] = frame["Bytes added"].map(human_size)
    return frame


def storage_projection(report: UsageReport) -> pd.DataFrame:
    frame = _frame(
        report.storage_projection,
        {
            "days_ahead": "Days ahead",
            "day": "Day",
            "projected_bytes": "Projected bytes",
            "bytes_per_day": "Bytes per day",
        },
    )
    frame["Projected size"] = frame["Projected bytes"].map(human_size)
    frame["Growth per day"] = frame["Bytes per day"].map(human_size)
    return frame


def stage_counts(report: UsageReport) -> pd.DataFrame:
    """One row per period, one column per stage (zeros filled in), in funnel order."""
    long = pd.DataFrame(report.stage_counts, columns=["period_start", "stage", "encounters"])
    wide = long.pivot_table(index="period_start", columns="stage", values="encounters", aggfunc="sum", fill_value=0)
    periods = period_starts(report.date_range, report.period)
    wide = wide.reindex(index=periods, columns=STAGE_ORDER, fill_value=0).astype(int)
    wide.index.name = "period_start"
    wide.columns = [stage.capitalize() for stage in STAGE_ORDER]
    return wide.reset_index().rename(columns={"period_start": "Period starting"})


def funnel(report: UsageReport) -> pd.DataFrame:
    frame = _frame(
        report.funnel,
        {
            "stage": "Stage",
            "encounters": "Encounters",
            "from_previous": "From previous",
            "from_created": "From created",
        },
    )
    frame["Stage"] = frame["Stage"].str.capitalize()
    frame["Conversion from previous"] = frame["From previous"].map(percent)
    frame["Conversion from created"] = frame["From created"].map(percent)
    return frame


def medians(report: UsageReport) -> pd.DataFrame:
    labels = {
        "invite_to_submission": "Invite to submission",
        "submission_to_review": "Submission to review",
        "review_to_filing": "Review to filing in the record",
    }
    rows = [
        {"Interval": labels[key], "Median seconds": value, "Median": human_duration(value)}
        for key, value in report.medians.items()
    ]
    return pd.DataFrame(rows, columns=["Interval", "Median seconds", "Median"])


def media_by_type(report: UsageReport) -> pd.DataFrame:
    frame = _frame(
        report.media_by_type,
        {"kind": "Kind", "content_type": "Type", "files": "Files", "original_bytes": "Original bytes"},
    )
    frame["Original size"] = frame["Original bytes"].map(human_size)
    return frame


def media_sizes(report: UsageReport) -> pd.DataFrame:
    return _frame(report.media_sizes, {"band": "Size band", "kind": "Kind", "files": "Files"})


def per_clinician(report: UsageReport) -> pd.DataFrame:
    return _frame(
        report.per_clinician,
        {
            "clinician": "Clinician",
            "team": "Team",
            "encounters": "Encounters",
            "submitted": "Submitted",
            "reviewed": "Reviewed",
            "files": "Files",
        },
    )


def failures_by_period(report: UsageReport) -> pd.DataFrame:
    """Every period of the range, zero where nothing failed."""
    found = {row["period_start"]: row["failures"] for row in report.failures["by_period"]}
    starts = period_starts(report.date_range, report.period)
    rows = [{"Period starting": start, "Failures": found.get(start, 0)} for start in starts]
    return pd.DataFrame(rows, columns=["Period starting", "Failures"])


def failure_reasons(report: UsageReport) -> pd.DataFrame:
    return _frame(report.failures["by_reason"], {"reason": "Reason", "failures": "Failures"})


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")

"""Usage (managers): storage and activity, for budgets and staffing.

All figures are aggregated in the database (or read from CloudWatch) by
`shared.reporting.usage_report`; the page caches the report for
MIA_DASHBOARD_CACHE_SECONDS and offers every table as CSV.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st
from streamlit.runtime.caching.cache_utils import CachedFunc

from portal_ui import usage_tables as tables
from shared.context import AppContext
from shared.reporting.activity import DateRange
from shared.reporting.usage_report import UsageReport, build_usage_report
from shared.staff.authentication import StaffUser

DEFAULT_DAYS = 90
PERIOD_LABELS = {"day": "Day", "week": "Week"}


def _cached_report(ttl_seconds: int) -> CachedFunc:
    """The report function, cached for `ttl_seconds` (MIA_DASHBOARD_CACHE_SECONDS).

    Streamlit keys the cache by the function's name and code, so the
    function made by every run shares one cache; `fingerprint` (the
    settings) keys it per configuration, and `_ctx` is not hashed.
    """

    @st.cache_data(ttl=ttl_seconds, show_spinner="Counting…")
    def cached_report(_ctx: AppContext, fingerprint: str, first: dt.date, last: dt.date, period: str) -> UsageReport:
        return build_usage_report(_ctx, DateRange.inclusive(first, last), period)

    return cached_report


def table(frame: pd.DataFrame, name: str, file_name: str) -> None:
    st.dataframe(frame, hide_index=True, width="stretch")
    st.download_button(
        f"Download {name} (CSV)", tables.csv_bytes(frame), file_name=f"mia-{file_name}.csv", mime="text/csv"
    )


def render(user: StaffUser, ctx: AppContext) -> None:
    cached_report = _cached_report(ctx.settings.dashboard_cache_seconds)
    st.title("Usage")
    st.caption(
        "Storage and activity for budgets and staffing. Times are UTC; "
        "soft-deleted requests and files are left out of the activity figures."
    )
    today = dt.datetime.now(dt.UTC).date()
    with st.container(border=True):
        dates_col, period_col, refresh_col = st.columns([3, 2, 1])
        chosen = dates_col.date_input(
            "Dates", value=(today - dt.timedelta(days=DEFAULT_DAYS - 1), today), max_value=today, format="DD/MM/YYYY"
        )
        period = period_col.radio("Group by", list(PERIOD_LABELS), format_func=PERIOD_LABELS.get, horizontal=True)
        if refresh_col.button("Refresh now", help="Figures are cached for a few minutes; this recounts them."):
            cached_report.clear()
    if not isinstance(chosen, tuple) or len(chosen) != 2:
        st.info("Choose the last day of the range too.")
        return
    first, last = chosen
    report = cached_report(ctx, repr(ctx.settings), first, last, period)
    _storage(report)
    _activity(report, period)


def _storage(report: UsageReport) -> None:
    storage = report.storage
    st.header("Storage")
    if storage.source == "cloudwatch":
        st.caption("From CloudWatch's daily S3 storage metrics (published once a day by AWS).")
    else:
        st.caption(
            "History rebuilt from the files recorded in the database; current totals measured from the store now."
        )
    last_week = report.storage_last_full_week
    ninety = next((row for row in report.storage_projection if row["days_ahead"] == 90), None)
    size_col, count_col, growth_col, projection_col = st.columns(4)
    size_col.metric("Stored now", tables.human_size(storage.current_bytes))
    count_col.metric("Objects now", f"{storage.current_objects:,}")
    growth_col.metric(
        "Added last full week",
        tables.human_size(last_week["bytes_added"]) if last_week else "no full week yet",
        help=tables.week_span(last_week["week_start"]) if last_week else "Choose dates that take in a whole week.",
    )
    projection_col.metric(
        "In 90 days (projected)", tables.human_size(ninety["projected_bytes"]) if ninety else "no data yet"
    )

    by_day = tables.storage_by_day(report)
    if by_day.empty:
        st.info("No storage figures for these dates yet.")
    else:
        st.line_chart(by_day, x="Day", y="Bytes", color="Storage type")
        table(by_day, "storage by day", "storage-by-day")
        objects = tables.objects_by_day(report)
        st.line_chart(objects, x="Day", y="Objects")
        table(objects, "objects by day", "objects-by-day")
    st.subheader("Growth and projection")
    st.caption(
        "Weeks run Monday to Sunday; a week that had not ended by the last day chosen is marked in progress. "
        "Projection: a straight line fitted to the last eight weeks of daily totals."
    )
    table(tables.storage_growth(report), "weekly growth", "storage-growth")
    table(tables.storage_projection(report), "projection", "storage-projection")


def _activity(report: UsageReport, period: str) -> None:
    st.header("Activity")
    counts = tables.stage_counts(report)
    st.subheader(f"Requests per {period}")
    if counts.empty:
        st.info("No requests in these dates.")
    else:
        st.line_chart(counts, x="Period starting")
    table(counts, f"requests per {period}", f"requests-per-{period}")

    st.subheader("Funnel")
    st.caption("Of the requests created in these dates: how many reached each stage.")
    funnel = tables.funnel(report)
    st.bar_chart(funnel, x="Stage", y="Encounters", sort=False)
    table(funnel, "funnel", "funnel")

    st.subheader("How long it takes")
    medians = tables.medians(report)
    invite_col, review_col, filing_col = st.columns(3)
    invite_col.metric("Median, invite to submission", medians.loc[0, "Median"])
    review_col.metric("Median, submission to review", medians.loc[1, "Median"])
    filing_col.metric(
        "Median, review to filing",
        medians.loc[2, "Median"],
        help="From marking as reviewed to the first destination holding the request (filed in these dates).",
    )
    table(medians, "medians", "medians")

    st.subheader("Files")
    by_type = tables.media_by_type(report)
    table(by_type, "files by type", "files-by-type")
    sizes = tables.media_sizes(report)
    if sizes["Files"].sum():
        st.bar_chart(sizes, x="Size band", y="Files", color="Kind", sort=False)
    table(sizes, "file sizes", "file-sizes")

    st.subheader("By clinician")
    table(tables.per_clinician(report), "requests by clinician", "by-clinician")

    st.subheader("Processing failures")
    failures = tables.failures_by_period(report)
    if not failures["Failures"].sum():
        st.success("No file failed processing in these dates.")
    else:
        st.bar_chart(failures, x="Period starting", y="Failures")
    table(failures, f"failures per {period}", f"failures-per-{period}")
    table(tables.failure_reasons(report), "failure reasons", "failure-reasons")


if __name__ == "__main__":  # Streamlit ran this file by itself: the entry point answers (portal_app.main)
    import portal_app

    portal_app.main()

"""Everything the managers' usage page shows, gathered in one call.

The page caches the result (with a TTL); the benchmark times exactly this.
Storage comes from CloudWatch when objects are on S3, from the database and
the store in the embedded mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from shared.context import AppContext
from shared.reporting import activity as stats
from shared.reporting.storage_metrics import (
    StorageSeries,
    cloudwatch_series,
    daily_totals,
    embedded_series,
    last_full_week,
    make_cloudwatch_client,
    projection,
    weekly_growth,
)


@dataclass(frozen=True)
class UsageReport:
    date_range: stats.DateRange
    period: str
    storage: StorageSeries
    storage_weekly_growth: list[dict[str, Any]]  # week_start, bytes_added, full_week
    storage_last_full_week: dict[str, Any] | None  # the row of the latest week ended by the range's last day
    storage_projection: list[dict[str, Any]]
    stage_counts: list[dict[str, Any]]
    funnel: list[dict[str, Any]]
    medians: dict[str, float | None]
    media_by_type: list[dict[str, Any]]
    media_sizes: list[dict[str, Any]]
    per_clinician: list[dict[str, Any]]
    failures: dict[str, list[dict[str, Any]]]


def storage_series(ctx: AppContext, date_range: stats.DateRange) -> StorageSeries:
    if ctx.settings.uses_s3:
        bucket = urlsplit(ctx.settings.storage_url).netloc
        client = make_cloudwatch_client(ctx.settings.s3_region, ctx.settings.cloudwatch_endpoint_url)
        return cloudwatch_series(client, bucket, date_range)
    with ctx.engine.connect() as conn:
        return embedded_series(conn, ctx.store, date_range)


def build_usage_report(ctx: AppContext, date_range: stats.DateRange, period: str = "day") -> UsageReport:
    storage = storage_series(ctx, date_range)
    totals = daily_totals(storage.daily_bytes)
    weekly = weekly_growth(totals, date_range.last_day)
    with ctx.engine.connect() as conn:
        return UsageReport(
            date_range=date_range,
            period=period,
            storage=storage,
            storage_weekly_growth=weekly,
            storage_last_full_week=last_full_week(weekly),
            storage_projection=projection(totals),
            stage_counts=stats.stage_counts(conn, date_range, period),
            funnel=stats.funnel(conn, date_range),
            medians=stats.median_durations(conn, date_range),
            media_by_type=stats.media_by_type(conn, date_range),
            media_sizes=stats.media_size_distribution(conn, date_range),
            per_clinician=stats.per_clinician(conn, date_range),
            failures=stats.processing_failures(conn, date_range, period),
        )

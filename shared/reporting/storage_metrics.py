"""Storage figures for the managers' dashboard: bucket size and object count over time.

On S3 the history comes from CloudWatch's daily `AWS/S3` storage metrics
(`BucketSizeBytes` per storage type, `NumberOfObjects`), which S3 publishes
once a day. In the embedded mode there is no CloudWatch: the history is
rebuilt from the database (bytes of originals and derived files by the day
they arrived, aggregated in SQL) and the current totals are measured from the
store itself.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from sqlalchemy import Connection, func, select

from shared.db.tables import media
from shared.reporting.activity import DateRange
from shared.storage.base import ObjectStore

DAY_SECONDS = 86400
ALL_STORAGE_TYPES = "AllStorageTypes"
EMBEDDED_STORAGE_TYPE = "Filesystem"
PROJECTION_HORIZONS_DAYS = (30, 90, 365)
FIT_WINDOW_DAYS = 56
WEEK = dt.timedelta(days=7)


@dataclass(frozen=True)
class StorageSeries:
    source: str  # "cloudwatch" or "embedded"
    daily_bytes: list[dict[str, Any]]  # day, storage_type, bytes
    daily_objects: list[dict[str, Any]]  # day, objects
    current_bytes: int
    current_objects: int


def make_cloudwatch_client(region: str, endpoint_url: str | None = None) -> Any:
    config = Config(retries={"mode": "standard", "max_attempts": 5})
    return boto3.client("cloudwatch", region_name=region, endpoint_url=endpoint_url, config=config)


def _storage_types(client: Any, bucket: str) -> list[str]:
    types: set[str] = set()
    paginator = client.get_paginator("list_metrics")
    pages = paginator.paginate(
        Namespace="AWS/S3", MetricName="BucketSizeBytes", Dimensions=[{"Name": "BucketName", "Value": bucket}]
    )
    for page in pages:
        for metric in page.get("Metrics", []):
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            if dims.get("BucketName") == bucket and dims.get("StorageType"):
                types.add(dims["StorageType"])
    return sorted(types)


def _query(query_id: str, bucket: str, metric: str, storage_type: str) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/S3",
                "MetricName": metric,
                "Dimensions": [
                    {"Name": "BucketName", "Value": bucket},
                    {"Name": "StorageType", "Value": storage_type},
                ],
            },
            "Period": DAY_SECONDS,
            "Stat": "Average",
        },
        "ReturnData": True,
    }


def cloudwatch_series(client: Any, bucket: str, date_range: DateRange) -> StorageSeries:
    """Daily bucket size per storage type and object count, from CloudWatch."""
    storage_types = _storage_types(client, bucket)
    queries = [_query(f"bytes{index}", bucket, "BucketSizeBytes", kind) for index, kind in enumerate(storage_types)]
    queries.append(_query("objects", bucket, "NumberOfObjects", ALL_STORAGE_TYPES))
    values: dict[str, dict[dt.date, float]] = defaultdict(dict)
    kwargs: dict[str, Any] = {
        "MetricDataQueries": queries,
        "StartTime": dt.datetime.combine(date_range.start, dt.time(), dt.UTC),
        "EndTime": dt.datetime.combine(date_range.end, dt.time(), dt.UTC),
        "ScanBy": "TimestampAscending",
    }
    while True:
        response = client.get_metric_data(**kwargs)
        for result in response.get("MetricDataResults", []):
            for timestamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=True):
                values[result["Id"]][timestamp.date()] = value
        if not response.get("NextToken"):
            break
        kwargs["NextToken"] = response["NextToken"]
    daily_bytes = sorted(
        (
            {"day": day, "storage_type": kind, "bytes": int(value)}
            for index, kind in enumerate(storage_types)
            for day, value in values[f"bytes{index}"].items()
        ),
        key=lambda row: (row["day"], row["storage_type"]),
    )
    daily_objects = [{"day": day, "objects": int(value)} for day, value in sorted(values["objects"].items())]
    totals = daily_totals(daily_bytes)
    return StorageSeries(
        source="cloudwatch",
        daily_bytes=daily_bytes,
        daily_objects=daily_objects,
        current_bytes=int(totals[-1][1]) if totals else 0,
        current_objects=daily_objects[-1]["objects"] if daily_objects else 0,
    )


def _stored_bytes() -> Any:
    return media.c.original_size + func.coalesce(media.c.display_size, 0) + func.coalesce(media.c.thumbnail_size, 0)


def embedded_series(conn: Connection, store: ObjectStore, date_range: DateRange) -> StorageSeries:
    """History from the database (cumulative, aggregated in SQL); current totals from the store."""
    start = dt.datetime.combine(date_range.start, dt.time())
    before = conn.execute(
        select(
            func.coalesce(func.sum(_stored_bytes()), 0),
            func.count() + func.count(media.c.display_key) + func.count(media.c.thumbnail_key),
        ).where(media.c.created_at < start)
    ).one()
    day = func.date(media.c.created_at).label("day")
    per_day = (
        select(
            day,
            func.sum(_stored_bytes()).label("bytes"),
            (func.count() + func.count(media.c.display_key) + func.count(media.c.thumbnail_key)).label("objects"),
        )
        .where(date_range.contains(media.c.created_at))
        .group_by(day)
        .subquery()
    )
    cumulative = select(
        per_day.c.day,
        func.sum(per_day.c.bytes).over(order_by=per_day.c.day).label("bytes"),
        func.sum(per_day.c.objects).over(order_by=per_day.c.day).label("objects"),
    ).order_by(per_day.c.day)
    base_bytes, base_objects = int(before[0]), int(before[1])
    # the range's first day carries what was stored before it, so a chart starts at the right level
    daily_bytes = [{"day": date_range.start, "storage_type": EMBEDDED_STORAGE_TYPE, "bytes": base_bytes}]
    daily_objects = [{"day": date_range.start, "objects": base_objects}]
    for row in conn.execute(cumulative):
        row_day = row.day if isinstance(row.day, dt.date) else dt.date.fromisoformat(str(row.day))
        if row_day == date_range.start:
            daily_bytes.pop(0), daily_objects.pop(0)
        daily_bytes.append(
            {"day": row_day, "storage_type": EMBEDDED_STORAGE_TYPE, "bytes": base_bytes + int(row.bytes)}
        )
        daily_objects.append({"day": row_day, "objects": base_objects + int(row.objects)})
    listing = store.list("")
    return StorageSeries("embedded", daily_bytes, daily_objects, listing.total_bytes, listing.count)


def daily_totals(daily_bytes: list[dict[str, Any]]) -> list[tuple[dt.date, float]]:
    """Sum over storage types, per day, in day order."""
    totals: dict[dt.date, float] = defaultdict(float)
    for row in daily_bytes:
        totals[row["day"]] += row["bytes"]
    return sorted(totals.items())


def total_on(totals: list[tuple[dt.date, float]], day: dt.date) -> float:
    """The total as it stood at the end of `day`: the latest figure on or before it (a total carries forward)."""
    index = bisect.bisect_right([known for known, _ in totals], day)
    return totals[index - 1][1] if index else 0.0


def weekly_growth(totals: list[tuple[dt.date, float]], last_day: dt.date) -> list[dict[str, Any]]:
    """Bytes added in each ISO week up to `last_day`: its total at Sunday (or `last_day`) minus the Sunday before.

    Every week after the first known figure's week gets a row (a week with
    nothing new adds 0). `full_week` is False for the week still in progress
    on `last_day`: its figure covers only the days so far, so it is no
    week's growth to quote.
    """
    if not totals:
        return []
    rows = []
    week = totals[0][0] - dt.timedelta(days=totals[0][0].weekday()) + WEEK
    while week <= last_day:
        sunday = week + WEEK - dt.timedelta(days=1)
        before = total_on(totals, week - dt.timedelta(days=1))
        after = total_on(totals, min(sunday, last_day))
        rows.append({"week_start": week, "bytes_added": int(after - before), "full_week": sunday <= last_day})
        week += WEEK
    return rows


def last_full_week(weekly: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The growth row of the latest ISO week that ended on or before the range's last day, if one is known."""
    return next((row for row in reversed(weekly) if row["full_week"]), None)


def projection(
    totals: list[tuple[dt.date, float]], horizons: tuple[int, ...] = PROJECTION_HORIZONS_DAYS
) -> list[dict[str, Any]]:
    """A straight line fitted (least squares) to the last eight weeks, extended to each horizon."""
    if len(totals) < 2:
        return []
    last_day = totals[-1][0]
    window = [(day, value) for day, value in totals if (last_day - day).days <= FIT_WINDOW_DAYS]
    xs = [(day - last_day).days for day, _ in window]
    ys = [value for _, value in window]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread if spread else 0.0
    intercept = mean_y - slope * mean_x
    return [
        {
            "day": last_day + dt.timedelta(days=days),
            "days_ahead": days,
            "projected_bytes": max(0, int(intercept + slope * days)),
            "bytes_per_day": slope,
        }
        for days in horizons
    ]

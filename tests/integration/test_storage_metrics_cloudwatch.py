"""The CloudWatch path of the storage dashboard, against moto's server over HTTP."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.reporting.activity import DateRange
from shared.reporting.storage_metrics import cloudwatch_series, daily_totals, make_cloudwatch_client, weekly_growth
from tests.support.s3 import REGION, MotoS3

pytestmark = pytest.mark.s3


def put_daily(client, bucket: str, metric: str, storage_type: str, day: dt.date, value: float) -> None:  # type: ignore[no-untyped-def]
    client.put_metric_data(
        Namespace="AWS/S3",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [
                    {"Name": "BucketName", "Value": bucket},
                    {"Name": "StorageType", "Value": storage_type},
                ],
                "Timestamp": dt.datetime.combine(day, dt.time(), dt.UTC),
                "Value": value,
                "Unit": "Bytes" if metric == "BucketSizeBytes" else "Count",
            }
        ],
    )


def test_metric_data_put_then_read_back(moto_s3: MotoS3) -> None:
    client = make_cloudwatch_client(REGION, moto_s3.endpoint_url)
    bucket = "mia-media-metrics"
    today = dt.datetime.now(dt.UTC).date()
    days = [today - dt.timedelta(days=n) for n in (9, 8, 2, 1)]
    for index, day in enumerate(days):
        put_daily(client, bucket, "BucketSizeBytes", "StandardStorage", day, 1_000_000 * (index + 1))
        put_daily(client, bucket, "BucketSizeBytes", "StandardIAStorage", day, 10_000 * (index + 1))
        put_daily(client, bucket, "NumberOfObjects", "AllStorageTypes", day, 100 * (index + 1))
    put_daily(client, "another-bucket", "BucketSizeBytes", "StandardStorage", days[-1], 9e12)

    series = cloudwatch_series(client, bucket, DateRange(today - dt.timedelta(days=30), today + dt.timedelta(days=1)))

    assert series.source == "cloudwatch"
    standard = [(r["day"], r["bytes"]) for r in series.daily_bytes if r["storage_type"] == "StandardStorage"]
    assert standard == [(day, 1_000_000 * (i + 1)) for i, day in enumerate(days)]
    assert {r["storage_type"] for r in series.daily_bytes} == {"StandardStorage", "StandardIAStorage"}
    assert [(r["day"], r["objects"]) for r in series.daily_objects] == [(d, 100 * (i + 1)) for i, d in enumerate(days)]
    assert series.current_bytes == 4_000_000 + 40_000
    assert series.current_objects == 400
    totals = daily_totals(series.daily_bytes)
    assert totals[0] == (days[0], 1_010_000)
    assert sum(row["bytes_added"] for row in weekly_growth(totals, today)) <= totals[-1][1] - totals[0][1]

"""S3 event notifications shaped exactly as AWS delivers them to Lambda."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import quote_plus


def object_created_record(
    bucket: str,
    object_key: str,
    size: int,
    etag: str,
    *,
    event_name: str = "ObjectCreated:CompleteMultipartUpload",
    region: str = "eu-west-2",
) -> dict[str, Any]:
    """One record; the key is URL-encoded the way S3 does it (spaces as '+', '/' kept)."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AROAEXAMPLE:mia-upload-service"},
        "requestParameters": {"sourceIPAddress": "10.0.1.23"},
        "responseElements": {
            "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
            "x-amz-id-2": uuid.uuid4().hex + uuid.uuid4().hex,
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "mia-process-originals",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": {
                "key": quote_plus(object_key, safe="/"),
                "size": size,
                "eTag": etag,
                "sequencer": uuid.uuid4().hex[:18].upper(),
            },
        },
    }


def event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}

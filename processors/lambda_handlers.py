"""AWS Lambda entry point: `processors.lambda_handlers.handle_s3_event`.

Triggered by S3 `ObjectCreated:*` notifications for the uploads bucket. Each
record names a bucket and a URL-encoded key (spaces as `+`); keys other than
`…/uploads/{encounter}/{upload}/original` under our prefix (for example the
S3 store's `.tail.N` objects) are ignored. The media row is found by its
`original_key` and processed by the same pipeline as the local worker, in the
runtime's own scratch directory (`MIA_SCRATCH_DIR`, default
/tmp/mia-scratch; see `scratch.py`), with umask 077. Lambda reuses a
sandbox, /tmp included, for later invocations: the scratch is emptied at the
start of each invocation and in a `finally` at its end, and a runtime
process that starts in a sandbox whose previous process was killed (a
timeout) removes that process's scratch. The handler runs on the runtime's
main thread, which outlives every ffmpeg it starts (see `ffmpeg_runner`).

Delivery is at least once, so a second delivery of the same event does no
harm (the pipeline skips media already `ready`). Bad input marks the media
`failed` and returns normally (retrying cannot help); anything transient —
including a media row that does not exist *yet*, because S3 can notify
before the upload service has committed it — raises, so Lambda retries the
invocation. The function needs the database and S3, not the encryption
keys: processing reads no patient field.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from processors import scratch
from processors.media_pipeline import (
    MediaNotFound,
    Outcome,
    ProcessingDeps,
    find_media_id_by_original_key,
    process_media,
)
from shared.config.settings import ConfigError, Settings, load_settings
from shared.db import jobs
from shared.db.engine import make_engine
from shared.logging.json_lines import configure_logging
from shared.storage import open_store
from shared.storage.s3 import S3Store

log = logging.getLogger("mia.processors.lambda")

ORIGINAL_KEY = re.compile(r"uploads/[A-Za-z0-9]+/[A-Za-z0-9]+/original")


class RetryLater(Exception):
    """Some records could not be processed for a transient reason; Lambda should retry the event."""


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    deps: ProcessingDeps
    store: S3Store
    own_scratch: scratch.Scratch


_runtimes: dict[tuple[str, str, str | None, str], Runtime] = {}


def _runtime() -> Runtime:
    """Built once per execution environment (per configuration), reused across invocations."""
    settings = load_settings()
    cache_key = (settings.database_url, settings.storage_url, settings.s3_endpoint_url, str(settings.scratch_dir))
    if cache_key not in _runtimes:
        if not settings.uses_s3:
            raise ConfigError("MIA_STORAGE_URL: the Lambda handler processes S3 events; expected s3://BUCKET/PREFIX")
        configure_logging(settings.log_level, service="processor-lambda", cookie_names=[settings.portal_cookie_name])
        # No URL-signing key: the processors never issue URLs (S3 URLs are pre-signed by S3 itself).
        store = open_store(settings, b"")
        assert isinstance(store, S3Store)
        engine = make_engine(settings.database_url)
        own_scratch = scratch.claim(settings.scratch_dir, f"lambda-{uuid.uuid4().hex[:12]}")
        deps = ProcessingDeps.from_settings(settings, engine, store, tmp_root=own_scratch.path)
        _runtimes[cache_key] = Runtime(settings, deps, store, own_scratch)
    return _runtimes[cache_key]


def store_key_for(store: S3Store, bucket: str, object_key: str) -> str | None:
    """The store key of an original named by an S3 event, or None if the object is not one of ours."""
    if bucket != store.bucket:
        return None
    key = unquote_plus(object_key)
    prefix = f"{store.prefix}/" if store.prefix else ""
    if not key.startswith(prefix):
        return None
    key = key[len(prefix) :]
    return key if ORIGINAL_KEY.fullmatch(key) else None


def _deadline(context: Any) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return time.monotonic() + remaining() / 1000 if callable(remaining) else None


def handle_s3_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Process every original named in an S3 event; raises RetryLater if any needs another try."""
    runtime = _runtime()
    runtime.own_scratch.empty()  # whatever an earlier invocation in this sandbox left
    try:
        with scratch.private_files():
            return _handle_records(runtime, event, context)
    finally:
        runtime.own_scratch.empty()


def _handle_records(runtime: Runtime, event: dict[str, Any], context: Any) -> dict[str, Any]:
    actor_id = f"lambda:{getattr(context, 'function_name', 'processor')}"
    deadline = _deadline(context)
    results: dict[str, Any] = {"processed": [], "ignored": 0}
    retry: list[str] = []
    for record in event.get("Records", []):
        name = str(record.get("eventName", ""))
        s3 = record.get("s3", {})
        bucket = s3.get("bucket", {}).get("name", "")
        key = store_key_for(runtime.store, bucket, s3.get("object", {}).get("key", ""))
        if not name.startswith("ObjectCreated:") or key is None:
            results["ignored"] += 1
            continue
        media_id = find_media_id_by_original_key(runtime.deps.engine, key)
        try:
            if media_id is None:
                raise MediaNotFound(key)
            result = process_media(runtime.deps, media_id, actor_id=actor_id, deadline=deadline)
        except MediaNotFound:
            log.warning("no media row for this upload yet; will retry", extra={"key": key})
            retry.append(key)
            continue
        except Exception:
            log.exception("processing failed; will retry", extra={"media_id": media_id})
            retry.append(key)
            continue
        with runtime.deps.engine.begin() as conn:
            jobs.complete_queued(conn, f"media:{media_id}")  # so no local worker redoes it
        results["processed"].append({"media_id": media_id, "outcome": str(result.outcome)})
    if retry:
        raise RetryLater(f"{len(retry)} upload(s) need another try: {', '.join(retry)}")
    log.info(
        "event handled",
        extra={"processed": len(results["processed"]), "ignored": results["ignored"]},
    )
    return results


__all__ = ["Outcome", "RetryLater", "handle_s3_event", "store_key_for"]

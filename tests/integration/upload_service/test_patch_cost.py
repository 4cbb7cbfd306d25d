"""What one mid-file tus PATCH costs: at most 3 database transactions and 2 store metadata calls.

The session is looked up (1), the lock taken with the expiry slid and the
encounter checked in the same statement (2), and the lock freed with the
progress recorded (3); the store is asked once where the upload stands
(the filesystem: the file's size; S3: the parts and the tail's size,
without downloading the tail). Counted on both databases and both stores;
the S3 calls are counted as boto3 makes them against moto over HTTP.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event

from shared.context import AppContext
from shared.storage.base import ObjectStore
from shared.storage.s3 import S3Store
from tests.integration.upload_service.conftest import PatientFactory
from tests.support.upload_payloads import jpeg_payload

MIB = 1024 * 1024
CHUNK = 3 * MIB  # against the test store's 5 MiB parts: one PATCH crosses a part boundary, the next does not
S3_METADATA_CALLS = {"ListParts", "HeadObject", "ListObjectsV2", "GetObjectAttributes"}
STORE_METADATA_METHODS = ("resumable_offset", "exists", "size", "list")


@contextmanager
def counting_transactions(engine: Engine) -> Iterator[list[int]]:
    count = [0]

    def began(_conn: Any) -> None:
        count[0] += 1

    event.listen(engine, "begin", began)
    try:
        yield count
    finally:
        event.remove(engine, "begin", began)


@contextmanager
def counting_metadata_calls(store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """S3: the API operations boto3 sends; the filesystem: the store's metadata methods (its stat calls)."""
    calls: Counter[str] = Counter()
    if isinstance(store, S3Store):

        def before_call(model: Any, **_: Any) -> None:
            if model.name in S3_METADATA_CALLS:
                calls[model.name] += 1

        events = store.client.meta.events
        events.register("before-call.s3", before_call)
        try:
            yield calls
        finally:
            events.unregister("before-call.s3", before_call)
        return
    for name in STORE_METADATA_METHODS:
        monkeypatch.setattr(store, name, _counted(getattr(store, name), name, calls))
    yield calls


def _counted(method: Callable[..., Any], name: str, calls: Counter[str]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        return method(*args, **kwargs)

    return call


async def test_a_mid_file_patch_costs_three_transactions_and_two_metadata_calls(
    upload_ctx: AppContext, new_patient: PatientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = jpeg_payload(4 * CHUNK)
    patient = await new_patient()
    url = await patient.create_url(len(data))
    first = await patient.patch(url, 0, data[:CHUNK])  # the first bytes settle the type (one more statement)
    assert first.status == 204, await first.text()

    for offset in (CHUNK, 2 * CHUNK):  # over a part boundary on S3, then within a part
        with (
            counting_transactions(upload_ctx.engine) as transactions,
            counting_metadata_calls(upload_ctx.store, monkeypatch) as metadata,
        ):
            response = await patient.patch(url, offset, data[offset : offset + CHUNK])
        assert response.status == 204, await response.text()
        assert int(response.headers["Upload-Offset"]) == offset + CHUNK
        assert transactions[0] <= 3, f"{transactions[0]} database transactions for one PATCH"
        assert sum(metadata.values()) <= 2, f"store metadata calls for one PATCH: {dict(metadata)}"
        monkeypatch.undo()

    last = await patient.patch(url, 3 * CHUNK, data[3 * CHUNK :])
    assert last.status == 204 and int(last.headers["Upload-Offset"]) == len(data)
    assert upload_ctx.store.get(f"uploads/{patient.encounter_id}/{url.rsplit('/', 1)[-1]}/original") == data

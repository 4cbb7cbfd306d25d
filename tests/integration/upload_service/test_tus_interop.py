"""Interoperability with the third-party tus client `tuspy` (both databases, both stores).

Chunk sizes are deliberately not multiples of S3's 5 MiB part minimum, so
the S3 store must carry the tails between PATCHes (moto keeps the real
minimum; it is never lowered).
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from tusclient.client import TusClient
from tusclient.storage.filestorage import FileStorage

from shared.config.settings import MIB
from shared.context import AppContext
from shared.db.statuses import UploadStatus
from shared.db.tables import uploads
from tests.integration.upload_service.conftest import PatientFactory
from tests.support.patient_client import PatientClient
from tests.support.upload_payloads import write_jpeg_payload


def tus_client(patient: PatientClient) -> TusClient:
    """tuspy with the patient's session cookie and CSRF token (as the browser sends them)."""
    client: TestClient = patient.client
    cookies = client.session.cookie_jar.filter_cookies(client.make_url("/"))
    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in cookies.items())
    return TusClient(str(client.make_url("/files/")), headers={"Cookie": cookie, "X-CSRF-Token": patient.csrf})


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def stored_sha256(ctx: AppContext, url: str) -> str:
    with ctx.engine.connect() as conn:
        row = conn.execute(select(uploads).where(uploads.c.id == url.rsplit("/", 1)[1])).one()
    assert row.status == UploadStatus.COMPLETE
    digest = hashlib.sha256()
    for chunk in ctx.store.iter_chunks(row.storage_key):
        digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("checksum", [False, True], ids=["plain", "sha1-checksum"])
async def test_tuspy_uploads_in_odd_chunks(
    new_patient: PatientFactory, upload_ctx: AppContext, tmp_path: Path, checksum: bool
) -> None:
    patient = await new_patient()
    source = write_jpeg_payload(tmp_path / "wound.jpg", 13 * MIB + 333)
    uploader = tus_client(patient).uploader(
        str(source), chunk_size=3 * MIB + 7, metadata={"filename": "wound.jpg"}, upload_checksum=checksum
    )
    await asyncio.to_thread(uploader.upload)
    assert stored_sha256(upload_ctx, uploader.url) == sha256_of_file(source)


@pytest.mark.slow
async def test_tuspy_upload_interrupted_and_resumed(
    new_patient: PatientFactory, upload_ctx: AppContext, tmp_path: Path
) -> None:
    patient = await new_patient()
    source = write_jpeg_payload(tmp_path / "gait.jpg", 11 * MIB + 5)
    urls = FileStorage(str(tmp_path / "tus-urls.json"))
    first = tus_client(patient).uploader(
        str(source), chunk_size=2 * MIB + 1, store_url=True, url_storage=urls, metadata={"filename": "gait.jpg"}
    )
    await asyncio.to_thread(first.upload, 6 * MIB + 3)  # the phone gives up part-way
    assert await patient.offset(first.url.replace(str(patient.client.make_url("")), "")) == 6 * MIB + 3

    # later, a new client finds the upload again by the file's fingerprint and carries on
    # (the constructor asks the server for the offset: a blocking call, so off the event loop)
    second = await asyncio.to_thread(
        tus_client(patient).uploader, str(source), chunk_size=2 * MIB + 1, store_url=True, url_storage=urls
    )
    assert second.url == first.url and second.offset == 6 * MIB + 3
    await asyncio.to_thread(second.upload)
    assert stored_sha256(upload_ctx, second.url) == sha256_of_file(source)

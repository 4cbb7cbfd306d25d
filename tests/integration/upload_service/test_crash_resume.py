"""The real service process is SIGKILLed mid-upload, restarted, and the client resumes.

The stored object's SHA-256 must equal the source's: nothing lost, nothing
duplicated. Runs on SQLite + filesystem and on MariaDB + S3 (moto over HTTP),
so each database and each store meets a crash. The dead process's lock holds
the upload for at most one lease after the kill (it was last renewed before
it), so the resuming client meets 423 for no longer than that (plus one
renewal interval of slack for its own requests).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tusclient.client import TusClient

from patient_upload.app import LOCK_LEASE
from shared.config.settings import MIB, Settings, load_settings
from shared.context import build_context
from shared.db.statuses import MediaStatus, UploadStatus
from shared.db.tables import media, uploads
from shared.encounters.uploads.locking import RENEWALS_PER_LEASE
from tests.support.factories import PATIENT, make_clinician, make_encounter
from tests.support.sync_patient import SyncPatient
from tests.support.upload_payloads import write_jpeg_payload
from tests.support.upload_process import UploadProcess

SIZE = 40 * MIB + 7
KILL_AFTER = 12 * MIB
# What README promises a patient whose upload's process died: the lease (8 s) and one renewal interval (2 s).
PROMISED_LOCKED_FOR = dt.timedelta(seconds=10)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def first_write_past_the_lock(phone: SyncPatient, path: str, offset: int, give_up: float = 60) -> float:
    """Empty PATCHes (they write nothing) until one is not refused with 423; returns when it got through."""
    deadline = time.monotonic() + give_up
    while True:
        headers = phone.headers(**{"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
        response = phone.http.patch(f"{phone.base_url}{path}", headers=headers, data=b"", timeout=30)
        if response.status_code != 423:
            assert response.status_code == 204, response.text
            return time.monotonic()
        assert time.monotonic() < deadline, "the dead process's lock never freed"
        time.sleep(0.1)


def throttled(path: Path, block: int = 256 * 1024, pause: float = 0.01) -> Iterator[bytes]:
    """A phone on a middling connection: about 25 MB/s at most."""
    with open(path, "rb") as handle:
        while data := handle.read(block):
            time.sleep(pause)
            yield data


@pytest.mark.slow
@pytest.mark.parametrize(
    ("database", "store_kind"),
    [("sqlite", "filesystem"), pytest.param("mysql", "s3", marks=[pytest.mark.mysql, pytest.mark.s3])],
    ids=["sqlite-filesystem", "mysql-s3"],
)
def test_sigkill_mid_upload_then_the_client_resumes(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path, database: str, store_kind: str
) -> None:
    engine = request.getfixturevalue(f"{database}_engine")
    env = {"MIA_DATA_DIR": str(settings.data_dir), "MIA_LOG_LEVEL": "INFO"}
    if database == "mysql":
        env["MIA_DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
    if store_kind == "s3":
        moto = request.getfixturevalue("moto_s3")
        env.update(
            MIA_STORAGE_URL=f"s3://{moto.new_bucket()}/media",
            MIA_S3_ENDPOINT_URL=moto.endpoint_url,
            MIA_S3_PART_SIZE="5MiB",
        )
    ctx = build_context(load_settings(env), engine=engine)
    invite = make_encounter(ctx, make_clinician(ctx))
    source = write_jpeg_payload(tmp_path / "long-video.jpg", SIZE)
    service = UploadProcess(env, tmp_path / "service.log").start()
    try:
        phone = SyncPatient(service.base_url, invite.token, PATIENT.date_of_birth.isoformat()).ready()
        path = phone.create(SIZE, "long-video.jpg")
        outcome: list[object] = []

        def send() -> None:
            try:
                outcome.append(phone.patch_stream(path, 0, throttled(source)))
            except Exception as error:  # the connection dies with the server
                outcome.append(error)

        sender = threading.Thread(target=send)
        sender.start()
        deadline = time.monotonic() + 60
        while phone.offset(path) < KILL_AFTER:
            assert time.monotonic() < deadline, "upload made no progress"
            time.sleep(0.05)
        service.kill()
        killed_at = time.monotonic()
        sender.join(timeout=30)
        assert outcome and isinstance(outcome[0], Exception)  # the upload really was cut off

        with ctx.engine.connect() as conn:
            row = conn.execute(select(uploads).where(uploads.c.id == path.rsplit("/", 1)[1])).one()
        durable = ctx.store.resumable_offset(row.storage_key, row.storage_ref or "")
        assert KILL_AFTER <= durable < SIZE and row.status == UploadStatus.RECEIVING

        service.start()
        phone.rebase(service.base_url)
        locked_for = first_write_past_the_lock(phone, path, durable) - killed_at
        bound = LOCK_LEASE + LOCK_LEASE / RENEWALS_PER_LEASE
        assert bound <= PROMISED_LOCKED_FOR and locked_for <= bound.total_seconds()
        client = TusClient(
            f"{service.base_url}/files/", headers={"Cookie": phone.cookie_header(), "X-CSRF-Token": phone.csrf}
        )
        uploader = client.uploader(
            str(source), url=f"{service.base_url}{path}", chunk_size=4 * MIB + 3, retries=30, retry_delay=1
        )
        assert uploader.offset == durable  # resumes from what was stored, not from zero
        uploader.upload()

        with ctx.engine.connect() as conn:
            row = conn.execute(select(uploads).where(uploads.c.id == row.id)).one()
            item = conn.execute(select(media).where(media.c.upload_id == row.id)).one()
        assert row.status == UploadStatus.COMPLETE and item.status == MediaStatus.UPLOADED
        digest = hashlib.sha256()
        for chunk in ctx.store.iter_chunks(item.original_key):
            digest.update(chunk)
        assert digest.hexdigest() == file_sha256(source)
    finally:
        service.stop()
    output = (tmp_path / "service.log").read_text()
    assert invite.token not in output  # the real process's logs never carry the link
    assert '"route": "/p/{token}"' in output

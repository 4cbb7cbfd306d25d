"""The tus service on its own: no HTTP, no aiohttp; SQLite and the filesystem store in a tmp directory.

The HTTP tests (tests/integration/upload_service) prove the protocol on the
wire; these prove the service's rules with bodies given as async iterators.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Iterable

import pytest
from sqlalchemy import select

from shared.context import AppContext
from shared.db.tables import jobs, media, uploads
from shared.encounters import patient_sessions
from shared.encounters.errors import (
    BodyTooLong,
    ChecksumMismatch,
    NotMedia,
    OffsetMismatch,
    UploadBusy,
    UploadNotFound,
)
from shared.encounters.uploads.hooks import EncounterHooks
from shared.encounters.uploads.limits import UploadLimits
from shared.encounters.uploads.records import DatabaseLocker
from shared.encounters.uploads.service import (
    BodyInterrupted,
    ExpectedDigest,
    Patient,
    TusService,
    UploadPolicy,
)
from shared.storage.async_store import AsyncStore
from tests.support.factories import make_clinician, make_encounter
from tests.support.submissions import give_consent
from tests.support.upload_payloads import jpeg_payload

DATA = jpeg_payload(300_000)


@pytest.fixture
def service(sqlite_ctx: AppContext) -> TusService:
    limits = UploadLimits.from_settings(sqlite_ctx.settings)
    policy = UploadPolicy(limits, lock_lease=dt.timedelta(seconds=30), lifetime=dt.timedelta(hours=1))
    store = AsyncStore(sqlite_ctx.store)
    return TusService(sqlite_ctx, store, DatabaseLocker(sqlite_ctx.engine), EncounterHooks(sqlite_ctx, limits), policy)


@pytest.fixture
def patient(sqlite_ctx: AppContext) -> Patient:
    """A verified patient who has consented."""
    invite = make_encounter(sqlite_ctx, make_clinician(sqlite_ctx))
    give_consent(sqlite_ctx, invite.encounter_id)
    with sqlite_ctx.engine.begin() as conn:
        _token, session = patient_sessions.start(conn, invite.encounter_id, dt.timedelta(hours=1))
    return Patient(session.id, invite.encounter_id)


async def body(*chunks: bytes, interrupted: str | None = None) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
    if interrupted:
        raise BodyInterrupted(interrupted)


def pieces(data: bytes, size: int) -> Iterable[bytes]:
    return (data[start : start + size] for start in range(0, len(data), size))


async def new_upload(service: TusService, patient: Patient, data: bytes = DATA) -> str:
    upload = await service.create(patient, len(data), "rash.jpg", None, None)
    return upload.id


async def test_chunks_of_any_size_become_one_object_a_media_row_and_a_job(
    service: TusService, patient: Patient, sqlite_ctx: AppContext
) -> None:
    upload_id = await new_upload(service, patient)
    offset = 0
    for piece in pieces(DATA, 70_001):
        written = await service.write(
            patient, upload_id, offset, body(piece), declared_length=len(piece), checksum=None, remote_addr=None
        )
        offset = written.offset
    assert offset == len(DATA) and written.expires_at is None
    with sqlite_ctx.engine.connect() as conn:
        row = conn.execute(select(uploads).where(uploads.c.id == upload_id)).one()
        item = conn.execute(select(media).where(media.c.id == row.media_id)).one()
        job = conn.execute(select(jobs).where(jobs.c.media_id == row.media_id)).one()
    assert (row.status, item.status, item.kind, job.kind) == ("complete", "uploaded", "image", "process_media")
    assert sqlite_ctx.store.get(row.storage_key) == DATA


async def test_the_store_decides_the_offset(service: TusService, patient: Patient) -> None:
    upload_id = await new_upload(service, patient)
    await service.write(
        patient, upload_id, 0, body(DATA[:100_000]), declared_length=None, checksum=None, remote_addr=None
    )
    with pytest.raises(OffsetMismatch) as mismatch:
        await service.write(patient, upload_id, 0, body(DATA), declared_length=None, checksum=None, remote_addr=None)
    assert (mismatch.value.expected, mismatch.value.given) == (100_000, 0)
    assert (await service.state(patient, upload_id, None)).offset == 100_000


async def test_more_than_declared_is_cut_kept_up_to_the_length_and_refused(
    service: TusService, patient: Patient
) -> None:
    upload_id = await new_upload(service, patient, DATA[:1000])
    with pytest.raises(BodyTooLong):
        await service.write(
            patient,
            upload_id,
            0,
            body(DATA[:600], DATA[600:1500]),
            declared_length=None,
            checksum=None,
            remote_addr=None,
        )
    assert (await service.state(patient, upload_id, None)).offset == 1000


async def test_an_interrupted_body_keeps_what_arrived(service: TusService, patient: Patient) -> None:
    upload_id = await new_upload(service, patient)
    written = await service.write(
        patient,
        upload_id,
        0,
        body(DATA[:50_000], interrupted="stalled"),
        declared_length=len(DATA),
        checksum=None,
        remote_addr=None,
    )
    assert (written.offset, written.interrupted) == (50_000, "stalled")
    assert (await service.state(patient, upload_id, None)).offset == 50_000


async def test_a_checksum_mismatch_writes_nothing(service: TusService, patient: Patient) -> None:
    upload_id = await new_upload(service, patient)
    chunk = DATA[:80_000]
    wrong = ExpectedDigest("sha256", hashlib.sha256(chunk[:-1] + b"?").digest())
    with pytest.raises(ChecksumMismatch):
        await service.write(
            patient, upload_id, 0, body(chunk), declared_length=len(chunk), checksum=wrong, remote_addr=None
        )
    assert (await service.state(patient, upload_id, None)).offset == 0
    right = ExpectedDigest("sha256", hashlib.sha256(chunk).digest())
    written = await service.write(
        patient, upload_id, 0, body(chunk), declared_length=len(chunk), checksum=right, remote_addr=None
    )
    assert written.offset == 80_000


async def test_a_file_that_is_not_media_is_refused_before_anything_is_stored(
    service: TusService, patient: Patient, sqlite_ctx: AppContext
) -> None:
    pdf = b"%PDF-1.7\n" + b"x" * 20_000
    upload_id = await new_upload(service, patient, pdf)
    with pytest.raises(NotMedia):
        await service.write(patient, upload_id, 0, body(pdf), declared_length=len(pdf), checksum=None, remote_addr=None)
    with sqlite_ctx.engine.connect() as conn:
        row = conn.execute(select(uploads).where(uploads.c.id == upload_id)).one()
    assert row.status == "terminated"
    assert sqlite_ctx.store.list("uploads/").count == 0 and not list(
        (sqlite_ctx.settings.data_dir / "objects").rglob("original")
    )


async def test_one_writer_at_a_time(service: TusService, patient: Patient) -> None:
    upload_id = await new_upload(service, patient)
    release = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield DATA[:10_000]
        await release.wait()

    first = asyncio.create_task(
        service.write(patient, upload_id, 0, slow_body(), declared_length=None, checksum=None, remote_addr=None)
    )
    await asyncio.sleep(0.2)
    with pytest.raises(UploadBusy):
        await service.write(
            patient, upload_id, 0, body(DATA[:10]), declared_length=None, checksum=None, remote_addr=None
        )
    release.set()
    assert (await first).offset == 10_000


async def test_another_patients_upload_does_not_exist_for_them(
    service: TusService, patient: Patient, sqlite_ctx: AppContext
) -> None:
    upload_id = await new_upload(service, patient)
    with sqlite_ctx.engine.begin() as conn:
        _token, other = patient_sessions.start(conn, patient.encounter_id, dt.timedelta(hours=1))
    stranger = Patient(other.id, patient.encounter_id)
    for attempt in (
        service.state(stranger, upload_id, None),
        service.write(stranger, upload_id, 0, body(DATA), declared_length=None, checksum=None, remote_addr=None),
        service.remove(stranger, upload_id, None),
    ):
        with pytest.raises(UploadNotFound):
            await attempt


async def test_removing_an_unfinished_upload_leaves_nothing(
    service: TusService, patient: Patient, sqlite_ctx: AppContext
) -> None:
    upload_id = await new_upload(service, patient)
    await service.write(
        patient, upload_id, 0, body(DATA[:90_000]), declared_length=None, checksum=None, remote_addr=None
    )
    await service.remove(patient, upload_id, None)
    with pytest.raises(UploadNotFound):
        await service.state(patient, upload_id, None)
    assert not [path for path in (sqlite_ctx.settings.data_dir / "objects").rglob("*") if path.is_file()]

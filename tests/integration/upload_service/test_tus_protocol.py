"""tus 1.0 rules, one test each, on both databases and both stores."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import Engine, select, update

from patient_upload.tus.protocol import EXTENSIONS
from shared import audit
from shared.clock import utcnow
from shared.config.settings import MIB
from shared.context import AppContext, build_context
from shared.db.statuses import MediaStatus, UploadStatus
from shared.db.tables import jobs, media, uploads
from shared.storage.base import ObjectNotFound
from tests.conftest import make_settings
from tests.integration.upload_service.conftest import ClientFactory, PatientFactory, app_client, patient_factory
from tests.support.patient_client import OFFSET_TYPE, TUS, PatientClient
from tests.support.upload_payloads import MP4_MAGIC, jpeg_payload


def upload_id(url: str) -> str:
    return url.rsplit("/", 1)[1]


def upload_row(ctx: AppContext, url: str):  # type: ignore[no-untyped-def]
    with ctx.engine.connect() as conn:
        return conn.execute(select(uploads).where(uploads.c.id == upload_id(url))).one()


def stored_offset(ctx: AppContext, url: str) -> int:
    row = upload_row(ctx, url)
    return ctx.store.resumable_offset(row.storage_key, row.storage_ref or "")


async def trickle(data: bytes, piece: int, pause: float = 0.0) -> AsyncIterator[bytes]:
    for start in range(0, len(data), piece):
        if pause:
            await asyncio.sleep(pause)
        yield data[start : start + piece]


@pytest.fixture
def limited(aiohttp_client: ClientFactory, upload_ctx: AppContext, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A patient on a service with small limits (same database and store)."""

    async def make(**env: str) -> PatientClient:
        settings = make_settings(tmp_path / "limited", **env)
        ctx = build_context(settings, engine=upload_ctx.engine)
        ctx.store = upload_ctx.store
        client = await app_client(aiohttp_client, ctx)
        return await patient_factory(aiohttp_client, client, ctx)()

    return make


async def test_options_describes_the_server(client: TestClient) -> None:
    response = await client.options("/files/")
    assert response.status == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    assert set(response.headers["Tus-Extension"].split(",")) == set(EXTENSIONS)
    assert int(response.headers["Tus-Max-Size"]) == 2 * 1024 * MIB
    assert "sha1" in response.headers["Tus-Checksum-Algorithm"].split(",")


async def test_requests_without_the_tus_version_are_refused(new_patient: PatientFactory) -> None:
    patient = await new_patient()
    response = await patient.client.post("/files/", headers={"X-CSRF-Token": patient.csrf, "Upload-Length": "5"})
    assert response.status == 412 and response.headers["Tus-Version"] == "1.0.0"


async def test_creation_stores_only_encrypted_metadata(new_patient: PatientFactory, upload_ctx: AppContext) -> None:
    patient = await new_patient()
    response = await patient.create(1234, filename="../../etc/pass\r\nwd\u202e.jpg", note="left arm\r\nX-Evil: 1")
    assert response.status == 201
    url = response.headers["Location"]
    assert url.startswith("/files/") and response.headers["Tus-Resumable"] == "1.0.0"
    assert "GMT" in response.headers["Upload-Expires"]
    row = upload_row(upload_ctx, url)
    assert row.upload_length == 1234 and row.status == UploadStatus.RECEIVING
    assert row.storage_key == f"uploads/{patient.encounter_id}/{row.id}/original"
    assert b"pass" not in row.original_filename and b"arm" not in row.note
    name = upload_ctx.cipher.decrypt("uploads", "original_filename", row.id, row.original_filename)
    note = upload_ctx.cipher.decrypt("uploads", "note", row.id, row.note)
    assert name == "passwd.jpg" and note == "left arm X-Evil: 1"
    head = await patient.head(url)
    assert head.headers["Upload-Length"] == "1234" and head.headers["Upload-Offset"] == "0"
    assert head.headers["Cache-Control"] == "no-store"
    assert f"filename {base64.b64encode(b'passwd.jpg').decode()}" in head.headers["Upload-Metadata"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 400),  # no Upload-Length
        ({"Upload-Length": "-1"}, 400),
        ({"Upload-Defer-Length": "1"}, 400),
        ({"Upload-Length": "10", "Upload-Metadata": "filename not-base64!"}, 400),
        ({"Upload-Length": "0"}, 400),
        ({"Upload-Length": str(3 * 1024 * MIB)}, 413),
    ],
)
async def test_bad_creation_requests_are_refused(
    new_patient: PatientFactory, upload_ctx: AppContext, headers: dict[str, str], status: int
) -> None:
    patient = await new_patient()
    response = await patient.client.post("/files/", headers=patient.headers(**headers))
    assert response.status == status, await response.text()
    with upload_ctx.engine.connect() as conn:
        assert conn.execute(select(uploads)).first() is None
    assert upload_ctx.store.list("uploads/").count == 0


async def test_too_big_is_explained_to_the_patient(new_patient: PatientFactory) -> None:
    patient = await new_patient()
    response = await patient.create(3 * 1024 * MIB)
    text = await response.text()
    assert response.status == 413 and response.headers["X-MIA-Refusal"] == "too_big"
    assert "This file is too big to send (3 GB)" in text and "largest video you can send is 2 GB" in text


async def test_patch_appends_and_completion_makes_a_media_row_and_a_job(
    new_patient: PatientFactory, upload_ctx: AppContext
) -> None:
    patient = await new_patient()
    data = jpeg_payload(700_001)
    url = await patient.create_url(len(data), filename="wound.jpg", note="day 3")
    response = await patient.patch(url, 0, data[:300_000])
    assert response.status == 204 and response.headers["Upload-Offset"] == "300000"
    assert "Upload-Expires" in response.headers
    response = await patient.patch(url, 300_000, data[300_000:])
    assert response.status == 204 and response.headers["Upload-Offset"] == str(len(data))
    row = upload_row(upload_ctx, url)
    assert row.status == UploadStatus.COMPLETE and row.kind == "image" and row.content_type == "image/jpeg"
    with upload_ctx.engine.connect() as conn:
        item = conn.execute(select(media).where(media.c.id == row.media_id)).one()
        job = conn.execute(select(jobs).where(jobs.c.media_id == item.id)).one()
    assert (
        item.status == MediaStatus.UPLOADED and item.upload_id == row.id and item.encounter_id == patient.encounter_id
    )
    assert (item.kind, item.content_type, item.original_size) == ("image", "image/jpeg", len(data))
    assert item.original_key == row.storage_key
    assert upload_ctx.cipher.decrypt("media", "original_filename", item.id, item.original_filename) == "wound.jpg"
    assert upload_ctx.cipher.decrypt("media", "note", item.id, item.note) == "day 3"
    assert (job.kind, job.dedupe_key, job.status) == ("process_media", f"media:{item.id}", "queued")
    stored = b"".join(upload_ctx.store.iter_chunks(item.original_key))
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    head = await patient.head(url)
    assert head.headers["Upload-Offset"] == str(len(data)) and "Upload-Expires" not in head.headers


async def test_creation_with_upload(new_patient: PatientFactory, upload_ctx: AppContext) -> None:
    patient = await new_patient()
    data = jpeg_payload(50_000)
    partial = await patient.create(len(data), body=data[:20_000])
    assert partial.status == 201 and partial.headers["Upload-Offset"] == "20000"
    whole = await patient.create(len(data), body=data)
    assert whole.status == 201 and whole.headers["Upload-Offset"] == str(len(data))
    assert upload_row(upload_ctx, whole.headers["Location"]).status == UploadStatus.COMPLETE


async def test_offset_mismatch_is_409_and_writes_nothing(new_patient: PatientFactory, upload_ctx: AppContext) -> None:
    patient = await new_patient()
    data = jpeg_payload(10_000)
    url = await patient.create_url(len(data))
    assert (await patient.patch(url, 0, data[:4000])).status == 204
    for wrong in (0, 3999, 4001):
        response = await patient.patch(url, wrong, data[wrong : wrong + 100])
        assert response.status == 409
    assert stored_offset(upload_ctx, url) == 4000 == await patient.offset(url)


# Digits to str.isdigit(), int() or regex \d, but not to tus: a superscript, Arabic-Indic, fullwidth (zero
# too, which int() reads as 0), and one digit more than a 64-bit length can have.
NOT_TUS_NUMBERS = ["²", "١٢٣", "５", "٠", "０", "9" * 20]


async def assert_refused_number(response: ClientResponse, header: str) -> None:
    """400 with the usual tus refusal: the machine code in X-MIA-Refusal, a sentence naming the header."""
    assert response.status == 400, await response.text()
    assert response.headers["X-MIA-Refusal"] == "bad_request" and response.headers["Tus-Resumable"] == "1.0.0"
    assert f"{header} must be a non-negative whole number" in await response.text()


async def test_upload_length_is_ascii_digits_only(new_patient: PatientFactory, upload_ctx: AppContext) -> None:
    patient = await new_patient()
    for value in NOT_TUS_NUMBERS:
        response = await patient.client.post("/files/", headers=patient.headers(**{"Upload-Length": value}))
        await assert_refused_number(response, "Upload-Length")
    with upload_ctx.engine.connect() as conn:
        assert conn.execute(select(uploads)).first() is None
    assert upload_ctx.store.list("uploads/").count == 0


async def test_upload_offset_is_ascii_digits_only(new_patient: PatientFactory, upload_ctx: AppContext) -> None:
    patient = await new_patient()
    data = jpeg_payload(10_000)
    url = await patient.create_url(len(data))
    for value in NOT_TUS_NUMBERS:
        response = await patient.client.patch(
            url, headers=patient.headers(**OFFSET_TYPE, **{"Upload-Offset": value}), data=data[:4000]
        )
        await assert_refused_number(response, "Upload-Offset")
    assert await patient.offset(url) == 0 == stored_offset(upload_ctx, url)
    assert upload_row(upload_ctx, url).status == UploadStatus.RECEIVING


async def test_patch_needs_the_right_headers(new_patient: PatientFactory) -> None:
    patient = await new_patient()
    url = await patient.create_url(100)
    no_type = await patient.client.patch(url, headers=patient.headers(**{"Upload-Offset": "0"}), data=b"x")
    assert no_type.status == 415
    no_offset = await patient.client.patch(url, headers=patient.headers(**OFFSET_TYPE), data=b"x")
    assert no_offset.status == 400
    no_csrf = await patient.client.patch(url, headers={**TUS, **OFFSET_TYPE, "Upload-Offset": "0"}, data=b"x")
    assert no_csrf.status == 403


async def test_a_body_longer_than_declared_is_refused_without_writing_past_it(
    new_patient: PatientFactory, upload_ctx: AppContext
) -> None:
    patient = await new_patient()
    data = jpeg_payload(10_000)
    url = await patient.create_url(len(data))
    declared = await patient.patch(url, 0, data + b"EXTRA")  # Content-Length says too much: refused unread
    assert declared.status == 413
    assert stored_offset(upload_ctx, url) == 0
    chunked = await patient.patch(url, 0, trickle(data + b"EXTRA" * 1000, 4096))  # no length: cut at the limit
    assert chunked.status == 413
    assert await patient.offset(url) == len(data)
    row = upload_row(upload_ctx, url)
    stored = b"".join(upload_ctx.store.iter_chunks(row.storage_key))
    assert stored == data  # nothing past the declared length


@pytest.mark.parametrize(
    "head",
    [
        b"<!DOCTYPE html><html><script>alert(1)</script>",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00",
        b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00",
        b"#EXTM3U\n#EXT-X-VERSION:3\nfile:///etc/passwd\n",
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00",
    ],
    ids=["html", "svg", "pdf", "zip", "elf", "playlist", "exe"],
)
async def test_disallowed_types_are_refused_at_the_first_chunk(
    new_patient: PatientFactory, upload_ctx: AppContext, head: bytes
) -> None:
    patient = await new_patient()
    url = await patient.create_url(1_000_000, filename="holiday.jpg")
    body = head.ljust(200, b" ")
    response = await patient.patch(url, 0, trickle(body, 7))
    text = await response.text()
    assert response.status == 415 and response.headers["X-MIA-Refusal"] == "not_photo_or_video"
    assert "not a photo or video" in text
    assert upload_row(upload_ctx, url).status == UploadStatus.TERMINATED
    assert (await patient.head(url)).status == 404
    row = upload_row(upload_ctx, url)
    with pytest.raises(ObjectNotFound):
        upload_ctx.store.resumable_offset(row.storage_key, row.storage_ref or "")
    with upload_ctx.engine.connect() as conn:
        refused = audit.search(conn, action="patient.upload_refused")
    assert refused and refused[0]["detail"] and "not_photo_or_video" in refused[0]["detail"]


async def test_tiny_network_chunks_are_sniffed_together(new_patient: PatientFactory, upload_ctx: AppContext) -> None:
    patient = await new_patient()
    data = MP4_MAGIC + b"\x00" * 5000
    url = await patient.create_url(len(data), filename="clip.mp4")
    response = await patient.patch(url, 0, trickle(data, 3))
    assert response.status == 204
    row = upload_row(upload_ctx, url)
    assert (row.kind, row.content_type, row.status) == ("video", "video/mp4", UploadStatus.COMPLETE)


async def test_a_first_request_too_short_to_sniff_writes_nothing(
    new_patient: PatientFactory, upload_ctx: AppContext
) -> None:
    patient = await new_patient()
    url = await patient.create_url(10_000)
    response = await patient.patch(url, 0, jpeg_payload(10)[:10])
    assert response.status == 400 and "first 64 bytes" in await response.text()
    assert stored_offset(upload_ctx, url) == 0
    assert (await patient.patch(url, 0, jpeg_payload(10_000))).status == 204


async def test_size_limits_per_kind_per_request_and_file_count(limited) -> None:  # type: ignore[no-untyped-def]
    patient = await limited(
        MIA_MAX_IMAGE_BYTES="1MiB",
        MIA_MAX_VIDEO_BYTES="3MiB",
        MIA_MAX_FILES_PER_ENCOUNTER="3",
        MIA_MAX_ENCOUNTER_BYTES="4MiB",
    )
    big_photo = await patient.create_url(2 * MIB)  # could be a video: allowed until the first bytes arrive
    refused = await patient.patch(big_photo, 0, jpeg_payload(4096))
    assert refused.status == 413 and "This photo is too big to send (2 MB)" in await refused.text()
    assert (await patient.head(big_photo)).status == 404

    video = MP4_MAGIC + b"\x00" * (2 * MIB - len(MP4_MAGIC))
    video_url = await patient.create_url(len(video), filename="gait.mp4")
    assert (await patient.patch(video_url, 0, video)).status == 204

    too_much = await patient.create(3 * MIB)  # 2 MiB + 3 MiB > 4 MiB
    assert too_much.status == 413 and too_much.headers["X-MIA-Refusal"] == "request_too_big"
    await patient.upload(jpeg_payload(1000))
    await patient.create_url(1000)
    fourth = await patient.create(1000)
    assert fourth.status == 403 and "You have already added 3 files" in await fourth.text()
    removed = await patient.client.delete(video_url, headers=patient.headers())
    assert removed.status == 204
    assert (await patient.create(1000)).status == 201  # removing one frees a place


async def test_checksums(new_patient: PatientFactory, upload_ctx: AppContext) -> None:
    patient = await new_patient()
    data = jpeg_payload(200_000)
    url = await patient.create_url(len(data))

    def checksum(algorithm: str, chunk: bytes) -> str:
        return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, chunk).digest()).decode()}"

    first = data[:80_000]
    good = await patient.patch(url, 0, first, **{"Upload-Checksum": checksum("sha1", first)})
    assert good.status == 204 and good.headers["Upload-Offset"] == "80000"
    second = data[80_000:150_000]
    bad = await patient.patch(url, 80_000, second, **{"Upload-Checksum": checksum("sha1", second[:-1] + b"?")})
    assert bad.status == 460
    assert stored_offset(upload_ctx, url) == 80_000  # the mismatched chunk was discarded
    unknown = await patient.patch(url, 80_000, second, **{"Upload-Checksum": "crc32 AAAAAA=="})
    assert unknown.status == 400
    rest = data[80_000:]
    done = await patient.patch(url, 80_000, trickle(rest, 9999), **{"Upload-Checksum": checksum("sha256", rest)})
    assert done.status == 204 and upload_row(upload_ctx, url).status == UploadStatus.COMPLETE


async def test_termination(new_patient: PatientFactory, upload_ctx: AppContext) -> None:
    patient = await new_patient()
    partial = await patient.create_url(100_000)
    assert (await patient.patch(partial, 0, jpeg_payload(100_000)[:50_000])).status == 204
    row = upload_row(upload_ctx, partial)
    assert (await patient.client.delete(partial, headers=patient.headers())).status == 204
    assert (await patient.head(partial)).status == 404
    assert (await patient.patch(partial, 50_000, b"x")).status == 404
    with pytest.raises(ObjectNotFound):
        upload_ctx.store.resumable_offset(row.storage_key, row.storage_ref or "")

    finished = await patient.upload(jpeg_payload(30_000))
    media_id = upload_row(upload_ctx, finished).media_id
    upload_ctx.store.put(f"derived/{patient.encounter_id}/{media_id}/thumb.jpg", b"thumbnail")
    assert (await patient.client.delete(finished, headers=patient.headers())).status == 204
    with upload_ctx.engine.connect() as conn:
        item = conn.execute(select(media).where(media.c.id == media_id)).one()
    assert item.deleted_at is not None and item.original_filename is None and item.note is None
    assert upload_ctx.cipher.decrypt("media", "delete_reason", media_id, item.delete_reason).startswith("Removed")
    assert upload_ctx.store.list(f"uploads/{patient.encounter_id}/").count == 0
    assert upload_ctx.store.list(f"derived/{patient.encounter_id}/").count == 0

    kept = await patient.upload(jpeg_payload(30_000))
    assert (await patient.send()).status == 303
    after = await patient.client.delete(kept, headers=patient.headers())
    assert after.status == 403 and after.headers["X-MIA-Refusal"] == "already_sent"


async def test_expiration(new_patient: PatientFactory, upload_ctx: AppContext) -> None:
    from shared.governance.purge import purge_expired

    patient = await new_patient()
    url = await patient.create_url(100_000)
    assert (await patient.patch(url, 0, jpeg_payload(100_000)[:10_000])).status == 204
    with upload_ctx.engine.begin() as conn:
        conn.execute(update(uploads).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert (await patient.head(url)).status == 410
    assert (await patient.patch(url, 10_000, b"x" * 10)).status == 410
    assert purge_expired(upload_ctx)["uploads"] == 1
    assert upload_row(upload_ctx, url).status == UploadStatus.EXPIRED
    assert upload_ctx.store.list("uploads/").count == 0


async def test_concurrent_patches_never_corrupt_an_upload(new_patient: PatientFactory, upload_ctx: AppContext) -> None:
    patient = await new_patient()
    data = jpeg_payload(400_000)
    url = await patient.create_url(len(data))
    slow = asyncio.create_task(patient.patch(url, 0, trickle(data[:200_000], 20_000, pause=0.1)))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if upload_row(upload_ctx, url).lock_token:
            break
    rival = await patient.patch(url, 0, data[:200_000])
    assert rival.status == 423
    assert (await slow).status == 204
    assert upload_row(upload_ctx, url).lock_token is None
    assert (await patient.patch(url, 200_000, data[200_000:])).status == 204
    row = upload_row(upload_ctx, url)
    assert hashlib.sha256(b"".join(upload_ctx.store.iter_chunks(row.storage_key))).digest() == (
        hashlib.sha256(data).digest()
    )


@pytest.mark.slow
async def test_a_live_writer_keeps_the_lock_for_longer_than_a_lease(
    aiohttp_client: ClientFactory, upload_ctx: AppContext
) -> None:
    """Leases are short so that a crashed holder frees the upload soon; a live one renews and is never joined."""
    lease = dt.timedelta(seconds=2)
    client = await app_client(aiohttp_client, upload_ctx, lock_lease=lease)
    patient = await patient_factory(aiohttp_client, client, upload_ctx)()
    data = jpeg_payload(400_000)
    url = await patient.create_url(len(data))
    slow = asyncio.create_task(patient.patch(url, 0, trickle(data[:300_000], 10_000, pause=0.2)))  # 6 s: 3 leases
    for _ in range(100):
        await asyncio.sleep(0.05)
        if upload_row(upload_ctx, url).lock_token:
            break
    for _ in range(5):
        await asyncio.sleep(lease.total_seconds() / 2)
        assert (await patient.patch(url, 0, data[:1000])).status == 423
    assert (await slow).status == 204
    assert (await patient.patch(url, 300_000, data[300_000:])).status == 204
    row = upload_row(upload_ctx, url)
    assert hashlib.sha256(b"".join(upload_ctx.store.iter_chunks(row.storage_key))).digest() == (
        hashlib.sha256(data).digest()
    )


def hold_the_row(engine: Engine, upload: str, holding: threading.Event, release: threading.Event) -> None:
    """Another transaction keeps the upload's row locked (on SQLite, the database), so lock renewals hang."""
    with engine.begin() as conn:
        conn.execute(select(uploads.c.id).where(uploads.c.id == upload).with_for_update())
        holding.set()
        release.wait(60)


@pytest.mark.slow
async def test_a_writer_that_cannot_renew_its_lock_stops_before_the_lease_ends(
    aiohttp_client: ClientFactory, upload_ctx: AppContext
) -> None:
    """Once its lease could have passed to another process, a writer touches the store no more, commit included;
    what it stored before stays, and the upload resumes from there."""
    lease = dt.timedelta(seconds=3)
    client = await app_client(aiohttp_client, upload_ctx, lock_lease=lease)
    patient = await patient_factory(aiohttp_client, client, upload_ctx)()
    data = jpeg_payload(40 * MIB)
    url = await patient.create_url(len(data))
    row = upload_row(upload_ctx, url)

    def stored() -> int:  # from the store alone: the database is held below
        return upload_ctx.store.resumable_offset(row.storage_key, row.storage_ref or "")

    sending = asyncio.create_task(patient.patch(url, 0, trickle(data, 64 * 1024, pause=0.015)))  # ~4 MiB/s
    for _ in range(200):  # until the store holds bytes (on S3, a first part)
        await asyncio.sleep(0.05)
        if stored():
            break
    holding, release = threading.Event(), threading.Event()
    holder = asyncio.create_task(asyncio.to_thread(hold_the_row, upload_ctx.engine, row.id, holding, release))
    try:
        assert await asyncio.to_thread(holding.wait, 30)
        # every renewal since was blocked, so the lease renewed last has now run out: the writer must have stopped
        await asyncio.sleep(lease.total_seconds())
        at_lease_end = stored()
        await asyncio.sleep(lease.total_seconds())  # while the client goes on sending
        assert stored() == at_lease_end
    finally:
        release.set()
        await holder
    response = await asyncio.wait_for(sending, timeout=60)
    assert response.status == 423 and response.headers["X-MIA-Refusal"] == "lock_lost"
    assert await patient.offset(url) == at_lease_end > 0
    assert (await patient.patch(url, at_lease_end, data[at_lease_end:])).status == 204
    row = upload_row(upload_ctx, url)
    assert row.status == UploadStatus.COMPLETE
    assert hashlib.sha256(b"".join(upload_ctx.store.iter_chunks(row.storage_key))).digest() == (
        hashlib.sha256(data).digest()
    )


async def test_a_lock_left_by_a_dead_process_expires(new_patient: PatientFactory, upload_ctx: AppContext) -> None:
    patient = await new_patient()
    data = jpeg_payload(5000)
    url = await patient.create_url(len(data))
    with upload_ctx.engine.begin() as conn:
        held = dict(lock_token="dead-process", locked_until=utcnow() + dt.timedelta(seconds=30))
        conn.execute(update(uploads).values(**held))
    assert (await patient.patch(url, 0, data)).status == 423
    with upload_ctx.engine.begin() as conn:
        conn.execute(update(uploads).values(locked_until=utcnow() - dt.timedelta(seconds=1)))
    assert (await patient.patch(url, 0, data)).status == 204


async def test_what_arrived_before_a_disconnect_is_kept(new_patient: PatientFactory, upload_ctx: AppContext) -> None:
    patient = await new_patient()
    data = jpeg_payload(3 * MIB + 12_345)

    async def dies_midway() -> AsyncIterator[bytes]:
        async for piece in trickle(data[: 2 * MIB], 64 * 1024):
            yield piece
        await asyncio.sleep(0.2)
        raise ConnectionResetError("the phone lost its signal")

    url = await patient.create_url(len(data))
    with pytest.raises(Exception):  # noqa: B017 - the client side of the dropped connection
        await patient.patch(url, 0, dies_midway())
    offset = 0
    for _ in range(100):  # the server commits what it received, then releases the lock
        await asyncio.sleep(0.05)
        row = upload_row(upload_ctx, url)
        offset = stored_offset(upload_ctx, url)
        if row.lock_token is None and offset:
            break
    assert 0 < offset <= 2 * MIB
    assert await patient.offset(url) == offset
    assert (await patient.patch(url, offset, data[offset:])).status == 204
    row = upload_row(upload_ctx, url)
    stored = b"".join(upload_ctx.store.iter_chunks(row.storage_key))
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()


async def test_a_stalled_connection_is_ended_and_the_upload_resumes(
    aiohttp_client: ClientFactory, upload_ctx: AppContext
) -> None:
    client = await app_client(aiohttp_client, upload_ctx, read_idle_timeout=0.5)
    patient = await patient_factory(aiohttp_client, client, upload_ctx)()
    data = jpeg_payload(300_000)
    url = await patient.create_url(len(data))
    stalled = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield data[:100_000]
        await asyncio.sleep(3)  # the phone went into a tunnel
        stalled.set()
        yield data[100_000:200_000]

    first = asyncio.create_task(patient.patch(url, 0, stalls()))
    await asyncio.sleep(1.5)
    assert not stalled.is_set()
    assert await patient.offset(url) == 100_000
    resumed = await patient.patch(url, 100_000, data[100_000:])  # the same phone reconnects
    assert resumed.status == 204
    first.cancel()
    assert upload_row(upload_ctx, url).status == UploadStatus.COMPLETE


# A short window and a high floor so that the rate tests take seconds (the service's own: 512 B/s over 30 s).
TEST_FLOOR = 8 * 1024
TEST_WINDOW = 1.0


def sha256_checksum(chunk: bytes) -> str:
    return f"sha256 {base64.b64encode(hashlib.sha256(chunk).digest()).decode()}"


@pytest.mark.parametrize("checksummed", [False, True], ids=["streamed", "checksummed"])
async def test_a_body_slower_than_the_floor_is_cut_off_and_frees_the_lock(
    aiohttp_client: ClientFactory, upload_ctx: AppContext, checksummed: bool
) -> None:
    """A client that drips a few bytes now and then is never silent, yet would hold the upload's lock for ever.

    It is ended like a silent one: a streamed body keeps what arrived, a checksummed one keeps nothing (it
    cannot be verified), and either way the next PATCH gets the lock.
    """
    client = await app_client(aiohttp_client, upload_ctx, min_body_rate=TEST_FLOOR, body_rate_window=TEST_WINDOW)
    patient = await patient_factory(aiohttp_client, client, upload_ctx)()
    data = jpeg_payload(300_000)
    url = await patient.create_url(len(data))
    sent = 100_000

    async def drips() -> AsyncIterator[bytes]:
        nonlocal sent
        yield data[:sent]
        while sent < len(data):  # then 64 bytes every 0.2 s: 320 B/s, far below the floor
            await asyncio.sleep(0.2)
            yield data[sent : sent + 64]
            sent += 64

    checksum = {"Upload-Checksum": sha256_checksum(data)} if checksummed else {}
    dripped = await asyncio.wait_for(patient.patch(url, 0, drips(), **checksum), timeout=15)
    assert dripped.status == 204
    offset = int(dripped.headers["Upload-Offset"])
    assert offset == 0 if checksummed else 100_000 <= offset <= sent
    assert await patient.offset(url) == offset == stored_offset(upload_ctx, url)
    assert upload_row(upload_ctx, url).lock_token is None
    rest = data[offset:]
    checksum = {"Upload-Checksum": sha256_checksum(rest)} if checksummed else {}
    assert (await patient.patch(url, offset, rest, **checksum)).status == 204  # not 423: the lock was freed
    row = upload_row(upload_ctx, url)
    assert row.status == UploadStatus.COMPLETE
    assert hashlib.sha256(b"".join(upload_ctx.store.iter_chunks(row.storage_key))).digest() == (
        hashlib.sha256(data).digest()
    )


async def test_a_slow_phone_above_the_floor_is_never_cut_off(aiohttp_client: ClientFactory, ctx: AppContext) -> None:
    """2G (about 30 KiB/s) is 60 times the service's floor; here, scaled, a body at 4 times the test floor."""
    client = await app_client(aiohttp_client, ctx, min_body_rate=TEST_FLOOR, body_rate_window=TEST_WINDOW)
    patient = await patient_factory(aiohttp_client, client, ctx)()
    piece = TEST_FLOOR * 4 // 10  # every 0.1 s
    data = jpeg_payload(piece * 40)  # four seconds: four windows
    url = await patient.create_url(len(data))
    response = await patient.patch(url, 0, trickle(data, piece, pause=0.1))
    assert response.status == 204 and response.headers["Upload-Offset"] == str(len(data))
    assert upload_row(ctx, url).status == UploadStatus.COMPLETE


async def test_method_override_for_networks_that_block_patch(new_patient: PatientFactory) -> None:
    patient = await new_patient()
    data = jpeg_payload(1000)
    url = await patient.create_url(len(data))
    response = await patient.client.post(
        url,
        headers=patient.headers(**OFFSET_TYPE, **{"Upload-Offset": "0", "X-HTTP-Method-Override": "PATCH"}),
        data=data,
    )
    assert response.status == 204 and response.headers["Upload-Offset"] == "1000"


async def test_notes_can_be_added_and_changed(new_patient: PatientFactory, upload_ctx: AppContext) -> None:
    patient = await new_patient()
    url = await patient.upload(jpeg_payload(2000))
    response = await patient.client.post(
        f"/api/uploads/{upload_id(url)}/note", json={"note": "Taken\r\nthis morning"}, headers=patient.headers()
    )
    assert response.status == 200 and (await response.json())["note"] == "Taken this morning"
    row = upload_row(upload_ctx, url)
    with upload_ctx.engine.connect() as conn:
        item = conn.execute(select(media).where(media.c.id == row.media_id)).one()
    assert upload_ctx.cipher.decrypt("media", "note", item.id, item.note) == "Taken this morning"
    too_long = await patient.client.post(
        f"/api/uploads/{upload_id(url)}/note", json={"note": "x" * 501}, headers=patient.headers()
    )
    assert too_long.status == 400
    listing = await (await patient.client.get("/api/uploads")).json()
    assert [(item["note"], item["status"], item["mine"]) for item in listing["uploads"]] == [
        ("Taken this morning", "complete", True)
    ]


async def test_metadata_is_not_trusted_for_the_type(new_patient: PatientFactory, upload_ctx: AppContext) -> None:
    patient = await new_patient()
    data = MP4_MAGIC + b"\x00" * 1000
    url = await patient.create_url(len(data), filename="photo.jpg", filetype="image/jpeg")
    assert (await patient.patch(url, 0, data)).status == 204
    row = upload_row(upload_ctx, url)
    assert (row.kind, row.content_type) == ("video", "video/mp4")


async def test_an_upload_stored_whole_but_never_completed_is_completed_on_head(
    new_patient: PatientFactory, upload_ctx: AppContext
) -> None:
    """The process died between finishing the object in the store and writing the media row."""
    patient = await new_patient()
    data = jpeg_payload(20_000)
    url = await patient.create_url(len(data))
    assert (await patient.patch(url, 0, data[:-1])).status == 204
    row = upload_row(upload_ctx, url)
    upload_ctx.store.append(row.storage_key, row.storage_ref or "", len(data) - 1, [data[-1:]])
    upload_ctx.store.finish_resumable(row.storage_key, row.storage_ref or "")  # ... and then the crash
    assert upload_row(upload_ctx, url).status == UploadStatus.RECEIVING
    head = await patient.head(url)
    assert head.status == 200 and head.headers["Upload-Offset"] == str(len(data))
    row = upload_row(upload_ctx, url)
    assert row.status == UploadStatus.COMPLETE and row.media_id is not None
    assert b"".join(upload_ctx.store.iter_chunks(row.storage_key)) == data

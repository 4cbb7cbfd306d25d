"""The ObjectStore contract, on the filesystem and on S3 (moto over HTTP)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import urllib.request
from pathlib import Path

import pytest

from shared.storage.async_store import AsyncStore
from shared.storage.base import InvalidKey, ObjectNotFound, ObjectStore, OffsetMismatch
from shared.storage.filesystem import FilesystemStore
from shared.storage.s3 import S3Store

MIB = 1024 * 1024


def test_whole_objects(store: ObjectStore, tmp_path: Path) -> None:
    store.put("derived/e1/m1/display.jpg", b"jpeg bytes", "image/jpeg")
    store.put("derived/e1/m1/thumb.jpg", io.BytesIO(b"thumb"), "image/jpeg")
    assert store.get("derived/e1/m1/display.jpg") == b"jpeg bytes"
    assert b"".join(store.iter_chunks("derived/e1/m1/display.jpg", chunk_size=3)) == b"jpeg bytes"
    assert store.exists("derived/e1/m1/thumb.jpg") and store.size("derived/e1/m1/thumb.jpg") == 5
    listing = store.list("derived/e1/")
    assert [info.key for info in listing.objects] == ["derived/e1/m1/display.jpg", "derived/e1/m1/thumb.jpg"]
    assert listing.total_bytes == 15 and listing.count == 2

    target = tmp_path / "copy.jpg"
    store.download_file("derived/e1/m1/display.jpg", target)
    assert target.read_bytes() == b"jpeg bytes"
    store.upload_file(target, "derived/e1/m1/again.jpg", "image/jpeg")
    assert store.get("derived/e1/m1/again.jpg") == b"jpeg bytes"

    store.delete("derived/e1/m1/display.jpg")
    store.delete("derived/e1/m1/display.jpg")  # deleting twice is fine
    assert not store.exists("derived/e1/m1/display.jpg")
    with pytest.raises(ObjectNotFound):
        store.get("derived/e1/m1/display.jpg")
    with pytest.raises(ObjectNotFound):
        store.size("derived/e1/m1/display.jpg")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a//b", "a/../b", "a b", "", "uploads/.hidden/../x"])
def test_path_like_keys_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        store.put(key, b"x")


def test_time_limited_url_serves_the_object(store: ObjectStore) -> None:
    store.put("derived/e1/m1/display.jpg", b"jpeg bytes", "image/jpeg")
    url = store.url("derived/e1/m1/display.jpg", 120, download_name="rash.jpg", content_type="image/jpeg")
    if isinstance(store, S3Store):
        assert "X-Amz-Expires=120" in url
        with urllib.request.urlopen(url) as response:  # noqa: S310 - local moto server
            assert response.read() == b"jpeg bytes"
            assert "rash.jpg" in response.headers["Content-Disposition"]
    else:
        assert "/media/derived/e1/m1/display.jpg?" in url and "sig=" in url and "expires=" in url


def _chunks(data: bytes, sizes: list[int]) -> list[bytes]:
    chunks, position = [], 0
    for size in sizes:
        chunks.append(data[position : position + size])
        position += size
    assert position == len(data)
    return chunks


# chunk sizes that are not multiples of 5 MiB, down to a single byte: 13 MiB + 22 bytes in all
AWKWARD = [1, 3 * MIB, 7 * MIB, 5, 2 * MIB - 1, 1, MIB - 1, 17]


def test_resumable_append_of_awkward_chunks(store: ObjectStore) -> None:
    data = os.urandom(sum(AWKWARD))
    assert len(data) >= 12 * MIB
    key = "uploads/e1/u1/original"
    ref = store.create_resumable(key)
    offset = 0
    for chunk in _chunks(data, AWKWARD):
        offset = store.append(key, ref, offset, [chunk[: len(chunk) // 2], chunk[len(chunk) // 2 :]])
        assert store.resumable_offset(key, ref) == offset
    assert not store.exists(key)  # not visible until finished
    store.finish_resumable(key, ref)
    store.finish_resumable(key, ref)  # a retried finish is harmless
    assert store.size(key) == len(data)
    assert hashlib.sha256(store.get(key)).hexdigest() == hashlib.sha256(data).hexdigest()
    assert [info.key for info in store.list("uploads/").objects] == [key]


def test_offset_mismatch_writes_nothing(store: ObjectStore) -> None:
    key = "uploads/e1/u2/original"
    ref = store.create_resumable(key)
    store.append(key, ref, 0, [b"hello"])
    for wrong in (0, 3, 6):
        with pytest.raises(OffsetMismatch) as error:
            store.open_appender(key, ref, wrong)
        assert error.value.expected == 5
    assert store.resumable_offset(key, ref) == 5


def test_restart_in_the_middle_resumes_from_the_stored_offset(store: ObjectStore) -> None:
    """A new store object (as after a process restart) finds the offset in the store itself."""
    data = os.urandom(13 * MIB + 12345)
    key = "uploads/e1/u3/original"
    ref = store.create_resumable(key)
    appender = store.open_appender(key, ref, 0)
    appender.write(data[: 6 * MIB + 10])
    appender.commit()
    half_written = store.open_appender(key, ref, 6 * MIB + 10)
    half_written.write(data[6 * MIB + 10 : 9 * MIB])  # the process dies here: never committed
    del half_written

    if isinstance(store, S3Store):
        restarted: ObjectStore = S3Store(store.client, store.bucket, store.prefix, store.part_size)
    else:
        assert isinstance(store, FilesystemStore)
        restarted = FilesystemStore(store.root, store._signer)
    offset = restarted.resumable_offset(key, ref)
    assert 6 * MIB + 10 <= offset <= 9 * MIB
    restarted.append(key, ref, offset, [data[offset:]])
    restarted.finish_resumable(key, ref)
    assert hashlib.sha256(restarted.get(key)).digest() == hashlib.sha256(data).digest()


def test_abort_leaves_nothing_behind(store: ObjectStore) -> None:
    key = "uploads/e1/u4/original"
    ref = store.create_resumable(key)
    store.append(key, ref, 0, [os.urandom(6 * MIB)])
    store.append(key, ref, 6 * MIB, [b"tail bytes"])
    store.abort_resumable(key, ref)
    assert store.list("").count == 0
    if isinstance(store, S3Store):
        uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
        assert uploads == []
    else:
        assert not any(path.is_file() for path in store.root.rglob("*"))


def test_empty_upload_finishes_as_an_empty_object(store: ObjectStore) -> None:
    key = "uploads/e1/u5/original"
    ref = store.create_resumable(key)
    store.finish_resumable(key, ref)
    assert store.size(key) == 0


def test_async_store_does_not_block_the_loop(store: ObjectStore) -> None:
    async def scenario() -> bytes:
        async_store = AsyncStore(store)
        key = "uploads/e1/u6/original"
        ref = await async_store.create_resumable(key)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        async def body():  # type: ignore[no-untyped-def]
            for _ in range(12):
                yield b"x" * (512 * 1024 + 3)

        task = asyncio.create_task(ticker())
        offset = await async_store.append(key, ref, 0, body())
        await async_store.finish_resumable(key, ref)
        task.cancel()
        assert offset == 12 * (512 * 1024 + 3)
        assert ticks > 10  # the loop kept running while the store worked in threads
        return await async_store.get(key)

    assert len(asyncio.run(scenario())) == 12 * (512 * 1024 + 3)

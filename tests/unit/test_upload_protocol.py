"""Pure pieces of the upload service: tus headers and metadata, limits and messages, dates, write-behind."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import threading
import time

import pytest

from patient_upload.refusals import format_size, refusal_for
from patient_upload.tus.protocol import (
    ProtocolError,
    clean_filename,
    clean_note,
    encode_metadata,
    http_date,
    parse_checksum,
    parse_metadata,
    parse_non_negative,
)
from patient_upload.views import parse_date_parts
from shared.config.settings import GIB, MIB
from shared.encounters.errors import EncounterError, FileTooBig, LockLost, NotMedia
from shared.encounters.identifiers import InvalidIdentifier
from shared.encounters.uploads.limits import UploadLimits
from shared.encounters.uploads.write_behind import WriteBehind
from shared.media_types.sniff import HEIC, JPEG, MP4
from shared.storage.async_store import AsyncAppender
from shared.storage.base import Appender


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_metadata_round_trip_and_errors() -> None:
    raw = f"filename {b64('Ünïcode rash.heic')},note {b64('sore')},empty"
    assert parse_metadata(raw) == {"filename": "Ünïcode rash.heic", "note": "sore", "empty": ""}
    assert parse_metadata(encode_metadata({"filename": "a.jpg", "note": None})) == {"filename": "a.jpg"}
    for bad in ("filename !!!", f"bad key {b64('x')}", f"a {b64('x')},a {b64('y')}", "x " + b64("\udcff"[:0]) + "=="):
        with pytest.raises(ProtocolError):
            parse_metadata(bad)
    with pytest.raises(ProtocolError):
        parse_metadata("k " + base64.b64encode(b"\xff\xfe").decode())  # not UTF-8


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("IMG_0001.HEIC", "IMG_0001.HEIC"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
        ("evil\r\nSet-Cookie: x.jpg", "evilSet-Cookie: x.jpg"),
        ("\u202egpj.exe", "gpj.exe"),
        ('quote".jpg', "quote'.jpg"),
        ("...hidden", "hidden"),
        ("", "file"),
        ("/", "file"),
        ("a" * 300 + ".jpeg", "a" * 195 + ".jpeg"),  # 200 characters, extension kept
    ],
)
def test_file_names_are_neutralised(raw: str, expected: str) -> None:
    assert clean_filename(raw) == expected


def test_notes_are_one_tidy_paragraph() -> None:
    assert clean_note("  left\r\narm \t today ") == "left arm today"
    assert clean_note("   ") is None and clean_note(None) is None
    with pytest.raises(ProtocolError):
        clean_note("x" * 501)


def test_checksum_and_number_headers() -> None:
    digest = hashlib.sha1(b"abc", usedforsecurity=False).digest()
    parsed = parse_checksum(f"sha1 {base64.b64encode(digest).decode()}")
    assert parsed is not None and parsed.algorithm == "sha1" and parsed.digest == digest
    assert parse_checksum(None) is None
    for bad in ("crc32 AAAA", "sha1 not-base64", f"sha1 {base64.b64encode(b'short').decode()}"):
        with pytest.raises(ProtocolError):
            parse_checksum(bad)
    assert parse_non_negative("Upload-Offset", "0") == 0
    for bad in (None, "-1", "1.5", " 1", "9" * 20, "²", "١٢٣", "５", "1_000"):
        with pytest.raises(ProtocolError):
            parse_non_negative("Upload-Offset", bad)
    assert http_date(dt.datetime(2026, 11, 21, 9, 5, 0)) == "Sat, 21 Nov 2026 09:05:00 GMT"


def test_sizes_read_like_a_phone() -> None:
    assert [format_size(n) for n in (50 * MIB, 2 * GIB, 1536 * MIB, 17 * 1024 + 300, 0)] == [
        "50 MB",
        "2 GB",
        "1.5 GB",
        "17.3 KB",
        "0 KB",
    ]


def test_limits_refuse_with_a_reason() -> None:
    limits = UploadLimits(max_image_bytes=50 * MIB, max_video_bytes=2 * GIB, max_files=20, max_total_bytes=10 * GIB)
    assert limits.max_file_bytes == 2 * GIB
    limits.check_new_file(2 * GIB, 19, 7 * GIB)
    cases = [
        ((0, 0, 0), "empty_file"),
        ((2 * GIB + 1, 0, 0), "too_big"),
        ((10, 20, 0), "too_many_files"),
        ((GIB, 5, 9 * GIB + 1), "request_too_big"),
    ]
    for args, code in cases:
        with pytest.raises(EncounterError) as refused:
            limits.check_new_file(*args)
        refusal = refusal_for(refused.value, limits)
        assert refused.value.code == refusal.code == code and refusal.message.endswith(".")
    assert limits.check_type(HEIC, 50 * MIB) is HEIC and limits.check_type(MP4, 2 * GIB) is MP4
    with pytest.raises(FileTooBig) as photo:
        limits.check_type(JPEG, 51 * MIB)
    refusal = refusal_for(photo.value, limits)
    assert refusal.status == 413 and "largest photo you can send is 50 MB" in refusal.message
    with pytest.raises(NotMedia) as other:
        limits.check_type(None, 10)
    assert refusal_for(other.value, limits).status == 415


def test_dates_typed_as_numbers() -> None:
    assert parse_date_parts("7", "03", "1961") == dt.date(1961, 3, 7)
    assert parse_date_parts(" 14 ", "7", "1961") == dt.date(1961, 7, 14)
    for bad in (("31", "2", "1961"), ("1", "1", "61"), ("a", "1", "1961"), ("1", "1", "2999"), ("", "", "")):
        with pytest.raises(InvalidIdentifier):
            parse_date_parts(*bad)


@pytest.mark.parametrize(
    "parts",
    [("١٤", "٧", "١٩٦١"), ("14", "7", "１９６１"), ("²", "7", "1961"), ("14", "+7", "1961"), ("014", "7", "1961")],
)
def test_dates_in_other_digits_get_the_same_answer_as_letters(parts: tuple[str, str, str]) -> None:
    with pytest.raises(InvalidIdentifier, match="Enter your date of birth as numbers"):
        parse_date_parts(*parts)


class SlowAppender(Appender):
    """A store that takes its time, recording what it got and from which thread."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.data = bytearray()
        self.committed = False
        self.abandoned = False
        self.fail_after = fail_after
        self.threads: set[str] = set()

    def write(self, data: bytes) -> None:
        time.sleep(0.02)
        self.threads.add(threading.current_thread().name)
        if self.fail_after is not None and len(self.data) >= self.fail_after:
            raise OSError("disk full")
        self.data += data

    def commit(self) -> int:
        self.committed = True
        return len(self.data)

    def abandon(self) -> None:
        self.abandoned = True

    @property
    def offset(self) -> int:
        return len(self.data)


def always_held() -> None:
    """The guard of a lock that never runs out."""


async def test_write_behind_keeps_order_bounds_memory_and_commits() -> None:
    store = SlowAppender()
    writer = WriteBehind(AsyncAppender(store, batch_size=1024), always_held, limit=4096)
    chunks = [bytes([i]) * 1000 for i in range(40)]
    for chunk in chunks:
        await writer.write(chunk)
        assert writer._queued_bytes <= 4096 + 1000  # the reader waits once the limit is reached
    assert await writer.finish() == 40_000
    assert bytes(store.data) == b"".join(chunks) and store.committed
    assert threading.current_thread().name not in store.threads  # the store never blocked the event loop


async def test_write_behind_reports_a_store_failure_and_still_commits() -> None:
    store = SlowAppender(fail_after=3000)
    writer = WriteBehind(AsyncAppender(store, batch_size=1000), always_held, limit=2000)
    with pytest.raises(OSError, match="disk full"):
        for _ in range(50):
            await writer.write(b"x" * 1000)
            await asyncio.sleep(0)
    with pytest.raises(OSError, match="disk full"):
        await writer.finish()
    assert len(store.data) == 3000 and store.committed


async def test_write_behind_writes_nothing_once_the_lock_may_be_lost() -> None:
    """Not a queued chunk, not the commit: the store keeps what it held when the guard first refused."""
    store = SlowAppender()
    held = True

    def ensure_held() -> None:
        if not held:
            raise LockLost()

    writer = WriteBehind(AsyncAppender(store, batch_size=1000), ensure_held, limit=100_000)
    for _ in range(3):
        await writer.write(b"x" * 1000)
    while len(store.data) < 3000:
        await asyncio.sleep(0.01)
    held = False
    with contextlib.suppress(LockLost):  # queued faster than the store writes (or refused already)
        for _ in range(20):
            await writer.write(b"y" * 1000)
    with pytest.raises(LockLost):
        await writer.finish()
    assert bytes(store.data) == b"x" * 3000 and store.abandoned and not store.committed

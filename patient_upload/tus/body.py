"""Receiving a tus request body: bounded, sniffed, optionally checksummed, streamed to the store.

The body is read as it arrives and never held whole in memory. It is cut at
the upload's declared length (more is refused with 413 and never written).
Until an upload's type is known, its first bytes are held back and sniffed
(processors.sniff); a type that is not allowed is refused before anything is
written. Without a checksum, bytes stream straight into the store and what
arrived is committed even if the client vanishes mid-body; with a checksum,
the body is spooled to a temporary file first so that a mismatch (460)
writes nothing.

A body that stops (the phone lost its signal) or trickles slower than a floor
(a client holding the upload's lock with a byte now and then) counts as
abandoned: reading ends, what arrived is kept as above, and the lock is freed
for the client's next try.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from aiohttp import StreamReader
from aiohttp.client_exceptions import ClientPayloadError

from patient_upload.tus.protocol import CHECKSUM_MISMATCH, Checksum, ProtocolError
from shared.encounters.uploads.limits import Refusal
from shared.encounters.uploads.write_behind import Guard, WriteBehind, commit_while_held
from shared.media_types.sniff import SNIFF_BYTES, FileType
from shared.storage.async_store import AsyncAppender

SPOOL_BLOCK = 1024 * 1024
# Exceptions aiohttp raises when the client goes away mid-body.
DISCONNECTS = (ConnectionError, ClientPayloadError, asyncio.IncompleteReadError)


class BodyTooLong(Refusal):
    def __init__(self) -> None:
        super().__init__(413, "body_too_long", "The request carried more bytes than the upload declared.")


def checksum_mismatch() -> Refusal:
    return Refusal(CHECKSUM_MISMATCH, "checksum_mismatch", "The chunk did not match its checksum; send it again.")


@dataclass
class RateFloor:
    """The slowest body worth keeping the upload's lock for.

    Over each `window` seconds spent waiting for the client, at least
    `bytes_per_second` must arrive on average. Only time spent waiting for the
    client counts: while the store is busy the client is held back by TCP, and
    that is not its fault. The first window is the grace period; a phone on 2G
    (about 30 KiB/s) is far above any sensible floor, a drip of a byte every
    few seconds far below it.
    """

    bytes_per_second: float
    window: float
    waited: float = 0.0
    received: int = 0

    def time_left(self) -> float:
        return self.window - self.waited

    def count(self, waited: float, received: int) -> bool:
        """Add one wait for the client; False when it closes a window below the floor."""
        self.waited += waited
        self.received += received
        if self.waited < self.window:
            return True
        fast_enough = self.received >= self.bytes_per_second * self.waited
        self.waited, self.received = 0.0, 0
        return fast_enough


# Why a body ended before its end (BodyReader.ended_by).
GONE = "disconnected"
STALLED = "stalled"
TOO_SLOW = "too_slow"


@dataclass
class BodyReader:
    """The body's chunks, cut at `limit` bytes; records why reading stopped.

    Reading ends early when the client goes away, sends nothing for
    `idle_timeout` seconds, or falls below `floor`; all three count as a client
    that went away (`disconnected`).
    """

    stream: StreamReader
    limit: int
    idle_timeout: float
    floor: RateFloor
    received: int = 0
    overflow: bool = False
    ended_by: str | None = None

    @property
    def disconnected(self) -> bool:
        return self.ended_by is not None

    async def chunks(self) -> AsyncIterator[bytes]:
        last_byte_at = time.monotonic()
        while True:
            started = time.monotonic()
            timeout = min(last_byte_at + self.idle_timeout - started, self.floor.time_left())
            try:
                chunk: bytes | None = await asyncio.wait_for(self.stream.readany(), max(timeout, 0.0))
            except TimeoutError:
                chunk = None
            except DISCONNECTS:
                self.ended_by = GONE
                return
            now = time.monotonic()
            fast_enough = self.floor.count(now - started, len(chunk or b""))
            if chunk is None and now - last_byte_at >= self.idle_timeout:
                self.ended_by = STALLED  # a stalled connection (phone lost signal) counts as gone
                return
            if chunk == b"":
                return
            if chunk:
                last_byte_at = now
                room = self.limit - self.received
                if len(chunk) > room:
                    self.overflow = True
                    chunk = chunk[:room]
                if chunk:
                    self.received += len(chunk)
                    yield chunk
                if self.overflow:
                    return
            if not fast_enough:
                self.ended_by = TOO_SLOW
                return


@dataclass
class HeadSniffer:
    """Holds back an upload's first bytes until there are enough to decide its type."""

    needed: int
    decide: Callable[[bytes], Awaitable[FileType]]
    head: bytearray = field(default_factory=bytearray)
    decided: bool = False

    async def feed(self, chunk: bytes) -> bytes:
        """Bytes now safe to write (b'' while still undecided). Raises Refusal for a disallowed type."""
        if self.decided:
            return chunk
        self.head += chunk
        if len(self.head) < self.needed:
            return b""
        await self.decide(bytes(self.head[:SNIFF_BYTES]))
        self.decided = True
        released, self.head = bytes(self.head), bytearray()
        return released

    def require_decided(self, disconnected: bool) -> None:
        if not self.decided and not disconnected and self.head:
            raise ProtocolError(f"the first request of an upload must carry at least its first {self.needed} bytes")


Opener = Callable[[], Awaitable[AsyncAppender]]


@dataclass
class StreamResult:
    written: int
    overflow: bool
    disconnected: bool


async def stream_to_store(
    reader: BodyReader, sniffer: HeadSniffer | None, open_appender: Opener, ensure_held: Guard
) -> StreamResult:
    """No checksum: write as bytes arrive; commit what was written whatever stopped the body, while the lock holds."""
    writer: WriteBehind | None = None
    written = 0
    try:
        async for chunk in reader.chunks():
            data = await sniffer.feed(chunk) if sniffer else chunk
            if not data:
                continue
            ensure_held()
            if writer is None:
                writer = WriteBehind(await open_appender(), ensure_held)
            await writer.write(data)
            written += len(data)
        if sniffer:
            sniffer.require_decided(reader.disconnected)
    finally:
        if writer is not None:
            await asyncio.shield(writer.finish())
    return StreamResult(written, reader.overflow, reader.disconnected)


async def spool_verified(
    reader: BodyReader, sniffer: HeadSniffer | None, checksum: Checksum, spool_dir: Path | None
) -> tuple[BinaryIO, int] | None:
    """With a checksum: the whole body in a temporary file once its digest matches.

    None when the client went away (a partial chunk cannot be verified, so
    nothing is kept). Raises Refusal 460 on a mismatch and 413 on overflow.
    """
    digest = checksum.new_hash()
    spool = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115 - returned to the caller, who closes it
    try:
        size = 0
        async for chunk in reader.chunks():
            if sniffer:
                await sniffer.feed(chunk)
            digest.update(chunk)
            await asyncio.to_thread(spool.write, chunk)
            size += len(chunk)
        if reader.disconnected:
            spool.close()
            return None
        if reader.overflow:
            raise BodyTooLong()
        if sniffer:
            sniffer.require_decided(False)
        if digest.digest() != checksum.digest:
            raise checksum_mismatch()
        spool.seek(0)
        return spool, size
    except BaseException:
        spool.close()
        raise


async def copy_spool(spool: BinaryIO, appender: AsyncAppender, ensure_held: Guard) -> int:
    """A verified body into the store, then committed; stops (nothing more written) once the lock may be lost."""
    written = 0
    try:
        while block := await asyncio.to_thread(spool.read, SPOOL_BLOCK):
            ensure_held()
            await appender.write(block)
            written += len(block)
    finally:
        await asyncio.shield(commit_while_held(appender, ensure_held))
    return written

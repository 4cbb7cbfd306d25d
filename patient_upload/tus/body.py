"""Receiving a tus request body: bounded, sniffed, optionally checksummed, streamed to the store.

The body is read as it arrives and never held whole in memory. It is cut at
the upload's declared length (more is refused with 413 and never written).
Until an upload's type is known, its first bytes are held back and sniffed
(processors.sniff); a type that is not allowed is refused before anything is
written. Without a checksum, bytes stream straight into the store and what
arrived is committed even if the client vanishes mid-body; with a checksum,
the body is spooled to a temporary file first so that a mismatch (460)
writes nothing.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from aiohttp import StreamReader
from aiohttp.client_exceptions import ClientPayloadError

from patient_upload.limits import Refusal
from patient_upload.tus.protocol import CHECKSUM_MISMATCH, Checksum, ProtocolError
from patient_upload.tus.write_behind import WriteBehind
from processors.sniff import SNIFF_BYTES, FileType
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
class BodyReader:
    """The body's chunks, cut at `limit` bytes; records why reading stopped."""

    stream: StreamReader
    limit: int
    idle_timeout: float
    received: int = 0
    overflow: bool = False
    disconnected: bool = False

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            try:
                chunk = await asyncio.wait_for(self.stream.readany(), self.idle_timeout)
            except TimeoutError:
                self.disconnected = True  # a stalled connection (phone lost signal) counts as gone
                return
            except DISCONNECTS:
                self.disconnected = True
                return
            if not chunk:
                return
            room = self.limit - self.received
            if len(chunk) > room:
                self.overflow = True
                chunk = chunk[:room]
            if chunk:
                self.received += len(chunk)
                yield chunk
            if self.overflow:
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
    reader: BodyReader, sniffer: HeadSniffer | None, open_appender: Opener, still_locked: Callable[[], bool]
) -> StreamResult:
    """No checksum: write as bytes arrive; always commit what was written, whatever stopped the body."""
    writer: WriteBehind | None = None
    written = 0
    try:
        async for chunk in reader.chunks():
            data = await sniffer.feed(chunk) if sniffer else chunk
            if not data:
                continue
            if not still_locked():
                raise Refusal(423, "lock_lost", "This upload was interrupted; it will resume by itself.")
            if writer is None:
                writer = WriteBehind(await open_appender())
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


async def copy_spool(spool: BinaryIO, appender: AsyncAppender) -> int:
    written = 0
    while block := await asyncio.to_thread(spool.read, SPOOL_BLOCK):
        await appender.write(block)
        written += len(block)
    return written

"""Reading a tus request body from aiohttp: chunks as they arrive, ended early when the client is gone.

A body whose client goes away, stops sending (the phone lost its signal) or
trickles slower than a floor (a client holding the upload's lock with a byte
now and then) ends with `BodyInterrupted`: the tus service keeps what
arrived (unless a checksum was asked for) and frees the lock for the
client's next try. Cutting at the declared length, sniffing and storing are
the service's (`shared.encounters.uploads.service`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import StreamReader
from aiohttp.client_exceptions import ClientPayloadError

from shared.encounters.uploads.service import BodyInterrupted

# Exceptions aiohttp raises when the client goes away mid-body.
DISCONNECTS = (ConnectionError, ClientPayloadError, asyncio.IncompleteReadError)

# Why a body ended before its end (BodyReader.ended_by).
GONE = "disconnected"
STALLED = "stalled"
TOO_SLOW = "too_slow"


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


@dataclass
class BodyReader:
    """The body's chunks; ends with BodyInterrupted when the client goes away, sends nothing for
    `idle_timeout` seconds, or falls below `floor`."""

    stream: StreamReader
    idle_timeout: float
    floor: RateFloor

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
                raise BodyInterrupted(GONE) from None
            now = time.monotonic()
            fast_enough = self.floor.count(now - started, len(chunk or b""))
            if chunk is None and now - last_byte_at >= self.idle_timeout:
                raise BodyInterrupted(STALLED)  # a stalled connection (phone lost signal) counts as gone
            if chunk == b"":
                return
            if chunk:
                last_byte_at = now
                yield chunk
            if not fast_enough:
                raise BodyInterrupted(TOO_SLOW)

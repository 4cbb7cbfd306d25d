"""Let the socket keep receiving while the store writes.

Without this, reading a PATCH body stops whenever the store is busy (an S3
part upload takes a round trip), so network and storage time add up. Here
a drain task feeds the store while the reader queues chunks, up to `limit`
bytes in memory, after which the reader waits: memory stays bounded per
upload, whatever the file size.

Every write to the store, the commit included, first asks `ensure_held`
(the upload lock's deadline): once it refuses, nothing more is written and
the store keeps only what it already held.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from shared.storage.async_store import AsyncAppender

DEFAULT_LIMIT = 4 * 1024 * 1024

Guard = Callable[[], None]  # raises when the store may no longer be written


async def commit_while_held(appender: AsyncAppender, ensure_held: Guard) -> int:
    """Commit, unless the guard refuses: then abandon the appender, writing nothing more, and raise."""
    try:
        ensure_held()
    except BaseException:
        appender.abandon()
        raise
    return await appender.commit()


class WriteBehind:
    def __init__(self, appender: AsyncAppender, ensure_held: Guard, limit: int = DEFAULT_LIMIT) -> None:
        self._appender = appender
        self._ensure_held = ensure_held
        self._limit = limit
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._closing = False
        self._error: BaseException | None = None
        self._changed = asyncio.Condition()
        self._drainer = asyncio.create_task(self._drain())

    async def write(self, data: bytes) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._queued_bytes < self._limit or self._error is not None)
            if self._error is not None:
                raise self._error
            self._queue.append(data)
            self._queued_bytes += len(data)
            self._changed.notify_all()

    async def _drain(self) -> None:
        try:
            while True:
                async with self._changed:
                    await self._changed.wait_for(lambda: bool(self._queue) or self._closing)
                    if not self._queue:
                        return
                    data = self._queue.popleft()
                self._ensure_held()
                await self._appender.write(data)
                async with self._changed:
                    self._queued_bytes -= len(data)
                    self._changed.notify_all()
        except Exception as error:  # kept for the reader and for finish(), which raise it
            async with self._changed:
                self._error = error
                self._changed.notify_all()

    async def finish(self) -> int:
        """Write what is queued, then commit; returns the durable offset. Raises the store's error, if any."""
        async with self._changed:
            self._closing = True
            self._changed.notify_all()
        await self._drainer
        # what did reach the store is kept, even after a failure (and without a commit once the guard refuses)
        offset = await commit_while_held(self._appender, self._ensure_held)
        if self._error is not None:
            raise self._error
        return offset

"""Use an ObjectStore from asyncio without blocking the event loop.

Each blocking call runs in a worker thread (boto3 and file I/O block). Small
writes are gathered into `batch_size` buffers first so a stream of 64 KiB
network chunks does not cost one thread hand-off each.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from pathlib import Path

from shared.storage.base import Appender, Listing, ObjectStore

DEFAULT_BATCH = 1024 * 1024


class AsyncAppender:
    def __init__(self, appender: Appender, batch_size: int = DEFAULT_BATCH) -> None:
        self._appender = appender
        self._pending = bytearray()
        self._batch_size = batch_size

    @property
    def offset(self) -> int:
        """Bytes accepted, including those still buffered here."""
        return self._appender.offset + len(self._pending)

    async def write(self, data: bytes) -> None:
        self._pending += data
        if len(self._pending) >= self._batch_size:
            await self._flush()

    async def _flush(self) -> None:
        if self._pending:
            chunk, self._pending = bytes(self._pending), bytearray()
            await asyncio.to_thread(self._appender.write, chunk)

    async def commit(self) -> int:
        await self._flush()
        return await asyncio.to_thread(self._appender.commit)

    def abandon(self) -> None:
        """Drop what is buffered here and stop without committing (Appender.abandon)."""
        self._pending = bytearray()
        self._appender.abandon()


class AsyncStore:
    """Awaitable versions of the ObjectStore methods."""

    def __init__(self, store: ObjectStore) -> None:
        self.sync = store

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        await asyncio.to_thread(self.sync.put, key, data, content_type)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self.sync.get, key)

    async def download_file(self, key: str, path: Path) -> None:
        await asyncio.to_thread(self.sync.download_file, key, path)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.sync.delete, key)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.sync.exists, key)

    async def size(self, key: str) -> int:
        return await asyncio.to_thread(self.sync.size, key)

    async def list(self, prefix: str = "") -> Listing:
        return await asyncio.to_thread(self.sync.list, prefix)

    async def url(
        self, key: str, expires_in: int, download_name: str | None = None, content_type: str | None = None
    ) -> str:
        return await asyncio.to_thread(self.sync.url, key, expires_in, download_name, content_type)

    async def create_resumable(self, key: str) -> str:
        return await asyncio.to_thread(self.sync.create_resumable, key)

    async def resumable_offset(self, key: str, ref: str) -> int:
        return await asyncio.to_thread(self.sync.resumable_offset, key, ref)

    async def open_appender(self, key: str, ref: str, offset: int, batch_size: int = DEFAULT_BATCH) -> AsyncAppender:
        appender = await asyncio.to_thread(self.sync.open_appender, key, ref, offset)
        return AsyncAppender(appender, batch_size)

    async def append(self, key: str, ref: str, offset: int, chunks: AsyncIterable[bytes]) -> int:
        appender = await self.open_appender(key, ref, offset)
        async for chunk in chunks:
            await appender.write(chunk)
        return await appender.commit()

    async def finish_resumable(self, key: str, ref: str) -> None:
        await asyncio.to_thread(self.sync.finish_resumable, key, ref)

    async def abort_resumable(self, key: str, ref: str) -> None:
        await asyncio.to_thread(self.sync.abort_resumable, key, ref)

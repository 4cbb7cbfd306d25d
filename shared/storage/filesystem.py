"""Object store on a local directory (the embedded default).

Finished objects live at `root/<key>`; resumable uploads grow in
`root/.incomplete/<key>` and are renamed into place when finished, so a
listing never shows a half-written object. MIA does not encrypt these files
(the host's disk encryption does): every file is created 0600 and every
directory 0700 (`shared.private_files`), whatever the umask.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from shared.private_files import PRIVATE_DIR_MODE, make_private_dirs, open_private, tighten
from shared.storage.base import (
    STREAM_CHUNK,
    Appender,
    Listing,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    OffsetMismatch,
    StorageError,
    validate_key,
)
from shared.storage.signed_urls import UrlSigner

INCOMPLETE_DIR = ".incomplete"


def _fsync_write(path: Path, source: BinaryIO | bytes) -> None:
    """Write to a temporary sibling, fsync, then rename: readers never see a partial file."""
    make_private_dirs(path.parent)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_TRUNC), "wb") as handle:
        if isinstance(source, bytes | bytearray | memoryview):
            handle.write(source)
        else:
            shutil.copyfileobj(source, handle, STREAM_CHUNK)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class _FileAppender(Appender):
    """Unbuffered: each write reaches the file at once (callers write in large batches), so abandoning
    the appender has nothing left to flush."""

    def __init__(self, path: Path, offset: int) -> None:
        self._handle = open(path, "r+b", buffering=0)  # noqa: SIM115 - closed by commit() or abandon()
        self._handle.seek(offset)
        self._offset = offset

    @property
    def offset(self) -> int:
        return self._offset

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[self._handle.write(view) :]
        self._offset += len(data)

    def commit(self) -> int:
        try:
            os.fsync(self._handle.fileno())
        finally:
            self._handle.close()
        return self._offset

    def abandon(self) -> None:
        self._handle.close()


class FilesystemStore(ObjectStore):
    def __init__(self, root: Path, signer: UrlSigner) -> None:
        self.root = root.resolve()
        make_private_dirs(self.root)
        tighten(self.root, PRIVATE_DIR_MODE)  # a root made before objects were owner-only
        self._signer = signer

    def path_for(self, key: str) -> Path:
        """The file holding a finished object (for serving signed URLs)."""
        return self.root / validate_key(key)

    def _incomplete_path(self, key: str) -> Path:
        return self.root / INCOMPLETE_DIR / validate_key(key)

    def put(self, key: str, data: bytes | BinaryIO, content_type: str | None = None) -> None:
        _fsync_write(self.path_for(key), data)

    def iter_chunks(self, key: str, chunk_size: int = STREAM_CHUNK) -> Iterator[bytes]:
        try:
            handle = open(self.path_for(key), "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        with handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    def download_file(self, key: str, path: Path) -> None:
        try:
            source = open(self.path_for(key), "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        with source, os.fdopen(open_private(path, os.O_WRONLY | os.O_TRUNC), "wb") as copy:
            shutil.copyfileobj(source, copy, STREAM_CHUNK)

    def upload_file(self, path: Path, key: str, content_type: str | None = None) -> None:
        with open(path, "rb") as handle:
            _fsync_write(self.path_for(key), handle)

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    def size(self, key: str) -> int:
        try:
            return self.path_for(key).stat().st_size
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    def list(self, prefix: str = "") -> Listing:
        objects = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [name for name in dirnames if not name.startswith(".")]
            for name in filenames:
                if name.startswith("."):
                    continue
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    stat = path.stat()
                    modified = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).replace(tzinfo=None)
                    objects.append(ObjectInfo(key, stat.st_size, modified))
        objects.sort(key=lambda info: info.key)
        return Listing(objects, sum(info.size for info in objects))

    def url(self, key: str, expires_in: int, download_name: str | None = None, content_type: str | None = None) -> str:
        return self._signer.sign(validate_key(key), expires_in, download_name, content_type)

    def create_resumable(self, key: str) -> str:
        path = self._incomplete_path(key)
        make_private_dirs(path.parent)
        os.close(open_private(path, os.O_WRONLY | os.O_EXCL))
        return ""

    def resumable_offset(self, key: str, ref: str) -> int:
        try:
            return self._incomplete_path(key).stat().st_size
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    def open_appender(self, key: str, ref: str, offset: int) -> Appender:
        current = self.resumable_offset(key, ref)
        if offset != current:
            raise OffsetMismatch(current, offset)
        return _FileAppender(self._incomplete_path(key), offset)

    def finish_resumable(self, key: str, ref: str) -> None:
        source = self._incomplete_path(key)
        target = self.path_for(key)
        if not source.exists():
            if target.exists():
                return  # already finished (a retried call)
            raise ObjectNotFound(key)
        make_private_dirs(target.parent)
        try:
            os.replace(source, target)
        except OSError as exc:
            raise StorageError(f"cannot finish {key!r}: {exc}") from exc

    def abort_resumable(self, key: str, ref: str) -> None:
        self._incomplete_path(key).unlink(missing_ok=True)

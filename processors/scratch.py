"""The processors' scratch space: the only place local copies of patient media are written.

Layout: `MIA_SCRATCH_DIR` (mode 0700, owned by this user) holds one
directory per worker process, named by its worker id, holding
`.owner.lock`. The owner keeps an `flock` on that file for as long as it
lives; the kernel drops the lock when the process dies, even by SIGKILL. So
a lock that can be taken proves its owner is gone, and its directory (a
patient's original, a half-made MP4) is removed by the next process that
starts; a lock that is held proves the owner is alive, and its directory is
never touched. Claims and sweeps hold an `flock` on the scratch directory
itself, so a sweep never sees a directory between its creation and its lock.

Only directories carrying `.owner.lock` are ever removed, so a mistaken
`MIA_SCRATCH_DIR` cannot lose anything else. Files inside are 0600: the
worker runs with umask 077 (`PRIVATE_UMASK`), as does the ffmpeg
trampoline.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("mia.processors.scratch")

LOCK_NAME = ".owner.lock"
PRIVATE_MODE = 0o700
PRIVATE_UMASK = 0o077
_OWNER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class ScratchUnusable(RuntimeError):
    """The scratch directory cannot be made private to this user (the message says how to fix it)."""


@dataclass
class Scratch:
    """One process's own scratch directory, held (locked) until `release` or the process's death."""

    root: Path
    path: Path
    removed: list[str] = field(default_factory=list)  # directories of dead owners swept at claim time
    _lock_fd: int = -1

    def empty(self) -> None:
        """Remove everything in our directory but the lock (a reused Lambda sandbox starts and ends clean)."""
        for entry in self.path.iterdir():
            if entry.name != LOCK_NAME:
                _remove(entry)

    def release(self) -> None:
        """Graceful exit: remove our directory, then let go of the lock."""
        if self._lock_fd < 0:
            return
        _remove_owner_directory(self.path)
        os.close(self._lock_fd)
        self._lock_fd = -1


@contextlib.contextmanager
def private_files() -> Iterator[None]:
    """Files created meanwhile are 0600 (umask 077); for hosts whose process must not keep it (Lambda, tests)."""
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def claim(root: Path, owner_id: str) -> Scratch:
    """Create and lock `root/owner_id`, after removing the directories of owners that are gone."""
    if not _OWNER_ID.fullmatch(owner_id):
        raise ValueError(f"scratch owner id {owner_id!r}: expected letters, digits, '.', '_' or '-'")
    _ensure_private_root(root)
    with _locked(root):
        removed = _sweep(root)
        path = root / owner_id
        path.mkdir(mode=PRIVATE_MODE)
        lock_fd = os.open(path / LOCK_NAME, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    if removed:
        log.info("removed the scratch of processes that are gone", extra={"removed": removed, "scratch": str(root)})
    return Scratch(root, path, removed, lock_fd)


def _sweep(root: Path) -> list[str]:
    """Remove every owner directory under `root` whose lock can be taken (root locked); returns their names."""
    removed = []
    for entry in sorted(root.iterdir()):
        if entry.is_symlink() or not entry.is_dir():
            continue
        try:
            lock_fd = os.open(entry / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # not an owner directory: never ours to remove
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            continue  # its owner is alive
        try:
            if _remove_owner_directory(entry):
                removed.append(entry.name)
        finally:
            os.close(lock_fd)
    return removed


def _remove_owner_directory(path: Path) -> bool:
    """Contents first, the lock last: if anything cannot go, the lock stays and the next sweep tries again."""
    contents_gone = all([_remove(entry) for entry in path.iterdir() if entry.name != LOCK_NAME])
    return contents_gone and _remove(path)


def _ensure_private_root(root: Path) -> None:
    """Create `root` 0700, or accept an existing one only if it is a directory only this user can enter."""
    try:
        root.mkdir(mode=PRIVATE_MODE, parents=True, exist_ok=True)
        info = os.lstat(root)
    except OSError as exc:
        raise ScratchUnusable(f"MIA_SCRATCH_DIR {root}: cannot create it ({exc.strerror})") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ScratchUnusable(f"MIA_SCRATCH_DIR {root}: expected a directory (not a link or a file)")
    if info.st_uid != os.geteuid():
        raise ScratchUnusable(f"MIA_SCRATCH_DIR {root}: owned by uid {info.st_uid}, not this user; choose another")
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise ScratchUnusable(
            f"MIA_SCRATCH_DIR {root}: mode {stat.S_IMODE(info.st_mode):04o} lets other users in; "
            f"run `chmod 700 {root}` or choose a path that does not exist yet"
        )


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _remove(path: Path) -> bool:
    """Remove a file or a tree; a failure is logged, never fatal (patient data: say where it was left)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except OSError as exc:
        log.warning("could not remove scratch", extra={"path": str(path), "error": str(exc)})
        return False
    return True

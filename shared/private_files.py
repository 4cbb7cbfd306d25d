"""Owner-only files and directories for what MIA keeps on a local disk (embedded mode).

Patient media, the SQLite database and the key file are for the service's own
user only: files 0600, directories 0700. MIA does not encrypt media on disk
(that is the host's disk encryption), so these modes are what keeps another
account on the machine out. They are set explicitly, never left to the
process umask (a service manager or shell profile may loosen it), and a file
is created with its final mode, so there is no moment when another user
could open it.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dirs(path: Path) -> None:
    """Create `path` and any missing parents as 0700; directories that exist are left as they are."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # made meanwhile by another thread or process (with this same function)
        directory.chmod(PRIVATE_DIR_MODE)  # mkdir's mode went through the umask


def open_private(path: Path, flags: int) -> int:
    """os.open with O_CREAT: a new file is 0600 from its first moment, an existing one is made 0600.

    `flags` says the rest: O_WRONLY | O_TRUNC to rewrite, O_EXCL to refuse an
    existing file, O_RDWR alone to keep what is there (a database).
    """
    descriptor = os.open(path, flags | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        if os.fstat(descriptor).st_mode & 0o777 != PRIVATE_FILE_MODE:
            os.fchmod(descriptor, PRIVATE_FILE_MODE)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def tighten(path: Path, mode: int) -> None:
    """Give an existing file or directory of ours `mode` (earlier versions left it to the umask)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return
    if stat.st_uid == os.getuid() and stat.st_mode & 0o777 != mode:
        path.chmod(mode)

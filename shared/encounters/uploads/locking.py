"""An upload's write lock held by a lease: renewed while the write runs, given up before it can run out.

The row holds a lease (`locked_until`) that another process may take over
once it has run out, so that a crashed holder blocks the upload for one
lease at most. A live holder must therefore stop writing before its lease
can run out, whether or not it has heard from the database: it keeps a
local deadline (when its last successful renewal was asked for, plus the
lease less one renewal interval) and `ensure_held()` refuses past it. A
renewal that fails (database unreachable) or hangs simply does not move the
deadline; one that finds the lock taken ends it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator

from sqlalchemy.exc import SQLAlchemyError

from shared.clock import utcnow
from shared.encounters.errors import LockLost
from shared.encounters.uploads.ports import Locker
from shared.encounters.uploads.records import Upload
from shared.ids import new_id
from shared.logging.json_lines import get_logger

log = get_logger(__name__)

# A live holder renews its lease this many times per lease. It stops writing one such interval before the end
# of the last lease it renewed: a write already under way then lands before anyone else can take the lock.
RENEWALS_PER_LEASE = 4


class HeldLock:
    """The lock of one write, once taken: the upload as the lock found it, and the holder's deadline."""

    def __init__(self, locker: Locker, upload: Upload, token: str, lease: dt.timedelta, asked: float) -> None:
        self.upload = upload
        self.offset: int | None = None  # how far the upload got: recorded when the lock is released
        self._locker = locker
        self._token = token
        self._lease = lease
        self._seconds = lease.total_seconds()
        self._deadline = 0.0
        self._lost = False
        self._extend(asked)

    @property
    def locked(self) -> bool:
        """False for an upload that was already complete (nothing to lock, nothing to write)."""
        return self.upload.lock_token == self._token

    def _extend(self, asked: float) -> None:
        """The lease granted runs from no earlier than when it was asked for."""
        self._deadline = asked + self._seconds * (1 - 1 / RENEWALS_PER_LEASE)

    def ensure_held(self) -> None:
        """Call before each write to the store: raises LockLost once another process could hold the lock."""
        if self._lost or time.monotonic() >= self._deadline:
            raise LockLost()

    async def keep(self) -> None:
        """Renew the lease every interval until cancelled (a background task while the write runs)."""
        while True:
            await asyncio.sleep(self._seconds / RENEWALS_PER_LEASE)
            asked = time.monotonic()
            try:
                renewed = await asyncio.to_thread(
                    self._locker.renew, self.upload.id, self._token, utcnow() + self._lease
                )
            except SQLAlchemyError as error:  # try again at the next interval; meanwhile the deadline stands
                log.warning(
                    "upload lock not renewed", extra={"upload_id": self.upload.id, "error": type(error).__name__}
                )
                continue
            if not renewed:
                self._lost = True
                return
            self._extend(asked)

    async def release(self) -> None:
        await asyncio.to_thread(self._locker.release, self.upload.id, self._token, self.offset)


@contextlib.asynccontextmanager
async def upload_lock(
    locker: Locker,
    upload_id: str,
    session_id: str,
    lease: dt.timedelta,
    *,
    expires_at: dt.datetime | None,
    encounter_must_take_files: bool = True,
) -> AsyncIterator[HeldLock]:
    """Take the upload's lock (one statement that also slides its expiry), keep it renewed, release it."""
    token = new_id()
    asked = time.monotonic()
    upload = await asyncio.to_thread(
        locker.acquire,
        upload_id,
        session_id,
        token=token,
        until=utcnow() + lease,
        expires_at=expires_at,
        encounter_must_take_files=encounter_must_take_files,
    )
    held = HeldLock(locker, upload, token, lease, asked)
    if not held.locked:
        yield held
        return
    renewer = asyncio.create_task(held.keep())
    try:
        yield held
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        await asyncio.shield(held.release())

"""Which failures mean a dependency (the database, the object store) is down, as opposed to a bug.

The HTTP layer answers an outage with 503 and Retry-After: the same request
may well work in a minute, and tus clients retry a 503 by themselves.
Anything else stays a 500. The decision looks at the exception and at what
it was raised from (`raise ... from`), so a store error that wraps a full
disk counts as what it wraps.
"""

from __future__ import annotations

import errno

from botocore import exceptions as botocore_errors
from sqlalchemy import exc as sql_errors

from shared.storage.base import InvalidKey, ObjectNotFound, OffsetMismatch, StorageError

DATABASE = "database"
STORAGE = "storage"

# Disk errors that mean "cannot write here now", not "this request is wrong".
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}
# Store errors about the request or the data (a missing object, a stale offset, a bad key), not the store's health.
_NOT_OUTAGES = (ObjectNotFound, OffsetMismatch, InvalidKey)


def outage_of(error: BaseException) -> str | None:
    """DATABASE or STORAGE when `error`, or what it was raised from, says that dependency is unreachable or failing."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        dependency = _dependency(current)
        if dependency is not None:
            return dependency
        current = current.__cause__
    return None


def _dependency(error: BaseException) -> str | None:
    if isinstance(error, sql_errors.OperationalError | sql_errors.InterfaceError | sql_errors.TimeoutError):
        return DATABASE  # connection refused or lost, server gone away, pool exhausted
    if isinstance(error, sql_errors.DBAPIError) and error.connection_invalidated:
        return DATABASE
    if isinstance(error, botocore_errors.ConnectionError | botocore_errors.HTTPClientError):
        return STORAGE  # endpoint unreachable, connection closed, read or connect timeout
    if isinstance(error, botocore_errors.ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return STORAGE if int(status) >= 500 else None  # S3's own failures (500, 503 SlowDown), not refusals
    if isinstance(error, StorageError) and not isinstance(error, _NOT_OUTAGES):
        return STORAGE
    if isinstance(error, OSError) and error.errno in _DISK_ERRNOS:
        return STORAGE
    return None

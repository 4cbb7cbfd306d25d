"""Which failures count as a dependency outage (503, retry) rather than a bug (500)."""

from __future__ import annotations

import errno

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from shared.outages import DATABASE, STORAGE, outage_of
from shared.storage.base import InvalidKey, ObjectNotFound, OffsetMismatch, StorageError


def client_error(status: int, code: str) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "UploadPart")


def raised_from(error: Exception, cause: BaseException) -> Exception:
    try:
        raise error from cause
    except Exception as raised:
        return raised


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OperationalError("SELECT 1", {}, ConnectionRefusedError("refused")), DATABASE),
        (DBAPIError("UPDATE uploads", {}, ConnectionResetError("reset"), connection_invalidated=True), DATABASE),
        (IntegrityError("INSERT", {}, ValueError("duplicate")), None),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), STORAGE),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), STORAGE),
        (client_error(503, "SlowDown"), STORAGE),
        (client_error(403, "AccessDenied"), None),
        (StorageError("cannot finish"), STORAGE),
        (ObjectNotFound("uploads/x"), None),
        (OffsetMismatch(10, 5), None),
        (InvalidKey("../x"), None),
        (OSError(errno.ENOSPC, "No space left on device"), STORAGE),
        (raised_from(StorageError("cannot finish"), OSError(errno.ENOSPC, "full")), STORAGE),
        (raised_from(RuntimeError("while completing"), OperationalError("x", {}, OSError("gone"))), DATABASE),
        (FileNotFoundError(errno.ENOENT, "missing"), None),
        (ValueError("a bug"), None),
    ],
)
def test_outages_are_told_from_bugs(error: Exception, expected: str | None) -> None:
    assert outage_of(error) == expected

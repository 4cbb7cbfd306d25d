"""Reaching a destination over HTTP: a transport failure becomes DestinationUnavailable, in one wording."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import requests

from shared.records.errors import DestinationUnavailable


@contextmanager
def reaching(destination: str, host: str, timeout_seconds: int) -> Iterator[None]:
    """Run a request to `destination` at `host`; a timeout or a failed connection is retried later, not refused.

    Every filer says it the same way, so an operator reading a failed filing learns
    which destination, which host and (for a timeout) how long MIA waited.
    """
    try:
        yield
    except requests.Timeout as exc:
        raise DestinationUnavailable(f"{destination} at {host} did not answer within {timeout_seconds} s.") from exc
    except requests.RequestException as exc:
        raise DestinationUnavailable(f"{destination} at {host} could not be reached ({type(exc).__name__}).") from exc

"""Why a filing did not happen, in words a clinician or operator can act on."""

from __future__ import annotations


class RecordsError(Exception):
    """A filing cannot be asked for as it stands (not reviewed, no NHS number, nothing configured…)."""


class DestinationUnavailable(Exception):
    """The destination is down, timed out or answered 5xx/429: retried with backoff, then failed with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DestinationRefused(Exception):
    """The destination refused what was sent (4xx, a failure RegistryResponse): failed at once with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

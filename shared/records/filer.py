"""The one shape every destination's filer has, so the runner treats them alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared.config.records import RecordSettings
from shared.records.document import ItemContent, RecordDocument


@dataclass(frozen=True)
class FilingOutcome:
    """What the destination said when it took the documents.

    `acknowledged` is True when its answer confirms the record holds them (a
    STOW-RS 200 without failed instances, a transaction-response with every
    entry 2xx, a RegistryResponse of Success); False when it only accepted
    the message for later processing (STOW-RS 202, say).
    """

    acknowledged: bool
    detail: str  # one line for the timeline and the audit, e.g. "3 instances in study 2.25.…"


# A filer sends one document to its destination; it raises DestinationUnavailable (retry) or
# DestinationRefused (fail now) from shared.records.errors, each with a reason a person can act on.
Filer = Callable[[RecordDocument, ItemContent, RecordSettings], FilingOutcome]

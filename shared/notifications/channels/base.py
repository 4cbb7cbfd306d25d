"""What the dispatcher asks of a provider, and the two ways a send can fail.

`send` calls `handing_over()` at the last moment before the provider may
hold the message (Notify: before the POST; SMTP: after the server said 354
to DATA, before the message itself goes). The dispatcher records that
moment, so after a crash it knows whether the provider may already have the
message: if it may, Notify is asked by reference (`accepted_earlier`)
before anything is sent again; SMTP cannot be asked (see README, "Exactly
once").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from shared.notifications.messages import OutgoingMessage

HandingOver = Callable[[], None]


@dataclass(frozen=True)
class Outgoing:
    """One message in hand: its outbox id (Notify's `reference`, SMTP's Message-ID), recipient and words."""

    notification_id: str
    recipient: str
    message: OutgoingMessage


class TemporaryFailure(Exception):
    """Try again later: rate limited, the provider failed or did not answer in time, the network is down.

    `detail` is for the log and `notifications.last_error`: status codes and
    error names, never a recipient or a message's words.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class PermanentFailure(Exception):
    """Sending again cannot help: `reason` says what to do, in words a clinician can act on."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class Channel(Protocol):
    provider: str  # stored in notifications.provider: "notify" or "smtp"
    can_look_up_references: bool

    def send(self, outgoing: Outgoing, handing_over: HandingOver) -> str:
        """Hand the message over; returns the provider's id for it."""
        ...

    def accepted_earlier(self, notification_id: str) -> str | None:
        """The provider's id of a message it accepted with this reference, or None (only if it can look up)."""
        ...

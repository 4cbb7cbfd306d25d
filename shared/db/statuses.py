"""The values status and role columns may hold (stored as plain strings)."""

from __future__ import annotations

from enum import StrEnum


class EncounterStatus(StrEnum):
    """Stored lifecycle stage; `expired` and `locked` are derived (see shared.encounters)."""

    INVITED = "invited"
    OPENED = "opened"
    VERIFIED = "verified"
    CONSENTED = "consented"
    SUBMITTED = "submitted"
    REVIEWED = "reviewed"
    EXPIRED = "expired"
    LOCKED = "locked"


class UploadStatus(StrEnum):
    RECEIVING = "receiving"
    COMPLETE = "complete"
    TERMINATED = "terminated"
    EXPIRED = "expired"


class MediaStatus(StrEnum):
    UPLOADED = "uploaded"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class UserStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    DISABLED = "disabled"


class Role(StrEnum):
    CLINICIAN = "clinician"
    MANAGER = "manager"
    ADMIN = "admin"


class NotificationStatus(StrEnum):
    """Where an outbox message stands: queued → sending → sent → delivered, or failed (with a reason).

    `not_configured`: no SMS or email service is set up, so it was never sent
    (the portal offers the link and QR code instead).
    """

    PENDING = "pending"  # queued, or due to be tried again at `next_attempt_at`
    SENDING = "sending"  # handed to the provider under a dispatcher's lease
    SENT = "sent"  # accepted by the provider (its id stored)
    DELIVERED = "delivered"  # the provider reported delivery
    FAILED = "failed"  # permanently: `failure_reason` says why, in words a clinician can act on
    NOT_CONFIGURED = "not_configured"


class FilingStatus(StrEnum):
    """Where one filing to the record stands: queued → sending → sent → acknowledged, or failed (with a reason)."""

    QUEUED = "queued"  # waiting, or due to be tried again at `next_attempt_at`
    SENDING = "sending"  # with the destination under a runner's lease
    SENT = "sent"  # the destination took it for later processing
    ACKNOWLEDGED = "acknowledged"  # the destination confirmed the record holds it
    FAILED = "failed"  # `failure_reason` says why; a person may ask again

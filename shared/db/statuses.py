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
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"

"""Table definitions for queries (SQLAlchemy Core).

The schema itself is created by the migrations in `sql/versions/`; a test
checks that these definitions and the migrated database agree. Columns whose
`info` has `encrypted=True` hold AES-GCM ciphertext (see shared.field_crypto)
and are re-encrypted by `manage.py rotate-keys`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import mysql

metadata = MetaData()

ENCRYPTED = {"encrypted": True}

# Microsecond precision on MySQL (DATETIME defaults to whole seconds).
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
# Auto-increment keys: BIGINT on MySQL, INTEGER (the rowid alias) on SQLite.
SerialId = BigInteger().with_variant(Integer(), "sqlite")


def _id() -> Column:
    return Column("id", String(32), primary_key=True)


users = Table(
    "users",
    metadata,
    _id(),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("email", String(254), nullable=True),
    Column("role", String(16), nullable=False),
    Column("team", String(100), nullable=True),
    Column("status", String(16), nullable=False),
    Column("password_hash", String(200), nullable=True),
    Column("totp_secret", LargeBinary, nullable=True, info=ENCRYPTED),
    Column("totp_last_step", BigInteger, nullable=True),
    Column("enrollment_token_hash", String(64), nullable=True, unique=True),
    Column("enrollment_expires_at", Timestamp, nullable=True),
    Column("failed_attempts", Integer, nullable=False, server_default="0"),
    Column("locked_until", Timestamp, nullable=True),
    Column("sessions_valid_after", Timestamp, nullable=True),
    Column("last_login_at", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

encounters = Table(
    "encounters",
    metadata,
    _id(),
    Column("clinician_id", String(32), ForeignKey("users.id", name="fk_encounters_clinician"), nullable=False),
    Column("team", String(100), nullable=True),
    Column("status", String(16), nullable=False),
    Column("patient_name", LargeBinary, nullable=False, info=ENCRYPTED),
    Column("date_of_birth", LargeBinary, nullable=False, info=ENCRYPTED),
    Column("nhs_number", LargeBinary, nullable=True, info=ENCRYPTED),
    Column("nhs_number_index", String(64), nullable=True),
    Column("phone", LargeBinary, nullable=True, info=ENCRYPTED),
    Column("email", LargeBinary, nullable=True, info=ENCRYPTED),
    Column("request_note", LargeBinary, nullable=True, info=ENCRYPTED),
    Column("invite_token_hash", String(64), nullable=True, unique=True),
    Column("invite_expires_at", Timestamp, nullable=True),
    Column("locked_at", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("invited_at", Timestamp, nullable=True),
    Column("opened_at", Timestamp, nullable=True),
    Column("verified_at", Timestamp, nullable=True),
    Column("consented_at", Timestamp, nullable=True),
    Column("submitted_at", Timestamp, nullable=True),
    Column("reviewed_at", Timestamp, nullable=True),
    Column("reviewed_by", String(32), ForeignKey("users.id", name="fk_encounters_reviewer"), nullable=True),
    Column("review_note", LargeBinary, nullable=True, info=ENCRYPTED),
    Column("deleted_at", Timestamp, nullable=True),
    Column("deleted_by", String(32), ForeignKey("users.id", name="fk_encounters_deleter"), nullable=True),
    Column("delete_reason", LargeBinary, nullable=True, info=ENCRYPTED),
    Column("updated_at", Timestamp, nullable=False),
    Column("reminders_enabled", Boolean, nullable=False, server_default="1"),
    Column("link_shown_at", Timestamp, nullable=True),
    Column("body_site", LargeBinary, nullable=True, info=ENCRYPTED),  # where the clinician said, for the record
    Index("ix_encounters_clinician_created", "clinician_id", "created_at"),
    Index("ix_encounters_team_created", "team", "created_at"),
    Index("ix_encounters_nhs_number_index", "nhs_number_index"),
    Index("ix_encounters_status", "status"),
)

consents = Table(
    "consents",
    metadata,
    _id(),
    Column("encounter_id", String(32), ForeignKey("encounters.id", name="fk_consents_encounter"), nullable=False),
    Column("text_version", String(32), nullable=False),
    Column("share_with_care_team", Boolean, nullable=False),
    Column("keep_in_record", Boolean, nullable=False),
    Column("use_for_teaching", Boolean, nullable=False),
    Column("answered_at", Timestamp, nullable=False),
    Index("ix_consents_encounter_answered", "encounter_id", "answered_at"),
)

patient_sessions = Table(
    "patient_sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the cookie value
    Column(
        "encounter_id", String(32), ForeignKey("encounters.id", name="fk_patient_sessions_encounter"), nullable=False
    ),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("last_seen_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp, nullable=True),
    Index("ix_patient_sessions_encounter", "encounter_id"),
    Index("ix_patient_sessions_expires", "expires_at"),
)

uploads = Table(
    "uploads",
    metadata,
    _id(),
    Column("encounter_id", String(32), ForeignKey("encounters.id", name="fk_uploads_encounter"), nullable=False),
    Column("session_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("storage_key", String(512), nullable=False),
    Column("storage_ref", String(1024), nullable=True),
    Column("upload_length", BigInteger, nullable=False),
    Column("upload_offset", BigInteger, nullable=False, server_default="0"),
    Column("kind", String(16), nullable=True),
    Column("content_type", String(64), nullable=True),
    Column("original_filename", LargeBinary, nullable=True, info=ENCRYPTED),
    Column("note", LargeBinary, nullable=True, info=ENCRYPTED),
    Column("lock_token", String(32), nullable=True),
    Column("locked_until", Timestamp, nullable=True),
    Column("media_id", String(32), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("completed_at", Timestamp, nullable=True),
    Index("ix_uploads_encounter", "encounter_id"),
    Index("ix_uploads_status_expires", "status", "expires_at"),
)

media = Table(
    "media",
    metadata,
    _id(),
    Column("encounter_id", String(32), ForeignKey("encounters.id", name="fk_media_encounter"), nullable=False),
    Column("upload_id", String(32), nullable=True, unique=True),
    Column("kind", String(16), nullable=False),
    Column("content_type", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("failure_reason", String(500), nullable=True),
    Column("original_key", String(512), nullable=False, unique=True),
    Column("original_size", BigInteger, nullable=False),
    Column("original_sha256", String(64), nullable=True),
    Column("original_filename", LargeBinary, nullable=True, info=ENCRYPTED),
    Column("note", LargeBinary, nullable=True, info=ENCRYPTED),
    Column("width", Integer, nullable=True),
    Column("height", Integer, nullable=True),
    Column("duration_seconds", Float, nullable=True),
    Column("video_codec", String(32), nullable=True),
    Column("audio_codec", String(32), nullable=True),
    Column("display_key", String(512), nullable=True),
    Column("display_content_type", String(64), nullable=True),
    Column("display_size", BigInteger, nullable=True),
    Column("thumbnail_key", String(512), nullable=True),
    Column("thumbnail_size", BigInteger, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("processed_at", Timestamp, nullable=True),
    Column("deleted_at", Timestamp, nullable=True),
    Column("deleted_by", String(32), ForeignKey("users.id", name="fk_media_deleter"), nullable=True),
    Column("delete_reason", LargeBinary, nullable=True, info=ENCRYPTED),
    Column("acquired_at", Timestamp, nullable=True),  # when it was taken (EXIF / container), where known
    Index("ix_media_encounter", "encounter_id"),
    Index("ix_media_status_created", "status", "created_at"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", SerialId, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("media_id", String(32), nullable=True),
    Column("dedupe_key", String(100), nullable=True, unique=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("max_attempts", Integer, nullable=False),
    Column("run_after", Timestamp, nullable=False),
    Column("lease_until", Timestamp, nullable=True),
    Column("worker_id", String(64), nullable=True),
    Column("last_error", String(1000), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("finished_at", Timestamp, nullable=True),
    Index("ix_jobs_status_run_after", "status", "run_after"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", SerialId, primary_key=True, autoincrement=True),
    Column("occurred_at", Timestamp, nullable=False),
    Column("actor_type", String(16), nullable=False),
    Column("actor_id", String(64), nullable=True),
    Column("action", String(64), nullable=False),
    Column("encounter_id", String(32), nullable=True),
    Column("media_id", String(32), nullable=True),
    Column("remote_addr", String(45), nullable=True),
    Column("detail", Text, nullable=True),
    Index("ix_audit_occurred", "occurred_at"),
    Index("ix_audit_encounter", "encounter_id", "occurred_at"),
    Index("ix_audit_encounter_action", "encounter_id", "action", "id"),  # wrong dates in a row
    Index("ix_audit_actor", "actor_type", "actor_id", "occurred_at"),
    Index("ix_audit_action", "action", "occurred_at"),
)

notifications = Table(
    "notifications",
    metadata,
    _id(),
    Column("kind", String(32), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("recipient", LargeBinary, nullable=True, info=ENCRYPTED),
    Column("body", LargeBinary, nullable=False, info=ENCRYPTED),
    Column("encounter_id", String(32), nullable=True),
    Column("user_id", String(32), nullable=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", String(500), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("sent_at", Timestamp, nullable=True),
    Column("read_at", Timestamp, nullable=True),
    Column("provider", String(16), nullable=True),
    Column("provider_id", String(100), nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", Timestamp, nullable=True),
    Column("next_attempt_at", Timestamp, nullable=True),
    Column("failure_reason", String(300), nullable=True),
    Column("delivered_at", Timestamp, nullable=True),
    Column("failed_at", Timestamp, nullable=True),
    Column("dedupe_key", String(100), nullable=True),  # one reminder or alert per event, whoever queues it
    Index("ix_notifications_status_created", "status", "created_at"),
    Index("ix_notifications_user", "user_id", "created_at"),
    Index("ix_notifications_encounter", "encounter_id", "created_at"),
    Index("ix_notifications_due", "status", "next_attempt_at"),
    Index("ix_notifications_provider_id", "provider", "provider_id"),
    Index("ux_notifications_dedupe_key", "dedupe_key", unique=True),
)

teams = Table(
    "teams",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("organisation_name", String(100), nullable=True),
    Column("mailbox", String(254), nullable=True),
    Column("updated_at", Timestamp, nullable=False),
    Column("updated_by", String(32), ForeignKey("users.id", name="fk_teams_updated_by"), nullable=True),
    Column("file_on_review", Boolean, nullable=False, server_default="0"),
    Column("allow_local_identifier", Boolean, nullable=False, server_default="0"),
)

# One filing per encounter and destination (dicom, fhir, xds): the records runner's outbox.
record_filings = Table(
    "record_filings",
    metadata,
    _id(),
    Column("encounter_id", String(32), ForeignKey("encounters.id", name="fk_record_filings_encounter"), nullable=False),
    Column("destination", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("requested_by", String(32), ForeignKey("users.id", name="fk_record_filings_requester"), nullable=True),
    Column("queued_at", Timestamp, nullable=False),
    Column("next_attempt_at", Timestamp, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", Timestamp, nullable=True),
    Column("sent_at", Timestamp, nullable=True),
    Column("acknowledged_at", Timestamp, nullable=True),
    Column("failed_at", Timestamp, nullable=True),
    Column("failure_reason", String(300), nullable=True),
    Column("detail", String(300), nullable=True),
    Column("updated_at", Timestamp, nullable=False),
    Index("ux_record_filings_encounter_destination", "encounter_id", "destination", unique=True),
    Index("ix_record_filings_due", "status", "next_attempt_at"),
)


def encrypted_columns() -> dict[str, list[str]]:
    """Every encrypted column, by table: what rotate-keys re-encrypts."""
    return {
        table.name: [column.name for column in table.columns if column.info.get("encrypted")]
        for table in metadata.sorted_tables
        if any(column.info.get("encrypted") for column in table.columns)
    }

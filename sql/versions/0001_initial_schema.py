"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21 20:34:43.459991
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Explicit, so the DDL does not depend on the server's or database's defaults.
MYSQL_TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "occurred_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("encounter_id", sa.String(length=32), nullable=True),
        sa.Column("media_id", sa.String(length=32), nullable=True),
        sa.Column("remote_addr", sa.String(length=45), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_audit_action", "audit_events", ["action", "occurred_at"], unique=False)
    op.create_index(
        "ix_audit_actor",
        "audit_events",
        ["actor_type", "actor_id", "occurred_at"],
        unique=False,
    )
    op.create_index(
        "ix_audit_encounter",
        "audit_events",
        ["encounter_id", "occurred_at"],
        unique=False,
    )
    op.create_index("ix_audit_occurred", "audit_events", ["occurred_at"], unique=False)

    op.create_table(
        "jobs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("media_id", sa.String(length=32), nullable=True),
        sa.Column("dedupe_key", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column(
            "run_after",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "lease_until",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column("worker_id", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "finished_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_jobs_status_run_after", "jobs", ["status", "run_after"], unique=False)

    op.create_table(
        "notifications",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.LargeBinary(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("encounter_id", sa.String(length=32), nullable=True),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "sent_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column(
            "read_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(
        "ix_notifications_encounter",
        "notifications",
        ["encounter_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_notifications_status_created",
        "notifications",
        ["status", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_notifications_user",
        "notifications",
        ["user_id", "created_at"],
        unique=False,
    )

    op.create_table(
        "users",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("team", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("totp_secret", sa.LargeBinary(), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("enrollment_token_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "enrollment_expires_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column("failed_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "locked_until",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column(
            "sessions_valid_after",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column(
            "last_login_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column(
            "created_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("enrollment_token_hash"),
        sa.UniqueConstraint("username"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "encounters",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("clinician_id", sa.String(length=32), nullable=False),
        sa.Column("team", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("patient_name", sa.LargeBinary(), nullable=False),
        sa.Column("date_of_birth", sa.LargeBinary(), nullable=False),
        sa.Column("nhs_number", sa.LargeBinary(), nullable=True),
        sa.Column("nhs_number_index", sa.String(length=64), nullable=True),
        sa.Column("phone", sa.LargeBinary(), nullable=True),
        sa.Column("email", sa.LargeBinary(), nullable=True),
        sa.Column("request_note", sa.LargeBinary(), nullable=True),
        sa.Column("invite_token_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "invite_expires_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column("dob_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "locked_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column(
            "created_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "invited_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column(
            "opened_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column(
            "verified_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column(
            "consented_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column(
            "submitted_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column(
            "reviewed_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column("reviewed_by", sa.String(length=32), nullable=True),
        sa.Column("review_note", sa.LargeBinary(), nullable=True),
        sa.Column(
            "deleted_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column("deleted_by", sa.String(length=32), nullable=True),
        sa.Column("delete_reason", sa.LargeBinary(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["clinician_id"], ["users.id"], name="fk_encounters_clinician"),
        sa.ForeignKeyConstraint(["deleted_by"], ["users.id"], name="fk_encounters_deleter"),
        sa.ForeignKeyConstraint(["reviewed_by"], ["users.id"], name="fk_encounters_reviewer"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invite_token_hash"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(
        "ix_encounters_clinician_created",
        "encounters",
        ["clinician_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_encounters_nhs_number_index",
        "encounters",
        ["nhs_number_index"],
        unique=False,
    )
    op.create_index("ix_encounters_status", "encounters", ["status"], unique=False)
    op.create_index("ix_encounters_team_created", "encounters", ["team", "created_at"], unique=False)

    op.create_table(
        "consents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("encounter_id", sa.String(length=32), nullable=False),
        sa.Column("text_version", sa.String(length=32), nullable=False),
        sa.Column("share_with_care_team", sa.Boolean(), nullable=False),
        sa.Column("keep_in_record", sa.Boolean(), nullable=False),
        sa.Column("use_for_teaching", sa.Boolean(), nullable=False),
        sa.Column(
            "answered_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["encounter_id"], ["encounters.id"], name="fk_consents_encounter"),
        sa.PrimaryKeyConstraint("id"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(
        "ix_consents_encounter_answered",
        "consents",
        ["encounter_id", "answered_at"],
        unique=False,
    )

    op.create_table(
        "media",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("encounter_id", sa.String(length=32), nullable=False),
        sa.Column("upload_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.String(length=500), nullable=True),
        sa.Column("original_key", sa.String(length=512), nullable=False),
        sa.Column("original_size", sa.BigInteger(), nullable=False),
        sa.Column("original_sha256", sa.String(length=64), nullable=True),
        sa.Column("original_filename", sa.LargeBinary(), nullable=True),
        sa.Column("note", sa.LargeBinary(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("video_codec", sa.String(length=32), nullable=True),
        sa.Column("audio_codec", sa.String(length=32), nullable=True),
        sa.Column("display_key", sa.String(length=512), nullable=True),
        sa.Column("display_content_type", sa.String(length=64), nullable=True),
        sa.Column("display_size", sa.BigInteger(), nullable=True),
        sa.Column("thumbnail_key", sa.String(length=512), nullable=True),
        sa.Column("thumbnail_size", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "processed_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column(
            "deleted_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column("deleted_by", sa.String(length=32), nullable=True),
        sa.Column("delete_reason", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["deleted_by"], ["users.id"], name="fk_media_deleter"),
        sa.ForeignKeyConstraint(["encounter_id"], ["encounters.id"], name="fk_media_encounter"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("original_key"),
        sa.UniqueConstraint("upload_id"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_media_encounter", "media", ["encounter_id"], unique=False)
    op.create_index("ix_media_status_created", "media", ["status", "created_at"], unique=False)

    op.create_table(
        "patient_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("encounter_id", sa.String(length=32), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "last_seen_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "expires_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "revoked_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(["encounter_id"], ["encounters.id"], name="fk_patient_sessions_encounter"),
        sa.PrimaryKeyConstraint("id"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(
        "ix_patient_sessions_encounter",
        "patient_sessions",
        ["encounter_id"],
        unique=False,
    )
    op.create_index("ix_patient_sessions_expires", "patient_sessions", ["expires_at"], unique=False)

    op.create_table(
        "uploads",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("encounter_id", sa.String(length=32), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("storage_key", sa.String(length=512), nullable=False),
        sa.Column("storage_ref", sa.String(length=1024), nullable=True),
        sa.Column("upload_length", sa.BigInteger(), nullable=False),
        sa.Column("upload_offset", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=True),
        sa.Column("content_type", sa.String(length=64), nullable=True),
        sa.Column("original_filename", sa.LargeBinary(), nullable=True),
        sa.Column("note", sa.LargeBinary(), nullable=True),
        sa.Column("lock_token", sa.String(length=32), nullable=True),
        sa.Column(
            "locked_until",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column("media_id", sa.String(length=32), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "expires_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "completed_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(["encounter_id"], ["encounters.id"], name="fk_uploads_encounter"),
        sa.PrimaryKeyConstraint("id"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_uploads_encounter", "uploads", ["encounter_id"], unique=False)
    op.create_index("ix_uploads_status_expires", "uploads", ["status", "expires_at"], unique=False)


def downgrade() -> None:
    # Dropping a table drops its indexes (MySQL refuses to drop one a foreign key needs first).
    op.drop_table("uploads")
    op.drop_table("patient_sessions")
    op.drop_table("media")
    op.drop_table("consents")
    op.drop_table("encounters")
    op.drop_table("users")
    op.drop_table("notifications")
    op.drop_table("jobs")
    op.drop_table("audit_events")

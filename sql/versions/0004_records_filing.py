"""records filing: one filing per encounter and destination, body site, acquisition time, team filing rules

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 08:25:00.000000

A reviewed encounter is filed to the patient record outside MIA (a PACS
over DICOMweb, a FHIR server, an XDS repository). `record_filings` is the
outbox of those filings: one row per encounter and destination (unique, so
asking again re-queues the row rather than adding one), with the runner's
lease and next try, and the times and reason the timeline shows.
`encounters.body_site` (encrypted, like every patient field) is where the
clinician says the photos were taken; `media.acquired_at` is when an item
was taken (EXIF / the container's creation time), which the record wants
rather than when it arrived. `teams.file_on_review` files a team's
encounters when they are marked as reviewed; `teams.allow_local_identifier`
lets a team file a patient without an NHS number under a local identifier.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
MYSQL_TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade() -> None:
    op.create_table(
        "record_filings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("encounter_id", sa.String(length=32), nullable=False),
        sa.Column("destination", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("requested_by", sa.String(length=32), nullable=True),
        sa.Column("queued_at", Timestamp, nullable=False),
        sa.Column("next_attempt_at", Timestamp, nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", Timestamp, nullable=True),
        sa.Column("sent_at", Timestamp, nullable=True),
        sa.Column("acknowledged_at", Timestamp, nullable=True),
        sa.Column("failed_at", Timestamp, nullable=True),
        sa.Column("failure_reason", sa.String(length=300), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["encounter_id"], ["encounters.id"], name="fk_record_filings_encounter"),
        sa.ForeignKeyConstraint(["requested_by"], ["users.id"], name="fk_record_filings_requester"),
        sa.PrimaryKeyConstraint("id"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(
        "ux_record_filings_encounter_destination", "record_filings", ["encounter_id", "destination"], unique=True
    )
    op.create_index("ix_record_filings_due", "record_filings", ["status", "next_attempt_at"], unique=False)
    op.add_column("encounters", sa.Column("body_site", sa.LargeBinary(), nullable=True))
    op.add_column("media", sa.Column("acquired_at", Timestamp, nullable=True))
    op.add_column("teams", sa.Column("file_on_review", sa.Boolean(), server_default="0", nullable=False))
    op.add_column("teams", sa.Column("allow_local_identifier", sa.Boolean(), server_default="0", nullable=False))


def downgrade() -> None:
    op.drop_column("teams", "allow_local_identifier")
    op.drop_column("teams", "file_on_review")
    op.drop_column("media", "acquired_at")
    op.drop_column("encounters", "body_site")
    op.drop_table("record_filings")  # its indexes with it (MariaDB keeps the unique one for the foreign key)

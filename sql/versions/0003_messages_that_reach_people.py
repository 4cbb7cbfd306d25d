"""messages that reach people: delivery state in the outbox, reminders per request, team settings

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 05:45:00.000000

The outbox (`notifications`) becomes a delivery record: which provider took
a message and its id there, the dispatcher's lease, when the next try is
due, the reason a clinician can act on when it failed, and when it was
delivered or failed; its `dedupe_key` (unique when set) lets a message that
a schedule or a sweep queues (a reminder, a clinician alert) be queued once
however many processes run it. `encounters.reminders_enabled` lets a
clinician switch reminders off per request; `encounters.link_shown_at` records when the link
was first shown in the portal (the timeline says "shown", never "sent", for
a link nobody sent). `teams` holds what an administrator sets per team: the
organisation name patients see, and the mailbox that hears of submissions.

Texts and email queued before this revision were never sent (nothing could
send them): they become `not_configured`, so that the new dispatcher does
not send old links months late and the portal tells the truth about them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
MYSQL_TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}
NOTIFICATION_COLUMNS = [
    sa.Column("provider", sa.String(length=16), nullable=True),
    sa.Column("provider_id", sa.String(length=100), nullable=True),
    sa.Column("lease_owner", sa.String(length=64), nullable=True),
    sa.Column("lease_until", Timestamp, nullable=True),
    sa.Column("next_attempt_at", Timestamp, nullable=True),
    sa.Column("failure_reason", sa.String(length=300), nullable=True),
    sa.Column("delivered_at", Timestamp, nullable=True),
    sa.Column("failed_at", Timestamp, nullable=True),
    sa.Column("dedupe_key", sa.String(length=100), nullable=True),
]


def upgrade() -> None:
    for column in NOTIFICATION_COLUMNS:
        op.add_column("notifications", column)
    op.create_index("ix_notifications_due", "notifications", ["status", "next_attempt_at"], unique=False)
    op.create_index("ix_notifications_provider_id", "notifications", ["provider", "provider_id"], unique=False)
    op.create_index("ux_notifications_dedupe_key", "notifications", ["dedupe_key"], unique=True)
    op.execute(
        "UPDATE notifications SET status = 'not_configured' WHERE status = 'pending' AND channel IN ('sms', 'email')"
    )
    op.add_column("encounters", sa.Column("reminders_enabled", sa.Boolean(), server_default="1", nullable=False))
    op.add_column("encounters", sa.Column("link_shown_at", Timestamp, nullable=True))
    op.create_table(
        "teams",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("organisation_name", sa.String(length=100), nullable=True),
        sa.Column("mailbox", sa.String(length=254), nullable=True),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("updated_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["updated_by"], ["users.id"], name="fk_teams_updated_by"),
        sa.PrimaryKeyConstraint("name"),
        **MYSQL_TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("teams")
    op.drop_column("encounters", "link_shown_at")
    op.drop_column("encounters", "reminders_enabled")
    op.drop_index("ux_notifications_dedupe_key", table_name="notifications")
    op.drop_index("ix_notifications_provider_id", table_name="notifications")
    op.drop_index("ix_notifications_due", table_name="notifications")
    for column in reversed(NOTIFICATION_COLUMNS):
        op.drop_column("notifications", column.name)

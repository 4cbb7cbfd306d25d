"""wrong dates of birth counted from the audit log

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 04:40:00.000000

`encounters.dob_failures` goes: the wrong dates in a row are the
`patient.dob_failed` events after the encounter's latest reset event
(shared.encounters.journey.wrong_dates_in_a_row), so a refusal writes one row
(its audit event) whatever the link. The log already holds those events and
resets, so no data moves. `ix_audit_encounter_action` serves the count: the
events of one encounter and one action, in id order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_encounter_action", "audit_events", ["encounter_id", "action", "id"], unique=False)
    # In place on SQLite too (ALTER TABLE … DROP COLUMN, SQLite 3.35+): batch mode would copy the table and
    # DROP the original, which foreign keys (on for every connection) refuse once a consent, upload or
    # session row names an encounter.
    op.drop_column("encounters", "dob_failures")


def downgrade() -> None:
    # The count starts again at 0; a locked link stays locked (`locked_at` is kept).
    op.add_column("encounters", sa.Column("dob_failures", sa.Integer(), server_default="0", nullable=False))
    op.drop_index("ix_audit_encounter_action", table_name="audit_events")

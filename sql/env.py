"""Alembic environment: MIA runs migrations programmatically (shared.db.migrations),
handing over an open connection; there is no alembic.ini."""

from __future__ import annotations

from alembic import context

from shared.db.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

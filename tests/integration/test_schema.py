"""The migrations, the table definitions and the reviewed MySQL DDL agree."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from shared.db.migrations import head_revision, is_up_to_date
from shared.db.mysql_schema import SCHEMA_FILE, apply_schema_file, dump_schema
from shared.db.tables import metadata
from tests.conftest import MYSQL_URL
from tests.support.databases import MySqlTestDatabase


def test_migrated_database_matches_table_definitions(engine: Engine) -> None:
    """On SQLite and MariaDB: what queries assume is what the migrations built."""
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert differences == []
    assert is_up_to_date(engine)
    assert set(inspect(engine).get_table_names()) == set(metadata.tables) | {"alembic_version"}


def test_reviewed_mysql_ddl_equals_the_migrations(mysql_database: MySqlTestDatabase) -> None:
    from_migrations = dump_schema(mysql_database.engine)
    assert SCHEMA_FILE.read_text() == from_migrations, "sql/mysql/schema.sql is stale: run `make schema` and review"

    scratch = MySqlTestDatabase.create(MYSQL_URL, migrated=False)
    try:
        apply_schema_file(scratch.engine, SCHEMA_FILE.read_text())
        assert dump_schema(scratch.engine) == from_migrations
        assert is_up_to_date(scratch.engine)
    finally:
        scratch.drop()
    assert head_revision() in from_migrations

"""The migrations, the table definitions and the reviewed MySQL DDL agree."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select

from shared.config.settings import Settings
from shared.context import build_context
from shared.db.engine import make_engine
from shared.db.migrations import alembic_config, current_revision, head_revision, is_up_to_date, migrate
from shared.db.mysql_schema import SCHEMA_FILE, apply_schema_file, dump_schema
from shared.db.tables import consents, encounters, metadata
from shared.encounters import consent, verification
from tests.conftest import DATABASES, MYSQL_URL
from tests.support.databases import MySqlTestDatabase
from tests.support.factories import PATIENT, make_clinician, make_encounter


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


@pytest.fixture(params=DATABASES)
def unmigrated_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database on each backend, for migrations to build step by step."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'upgrade.db'}")
        yield engine
        engine.dispose()
        return
    database = MySqlTestDatabase.create(MYSQL_URL, migrated=False)
    try:
        yield database.engine
    finally:
        database.drop()


def test_migrations_keep_a_database_in_use(unmigrated_engine: Engine, settings: Settings) -> None:
    """Down to 0001 and up to head again on a database whose encounters have consents (rows a foreign key ties
    to them) and wrong dates: the rows stay, and so does the count of wrong dates, which the audit log holds."""
    migrate(unmigrated_engine)
    ctx = build_context(settings, engine=unmigrated_engine)
    invite = make_encounter(ctx, make_clinician(ctx))
    assert verification.verify_date_of_birth(ctx, invite.token, PATIENT.date_of_birth, None) == invite.encounter_id
    answers = {"share_with_care_team": True, "keep_in_record": True, "use_for_teaching": False}
    assert consent.record_consent(ctx, invite.encounter_id, "session", answers, None)
    for _ in range(2):
        assert verification.verify_date_of_birth(ctx, invite.token, dt.date(1961, 7, 15), None) is None

    with unmigrated_engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0001")
    assert current_revision(unmigrated_engine) == "0001"
    assert "dob_failures" in {column["name"] for column in inspect(unmigrated_engine).get_columns("encounters")}

    migrate(unmigrated_engine)
    assert current_revision(unmigrated_engine) == head_revision()
    with unmigrated_engine.connect() as conn:
        assert verification.wrong_dates_in_a_row(conn, invite.encounter_id) == 2
        assert conn.execute(select(func.count()).select_from(consents)).scalar_one() == 1
        assert conn.execute(select(encounters.c.id, encounters.c.reminders_enabled)).all() == [
            (invite.encounter_id, True)
        ]
    assert "dob_failures" not in {column["name"] for column in inspect(unmigrated_engine).get_columns("encounters")}

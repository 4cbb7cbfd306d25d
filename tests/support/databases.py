"""Test databases: a migrated SQLite file per test, one MariaDB database per session."""

from __future__ import annotations

from sqlalchemy import Engine, text

from shared.db.engine import make_engine
from shared.db.migrations import migrate
from shared.db.scratch_database import ScratchDatabase
from shared.db.tables import metadata


def make_sqlite_engine(url: str) -> Engine:
    engine = make_engine(url)
    migrate(engine)
    return engine


class MySqlTestDatabase(ScratchDatabase):
    """A scratch MariaDB database for one test session, emptied between tests."""

    name_prefix = "mia_test_"

    def empty_tables(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
            for table in reversed(metadata.sorted_tables):
                conn.execute(text(f"DELETE FROM `{table.name}`"))
            conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))

"""Test databases: a migrated SQLite file per test, one MariaDB database per session."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from shared.db.engine import make_engine
from shared.db.migrations import migrate
from shared.db.tables import metadata


def make_sqlite_engine(url: str) -> Engine:
    engine = make_engine(url)
    migrate(engine)
    return engine


def server_engine(url: str) -> Engine:
    """An engine on the server's default database, for CREATE/DROP DATABASE."""
    return make_engine(url)


@dataclass
class MySqlTestDatabase:
    server: Engine
    name: str
    engine: Engine

    @classmethod
    def create(cls, url: str, migrated: bool = True) -> MySqlTestDatabase:
        server = server_engine(url)
        name = f"mia_test_{uuid.uuid4().hex[:12]}"
        with server.begin() as conn:
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
        engine = make_engine(make_url(url).set(database=name).render_as_string(hide_password=False))
        if migrated:
            migrate(engine)
        return cls(server, name, engine)

    def empty_tables(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
            for table in reversed(metadata.sorted_tables):
                conn.execute(text(f"DELETE FROM `{table.name}`"))
            conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))

    def drop(self) -> None:
        self.engine.dispose()
        with self.server.begin() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{self.name}`"))
        self.server.dispose()

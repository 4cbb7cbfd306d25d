"""A throwaway MySQL/MariaDB database: created on a server, used, dropped.

`make schema` renders the migrations in one (scripts/regenerate_mysql_schema.py)
and each test session runs in one, so neither ever writes to a database that
someone else uses. The name is random; the server URL's own database is only
where CREATE and DROP DATABASE run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import ClassVar, Self

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from shared.db.engine import make_engine
from shared.db.migrations import migrate


@dataclass
class ScratchDatabase:
    server: Engine  # on the URL's database: where the scratch one is created and dropped
    name: str
    engine: Engine  # on the scratch database

    name_prefix: ClassVar[str] = "mia_scratch_"

    @classmethod
    def create(cls, server_url: str, migrated: bool = True) -> Self:
        """A new, empty database (utf8mb4, as MIA's are created), migrated to head unless told otherwise."""
        server = make_engine(server_url)
        name = f"{cls.name_prefix}{uuid.uuid4().hex[:12]}"
        with server.begin() as conn:
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
        engine = make_engine(make_url(server_url).set(database=name).render_as_string(hide_password=False))
        if migrated:
            migrate(engine)
        return cls(server, name, engine)

    def drop(self) -> None:
        self.engine.dispose()
        with self.server.begin() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{self.name}`"))
        self.server.dispose()

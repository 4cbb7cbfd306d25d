"""The reviewed MySQL DDL (sql/mysql/schema.sql): how it is produced and applied.

`dump_schema` renders a migrated MySQL database as DDL; a test applies the
committed file to an empty database and checks both agree with the
migrations, so the reviewed file can never drift from what runs.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, text

from shared.config.settings import PROJECT_ROOT
from shared.db.migrations import current_revision

SCHEMA_FILE = PROJECT_ROOT / "sql" / "mysql" / "schema.sql"
_AUTO_INCREMENT = re.compile(r" AUTO_INCREMENT=\d+")


def dump_schema(engine: Engine) -> str:
    revision = current_revision(engine)
    with engine.connect() as conn:
        names = sorted(row[0] for row in conn.execute(text("SHOW TABLES")))
        created = [conn.execute(text(f"SHOW CREATE TABLE `{name}`")).one()[1] for name in names]
    statements = [_AUTO_INCREMENT.sub("", statement) for statement in created]
    lines = [
        "-- MIA: MySQL/MariaDB schema generated from the migrations in sql/versions.",
        f"-- Migration head: {revision}. Regenerate with `make schema`; review every change.",
        "-- A test proves that applying this file gives exactly what the migrations give.",
        "SET FOREIGN_KEY_CHECKS=0;",
        "",
    ]
    for statement in statements:
        lines += [statement + ";", ""]
    stamp = f"INSERT INTO `alembic_version` (`version_num`) VALUES ('{revision}');"  # noqa: S608 - our revision id
    lines += [stamp, "SET FOREIGN_KEY_CHECKS=1;", ""]
    return "\n".join(lines)


def apply_schema_file(engine: Engine, sql: str) -> None:
    body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
    with engine.begin() as conn:
        for statement in filter(None, (part.strip() for part in body.split(";\n"))):
            conn.execute(text(statement.rstrip(";")))

"""Regenerate sql/mysql/schema.sql from the migrations (`make schema`).

Runs the migrations in a scratch database on the server named by
MIA_TEST_MYSQL_URL (default: the local MariaDB), dumps it, drops it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.db.mysql_schema import SCHEMA_FILE, dump_schema
from shared.db.scratch_database import ScratchDatabase


def main() -> None:
    database = ScratchDatabase.create(os.environ.get("MIA_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"))
    try:
        SCHEMA_FILE.write_text(dump_schema(database.engine))
    finally:
        database.drop()
    print(f"wrote {SCHEMA_FILE}")


if __name__ == "__main__":
    main()

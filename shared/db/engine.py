"""One SQLAlchemy engine factory for SQLite (embedded) and MySQL (production)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from shared.private_files import PRIVATE_FILE_MODE, make_private_dirs, open_private, tighten

# Files SQLite keeps beside the database; it creates them with the database file's mode.
SQLITE_COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")


def _configure_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers; BEGIN IMMEDIATE so a transaction that will write
    takes the write lock at its start instead of failing to upgrade later."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _prepare_sqlite_file(path: Path) -> None:
    """Create the database file 0600 (in 0700 directories) before SQLite opens it.

    SQLite would create it with the umask's mode (usually 0644); it then
    gives its -wal, -shm and -journal files the database file's own mode, so
    owning that one decides them all. Files an earlier version left 0644 are
    tightened.
    """
    make_private_dirs(path.parent)
    os.close(open_private(path, os.O_RDWR))
    for suffix in SQLITE_COMPANION_SUFFIXES:
        tighten(path.with_name(path.name + suffix), PRIVATE_FILE_MODE)


def make_engine(database_url: str, echo: bool = False) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            _prepare_sqlite_file(Path(url.database))
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30, "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    query = dict(url.query)
    query.setdefault("charset", "utf8mb4")
    return create_engine(
        url.set(query=query),
        echo=echo,
        pool_pre_ping=True,
        pool_recycle=280,
        isolation_level="READ COMMITTED",
    )

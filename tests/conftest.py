"""Fixtures every suite shares: settings in a tmp dir, the two databases, the two stores.

`engine` and `store` are parametrised over both backends, so a test that
asks for them runs on SQLite and MariaDB, on the filesystem and on S3 (moto
over real HTTP). Tests that only need the embedded parts ask for
`sqlite_engine` / `fs_store`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from shared.config.settings import Settings, load_settings
from shared.context import AppContext, build_context
from shared.storage.base import ObjectStore
from tests.support.databases import MySqlTestDatabase, make_sqlite_engine
from tests.support.s3 import MotoS3

# Credentials for the moto server only; boto3 refuses to sign without some.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-2")
for _name in [name for name in os.environ if name.startswith("MIA_") and not name.startswith("MIA_TEST_")]:
    del os.environ[_name]  # tests build their own settings

MYSQL_URL = os.environ.get("MIA_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
DATABASES = ["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)]
STORES = ["filesystem", pytest.param("s3", marks=pytest.mark.s3)]


def make_settings(data_dir: Path, **overrides: str) -> Settings:
    env = {"MIA_DATA_DIR": str(data_dir), **overrides}
    return load_settings(env)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "var")


@pytest.fixture(scope="session")
def mysql_database() -> Iterator[MySqlTestDatabase]:
    database = MySqlTestDatabase.create(MYSQL_URL)
    try:
        yield database
    finally:
        database.drop()


@pytest.fixture
def sqlite_engine(settings: Settings) -> Iterator[Engine]:
    engine = make_sqlite_engine(settings.database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def mysql_engine(mysql_database: MySqlTestDatabase) -> Engine:
    mysql_database.empty_tables()
    return mysql_database.engine


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue(f"{request.param}_engine")


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    server = MotoS3.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fs_store(settings: Settings) -> ObjectStore:
    from shared.storage import open_store

    return open_store(settings, b"k" * 32)


@pytest.fixture
def s3_store(moto_s3: MotoS3) -> ObjectStore:
    return moto_s3.new_store()


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> ObjectStore:
    return request.getfixturevalue(f"{'fs' if request.param == 'filesystem' else 's3'}_store")


@pytest.fixture
def ctx(settings: Settings, engine: Engine) -> Iterator[AppContext]:
    """A full context on each database (filesystem store)."""
    context = build_context(settings, engine=engine)
    yield context


@pytest.fixture(params=STORES)
def upload_ctx(request: pytest.FixtureRequest, settings: Settings, engine: Engine) -> AppContext:
    """A full context on each database × each store (the filesystem store signs with the context's key)."""
    context = build_context(settings, engine=engine)
    if request.param == "s3":
        context.store = request.getfixturevalue("s3_store")
    return context


@pytest.fixture
def sqlite_ctx(settings: Settings, sqlite_engine: Engine) -> AppContext:
    return build_context(settings, engine=sqlite_engine)

"""What the embedded mode writes to disk is its own user's only: files 0600, directories 0700.

Every test runs under a permissive umask (0022, the usual default) so that
it proves the modes are set explicitly, not inherited from a strict umask.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine

from shared import audit
from shared.config.keys import load_keys
from shared.config.settings import load_settings
from shared.db.engine import make_engine
from shared.db.migrations import migrate
from shared.storage.filesystem import INCOMPLETE_DIR, FilesystemStore
from shared.storage.signed_urls import UrlSigner

KEY = "uploads/E1/U1/original"


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def assert_owner_only(root: Path, file: Path) -> None:
    """The file is 0600 and every directory from `root` down to it is 0700."""
    assert mode(file) == 0o600, f"{file}: {oct(mode(file))}"
    directory = file.parent
    while True:
        assert mode(directory) == 0o700, f"{directory}: {oct(mode(directory))}"
        if directory == root:
            return
        directory = directory.parent


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def store(data_dir: Path) -> FilesystemStore:
    return FilesystemStore(data_dir / "objects", UrlSigner(b"k" * 32, "http://localhost:8080"))


def test_put_writes_an_owner_only_object(store: FilesystemStore, data_dir: Path) -> None:
    store.put(KEY, b"patient photo")
    assert_owner_only(data_dir, store.path_for(KEY))


def test_upload_file_writes_an_owner_only_object(store: FilesystemStore, data_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "display.jpg"
    source.write_bytes(b"display copy")
    source.chmod(0o644)
    store.upload_file(source, "derived/E1/M1/display.jpg")
    assert_owner_only(data_dir, store.path_for("derived/E1/M1/display.jpg"))


def test_resumable_upload_is_owner_only_while_it_grows_and_once_finished(
    store: FilesystemStore, data_dir: Path
) -> None:
    ref = store.create_resumable(KEY)
    growing = store.root / INCOMPLETE_DIR / KEY
    assert_owner_only(data_dir, growing)
    appender = store.open_appender(KEY, ref, 0)
    appender.write(b"first chunk ")
    appender.commit()
    appender = store.open_appender(KEY, ref, 12)
    appender.write(b"second chunk")
    appender.commit()
    assert_owner_only(data_dir, growing)
    store.finish_resumable(KEY, ref)
    assert store.get(KEY) == b"first chunk second chunk"
    assert_owner_only(data_dir, store.path_for(KEY))


def test_a_downloaded_copy_is_owner_only(store: FilesystemStore, tmp_path: Path) -> None:
    store.put(KEY, b"patient video")
    copy = tmp_path / "work" / "original"
    copy.parent.mkdir()
    store.download_file(KEY, copy)
    assert copy.read_bytes() == b"patient video" and mode(copy) == 0o600


def test_a_store_root_left_open_by_an_earlier_version_is_closed(data_dir: Path) -> None:
    (data_dir / "objects").mkdir(parents=True)
    (data_dir / "objects").chmod(0o755)
    FilesystemStore(data_dir / "objects", UrlSigner(b"k" * 32, "http://localhost:8080"))
    assert mode(data_dir / "objects") == 0o700


@contextmanager
def written_and_held(engine: Engine) -> Iterator[None]:
    """Migrate, write a row and keep a connection open (the -wal and -shm files exist meanwhile)."""
    migrate(engine)
    with engine.begin() as conn:
        audit.record(conn, "test.write", actor_type=audit.ACTOR_SYSTEM)
    with engine.connect():
        yield


def test_sqlite_database_and_its_wal_and_shm_files_are_owner_only(data_dir: Path) -> None:
    database = data_dir / "mia.sqlite3"
    engine = make_engine(f"sqlite:///{database}")
    try:
        with written_and_held(engine):
            files = [database, database.with_name("mia.sqlite3-wal"), database.with_name("mia.sqlite3-shm")]
            for file in files:
                assert_owner_only(data_dir, file)
    finally:
        engine.dispose()


def test_sqlite_files_left_readable_by_an_earlier_version_are_tightened(data_dir: Path) -> None:
    database = data_dir / "mia.sqlite3"
    engine = make_engine(f"sqlite:///{database}")
    with written_and_held(engine):
        pass
    engine.dispose()
    companions = [database.with_name("mia.sqlite3-wal"), database.with_name("mia.sqlite3-shm")]
    for file in [database, *companions]:
        file.touch()
        file.chmod(0o644)
    make_engine(f"sqlite:///{database}").dispose()
    for file in [database, *companions]:
        assert mode(file) == 0o600, file


def test_key_file_and_data_directory_are_owner_only(data_dir: Path) -> None:
    settings = load_settings({"MIA_DATA_DIR": str(data_dir)})
    load_keys(settings, env={})
    assert_owner_only(data_dir, settings.keys_file)

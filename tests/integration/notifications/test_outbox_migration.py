"""Texts and email queued before delivery existed (migration 0003) are never sent months late."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from shared.clock import utcnow
from shared.db.engine import make_engine
from shared.db.migrations import migrate
from shared.db.tables import notifications
from tests.conftest import DATABASES, MYSQL_URL
from tests.support.databases import MySqlTestDatabase


@pytest.fixture(params=DATABASES)
def engine_at_0002(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        migrate(engine, "0002")
        yield engine
        engine.dispose()
        return
    database = MySqlTestDatabase.create(MYSQL_URL, migrated=False)
    try:
        migrate(database.engine, "0002")
        yield database.engine
    finally:
        database.drop()


def test_old_pending_texts_and_email_become_not_configured(engine_at_0002: Engine) -> None:
    rows = {"old-sms": ("sms", "pending"), "old-email": ("email", "pending"), "notice": ("portal", "pending")}
    rows["was-sent"] = ("sms", "sent")
    with engine_at_0002.begin() as conn:
        for row_id, (channel, status) in rows.items():
            conn.execute(
                text(
                    "INSERT INTO notifications (id, kind, channel, body, status, attempts, created_at) "
                    "VALUES (:id, 'patient_invite', :channel, :body, :status, 0, :now)"
                ),
                {"id": row_id, "channel": channel, "body": b"ciphertext", "status": status, "now": utcnow()},
            )
    migrate(engine_at_0002)
    with engine_at_0002.connect() as conn:
        after = dict(conn.execute(select(notifications.c.id, notifications.c.status)).all())
    assert after == {
        "old-sms": "not_configured",
        "old-email": "not_configured",
        "notice": "pending",
        "was-sent": "sent",
    }

"""Fixtures for the portal's AppTest suites: the in-process portal pointed at the test database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from shared.context import AppContext, build_context
from tests.conftest import make_settings
from tests.support.message_states import CONFIGURED
from tests.support.portal import portal_environment


def _point_portal_at(monkeypatch: pytest.MonkeyPatch, ctx: AppContext) -> AppContext:
    portal_environment(monkeypatch, ctx.settings)
    monkeypatch.setenv("MIA_DATABASE_URL", ctx.engine.url.render_as_string(hide_password=False))
    return ctx


@pytest.fixture(autouse=True)
def _fresh_portal_cache() -> Iterator[None]:
    """Each test's portal builds its own context; drop them afterwards."""
    from portal_ui.runtime import _context_for

    yield
    _context_for.clear()


@pytest.fixture
def portal(monkeypatch: pytest.MonkeyPatch, ctx: AppContext) -> AppContext:
    """The portal on each database (SQLite and MariaDB)."""
    return _point_portal_at(monkeypatch, ctx)


@pytest.fixture
def sqlite_portal(monkeypatch: pytest.MonkeyPatch, sqlite_ctx: AppContext) -> AppContext:
    return _point_portal_at(monkeypatch, sqlite_ctx)


@pytest.fixture
def configured_portal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_engine: Engine) -> AppContext:
    """The portal (SQLite) with GOV.UK Notify and SMTP configured: messages read "queued", not "not configured"."""
    ctx = build_context(make_settings(tmp_path / "var", **CONFIGURED), engine=sqlite_engine)
    for name, value in CONFIGURED.items():
        monkeypatch.setenv(name, value)
    return _point_portal_at(monkeypatch, ctx)

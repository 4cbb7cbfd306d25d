"""Fixtures for the portal's AppTest suites: the in-process portal pointed at the test database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.context import AppContext
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

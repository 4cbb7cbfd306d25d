"""Fixtures for the portal's AppTest suites: the in-process portal pointed at the test database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from shared.context import AppContext, build_context
from tests.conftest import make_settings
from tests.support.fhir_server import TOKEN, FhirServer
from tests.support.message_states import CONFIGURED
from tests.support.portal import Downloads, portal_environment


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


@pytest.fixture
def fhir_server() -> Iterator[FhirServer]:
    """The loopback FHIR server (transaction semantics, faults on demand)."""
    with FhirServer() as server:
        yield server


@pytest.fixture
def records_portal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, engine: Engine, fhir_server: FhirServer
) -> AppContext:
    """The portal on each database filing to the loopback FHIR server (one try, then failed with its reason)."""
    environment = {
        "MIA_FHIR_BASE_URL": fhir_server.base_url,
        "MIA_FHIR_TOKEN": TOKEN,
        "MIA_RECORDS_MAX_ATTEMPTS": "1",
    }
    ctx = build_context(make_settings(tmp_path / "var", **environment), engine=engine)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return _point_portal_at(monkeypatch, ctx)


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> Downloads:
    """Press a portal download button as a browser does and read what it served."""
    recorder = Downloads()
    recorder.install(monkeypatch)
    return recorder

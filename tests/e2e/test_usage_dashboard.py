"""The managers' usage page in real Chromium, embedded mode (SQLite + filesystem store).

Signs in as a manager, picks November 2026 (the seeded dataset), and checks
the page renders its charts and tables without an error; saves a screenshot.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from shared.config.settings import load_settings
from shared.context import build_context
from shared.db.migrations import migrate
from tests.support.portal_browser import WAIT_MS, enter_code, enter_password, save_whole_page, settle
from tests.support.portal_server import PortalServer
from tests.support.staff import StaffAccount, make_staff
from tests.support.usage_seed import seed_usage

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def manager_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PortalServer, StaffAccount]]:
    data_dir = tmp_path_factory.mktemp("usage-e2e")
    environment = {"MIA_DATA_DIR": str(data_dir), "MIA_LOG_LEVEL": "WARNING"}
    ctx = build_context(load_settings(environment))
    migrate(ctx.engine)
    seed_usage(ctx)
    manager = make_staff(ctx, "manager1", role="manager", team=None, display_name="Morgan Manager")
    server = PortalServer.start(environment, data_dir / "portal.log")
    try:
        yield server, manager
    finally:
        server.stop()
        ctx.close()


def choose_november(page: Page) -> None:
    """Type 01/11/2026 into the start date's day, month and year fields, as a keyboard user would."""
    page.get_by_role("spinbutton", name="day, Dates start date").click()
    page.keyboard.type("01112026", delay=30)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    settle(page)


def test_usage_page_renders_charts_and_tables(manager_portal, browser: Browser) -> None:  # type: ignore[no-untyped-def]
    server, manager = manager_portal
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(server.url)
    enter_password(page, manager)
    enter_code(page, manager.code())
    expect(page.get_by_role("heading", name="Usage", exact=True)).to_be_visible(timeout=WAIT_MS)
    settle(page)
    choose_november(page)
    expect(page.get_by_text("Median, invite to submission")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator('[data-testid="stMetricValue"]').nth(4)).to_have_text("3 hours", timeout=WAIT_MS)
    expect(page.locator('[data-testid="stMetricValue"]').nth(5)).to_have_text("13 hours", timeout=WAIT_MS)
    charts = page.locator('[data-testid="stVegaLiteChart"]')
    expect(charts.first).to_be_visible(timeout=WAIT_MS)
    assert charts.count() >= 5  # storage, objects, requests, funnel, sizes, failures
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[data-testid="stDownloadButton"]').count() == 12
    save_whole_page(page, "portal-usage")
    context.close()

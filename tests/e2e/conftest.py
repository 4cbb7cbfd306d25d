"""Browser fixtures for the e2e suites (real headless Chromium).

Module-scoped on purpose: Playwright's sync API keeps an asyncio loop running
in the main thread while it is open, so a session-scoped instance would make
every asyncio test collected after the e2e suite fail ("asyncio.run() cannot
be called from a running event loop").
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.support.browser import CHROMIUM_ARGS, chromium_path


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    yield browser
    browser.close()

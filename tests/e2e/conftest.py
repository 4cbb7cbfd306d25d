"""Browser fixtures for the e2e suites (real headless Chromium).

Package-scoped: the sync Playwright API keeps an event loop running in the main
thread while it is open, which would break `asyncio.run()` in later suites.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.support.browser import CHROMIUM_ARGS, chromium_path


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    yield browser
    browser.close()

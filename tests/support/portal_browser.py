"""Driving the real portal in Chromium: waiting for Streamlit, signing in, full-page screenshots."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from tests.support.browser import screenshot_path
from tests.support.staff import StaffAccount

WAIT_MS = 60_000


def settle(page: Page) -> None:
    """Wait until Streamlit has finished running the script (and the rerun its cookie component asks for)."""
    page.wait_for_function(
        """() => new Promise(resolve => {
            let quiet = 0;
            const tick = () => {
                const app = document.querySelector('[data-testid="stApp"]');
                quiet = app && app.dataset.testScriptState !== 'running' ? quiet + 1 : 0;
                if (quiet >= 5) resolve(true); else setTimeout(tick, 100);
            };
            tick();
        })""",
        timeout=WAIT_MS,
    )


def click_until(page: Page, button: Locator, shown: Locator, *, tries: int = 3) -> None:
    """Click until `shown` appears: a click that lands while Streamlit reruns (the cookie component asks for one
    late on a busy machine) is dropped by Streamlit, and a person would simply click again."""
    for _ in range(tries - 1):
        settle(page)
        button.click()
        try:
            expect(shown).to_be_visible(timeout=WAIT_MS // 4)
            return
        except AssertionError:
            continue
    settle(page)
    button.click()
    expect(shown).to_be_visible(timeout=WAIT_MS)


def open_encounter(page: Page, shown: Locator) -> None:
    """Open the first encounter of the list with its Open button (a new page load would be a new session)."""
    click_until(page, page.locator('[data-testid^="stBaseButton"]', has_text="Open"), shown)


def enter_password(page: Page, account: StaffAccount) -> None:
    expect(page.get_by_role("textbox", name="Username")).to_be_visible(timeout=WAIT_MS)
    settle(page)
    page.get_by_role("textbox", name="Username").fill(account.username)
    page.get_by_role("textbox", name="Password").fill(account.password)
    page.get_by_role("button", name="Continue").click()


def enter_code(page: Page, code: str) -> None:
    field = page.get_by_role("textbox", name="6-digit code")
    expect(field).to_be_visible(timeout=WAIT_MS)
    settle(page)
    field.fill(code)
    page.get_by_role("button", name="Sign in").click()


def save_whole_page(page: Page, name: str) -> None:
    """Streamlit scrolls inside its main block, so grow the window to the content to capture all of it."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMainBlockContainer\"]').scrollHeight")
    size = page.viewport_size or {"width": 1280, "height": 900}
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 160, 6000)})
    page.wait_for_timeout(300)
    page.screenshot(path=str(screenshot_path(name)), full_page=True)
    page.set_viewport_size(size)

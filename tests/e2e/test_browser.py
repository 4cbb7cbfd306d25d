"""The browser the e2e suites rely on starts and renders at a phone's width."""

from playwright.sync_api import Browser

from tests.support.browser import PHONE_VIEWPORT


def test_chromium_renders_a_page_at_phone_width(browser: Browser) -> None:
    page = browser.new_page(viewport=PHONE_VIEWPORT)
    page.set_content("<!doctype html><meta name=viewport content='width=device-width'><h1>MIA</h1>")
    assert page.inner_text("h1") == "MIA"
    assert page.evaluate("document.documentElement.clientWidth") == 360
    page.close()

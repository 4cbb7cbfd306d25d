"""The New request page and a request's page in the real portal, in Chromium, at desktop and phone size.

Two portals run as `streamlit run portal_app.py`: one with nothing
configured (the embedded default: the link is not sent, the page says why
and shows the link and QR code), one with GOV.UK Notify and SMTP
configured, whose messages are put in the states the dispatcher and
delivery receipts leave them. Screenshots land in
test-output/screenshots/portal-requests/.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from shared.config.settings import load_settings
from shared.context import AppContext, build_context
from shared.db.migrations import migrate
from shared.db.tables import encounters
from shared.notifications.outbox import CHANNEL_EMAIL, CHANNEL_SMS
from tests.support.browser import DESKTOP_VIEWPORT, PHONE_VIEWPORT, SCREENSHOT_DIR
from tests.support.factories import make_encounter
from tests.support.message_states import CONFIGURED, fail_latest, mark_delivered, message_ids
from tests.support.portal_browser import WAIT_MS, enter_code, enter_password, open_encounter, settle
from tests.support.portal_server import PortalServer
from tests.support.staff import StaffAccount, forget_used_codes, make_staff

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FOLDER = SCREENSHOT_DIR / "portal-requests"
NOT_A_MOBILE = "This number can't receive texts. Check it with the patient, or send the link by email."


@dataclass
class Portal:
    ctx: AppContext
    server: PortalServer
    clinician: StaffAccount


def start_portal(data_dir: Path, **extra: str) -> Portal:
    environment = {"MIA_DATA_DIR": str(data_dir), "MIA_LOG_LEVEL": "WARNING", **extra}
    ctx = build_context(load_settings(environment))
    migrate(ctx.engine)
    clinician = make_staff(ctx, "drjones", display_name="Dr Ada Jones")
    return Portal(ctx, PortalServer.start(environment, data_dir / "portal.log"), clinician)


@pytest.fixture(scope="module")
def plain_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    portal = start_portal(tmp_path_factory.mktemp("portal-plain"))
    yield portal
    portal.server.stop()
    portal.ctx.close()


@pytest.fixture(scope="module")
def messaging_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    portal = start_portal(tmp_path_factory.mktemp("portal-messaging"), **CONFIGURED)
    yield portal
    portal.server.stop()
    portal.ctx.close()


def signed_in_page(browser: Browser, portal: Portal, path: str) -> Page:
    """A fresh browser at `path`, signed in (the page asked for opens after sign-in)."""
    page = browser.new_context(viewport=DESKTOP_VIEWPORT).new_page()
    page.goto(f"{portal.server.url}/{path}")
    forget_used_codes(portal.ctx, portal.clinician)
    enter_password(page, portal.clinician)
    enter_code(page, portal.clinician.code())
    return page


def save_at_both_sizes(page: Page, name: str) -> None:
    """The whole page at desktop size, then at a phone's (Streamlit scrolls inside its main block)."""
    FOLDER.mkdir(parents=True, exist_ok=True)
    for size, viewport in (("desktop", DESKTOP_VIEWPORT), ("phone", PHONE_VIEWPORT)):
        page.set_viewport_size(viewport)
        settle(page)
        height = page.evaluate("() => document.querySelector('[data-testid=\"stMainBlockContainer\"]').scrollHeight")
        page.set_viewport_size({"width": viewport["width"], "height": min(int(height) + 200, 8000)})
        page.wait_for_timeout(400)
        page.screenshot(path=str(FOLDER / f"{name}-{size}.png"), full_page=True)
    page.set_viewport_size(DESKTOP_VIEWPORT)


def test_new_request_with_nothing_configured_says_the_link_was_not_sent(plain_portal: Portal, browser: Browser) -> None:
    page = signed_in_page(browser, plain_portal, "register")
    expect(page.get_by_text("No text message or email service is set up on this system")).to_be_visible(timeout=WAIT_MS)
    settle(page)
    page.get_by_role("textbox", name="Full name").fill("Jane Doe")
    page.get_by_role("spinbutton", name="day, Date of birth").click()  # day, month, year: typed as a person does
    page.keyboard.type("23041980")
    page.keyboard.press("Tab")
    page.get_by_role("textbox", name="UK mobile number").fill("07700 900123")
    page.get_by_role("textbox", name="What to photograph or film (the patient sees this)").fill("The rash on your arm")
    page.get_by_role("button", name="Create request and link").click()
    expect(page.get_by_text("The link was not sent: no text message or email service is configured")).to_be_visible(
        timeout=WAIT_MS
    )
    expect(page.get_by_text("Hand it over now")).to_be_visible()
    expect(page.get_by_text(f"{plain_portal.ctx.settings.patient_base_url}/p/")).to_be_visible()
    expect(page.locator('[data-testid="stImage"] img')).to_be_visible()  # the QR code
    expect(page.get_by_text("Messages to the patient")).to_be_visible()
    save_at_both_sizes(page, "new-request-nothing-configured")
    with plain_portal.ctx.engine.connect() as conn:
        assert conn.execute(select(encounters.c.link_shown_at)).scalar_one() is not None
    page.context.close()


def test_a_request_page_shows_each_message_and_what_to_do_about_a_failure(
    messaging_portal: Portal, browser: Browser
) -> None:
    ctx = messaging_portal.ctx
    invite = make_encounter(ctx, messaging_portal.clinician.user_id)
    mark_delivered(ctx, message_ids(ctx, invite.encounter_id, CHANNEL_EMAIL)[0])
    fail_latest(ctx, invite.encounter_id, CHANNEL_SMS, NOT_A_MOBILE)

    page = signed_in_page(browser, messaging_portal, "encounters")
    expect(page.get_by_text("1 request of yours has a link that could not be delivered").first).to_be_visible(
        timeout=WAIT_MS
    )
    expect(page.locator('[data-testid="stSidebar"]').get_by_text("could not be delivered")).to_be_visible()
    save_at_both_sizes(page, "encounters-failed-invite")

    settle(page)
    open_encounter(page, page.get_by_role("heading", name="Zebedee Quartermain"))
    expect(page.get_by_text("Messages to the patient")).to_be_visible()
    expect(page.get_by_text("Send the link by email instead")).to_be_visible()
    expect(page.get_by_text("Remind the patient if they have not sent anything")).to_be_visible()
    expect(page.locator('[data-testid="stSidebar"]').get_by_text("could not be delivered")).to_have_count(0)
    page.get_by_text("Timeline").click()
    save_at_both_sizes(page, "request-page-failed-text")
    page.context.close()

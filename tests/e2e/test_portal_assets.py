"""Every request the portal's pages make stays on the project's own servers (real Chromium, embedded mode).

The portal must work offline and call no third party from an NHS network:
no font server, no CDN, no icon service. The browser records every request
while it opens the sign-in page, the set-up page with its QR code, and,
signed in as each role, every page of the navigation, including a review
with a photo shown full size and a video, whose media come from the upload
service's signed `/media/` URLs. Requests to any other host are recorded
(and aborted, so an offline machine does not wait for them).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, Route, expect

from portal_ui import navigation
from shared.config.settings import PROJECT_ROOT, load_settings
from shared.context import AppContext, build_context
from shared.db.migrations import migrate
from shared.staff.accounts import create_user
from tests.support.factories import make_encounter
from tests.support.portal_browser import WAIT_MS, enter_code, enter_password, open_encounter, settle
from tests.support.portal_server import PortalServer
from tests.support.processed_media import store_photo, store_video
from tests.support.staff import StaffAccount, make_staff
from tests.support.submissions import give_consent, submit
from tests.support.upload_process import UploadProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@dataclass
class Servers:
    ctx: AppContext
    portal: PortalServer
    upload: UploadProcess
    staff: dict[str, StaffAccount]
    encounter_id: str

    def is_own(self, url: str) -> bool:
        """Data and blob URLs never leave the browser; anything else must go to the portal or upload service."""
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob"):
            return True
        return parts.netloc in {urlsplit(self.portal.url).netloc, urlsplit(self.upload.base_url).netloc}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    data_dir = tmp_path_factory.mktemp("portal-assets")
    environment = {"MIA_DATA_DIR": str(data_dir), "MIA_LOG_LEVEL": "WARNING"}
    ctx = build_context(load_settings(environment))
    migrate(ctx.engine)
    staff = {role: make_staff(ctx, f"{role}1", role=role) for role in ("clinician", "manager", "admin")}
    invite = make_encounter(ctx, staff["clinician"].user_id)
    give_consent(ctx, invite.encounter_id, at=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1))
    store_photo(ctx, invite.encounter_id, width=1200, height=900, seed=1, note="The rash this morning")
    store_video(ctx, invite.encounter_id, width=640, height=360, seconds=2, note="Moving my wrist")
    submit(ctx, invite.encounter_id, staff["clinician"].user_id)
    upload = UploadProcess(environment, data_dir / "upload.log").start()
    environment["MIA_PATIENT_BASE_URL"] = upload.base_url  # media URLs the portal signs point at this service
    try:
        portal = PortalServer.start(environment, data_dir / "portal.log")
    except Exception:
        upload.kill()
        raise
    try:
        yield Servers(ctx, portal, upload, staff, invite.encounter_id)
    finally:
        portal.stop()
        upload.kill()
        ctx.close()


@pytest.fixture
def recorded(browser: Browser, servers: Servers) -> Iterator[tuple[BrowserContext, list[str]]]:
    """A browser context that records the URL of every request its pages (and their frames) make."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    urls: list[str] = []

    def record(request: Request) -> None:
        urls.append(request.url)

    def refuse(route: Route) -> None:
        route.abort()

    context.on("request", record)
    context.route(lambda url: not servers.is_own(url), refuse)
    yield context, urls
    context.close()


def sign_in(page: Page, servers: Servers, role: str) -> None:
    page.goto(servers.portal.url)
    enter_password(page, servers.staff[role])
    enter_code(page, servers.staff[role].code())
    home = navigation.pages_for(role)[0].title
    expect(page.get_by_role("heading", name=home, exact=True)).to_be_visible(timeout=WAIT_MS)
    settle(page)


def open_every_page(page: Page, role: str) -> None:
    """Click through the role's navigation, as a person would (a new page load would be a new session)."""
    for spec in navigation.pages_for(role)[1:]:
        page.get_by_role("link", name=spec.title, exact=True).first.click()
        expect(page).to_have_url(re.compile(rf"/{spec.url_path}$"))
        settle(page)


def open_review(page: Page) -> None:
    """The review of the submitted encounter: thumbnails, the video's first frames, a photo at full size."""
    page.get_by_role("link", name="Review", exact=True).first.click()
    settle(page)
    open_encounter(page, page.locator(".mia-grid"))
    settle(page)
    page.wait_for_function(
        """() => [...document.querySelectorAll('.mia-thumb')].every(i => i.complete && i.naturalWidth > 0)
                 && document.querySelector('.mia-grid video').readyState >= 1""",
        timeout=WAIT_MS,
    )
    page.locator(".mia-zoom summary").first.click()
    page.wait_for_function(
        "() => { const i = document.querySelector('.mia-zoom[open] .mia-full'); return i.complete && i.naturalWidth; }",
        timeout=WAIT_MS,
    )


def assert_all_own(servers: Servers, urls: list[str]) -> None:
    foreign = sorted({url for url in urls if not servers.is_own(url)})
    assert not foreign, f"requests to other hosts: {foreign}"


def test_sign_in_and_set_up_pages_load_nothing_from_elsewhere(
    servers: Servers, recorded: tuple[BrowserContext, list[str]]
) -> None:
    context, urls = recorded
    page = context.new_page()
    page.goto(servers.portal.url)
    expect(page.get_by_role("textbox", name="Password")).to_be_visible(timeout=WAIT_MS)
    settle(page)
    icon = page.evaluate("() => document.querySelector(\"link[rel='shortcut icon']\").href")
    assert urlsplit(icon).netloc == urlsplit(servers.portal.url).netloc, icon  # the portal's own page icon
    assert page.request.get(icon).body() == (PROJECT_ROOT / "portal_ui" / "assets" / "portal-icon.png").read_bytes()
    enrollment = create_user(
        servers.ctx, username="nurse.kaur", display_name="Sister Priya Kaur", role="clinician", team="Dermatology"
    )
    page.goto(f"{servers.portal.url}/?enroll={enrollment.token}")
    expect(page.get_by_text("Welcome, Sister Priya Kaur")).to_be_visible(timeout=WAIT_MS)
    settle(page)
    page.get_by_role("textbox", name="New password", exact=True).fill("walnut tractor velvet")
    page.get_by_role("textbox", name="New password again").fill("walnut tractor velvet")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('img')].some(i => i.complete && i.naturalWidth > 100)", timeout=WAIT_MS
    )  # the QR code
    settle(page)
    assert len(urls) > 10
    assert_all_own(servers, urls)


@pytest.mark.parametrize("role", ["clinician", "manager", "admin"])
def test_every_page_of_each_role_loads_nothing_from_elsewhere(
    servers: Servers, recorded: tuple[BrowserContext, list[str]], role: str
) -> None:
    context, urls = recorded
    page = context.new_page()
    sign_in(page, servers, role)
    open_every_page(page, role)
    if role == "clinician":
        open_review(page)
    settle(page)
    assert any(urlsplit(url).path.startswith("/media/") for url in urls)  # the page icon, QR codes, media
    if role == "clinician":
        assert any(url.startswith(f"{servers.upload.base_url}/media/derived/") for url in urls)
    assert_all_own(servers, urls)

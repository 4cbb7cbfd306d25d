"""The real portal in real Chromium: sign-in with password and code, the review gallery, cookies and logout.

The portal runs as `streamlit run portal_app.py` on an ephemeral port with
the S3 store on a moto server, so the browser loads pre-signed URLs straight
from the S3 API. The media are made by the real processing pipeline
(tests/support/processed_media.py).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from portal_ui.auth_gate import cookie_key
from shared import audit
from shared.config.settings import load_settings
from shared.context import AppContext, build_context
from shared.db.migrations import migrate
from shared.staff import totp
from shared.staff.accounts import create_user
from tests.support.browser import screenshot_path
from tests.support.factories import make_encounter
from tests.support.portal_browser import WAIT_MS, enter_code, enter_password, open_encounter, save_whole_page, settle
from tests.support.portal_server import PortalServer
from tests.support.processed_media import StoredMedium, store_photo, store_unprocessed, store_video
from tests.support.s3 import REGION, MotoS3
from tests.support.staff import StaffAccount, forget_used_codes, make_staff
from tests.support.submissions import give_consent, submit

pytestmark = [pytest.mark.e2e, pytest.mark.s3, pytest.mark.slow]


@dataclass
class PortalSetup:
    ctx: AppContext
    server: PortalServer
    clinician: StaffAccount
    encounter_id: str
    photos: list[StoredMedium]
    video: StoredMedium


@pytest.fixture(scope="module")
def portal(moto_s3: MotoS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalSetup]:
    data_dir = tmp_path_factory.mktemp("portal-e2e")
    environment = {
        "MIA_DATA_DIR": str(data_dir),
        "MIA_STORAGE_URL": f"s3://{moto_s3.new_bucket()}/media",
        "MIA_S3_ENDPOINT_URL": moto_s3.endpoint_url,
        "MIA_S3_REGION": REGION,
        "MIA_LOG_LEVEL": "WARNING",
    }
    ctx = build_context(load_settings(environment))
    migrate(ctx.engine)
    clinician = make_staff(ctx, "drjones", display_name="Dr Ada Jones")
    invite = make_encounter(ctx, clinician.user_id)
    give_consent(ctx, invite.encounter_id, at=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=2))
    photos = [
        store_photo(ctx, invite.encounter_id, width=1600, height=1200, seed=1, note="The rash this morning"),
        store_photo(ctx, invite.encounter_id, width=1080, height=1440, seed=2, note="Close up, in daylight"),
    ]
    video = store_video(ctx, invite.encounter_id, width=640, height=360, seconds=3, note="Moving my wrist")
    photos.append(store_photo(ctx, invite.encounter_id, width=1200, height=1200, seed=3))
    store_unprocessed(ctx, invite.encounter_id, note="Another video")
    store_unprocessed(ctx, invite.encounter_id, failure_reason="This video could not be read: the file is damaged.")
    submit(ctx, invite.encounter_id, clinician.user_id)
    server = PortalServer.start(environment, data_dir / "portal.log")
    try:
        yield PortalSetup(ctx, server, clinician, invite.encounter_id, photos, video)
    finally:
        server.stop()
        ctx.close()


@pytest.fixture
def browser_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context
    context.close()


def sign_in(page: Page, setup: PortalSetup, code_offset: int = 0) -> None:
    page.goto(setup.server.url)
    enter_password(page, setup.clinician)
    enter_code(page, setup.clinician.code(code_offset))
    expect(page.get_by_role("heading", name="Encounters")).to_be_visible(timeout=WAIT_MS)


def open_review(page: Page) -> None:
    settle(page)  # a click during a rerun is lost
    open_encounter(page, page.locator(".mia-grid"))


def tile_boxes(page: Page) -> list[dict[str, float]]:
    return page.eval_on_selector_all(
        ".mia-tile .mia-frame",
        "frames => frames.map(f => { const r = f.getBoundingClientRect(); return {w: r.width, h: r.height}; })",
    )


def test_review_gallery_shows_processed_media_without_layout_shift(
    portal: PortalSetup, browser_context: BrowserContext
) -> None:
    page = browser_context.new_page()
    sign_in(page, portal)
    open_review(page)
    expect(page.get_by_text("Zebedee Quartermain").first).to_be_visible()

    before = tile_boxes(page)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.mia-thumb')].every(i => i.complete && i.naturalWidth > 0)",
        timeout=WAIT_MS,
    )
    page.wait_for_function("() => document.querySelector('.mia-grid video').readyState >= 1", timeout=WAIT_MS)
    after = tile_boxes(page)
    assert before == after  # space was reserved from the stored width and height

    # Each tile has the stored aspect ratio; the processing and failed tiles say so.
    ratios = [round(box["w"] / box["h"], 2) for box in after]
    assert ratios[:4] == [round(1600 / 1200, 2), round(1080 / 1440, 2), round(640 / 360, 2), 1.0]
    expect(page.locator(".mia-grid").get_by_text("Being prepared for viewing")).to_be_visible()
    expect(page.locator(".mia-grid .mia-failed")).to_contain_text("the file is damaged")
    expect(page.locator(".mia-grid").get_by_text("The rash this morning")).to_be_visible()
    styles = page.eval_on_selector_all(".mia-frame", "frames => frames.map(f => f.style.aspectRatio)")
    assert styles[:4] == ["1600 / 1200", "1080 / 1440", "640 / 360", "1200 / 1200"]

    # Every media URL is pre-signed for at most five minutes, straight from the S3 API.
    sources = page.eval_on_selector_all(".mia-grid img.mia-thumb, .mia-grid source", "els => els.map(e => e.src)")
    assert len(sources) == 4
    for source in sources:
        query = parse_qs(urlsplit(source).query)
        assert source.startswith(portal.ctx.settings.s3_endpoint_url or "")
        assert 0 < int(query["X-Amz-Expires"][0]) <= 300
    duration = page.evaluate("() => document.querySelector('.mia-grid video').duration")
    assert duration == pytest.approx(3.0, abs=0.2)
    save_whole_page(page, "portal-review")

    # A click shows the photo at full size over the page; a second click closes it.
    page.locator(".mia-zoom summary").first.click()
    full = page.locator(".mia-zoom[open] .mia-full")
    expect(full).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.querySelector('.mia-zoom[open] .mia-full'); return i.complete && i.naturalWidth; }"
    )
    assert full.evaluate("i => i.naturalWidth") == 1600
    page.screenshot(path=str(screenshot_path("portal-review-full-size")))
    page.locator(".mia-zoom[open] summary").click()
    expect(page.locator(".mia-zoom[open]")).to_have_count(0)


def test_cookie_skips_only_the_password_and_logout_ends_it_on_the_server(
    portal: PortalSetup, browser_context: BrowserContext
) -> None:
    first = browser_context.new_page()
    sign_in(first, portal, code_offset=1)  # the gallery test used the current code
    cookie_name = portal.ctx.settings.portal_cookie_name
    first.wait_for_function(f"() => document.cookie.includes('{cookie_name}=')", timeout=WAIT_MS)
    saved = [c for c in browser_context.cookies() if c["name"] == cookie_name]
    assert saved

    # A new session with the cookie: no password asked, but nothing shown before a code.
    second = browser_context.new_page()
    second.goto(portal.server.url)
    expect(second.get_by_role("textbox", name="6-digit code")).to_be_visible(timeout=WAIT_MS)
    expect(second.get_by_role("textbox", name="Password")).to_have_count(0)
    expect(second.get_by_role("heading", name="Encounters")).to_have_count(0)
    second.goto(f"{portal.server.url}/encounters")
    expect(second.get_by_role("textbox", name="6-digit code")).to_be_visible(timeout=WAIT_MS)
    expect(second.get_by_role("heading", name="Encounters")).to_have_count(0)
    second.close()

    # Sign out: the session ends, and the old cookie no longer stands in for the password.
    first.get_by_role("button", name="Sign out").click()
    expect(first.get_by_role("textbox", name="Password")).to_be_visible(timeout=WAIT_MS)
    fresh = browser_context.browser.new_context() if browser_context.browser else None
    assert fresh is not None
    try:
        fresh.add_cookies(saved)
        page = fresh.new_page()
        page.goto(portal.server.url)
        expect(page.get_by_role("textbox", name="Password")).to_be_visible(timeout=WAIT_MS)
        expect(page.get_by_role("textbox", name="6-digit code")).to_have_count(0)
    finally:
        fresh.close()


def test_enrollment_from_the_one_time_link(portal: PortalSetup, browser_context: BrowserContext) -> None:
    enrollment = create_user(
        portal.ctx, username="nurse.kaur", display_name="Sister Priya Kaur", role="clinician", team="Dermatology"
    )
    page = browser_context.new_page()
    page.goto(f"{portal.server.url}/?enroll={enrollment.token}")
    expect(page.get_by_text("Welcome, Sister Priya Kaur")).to_be_visible(timeout=WAIT_MS)
    settle(page)
    page.get_by_role("textbox", name="New password", exact=True).fill("walnut tractor velvet")
    page.get_by_role("textbox", name="New password again").fill("walnut tractor velvet")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("img", name="MIA sign-in code").or_(page.locator("img").nth(0))).to_be_visible(
        timeout=WAIT_MS
    )
    page.get_by_text("Can't scan it?").click()
    secret = page.locator("code").first.inner_text().replace(" ", "")
    page.screenshot(path=str(screenshot_path("portal-enrollment")))
    field = page.get_by_role("textbox", name="6-digit code from the app")
    settle(page)
    field.fill(totp.code_for_step(secret, totp.current_step() - 1))
    page.get_by_role("button", name="Confirm and finish").click()
    expect(page.get_by_text("Your account is ready")).to_be_visible(timeout=WAIT_MS)
    page.get_by_role("button", name="Go to sign-in").click()
    enter_password(page, StaffAccount(enrollment.user_id, "nurse.kaur", "walnut tractor velvet", secret, "", None))
    enter_code(page, totp.code_for_step(secret, totp.current_step()))
    expect(page.get_by_role("heading", name="Encounters")).to_be_visible(timeout=WAIT_MS)


def test_first_request_of_a_fresh_server_to_a_review_link_signs_in_and_opens_it(
    portal: PortalSetup, browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Before any session has run portal_app.py, Streamlit runs a pages/ file on its own: the page hands over."""
    environment = {
        "MIA_DATA_DIR": str(portal.ctx.settings.data_dir),
        "MIA_STORAGE_URL": portal.ctx.settings.storage_url,
        "MIA_S3_ENDPOINT_URL": portal.ctx.settings.s3_endpoint_url or "",
        "MIA_S3_REGION": REGION,
        "MIA_LOG_LEVEL": "WARNING",
    }
    server = PortalServer.start(environment, tmp_path_factory.mktemp("fresh") / "portal.log")
    context = browser.new_context()
    try:
        page = context.new_page()
        link = f"{server.url}/review?encounter={portal.encounter_id}"
        page.goto(link)
        expect(page.get_by_role("textbox", name="Password")).to_be_visible(timeout=WAIT_MS)
        expect(page.get_by_text("Zebedee")).to_have_count(0)
        expect(page.locator(".mia-grid")).to_have_count(0)
        forget_used_codes(portal.ctx, portal.clinician)
        enter_password(page, portal.clinician)
        enter_code(page, portal.clinician.code())
        expect(page.get_by_role("heading", name="Zebedee Quartermain")).to_be_visible(timeout=WAIT_MS)
        assert page.url == link
    finally:
        context.close()
        server.stop()


def crafted_cookies(setup: PortalSetup) -> dict[str, str]:
    """Sign-in cookies that must not verify: other algorithms, other keys, bad claims, unknown or expired users."""
    key = cookie_key(setup.ctx)
    later = time.time() + 3600
    username = setup.clinician.username
    return {
        "alg none": jwt.encode({"username": username, "exp_date": later}, None, algorithm="none"),
        "HS512, our key": jwt.encode({"username": username, "exp_date": later}, key, algorithm="HS512"),
        "HS512, another key": jwt.encode({"username": username, "exp_date": later}, "x" * 64, algorithm="HS512"),
        "HS256, another key": jwt.encode({"username": username, "exp_date": later}, "y" * 64, algorithm="HS256"),
        "garbage": "not-a-token%20at all",
        "expired": jwt.encode({"username": username, "exp_date": time.time() - 60}, key, algorithm="HS256"),
        "JWT exp passed": jwt.encode({"username": username, "exp_date": later, "exp": 1}, key, algorithm="HS256"),
        "no expiry": jwt.encode({"username": username}, key, algorithm="HS256"),
        "expiry not a number": jwt.encode({"username": username, "exp_date": "soon"}, key, algorithm="HS256"),
        "unknown user": jwt.encode({"username": "nobody", "exp_date": later}, key, algorithm="HS256"),
    }


def refused_cookies(setup: PortalSetup) -> int:
    with setup.ctx.engine.connect() as conn:
        return len(audit.search(conn, action="auth.cookie_refused", limit=1000))


@pytest.mark.filterwarnings("ignore:The HMAC key is:jwt.warnings.InsecureKeyLengthWarning")  # HS512 with our key
def test_a_cookie_that_does_not_verify_counts_as_absent(portal: PortalSetup, browser: Browser) -> None:
    """Whatever the cookie holds, the sign-in form shows, the refusal is audited once, the cookie is deleted."""
    cookie_name = portal.ctx.settings.portal_cookie_name
    for case, value in crafted_cookies(portal).items():
        before = refused_cookies(portal)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            context.add_cookies([{"name": cookie_name, "value": value, "url": portal.server.url}])
            page = context.new_page()
            page.goto(portal.server.url)
            expect(page.get_by_role("textbox", name="Password"), case).to_be_visible(timeout=WAIT_MS)
            settle(page)
            expect(page.get_by_text("This app has encountered an error"), case).to_have_count(0)
            expect(page.locator('[data-testid="stException"]'), case).to_have_count(0)
            page.wait_for_function(f"() => !document.cookie.includes('{cookie_name}=')", timeout=WAIT_MS)
            assert refused_cookies(portal) == before + 1, case
            if case == "HS512, our key":  # sign-in still works, and the next session takes the new cookie
                forget_used_codes(portal.ctx, portal.clinician)
                enter_password(page, portal.clinician)
                enter_code(page, portal.clinician.code())
                expect(page.get_by_role("heading", name="Encounters")).to_be_visible(timeout=WAIT_MS)
                page.wait_for_function(f"() => document.cookie.includes('{cookie_name}=')", timeout=WAIT_MS)
                again = context.new_page()
                again.goto(portal.server.url)
                expect(again.get_by_role("textbox", name="6-digit code")).to_be_visible(timeout=WAIT_MS)
                assert refused_cookies(portal) == before + 1, case
        finally:
            context.close()


def test_a_review_link_survives_sign_in(portal: PortalSetup, browser_context: BrowserContext) -> None:
    """The link the README advertises, opened in a fresh browser: sign-in form first, then that review."""
    link = f"{portal.server.url}/review?encounter={portal.encounter_id}"
    page = browser_context.new_page()
    page.goto(link)
    expect(page.get_by_role("textbox", name="Password")).to_be_visible(timeout=WAIT_MS)
    settle(page)
    expect(page.get_by_text("Page not found")).to_have_count(0)
    expect(page.get_by_text("does not seem to exist")).to_have_count(0)
    assert page.url == link
    forget_used_codes(portal.ctx, portal.clinician)
    enter_password(page, portal.clinician)
    enter_code(page, portal.clinician.code())
    expect(page.locator(".mia-grid")).to_be_visible(timeout=WAIT_MS)
    settle(page)  # a rerun may briefly leave the previous run's elements beside the new ones
    expect(page.get_by_role("heading", name="Zebedee Quartermain").first).to_be_visible()
    assert page.url == link
    expect(page.get_by_text("Page not found")).to_have_count(0)


def test_a_link_to_a_page_the_role_may_not_open_lands_home_with_a_notice(
    portal: PortalSetup, browser_context: BrowserContext
) -> None:
    page = browser_context.new_page()
    page.goto(f"{portal.server.url}/users")
    expect(page.get_by_role("textbox", name="Password")).to_be_visible(timeout=WAIT_MS)
    settle(page)
    expect(page.get_by_text("Page not found")).to_have_count(0)
    forget_used_codes(portal.ctx, portal.clinician)
    enter_password(page, portal.clinician)
    enter_code(page, portal.clinician.code())
    expect(page.get_by_role("heading", name="Encounters")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("“Users” is not open to your role (clinician)")).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    expect(page.get_by_text("Not available")).to_have_count(0)

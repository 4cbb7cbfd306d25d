"""The patient's whole journey in headless Chromium at a phone's size, with a screenshot of each screen.

Screenshots land in test-output/screenshots/patient-journey/<database>-<store>/, and those of every page
naming the organisation, at phone and desktop size, in test-output/screenshots/patient-pages/<size>/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import Engine, select

from patient_upload.app import create_app
from shared.config.messaging import MAX_ORGANISATION_NAME
from shared.context import Actor, AppContext, build_context
from shared.db.statuses import EncounterStatus, UploadStatus
from shared.db.tables import encounters, media, uploads
from shared.staff.teams import save_team_settings
from tests.conftest import make_settings
from tests.support.browser import DESKTOP_VIEWPORT, PHONE_VIEWPORT, SCREENSHOT_DIR
from tests.support.factories import REQUEST_NOTE, make_clinician, make_encounter
from tests.support.upload_payloads import real_jpeg, real_mp4, write_jpeg_payload
from tests.support.upload_server import serve_in_thread

pytestmark = pytest.mark.e2e


class Screens:
    """Saves numbered screenshots and checks each screen fits its width (the phone's) without sideways scrolling."""

    def __init__(self, page: Page, folder: str, max_width: int = PHONE_VIEWPORT["width"]) -> None:
        self.page = page
        self.max_width = max_width
        self.folder = SCREENSHOT_DIR / folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def capture(self, name: str) -> Path:
        width = self.page.evaluate("document.documentElement.scrollWidth")
        assert width <= self.max_width, f"{name}: the page scrolls sideways ({width}px)"
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=PHONE_VIEWPORT, device_scale_factor=2, is_mobile=True, has_touch=True)
    yield context
    context.close()


def watch_for_errors(page: Page) -> list[str]:
    """Script errors and CSP violations (a refused upload's HTTP status is expected, not an error)."""
    errors: list[str] = []

    def on_console(message) -> None:  # type: ignore[no-untyped-def]
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", on_console)
    return errors


def verify_and_consent(page: Page, screens: Screens | None) -> None:
    expect(page.get_by_role("heading", name="Confirm your date of birth")).to_be_visible()
    if screens:
        screens.capture("date-of-birth")
    page.get_by_label("Day").fill("14")
    page.get_by_label("Month").fill("7")
    page.get_by_label("Year").fill("1961")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Before you send anything")).to_be_visible()
    if screens:
        screens.capture("consent")
    page.locator("#q-share_with_care_team").get_by_label("Yes").check()
    page.locator("#q-keep_in_record").get_by_label("Yes").check()
    page.locator("#q-use_for_teaching").get_by_label("No").check()
    page.get_by_label("I have read the notice above").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Add your photos and videos")).to_be_visible()


def test_link_to_sent_on_a_phone(
    phone: BrowserContext, upload_ctx: AppContext, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    invite = make_encounter(upload_ctx, make_clinician(upload_ctx))
    photo = tmp_path / "rash-left-arm.jpg"
    photo.write_bytes(real_jpeg(1200, 900))
    video = real_mp4(tmp_path / "rash-video.mp4")
    page = phone.new_page()
    errors = watch_for_errors(page)
    screens = Screens(page, f"patient-journey/{request.node.callspec.id}")
    with serve_in_thread(create_app(upload_ctx)) as base:
        page.goto(f"{base}/p/{invite.token}")
        verify_and_consent(page, screens)
        expect(page.get_by_text(REQUEST_NOTE)).to_be_visible()
        screens.capture("upload-page")

        page.set_input_files("#pick-library", [str(photo), str(video)])
        cards = page.locator(".file-card")
        expect(cards).to_have_count(2)
        for index in range(2):
            expect(cards.nth(index).locator(".file-status")).to_have_text("Uploaded", timeout=30_000)
        cards.nth(0).locator("textarea").fill("Taken this morning, in daylight")
        cards.nth(0).locator("textarea").press("Tab")
        expect(cards.nth(0).locator(".note-status")).to_have_text("Note saved.")
        screens.capture("two-files-uploaded")

        not_a_photo = b"<!doctype html><html><body>" + b"not a photo " * 20 + b"</body></html>"
        page.set_input_files(
            "#pick-library", files=[{"name": "holiday.jpg", "mimeType": "image/jpeg", "buffer": not_a_photo}]
        )
        expect(cards).to_have_count(3)
        expect(cards.nth(2).locator(".file-status")).to_contain_text("not a photo or video", timeout=15_000)
        screens.capture("refused-file")
        cards.nth(2).get_by_role("button", name="Remove").click()
        expect(cards).to_have_count(2)

        cards.nth(1).get_by_role("button", name="Remove").click()  # the patient changes their mind about the video
        expect(cards).to_have_count(1)
        expect(page.get_by_text("1 file is ready to send.")).to_be_visible()
        screens.capture("one-file-removed")

        page.get_by_role("link", name="Send to my clinician").click()
        expect(page.get_by_role("heading", name="Check before you send")).to_be_visible()
        expect(page.get_by_text("You are about to send 1 photo to your care team.")).to_be_visible()
        expect(page.locator("#summary-list")).to_contain_text("rash-left-arm.jpg")
        screens.capture("check-and-send")
        page.get_by_role("button", name="Send to my clinician").click()
        expect(page.get_by_role("heading", name="Sent to your care team")).to_be_visible()
        screens.capture("sent")
    assert errors == []

    with upload_ctx.engine.connect() as conn:
        encounter = conn.execute(select(encounters).where(encounters.c.id == invite.encounter_id)).one()
        items = conn.execute(select(media).where(media.c.encounter_id == invite.encounter_id)).all()
        statuses = sorted(row.status for row in conn.execute(select(uploads.c.status)))
    assert encounter.status == EncounterStatus.SUBMITTED
    assert statuses == sorted([UploadStatus.COMPLETE, UploadStatus.TERMINATED, UploadStatus.TERMINATED])
    kept = [item for item in items if item.deleted_at is None]
    assert [(item.kind, item.content_type) for item in kept] == [("image", "image/jpeg")]
    assert upload_ctx.cipher.decrypt("media", "note", kept[0].id, kept[0].note) == "Taken this morning, in daylight"
    assert [item.kind for item in items if item.deleted_at is not None] == ["video"]
    assert screens.count == 8


def test_an_upload_resumes_after_a_reload(
    phone: BrowserContext, upload_ctx: AppContext, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    invite = make_encounter(upload_ctx, make_clinician(upload_ctx))
    big = write_jpeg_payload(tmp_path / "slow-signal.jpg", 3 * 1024 * 1024)
    page = phone.new_page()
    errors = watch_for_errors(page)
    offsets: list[int] = []
    page.on(
        "request",
        lambda req: offsets.append(int(req.headers["upload-offset"])) if req.method == "PATCH" else None,
    )
    screens = Screens(page, f"patient-journey-resume/{request.node.callspec.id}")
    network = phone.new_cdp_session(page)
    network.send("Network.enable")
    with serve_in_thread(create_app(upload_ctx)) as base:
        page.goto(f"{base}/p/{invite.token}")
        verify_and_consent(page, None)
        network.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 300 * 1024},
        )
        page.set_input_files("#pick-library", [str(big)])
        card = page.locator(".file-card")
        progress = card.locator(".file-progress")
        for _ in range(300):  # (wait_for_function would need 'unsafe-eval', which the CSP rightly forbids)
            if progress.count() and progress.evaluate("element => element.value") >= 30:
                break
            page.wait_for_timeout(100)
        assert progress.evaluate("element => element.value") < 100
        page.reload()  # the phone's browser was closed mid-upload
        expect(card).to_have_count(1)
        expect(card.locator(".file-status")).to_contain_text("Paused at", timeout=15_000)
        screens.capture("paused-after-reload")
        network.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        page.set_input_files("#pick-library", [str(big)])  # choosing the same file again resumes it
        expect(card).to_have_count(1)
        expect(card.locator(".file-status")).to_have_text("Uploaded", timeout=30_000)
        screens.capture("resumed-and-uploaded")
    assert errors == []
    assert offsets[0] == 0 and len(offsets) >= 2 and offsets[-1] > 0  # the second PATCH did not start again
    with upload_ctx.engine.connect() as conn:
        rows = conn.execute(select(uploads)).all()
    assert [row.status for row in rows] == [UploadStatus.COMPLETE] and rows[0].upload_length == 3 * 1024 * 1024


# The longest organisation name allowed (MAX_ORGANISATION_NAME), with an en dash: the header must still fit a phone.
LONGEST_TEAM_NAME = "Leeds Teaching Hospitals NHS Trust – Dermatology and Plastic"
TRUST = "Leeds Teaching Hospitals NHS Trust"
SIZES = {"phone": PHONE_VIEWPORT, "desktop": DESKTOP_VIEWPORT}


@pytest.fixture
def named_ctx(tmp_path: Path, sqlite_engine: Engine) -> AppContext:
    """MIA_ORGANISATION_NAME set, and Dermatology's own (longest) name saved by an administrator."""
    ctx = build_context(make_settings(tmp_path / "var", MIA_ORGANISATION_NAME=TRUST), engine=sqlite_engine)
    admin = make_clinician(ctx, "admin1", team="")
    save_team_settings(ctx, "Dermatology", organisation_name=LONGEST_TEAM_NAME, mailbox="", actor=Actor(admin))
    return ctx


@pytest.mark.parametrize("size", list(SIZES))
def test_every_patient_page_names_the_organisation_at_phone_and_desktop_size(
    browser: Browser, named_ctx: AppContext, tmp_path: Path, size: str
) -> None:
    """The default name before the date of birth (the same for any link), the team's after; screenshots of each."""
    assert len(LONGEST_TEAM_NAME) == MAX_ORGANISATION_NAME
    invite = make_encounter(named_ctx, make_clinician(named_ctx))
    photo = tmp_path / "rash.jpg"
    photo.write_bytes(real_jpeg(1200, 900))
    phone = size == "phone"
    context = browser.new_context(viewport=SIZES[size], device_scale_factor=2 if phone else 1, is_mobile=phone)
    page = context.new_page()
    errors = watch_for_errors(page)
    screens = Screens(page, f"patient-pages/{size}", max_width=SIZES[size]["width"])
    organisation = page.locator("#organisation")
    try:
        with serve_in_thread(create_app(named_ctx)) as base:
            page.goto(f"{base}/p/not-a-real-link-{invite.token[:8]}")
            expect(organisation).to_have_text(TRUST)
            screens.capture("unknown-link")
            page.goto(f"{base}/p/{invite.token}")
            expect(organisation).to_have_text(TRUST)  # a valid link looks the same before the date of birth
            screens.capture("date-of-birth")
            page.get_by_label("Day").fill("14")
            page.get_by_label("Month").fill("7")
            page.get_by_label("Year").fill("1961")
            page.get_by_role("button", name="Continue").click()
            expect(page.get_by_role("heading", name="Before you send anything")).to_be_visible()
            expect(organisation).to_have_text(LONGEST_TEAM_NAME)
            screens.capture("consent")
            page.locator("#q-share_with_care_team").get_by_label("Yes").check()
            page.locator("#q-keep_in_record").get_by_label("Yes").check()
            page.locator("#q-use_for_teaching").get_by_label("No").check()
            page.get_by_label("I have read the notice above").check()
            page.get_by_role("button", name="Continue").click()
            expect(page.get_by_role("heading", name="Add your photos and videos")).to_be_visible()
            expect(organisation).to_have_text(LONGEST_TEAM_NAME)
            page.set_input_files("#pick-library", [str(photo)])
            expect(page.locator(".file-card .file-status")).to_have_text("Uploaded", timeout=30_000)
            screens.capture("upload")
            page.get_by_role("link", name="Send to my clinician").click()
            expect(page.get_by_role("heading", name="Check before you send")).to_be_visible()
            expect(organisation).to_have_text(LONGEST_TEAM_NAME)
            screens.capture("check-and-send")
            page.get_by_role("button", name="Send to my clinician").click()
            expect(page.get_by_role("heading", name="Sent to your care team")).to_be_visible()
            expect(organisation).to_have_text(LONGEST_TEAM_NAME)
            expect(page.get_by_text(f"{LONGEST_TEAM_NAME} asked you to use this service.")).to_be_visible()
            screens.capture("sent")
    finally:
        context.close()
    assert errors == []
    assert screens.count == 6

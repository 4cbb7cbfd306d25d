"""The whole embedded system, every part a real process, as `make run` starts it.

A patient's phone sends a portrait photo (EXIF orientation 6 and GPS) and an
iPhone video (HEVC, rotation matrix, location atoms) to the upload service
(`python -m patient_upload`) and presses Send; the local worker
(`python -m processors.worker`) makes both reviewable; the clinician signs
in to the portal (`streamlit run portal_app.py`) in real Chromium and the
review page loads both through the upload service's HMAC-signed `/media/`
URLs (the video with Range requests). SQLite + filesystem store, as the
embedded default.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from shared.config.settings import PROJECT_ROOT, load_settings
from shared.context import AppContext, build_context
from shared.db.migrations import migrate
from shared.db.statuses import EncounterStatus, MediaStatus
from shared.db.tables import encounters, media
from tests.support import media_samples
from tests.support.factories import PATIENT, make_encounter
from tests.support.portal_browser import WAIT_MS, enter_code, enter_password, open_encounter, save_whole_page, settle
from tests.support.portal_server import PortalServer
from tests.support.staff import StaffAccount, make_staff
from tests.support.sync_patient import SyncPatient
from tests.support.upload_process import UploadProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROCESSING_TIMEOUT = 240


@dataclass
class System:
    ctx: AppContext
    environment: dict[str, str]
    upload: UploadProcess
    clinician: StaffAccount
    encounter_id: str
    data_dir: Path


def send_files(base_url: str, token: str, files: list[Path]) -> None:
    """The patient's phone: date of birth, consent, two tus uploads, then Send."""
    patient = SyncPatient(base_url, token, PATIENT.date_of_birth.isoformat()).ready()
    for path in files:
        location = patient.create(path.stat().st_size, path.name)
        with path.open("rb") as body:
            response = patient.patch_stream(location, 0, iter(lambda: body.read(1024 * 1024), b""))
        assert response.status_code == 204, response.text
    check = patient.http.get(f"{base_url}/send", timeout=10)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', check.text)
    assert csrf, check.text
    done = patient.http.post(f"{base_url}/send", data={"csrf_token": csrf.group(1)}, timeout=30)
    assert done.url.endswith("/done"), done.text


def run_worker_until_processed(system: System) -> None:
    env = {**os.environ, **system.environment}
    with (system.data_dir / "worker.log").open("ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "processors.worker"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + PROCESSING_TIMEOUT
        while time.monotonic() < deadline:
            with system.ctx.engine.connect() as conn:
                statuses = list(conn.execute(select(media.c.status)).scalars())
            if statuses and all(status in (MediaStatus.READY, MediaStatus.FAILED) for status in statuses):
                break
            assert worker.poll() is None, (system.data_dir / "worker.log").read_text()[-2000:]
            time.sleep(0.5)
        assert statuses == [MediaStatus.READY, MediaStatus.READY], statuses
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    data_dir = tmp_path_factory.mktemp("whole-system")
    environment = {"MIA_DATA_DIR": str(data_dir), "MIA_LOG_LEVEL": "WARNING", "MIA_WORKER_POLL_SECONDS": "1"}
    ctx = build_context(load_settings(environment))
    migrate(ctx.engine)
    clinician = make_staff(ctx, "drjones", display_name="Dr Ada Jones")
    invite = make_encounter(ctx, clinician.user_id)
    upload = UploadProcess(environment, data_dir / "upload.log").start()
    # media URLs the portal signs must point at this upload service
    environment["MIA_PATIENT_BASE_URL"] = upload.base_url
    samples = data_dir / "phone"
    samples.mkdir()
    photo = media_samples.portrait_jpeg(samples, width=900, height=1200)
    video = media_samples.hevc_mov(samples, size="640x360", seconds=2, rotation=-90)
    try:
        send_files(upload.base_url, invite.token, [photo, video])
        yield System(ctx, environment, upload, clinician, invite.encounter_id, data_dir)
    finally:
        upload.kill()
        ctx.close()


def test_patient_upload_is_processed_and_reviewed_through_signed_urls(system: System, browser: Browser) -> None:
    with system.ctx.engine.connect() as conn:
        assert conn.execute(select(encounters.c.status)).scalar() == EncounterStatus.SUBMITTED
    run_worker_until_processed(system)
    with system.ctx.engine.connect() as conn:
        rows = {row.kind: row for row in conn.execute(select(media))}
    assert (rows["image"].width, rows["image"].height) == (900, 1200)  # as displayed: orientation applied
    assert (rows["video"].width, rows["video"].height) == (360, 640)  # portrait, as it was held

    portal = PortalServer.start(system.environment, system.data_dir / "portal.log")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(portal.url)
        enter_password(page, system.clinician)
        enter_code(page, system.clinician.code())
        expect(page.get_by_role("heading", name="Encounters")).to_be_visible(timeout=WAIT_MS)
        settle(page)  # a click during a rerun is lost
        open_encounter(page, page.locator(".mia-grid"))
        settle(page)
        thumbnail = page.locator(".mia-tile img.mia-thumb").first
        expect(thumbnail).to_be_visible(timeout=WAIT_MS)
        page.wait_for_function(
            """() => {
                const img = document.querySelector('.mia-tile img.mia-thumb');
                const video = document.querySelector('.mia-tile video');
                return img && img.complete && img.naturalWidth > 0 && video && video.readyState >= 1;
            }""",
            timeout=WAIT_MS,
        )
        source = thumbnail.get_attribute("src") or ""
        assert source.startswith(f"{system.upload.base_url}/media/derived/{system.encounter_id}/")
        assert page.evaluate("document.querySelector('.mia-tile video').videoHeight") == 640
        save_whole_page(page, "whole-system-review")

        served = requests.get(source, timeout=10)
        assert served.status_code == 200 and served.headers["Content-Type"] == "image/jpeg"
        for marker in media_samples.LEAK_MARKERS:
            assert marker not in served.content, marker
        tampered = source.replace("thumb.jpg", "display.jpg")
        assert requests.get(tampered, timeout=10).status_code in (403, 404)
    finally:
        context.close()
        portal.stop()

"""Headless Chromium (Debian's package) driven by Playwright, for the e2e suites.

Playwright's own browser download is never used: the project's setup installs
Debian's chromium (scripts/install-system-deps.sh) and we point at it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from shared.config.settings import PROJECT_ROOT

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE_VIEWPORT = {"width": 360, "height": 740}
DESKTOP_VIEWPORT = {"width": 1280, "height": 900}
SCREENSHOT_DIR = PROJECT_ROOT / "test-output" / "screenshots"


def chromium_path() -> str:
    path = os.environ.get("MIA_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        raise RuntimeError("Chromium is not installed; run scripts/install-system-deps.sh")
    return path


def screenshot_path(name: str) -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR / f"{name}.png"

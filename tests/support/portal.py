"""Driving the portal in-process with Streamlit's AppTest, signing in through the form widgets.

AppTest cannot render custom components, so streamlit-authenticator's cookie
manager renders nothing and its cookie re-login never happens here (AppTest's
`st.context.cookies` is a mock whose value does not verify: each AppTest
session records one `auth.cookie_refused`); the cookie path is covered by
the tests of `shared.staff.authentication` and the Chromium tests. AppTest
starts every run in Streamlit's pages-directory mode, so a page's address
runs its `pages/` file on its own, as a fresh server does; the file hands
the run to `portal_app.main()`, so page tests also prove that hand-over.
"""

from __future__ import annotations

from typing import Any

import pytest
import streamlit.testing.v1.app_test as app_test_module
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryFile, MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from portal_ui import navigation
from portal_ui.links import PAGES_KEY
from shared.config.settings import PROJECT_ROOT, Settings
from tests.support.staff import StaffAccount

PORTAL_SCRIPT = PROJECT_ROOT / "portal_app.py"
TIMEOUT = 60


def portal_environment(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """The in-process portal reads MIA_* from the environment, like the real one."""
    monkeypatch.setenv("MIA_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("MIA_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("MIA_STORAGE_URL", settings.storage_url)
    if settings.s3_endpoint_url:
        monkeypatch.setenv("MIA_S3_ENDPOINT_URL", settings.s3_endpoint_url)


def new_app() -> AppTest:
    return AppTest.from_file(str(PORTAL_SCRIPT), default_timeout=TIMEOUT)


def widget(elements: Any, label: str) -> Any:
    for element in elements:
        if element.label == label:
            return element
    raise AssertionError(f"no widget labelled {label!r}; have {[e.label for e in elements]}")


def texts(at: AppTest) -> str:
    """Everything the page says, as one string, for assertions."""
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "success", "warning", "error", "text"):
        parts += [str(element.value) for element in at.get(kind)]
    return "\n".join(parts)


def enter_password(at: AppTest, username: str, password: str) -> AppTest:
    widget(at.text_input, "Username").input(username)
    widget(at.text_input, "Password").input(password)
    return widget(at.button, "Continue").click().run()


def enter_code(at: AppTest, code: str) -> AppTest:
    widget(at.text_input, "6-digit code").input(code)
    return widget(at.button, "Sign in").click().run()


def sign_in(account: StaffAccount, at: AppTest | None = None, code: str | None = None) -> AppTest:
    """A fresh session signed in with password and the current code."""
    at = at if at is not None else new_app()  # an AppTest that has not run is falsy (no elements yet)
    at.run()
    enter_password(at, account.username, account.password)
    enter_code(at, code or account.code())
    assert not at.exception, at.exception
    return at


def open_page(at: AppTest, page_key: str, **query: str) -> AppTest:
    """Go to a portal page by its address (its url path), with `query`, as a link or the menu does.

    AppTest.switch_page finds pages by file, and the portal's pages are
    functions: st.navigation registers each under the hash of its url path,
    the hash a browser's request for that address resolves to, so that is
    the page this run asks for.
    """
    at.query_params.clear()
    at.query_params.update(query)
    at._page_hash = calc_hash(navigation.PAGES_BY_KEY[page_key].url_path)
    return at.run()


def menu(at: AppTest) -> list[str]:
    """The keys of the pages this session's navigation shows (hidden ones left out), in menu order."""
    return [key for key, page in at.session_state[PAGES_KEY].items() if page.visibility == "visible"]


def run_page_alone(page_key: str, session_state: dict[str, Any] | None = None, **query: str) -> AppTest:
    """A fresh session whose first request is a page's address: Streamlit runs that `pages/` file by itself.

    Nothing of portal_app.py runs unless the page file hands over to it.
    """
    at = new_app()
    for key, value in (session_state or {}).items():
        at.session_state[key] = value
    return open_page(at, page_key, **query)


class Downloads:
    """The browser's side of a download button whose file is made on click (`data=` a callable).

    AppTest builds a new media file manager for every run; this one manager
    stands in for all of them, so a test can press a button the way a browser
    does (the server runs the deferred callable) and read what it served.
    """

    def __init__(self) -> None:
        self.manager = MediaFileManager(MemoryMediaFileStorage("/mock/media"))

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(app_test_module, "MediaFileManager", lambda _storage: self.manager)

    def press(self, button: Any) -> MemoryFile:
        """What the browser receives when `button` (an AppTest download button) is pressed: content, type, name."""
        url = self.manager.execute_deferred(button.proto.deferred_file_id)
        stored = self.manager.read_file(url.rsplit("/", 1)[-1].split(".", 1)[0])
        assert stored is not None, url
        return stored

"""Driving the portal in-process with Streamlit's AppTest, signing in through the form widgets.

AppTest cannot render custom components, so streamlit-authenticator's cookie
manager renders nothing and its cookie re-login never happens here (AppTest's
`st.context.cookies` is a mock whose value does not verify: each AppTest
session records one `auth.cookie_refused`); the cookie path is covered by
the tests of `shared.staff_auth` and the Chromium tests. AppTest starts
every run in Streamlit's pages-directory mode, so it runs a switched-to page
on its own (without `portal_app.py`), and page tests also prove each page's
own gate.
"""

from __future__ import annotations

from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

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


def open_page(at: AppTest, path: str, **query: str) -> AppTest:
    """Go to a page the navigation offers this session (AppTest refuses any other)."""
    at.query_params.clear()
    at.query_params.update(query)
    return at.switch_page(path).run()


def run_page_alone(path: str, session_state: dict[str, Any] | None = None, **query: str) -> AppTest:
    """Run one pages/ file by itself, as Streamlit does for a first request to its address.

    Nothing of portal_app.py runs, so whatever the page shows is decided by
    its own gate alone.
    """
    at = AppTest.from_file(str(PROJECT_ROOT / path), default_timeout=TIMEOUT)
    for key, value in (session_state or {}).items():
        at.session_state[key] = value
    at.query_params.update(query)
    return at.run()

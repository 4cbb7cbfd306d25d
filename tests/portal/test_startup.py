"""The portal refuses to start, in one line, on bad configuration or an out-of-date database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.portal import new_app, texts


def test_a_bad_setting_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MIA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MIA_PORTAL_IDLE_MINUTES", "a while")
    at = new_app().run()
    (error,) = at.error
    assert error.value == (
        "The portal cannot start: MIA_PORTAL_IDLE_MINUTES: expected a whole number (digits 0-9), got 'a while'"
    )
    assert not at.text_input


def test_an_unmigrated_database_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MIA_DATA_DIR", str(tmp_path))
    at = new_app().run()
    assert "the database schema is not up to date; run: python manage.py migrate" in texts(at)
    assert not at.text_input

"""One helper turns a domain error into the page's message; anything else stays an error for the log."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def page_with(error: str, stop: bool) -> AppTest:
    """A page that runs an action raising `error` inside `shown_on_page`, then draws a line after it."""

    def script(error: str, stop: bool) -> None:
        import streamlit as st

        from portal_ui.feedback import shown_on_page
        from shared.encounters.errors import EncounterError, ReviewError
        from shared.encounters.identifiers import InvalidIdentifier
        from shared.staff.account_admin import AdminError

        errors = {
            "encounter": EncounterError("That encounter does not exist."),
            "review": ReviewError("Enter the clinical note."),
            "identifier": InvalidIdentifier("That NHS number is not valid."),
            "admin": AdminError("You cannot disable your own account."),
            "bug": KeyError("not a domain error"),
        }
        with shown_on_page(stop=stop):
            raise errors[error]
        st.write("after the action")

    return AppTest.from_function(script, args=(error, stop), default_timeout=30).run()


def test_a_domain_error_is_shown_in_its_own_words_and_the_page_goes_on() -> None:
    expected = {
        "encounter": "That encounter does not exist.",
        "review": "Enter the clinical note.",
        "identifier": "That NHS number is not valid.",
        "admin": "You cannot disable your own account.",
    }
    for error, text in expected.items():
        at = page_with(error, stop=False)
        assert [e.value for e in at.error] == [text], error
        assert [m.value for m in at.markdown] == ["after the action"], error
        assert not at.exception, error


def test_with_stop_nothing_is_drawn_after_the_message() -> None:
    at = page_with("identifier", stop=True)
    assert [e.value for e in at.error] == ["That NHS number is not valid."]
    assert not at.markdown and not at.exception


def test_any_other_error_is_not_dressed_as_a_message() -> None:
    at = page_with("bug", stop=False)
    assert not at.error and not at.markdown
    assert at.exception  # Streamlit's error handling (and the log) get it

"""One place that turns a domain error into the message a page shows.

Services in `shared/` raise plain exceptions whose text is written for
people (`EncounterError`, `InvalidIdentifier`, `AdminError`, `RecordsError`, …); a page
wraps an action in `shown_on_page()` and the error appears as `st.error`
where the action's result would have been.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from shared.encounters.errors import EncounterError
from shared.encounters.identifiers import InvalidIdentifier
from shared.records.errors import RecordsError
from shared.staff.account_admin import AdminError
from shared.staff.accounts import UserError
from shared.staff.enrollment import EnrollmentError
from shared.staff.passwords import PasswordError
from shared.staff.teams import TeamSettingsError

DOMAIN_ERRORS: tuple[type[Exception], ...] = (
    EncounterError,
    InvalidIdentifier,
    AdminError,
    UserError,
    EnrollmentError,
    PasswordError,
    TeamSettingsError,
    RecordsError,
)


def message_for(error: Exception) -> str:
    """The words the portal shows for a domain error: its own text (written for people)."""
    return str(error)


@contextmanager
def shown_on_page(*, stop: bool = False) -> Iterator[None]:
    """Run an action; a domain error becomes an error message on the page (and, with `stop`, ends the run).

    Anything else (a bug, a database outage) is not a domain error and goes
    on to Streamlit's error handling and the log.
    """
    try:
        yield
    except DOMAIN_ERRORS as error:
        st.error(message_for(error))
        if stop:
            st.stop()

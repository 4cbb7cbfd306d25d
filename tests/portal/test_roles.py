"""Role gating: the navigation offers only permitted pages, and any other page, opened by its address, refuses."""

from __future__ import annotations

import pytest

from portal_ui.auth_gate import REQUESTED_KEY, RequestedPage
from portal_ui.session import SESSION_KEY
from shared import audit
from shared.context import AppContext
from tests.support.factories import make_encounter
from tests.support.portal import menu, new_app, open_page, run_page_alone, sign_in, texts
from tests.support.staff import make_staff

CLINICIAN_PAGES = ["encounters", "register", "review", "account"]
ADMIN_PAGES = ["users", "teams", "audit", "account"]
MANAGER_PAGES = ["usage", "account"]
ALL_PAGES = sorted({*CLINICIAN_PAGES, *ADMIN_PAGES, *MANAGER_PAGES})


@pytest.mark.parametrize(
    ("role", "home", "allowed"),
    [
        ("clinician", "Encounters", CLINICIAN_PAGES),
        ("admin", "Users", ADMIN_PAGES),
        ("manager", "Usage", MANAGER_PAGES),
    ],
)
def test_each_role_sees_its_pages_and_is_refused_the_others(
    sqlite_portal: AppContext, role: str, home: str, allowed: list[str]
) -> None:
    account = make_staff(sqlite_portal, f"{role}1", role=role)
    at = sign_in(account)
    assert texts(at).splitlines()[0] == home
    assert menu(at) == allowed  # the navigation offers the role's pages only
    session = at.session_state[SESSION_KEY]
    forbidden = [key for key in ALL_PAGES if key not in allowed]
    for key in forbidden:
        alone = run_page_alone(key, {SESSION_KEY: session})  # its address, in a session of its own
        assert "Your role does not give access to this page." in texts(alone), key
        assert not alone.dataframe and not alone.text_input, key
    for key in allowed:
        open_page(at, key)
        assert not at.exception and "Not available" not in texts(at), key
    with sqlite_portal.engine.connect() as conn:
        refused = audit.search(conn, action="page.refused", actor_id=account.user_id)
    assert len(refused) == len(ALL_PAGES) - len(allowed)


def signed_in_after_a_link(account, requested: RequestedPage):  # type: ignore[no-untyped-def]
    """A session that opened `requested` before signing in (the gate remembered it; Chromium proves that part)."""
    at = new_app()
    at.session_state[REQUESTED_KEY] = requested
    return sign_in(account, at)


def test_the_page_a_link_asked_for_opens_after_sign_in(sqlite_portal: AppContext) -> None:
    account = make_staff(sqlite_portal, "drjones")
    invite = make_encounter(sqlite_portal, account.user_id)
    at = signed_in_after_a_link(account, RequestedPage("review", {"encounter": [invite.encounter_id]}))
    assert texts(at).splitlines()[0] == "Zebedee Quartermain"  # the review page of that encounter
    assert at.query_params["encounter"] == invite.encounter_id
    assert REQUESTED_KEY not in at.session_state  # followed once


def test_a_link_to_a_page_the_role_may_not_open_lands_home_with_a_notice(sqlite_portal: AppContext) -> None:
    account = make_staff(sqlite_portal, "drjones")
    at = signed_in_after_a_link(account, RequestedPage("users", {"user": ["someone"]}))
    page = texts(at)
    assert "“Users” is not open to your role (clinician), so you are on your home page instead." in page
    assert "Encounters" in page and not at.exception
    assert "user" not in at.query_params
    with sqlite_portal.engine.connect() as conn:
        (refused,) = audit.search(conn, action="page.refused", actor_id=account.user_id)
    assert '"page": "users"' in refused["detail"]
    at.run()
    assert "is not open to your role" not in texts(at)  # said once

"""MIA clinician portal (Streamlit): sign-in gate, then the pages the person's role allows.

Run with `streamlit run portal_app.py` (settings in `.streamlit/config.toml`
and MIA_* environment variables). Every run passes the gate in
`portal_ui.auth_gate`; each page is a function of the signed-in user and the
context (`portal_ui.navigation`), run through `auth_gate.require_page`.

On a fresh server Streamlit may run a `pages/` file by itself (its
pages-directory mode, until some run calls `st.navigation`); each page file
then hands the run to `main()` here, which answers the same address.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from portal_ui import auth_gate, links, navigation, session
from portal_ui.enrollment_view import QUERY_PARAM as ENROLL_PARAM
from portal_ui.enrollment_view import render_enrollment
from portal_ui.formatting import plain
from portal_ui.message_states import failed_invites_text
from portal_ui.navigation import PageSpec
from portal_ui.runtime import portal_context
from shared.config.settings import PROJECT_ROOT
from shared.context import AppContext
from shared.db.statuses import Role
from shared.encounters.queries import Viewer, submission_counts
from shared.staff.authentication import StaffUser

# Served by the portal itself: a `:material/…:` icon here makes the browser
# fetch it from Google's font server (offline: no icon; from an NHS network: a third party).
PAGE_ICON = PROJECT_ROOT / "portal_ui" / "assets" / "portal-icon.png"


def _sign_in_placeholder() -> None:
    """Every page registered before sign-in (never run: the gate draws the form itself).

    Registering pages keeps Streamlit in st.navigation mode, so no pages/ file is offered.
    """


def _gate_pages() -> list[st.Page]:
    """Before sign-in: the sign-in page, and a hidden stand-in at every page's address.

    A link such as `review?encounter=ID` then finds a page (no "Page not
    found"), keeps its address and query while the person signs in, and the
    gate remembers it to open once both factors are accepted.
    """
    stand_ins = [
        st.Page(_sign_in_placeholder, title=spec.title, url_path=spec.url_path, visibility="hidden")
        for spec in navigation.PAGES
    ]
    return [st.Page(_sign_in_placeholder, title="Sign in", default=True), *stand_ins]


def _page_run(ctx: AppContext, user: StaffUser, spec: PageSpec) -> Callable[[], None]:
    """What st.navigation runs for a page: the role check, then the page's function."""

    def run() -> None:
        auth_gate.require_page(ctx, user, spec.key)
        spec.render(user, ctx)

    return run


def _signed_in_pages(ctx: AppContext, user: StaffUser) -> dict[str, st.Page]:
    """Every page by key: the role's in the menu (its first is home), the others hidden, refused when run."""
    home = navigation.pages_for(user.role)[0]
    return {
        spec.key: st.Page(
            _page_run(ctx, user, spec),
            title=spec.title,
            icon=spec.icon,
            url_path=spec.url_path,
            default=spec is home,
            visibility="visible" if navigation.allowed(spec.key, user.role) else "hidden",
        )
        for spec in navigation.PAGES
    }


def _open_requested_page(ctx: AppContext, user: StaffUser, pages: dict[str, st.Page], current: st.Page) -> None:
    """After sign-in, go where the link pointed (with its query), or home with a notice if the role may not."""
    requested = auth_gate.take_requested_page()
    if requested is None:
        return
    spec = navigation.PAGES_BY_URL.get(requested.url_path)
    if spec is None or not navigation.allowed(spec.key, user.role):
        auth_gate.refuse_link(ctx, user, requested)
        st.switch_page(pages[navigation.pages_for(user.role)[0].key])  # home, without the link's query
    target = pages[spec.key]
    if target is not current or auth_gate.current_query() != requested.query:
        st.switch_page(target, query_params=requested.query)


def _enrollment_page() -> None:
    render_enrollment(portal_context())


def _sidebar(ctx: AppContext, user: StaffUser) -> None:
    with st.sidebar:
        st.markdown(f"**{plain(user.display_name)}**")
        st.caption(user.role.capitalize() + (f" · {plain(user.team)}" if user.team else ""))
        if user.role == Role.CLINICIAN:
            counts = submission_counts(ctx, Viewer(user.id, user.team))
            if counts.invites_failed:
                st.warning(failed_invites_text(counts.invites_failed))
                links.link_to("encounters", "See them on Encounters", icon=":material/list_alt:")
            if counts.new_for_me:
                st.info(f"{counts.new_for_me} new submission{'s' if counts.new_for_me != 1 else ''} for you")
            if counts.awaiting_team:
                st.caption(f"{counts.awaiting_team} waiting for review")
        st.button("Sign out", on_click=session.sign_out, width="stretch")


def main() -> None:
    st.set_page_config(page_title="MIA clinician portal", page_icon=PAGE_ICON, layout="wide")
    ctx = portal_context()
    if ENROLL_PARAM in st.query_params:
        st.navigation([st.Page(_enrollment_page, title="Set up your account")], position="hidden").run()
        return
    user = session.current_user(ctx)
    credentials = auth_gate.load_credentials(ctx) if user is None else {"usernames": {}}
    authenticator = auth_gate.make_authenticator(ctx, credentials)
    if user is None:
        requested = st.navigation(_gate_pages(), position="hidden")
        auth_gate.remember_requested_page(requested.url_path)
        auth_gate.render_sign_in(ctx, authenticator, credentials)
        return
    auth_gate.settle_cookie(authenticator, ctx.settings.portal_cookie_hours)
    pages = _signed_in_pages(ctx, user)
    current = st.navigation(list(pages.values()), position="top")
    links.use_pages(pages)
    _open_requested_page(ctx, user, pages, current)
    _sidebar(ctx, user)
    session.show_notice()
    current.run()


if __name__ == "__main__":  # how Streamlit runs the entry point (a page file imports it to hand over)
    main()

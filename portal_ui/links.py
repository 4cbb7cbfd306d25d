"""Links between portal pages, through the page objects of the current run.

`st.switch_page` and `st.page_link` take the `st.Page` that `st.navigation`
registered in this run (a page is a function, so there is no file to name).
`portal_app.py` hands this run's pages over with `use_pages` before the page
runs; a page then links by key ("review", "encounters") without knowing how
the navigation was built. Kept in the session, so each session sees only its
own run's pages.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

PAGES_KEY = "mia_pages"


def use_pages(pages: Mapping[str, st.Page]) -> None:
    """This run's pages by page key (as `portal_ui.navigation` names them)."""
    st.session_state[PAGES_KEY] = dict(pages)


def page(key: str) -> st.Page:
    """The page object this run registered under `key`."""
    pages: dict[str, st.Page] = st.session_state.get(PAGES_KEY, {})
    return pages[key]


def switch_to(key: str, **query: str) -> None:
    """Open another page (ends this run), with `query` as its query parameters."""
    st.switch_page(page(key), query_params=query or None)


def link_to(key: str, label: str, icon: str | None = None) -> None:
    """A link to another page, drawn where it is called."""
    st.page_link(page(key), label=label, icon=icon)

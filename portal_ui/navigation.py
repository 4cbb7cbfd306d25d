"""Which portal pages exist, the function that draws each, and which roles may open them.

`portal_app.py` builds the navigation from this table (a person's menu
shows only the pages their role allows) and every page run passes
`auth_gate.require_page`, so a page reached by its address by anyone else
is refused all the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pages import account, audit, encounters, register, review, teams, usage, users
from shared.context import AppContext
from shared.db.statuses import Role
from shared.staff.authentication import StaffUser

Render = Callable[[StaffUser, AppContext], None]


@dataclass(frozen=True)
class PageSpec:
    key: str
    render: Render
    title: str
    icon: str
    url_path: str
    roles: frozenset[str]


CLINICIAN = frozenset({Role.CLINICIAN.value})
MANAGER = frozenset({Role.MANAGER.value})
ADMIN = frozenset({Role.ADMIN.value})
EVERYONE = frozenset(role.value for role in Role)

PAGES: tuple[PageSpec, ...] = (
    PageSpec("encounters", encounters.render, "Encounters", ":material/list_alt:", "encounters", CLINICIAN),
    PageSpec("register", register.render, "New request", ":material/person_add:", "register", CLINICIAN),
    PageSpec("review", review.render, "Review", ":material/photo_library:", "review", CLINICIAN),
    PageSpec("usage", usage.render, "Usage", ":material/monitoring:", "usage", MANAGER),
    PageSpec("users", users.render, "Users", ":material/manage_accounts:", "users", ADMIN),
    PageSpec("teams", teams.render, "Teams", ":material/groups:", "teams", ADMIN),
    PageSpec("audit", audit.render, "Audit log", ":material/policy:", "audit", ADMIN),
    PageSpec("account", account.render, "My account", ":material/account_circle:", "account", EVERYONE),
)
PAGES_BY_KEY = {page.key: page for page in PAGES}
PAGES_BY_URL = {page.url_path: page for page in PAGES}


def pages_for(role: str) -> list[PageSpec]:
    """The pages a role may open, in menu order; the first is where that role lands."""
    return [page for page in PAGES if role in page.roles]


def allowed(page_key: str, role: str) -> bool:
    page = PAGES_BY_KEY.get(page_key)
    return page is not None and role in page.roles

"""Which portal pages exist and which roles may open them.

`portal_app.py` builds the navigation from this table (a person sees only
the pages their role allows) and every page checks it again itself, so a
page opened directly by its address is refused all the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.db.statuses import Role


@dataclass(frozen=True)
class PageSpec:
    key: str
    path: str
    title: str
    icon: str
    url_path: str
    roles: frozenset[str]


CLINICIAN = frozenset({Role.CLINICIAN.value})
MANAGER = frozenset({Role.MANAGER.value})
ADMIN = frozenset({Role.ADMIN.value})
EVERYONE = frozenset(role.value for role in Role)

PAGES: tuple[PageSpec, ...] = (
    PageSpec("encounters", "pages/encounters.py", "Encounters", ":material/list_alt:", "encounters", CLINICIAN),
    PageSpec("register", "pages/register_encounter.py", "New request", ":material/person_add:", "register", CLINICIAN),
    PageSpec("review", "pages/review.py", "Review", ":material/photo_library:", "review", CLINICIAN),
    PageSpec("usage", "pages/usage.py", "Usage", ":material/monitoring:", "usage", MANAGER),
    PageSpec("users", "pages/users.py", "Users", ":material/manage_accounts:", "users", ADMIN),
    PageSpec("audit", "pages/audit.py", "Audit log", ":material/policy:", "audit", ADMIN),
    PageSpec("account", "pages/account.py", "My account", ":material/account_circle:", "account", EVERYONE),
)
PAGES_BY_KEY = {page.key: page for page in PAGES}
PAGES_BY_URL = {page.url_path: page for page in PAGES}


def pages_for(role: str) -> list[PageSpec]:
    """The pages a role may open, in menu order; the first is where that role lands."""
    return [page for page in PAGES if role in page.roles]


def allowed(page_key: str, role: str) -> bool:
    page = PAGES_BY_KEY.get(page_key)
    return page is not None and role in page.roles

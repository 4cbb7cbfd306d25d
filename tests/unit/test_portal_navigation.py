"""Which pages each role gets, and that every page listed exists and guards itself."""

from __future__ import annotations

from portal_ui.navigation import PAGES, allowed, pages_for
from shared.config.settings import PROJECT_ROOT
from shared.db.statuses import Role


def test_each_role_gets_only_its_pages_and_lands_on_the_first() -> None:
    assert [p.key for p in pages_for(Role.CLINICIAN)] == ["encounters", "register", "review", "account"]
    assert [p.key for p in pages_for(Role.ADMIN)] == ["users", "audit", "account"]
    assert [p.key for p in pages_for(Role.MANAGER)] == ["usage", "account"]
    assert not allowed("users", Role.CLINICIAN) and not allowed("review", Role.ADMIN)
    assert not allowed("encounters", Role.MANAGER) and not allowed("nonexistent", Role.ADMIN)
    assert not allowed("usage", Role.CLINICIAN) and not allowed("usage", Role.ADMIN)


def test_every_page_file_is_listed_and_checks_its_own_access() -> None:
    listed = {page.path for page in PAGES}
    on_disk = {f"pages/{path.name}" for path in (PROJECT_ROOT / "pages").glob("*.py")}
    assert listed == on_disk
    for page in PAGES:
        source = (PROJECT_ROOT / page.path).read_text()
        assert f'require_page("{page.key}")' in source, page.path

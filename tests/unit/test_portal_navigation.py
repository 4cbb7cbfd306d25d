"""Which pages each role gets, and that every page module is one function with nothing run at import."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from portal_ui.navigation import PAGES, allowed, pages_for
from shared.config.settings import PROJECT_ROOT
from shared.db.statuses import Role

PAGES_DIR = PROJECT_ROOT / "pages"


def test_each_role_gets_only_its_pages_and_lands_on_the_first() -> None:
    assert [p.key for p in pages_for(Role.CLINICIAN)] == ["encounters", "register", "review", "account"]
    assert [p.key for p in pages_for(Role.ADMIN)] == ["users", "teams", "audit", "account"]
    assert [p.key for p in pages_for(Role.MANAGER)] == ["usage", "account"]
    assert not allowed("users", Role.CLINICIAN) and not allowed("review", Role.ADMIN)
    assert not allowed("encounters", Role.MANAGER) and not allowed("nonexistent", Role.ADMIN)
    assert not allowed("usage", Role.CLINICIAN) and not allowed("usage", Role.ADMIN)


def test_every_page_module_is_listed_by_its_render_function() -> None:
    listed = {inspect.getsourcefile(page.render) for page in PAGES}
    on_disk = {str(path) for path in PAGES_DIR.glob("*.py") if path.name != "__init__.py"}
    assert listed == on_disk
    for page in PAGES:  # a fresh server runs pages/<address>.py for a first request to an address (its file mode)
        assert Path(inspect.getsourcefile(page.render) or "").stem == page.url_path, page.key
    for page in PAGES:
        assert page.render.__name__ == "render", page.key
        assert list(inspect.signature(page.render).parameters) == ["user", "ctx"], page.key


def _runs_at_import(statement: ast.stmt) -> bool:
    """Whether a module-level statement does anything beyond defining names (imports, functions, constants)."""
    if isinstance(statement, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef):
        return False
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return False  # the docstring
    if isinstance(statement, ast.Assign | ast.AnnAssign):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        names = [target.id for target in targets if isinstance(target, ast.Name)]
        return len(names) != len(targets) or not all(name.isupper() for name in names) or _calls(statement.value)
    if isinstance(statement, ast.If):  # only the hand-over run as a script: `if __name__ == "__main__":`
        test = statement.test
        return not (
            isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Name)
            and test.left.id == "__name__"
            and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__"
        )
    return True


def _calls(value: ast.expr | None) -> bool:
    return value is not None and any(isinstance(node, ast.Call) for node in ast.walk(value))


def test_page_modules_run_nothing_at_import_and_hand_a_run_of_their_own_to_the_entry_point() -> None:
    for path in sorted(PAGES_DIR.glob("*.py")):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        doing = [ast.unparse(statement).splitlines()[0] for statement in tree.body if _runs_at_import(statement)]
        assert doing == [], path.name  # no module-level state (user, ctx, viewer, moment) and no Streamlit calls
        (main,) = [s for s in tree.body if isinstance(s, ast.If)]
        assert "portal_app.main()" in ast.unparse(main), path.name

"""Imports go one way: entry points → subjects → infrastructure; `shared/` never reaches up.

Read from the source with `ast` (every import statement, at any depth), so
a rule broken inside a function is caught as well as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from shared.config.settings import PROJECT_ROOT

SHARED = PROJECT_ROOT / "shared"
INFRASTRUCTURE_PACKAGES = ("config", "crypto", "db", "storage", "audit", "logging", "media_types")
INFRASTRUCTURE_MODULES = ("clock", "ids", "numbers", "private_files", "client_address", "outages", "context")
SUBJECTS = ("encounters", "staff", "reporting", "notifications", "governance", "records")
ENTRY_POINTS = ("patient_upload", "processors", "portal_ui", "pages", "portal_app", "manage", "tests", "scripts")

# What each subject may import of the others, as its package docstring says.
SUBJECT_IMPORTS = {
    "encounters": {"notifications"},
    "staff": set(),
    "reporting": set(),
    "notifications": {"staff"},
    "records": {"encounters", "staff", "notifications"},
}

# Known exceptions while the parts of issue 11 are merged (module: imports it may keep for now).
KNOWN_EXCEPTIONS: dict[str, set[str]] = {}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports (absolute names; `from a import b` counts as a and a.b)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)


def python_files(*roots: Path) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        files += [root] if root.is_file() else sorted(root.rglob("*.py"))
    return files


def breaking(paths: list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """Per module, the imports that fall under one of the `forbidden` prefixes (known exceptions left out)."""
    found: dict[str, list[str]] = {}
    for path in paths:
        name = module_name(path)
        bad = sorted(
            imported
            for imported in imported_modules(path)
            if any(imported == prefix or imported.startswith(prefix + ".") for prefix in forbidden)
            and imported not in KNOWN_EXCEPTIONS.get(name, set())
        )
        if bad:
            found[name] = bad
    return found


def test_infrastructure_imports_no_subject() -> None:
    infrastructure = python_files(
        *(SHARED / package for package in INFRASTRUCTURE_PACKAGES),
        *(SHARED / f"{module}.py" for module in INFRASTRUCTURE_MODULES),
    )
    assert len(infrastructure) > len(INFRASTRUCTURE_MODULES)
    assert breaking(infrastructure, tuple(f"shared.{subject}" for subject in SUBJECTS)) == {}


def test_shared_imports_no_entry_point_and_no_tests() -> None:
    assert breaking(python_files(SHARED), ENTRY_POINTS) == {}


def test_pages_import_neither_the_upload_service_nor_processors() -> None:
    pages = python_files(PROJECT_ROOT / "pages", PROJECT_ROOT / "portal_ui", PROJECT_ROOT / "portal_app.py")
    assert breaking(pages, ("patient_upload", "processors")) == {}


@pytest.mark.parametrize("subject", sorted(SUBJECT_IMPORTS))
def test_a_subject_imports_only_the_subjects_its_docstring_names(subject: str) -> None:
    others = tuple(
        f"shared.{other}" for other in SUBJECTS if other != subject and other not in SUBJECT_IMPORTS[subject]
    )
    assert breaking(python_files(SHARED / subject), others) == {}


def test_the_checker_sees_a_broken_rule(tmp_path: Path) -> None:
    """The rules above pass because the code keeps them, not because nothing is looked at."""
    module = tmp_path / "example.py"
    module.write_text("import os\nfrom shared.staff import accounts\n\ndef later():\n    import patient_upload.app\n")
    assert imported_modules(module) >= {"shared.staff", "shared.staff.accounts", "patient_upload.app"}

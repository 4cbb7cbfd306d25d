"""Each deployable installs what its entry points import, and nothing they do not.

The import graph of every entry point is read from the source (tests/support/
import_graph.py): our modules are followed wherever they live now, and every
third-party module is mapped to the distribution that installed it. A module
whose distribution the deployable's requirement set does not pin would fail
in its image; a pin that none of the set's entry points imports only makes
the image bigger, unless it is loaded another way (listed below with why).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from scripts.build_lambda_package import NOT_IMPORTED_BY_HANDLER, PROVIDED_IN_LAMBDA
from scripts.requirement_sets import REQUIREMENT_SETS, ROOT, normalise, pinned_set, read_pins, requirement_files
from tests.support.import_graph import ImportGraph, build_graph, entry_files, our_top_level_names

# Files a third-party package runs by their path (no import statement leads there).
LOADED_BY_PATH = {"alembic": "sql/**/*.py"}  # shared.db.migrations points Alembic at sql/


@dataclass(frozen=True)
class EntryPoint:
    name: str
    files: tuple[str, ...]  # glob patterns from the repository root
    deployable: str  # whose requirement set it runs with (scripts/requirement_sets.py)


ENTRY_POINTS = (
    EntryPoint("portal", ("portal_app.py", "pages/**/*.py", "portal_ui/**/*.py"), "portal"),  # pages load by path
    EntryPoint("upload service", ("patient_upload/__main__.py",), "upload"),
    EntryPoint("manage.py", ("manage.py",), "manage"),  # maintenance, notifications and records run the manage image
    EntryPoint("worker", ("processors/worker.py",), "processors"),
    EntryPoint("Lambda handler", ("processors/lambda_handlers.py",), "processors"),
    EntryPoint("processing CLI", ("processors/cli.py",), "processors"),
    EntryPoint("scripts", ("scripts/*.py",), "local"),
    EntryPoint("tests and benchmarks", ("tests/**/*.py",), "dev"),
)


@dataclass(frozen=True)
class NotImported:
    """Why a pin that no import statement names is still needed."""

    reason: str
    loaded_by: str | None = None  # a module that loads it, which the set's graph must import
    command: str | None = None  # or a command the Makefile runs from the venv


NOT_IMPORTED = {
    "pymysql": NotImported("SQLAlchemy loads the driver for mysql+pymysql:// URLs", loaded_by="sqlalchemy"),
    "pillow": NotImported("qrcode[pil] draws the QR code's PNG with it", loaded_by="qrcode"),
    "honcho": NotImported("`make run` starts every service in the Procfile with it", command="honcho"),
    "ruff": NotImported("`make lint`", command="ruff"),
    "pytest-asyncio": NotImported("pytest plugin: async tests (asyncio_mode = auto)", loaded_by="pytest"),
    "pytest-aiohttp": NotImported("pytest plugin: the aiohttp_client fixture", loaded_by="pytest"),
    "pytest-timeout": NotImported("pytest plugin: the 300 s limit per test (pyproject.toml)", loaded_by="pytest"),
}


@cache
def graph_of(entry: EntryPoint) -> ImportGraph:
    return build_graph(entry_files(entry.files), loaded_by_path=LOADED_BY_PATH)


def runs_under(deployable: str) -> list[EntryPoint]:
    """Entry points whose set is part of `deployable`'s install (requirements.txt holds every image's)."""
    files = requirement_files(REQUIREMENT_SETS[deployable])
    return [entry for entry in ENTRY_POINTS if REQUIREMENT_SETS[entry.deployable].resolve() in files]


@cache
def installed() -> dict[str, list[str]]:
    """Top-level module → the distributions in this environment that provide it."""
    return packages_distributions()


def distributions_of(module: str) -> set[str]:
    return {normalise(name) for name in installed().get(module, [])}


def where(graph: ImportGraph, module: str) -> str:
    found = graph.third_party[module][0]
    return f"{found.source.relative_to(ROOT)}:{found.line}"


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda entry: entry.name)
def test_every_third_party_import_is_pinned_in_the_entry_points_set(entry: EntryPoint) -> None:
    pinned = {pin.key for pin in read_pins(REQUIREMENT_SETS[entry.deployable])}
    set_file = REQUIREMENT_SETS[entry.deployable].relative_to(ROOT)
    graph = graph_of(entry)
    missing = []
    for module in sorted(graph.third_party):
        distributions = distributions_of(module)
        if not distributions:
            missing.append(f"{module} (imported at {where(graph, module)}) is not installed here: pin it")
        elif not distributions & pinned:
            missing.append(f"{module} (imported at {where(graph, module)}) needs {sorted(distributions)}")
    assert not missing, f"{entry.name} runs with {set_file}, which lacks:\n" + "\n".join(missing)


@pytest.mark.parametrize("deployable", sorted(REQUIREMENT_SETS))
def test_every_pin_is_imported_by_an_entry_point_of_its_set(deployable: str) -> None:
    entries = runs_under(deployable)
    assert entries, f"no entry point runs with {deployable}"
    imported: set[str] = set()
    modules: set[str] = set()
    for entry in entries:
        modules |= set(graph_of(entry).third_party)
    for module in modules:
        imported |= distributions_of(module)
    makefile = (ROOT / "Makefile").read_text()
    unused = []
    for pin in read_pins(REQUIREMENT_SETS[deployable]):
        if pin.key in imported:
            continue
        allowed = NOT_IMPORTED.get(pin.key)
        if allowed is None:
            unused.append(f"{pin.requirement} ({pin.file.relative_to(ROOT)}): nothing imports it")
        elif allowed.loaded_by is not None and allowed.loaded_by not in modules:
            unused.append(f"{pin.requirement}: {allowed.reason}, but nothing in this set imports {allowed.loaded_by}")
        elif allowed.command is not None and f"/bin/{allowed.command} " not in makefile:
            unused.append(f"{pin.requirement}: {allowed.reason}, but the Makefile never runs {allowed.command}")
    assert not unused, f"{deployable} ({', '.join(entry.name for entry in entries)}):\n" + "\n".join(unused)


def test_the_lambda_function_leaves_out_only_what_the_handler_can_run_without() -> None:
    """The function zip is the processors' set minus what Lambda provides and what the handler never imports."""
    (handler,) = [entry for entry in ENTRY_POINTS if entry.files == ("processors/lambda_handlers.py",)]
    imported = set().union(*(distributions_of(module) for module in graph_of(handler).third_party))
    assert not imported & NOT_IMPORTED_BY_HANDLER.keys()
    assert (PROVIDED_IN_LAMBDA.keys() | NOT_IMPORTED_BY_HANDLER.keys()) <= pinned_set("processors").keys()


def test_a_package_pinned_in_several_files_has_one_version() -> None:
    versions: dict[str, set[str]] = {}
    for path in REQUIREMENT_SETS.values():
        for pin in read_pins(path):
            versions.setdefault(pin.key, set()).add(pin.version)
    assert {name: found for name, found in versions.items() if len(found) > 1} == {}


def test_every_requirement_file_belongs_to_a_set() -> None:
    files = {file for path in REQUIREMENT_SETS.values() for file in requirement_files(path)}
    assert set((ROOT / "requirements").glob("*.txt")) <= files


def test_each_image_installs_its_own_set_and_only_that() -> None:
    """docker/Dockerfile: each target (upload, portal, manage) installs its own file under requirements/."""
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    stages = re.split(r"^FROM \S+ AS (\w+)\s*$", dockerfile, flags=re.MULTILINE)
    bodies = dict(zip(stages[1::2], stages[2::2], strict=True))
    installs = {name: re.findall(r"pip install [^\n]*-r (\S+)", body) for name, body in bodies.items()}
    assert installs["upload"] == ["requirements/upload.txt"]
    assert installs["portal"] == ["requirements/portal.txt"]
    assert installs["manage"] == ["requirements/manage.txt"]
    assert not [name for name, files in installs.items() if name not in ("upload", "portal", "manage") and files]


def test_no_application_code_imports_the_tests() -> None:
    """Everything but tests/ (entry points, shared/, scripts, migrations) must run without the tests' code."""
    ours = sorted(our_top_level_names() - {"tests"})
    patterns = [f"{name}.py" if (ROOT / f"{name}.py").is_file() else f"{name}/**/*.py" for name in ours]
    graph = build_graph(entry_files(patterns), loaded_by_path=LOADED_BY_PATH)
    offenders = [f"{found.source.relative_to(ROOT)}:{found.line}" for found in graph.imports_of_package("tests")]
    assert offenders == []


def test_the_graph_follows_imports_inside_functions_and_skips_type_checking_blocks(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "main.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import helpers\n"
        "if TYPE_CHECKING:\n    import only_for_types\n"
        "def run():\n    import lazily_loaded.sub\n"
    )
    (tmp_path / "app" / "helpers.py").write_text("from .deep import thing\nimport json\n")
    (tmp_path / "app" / "deep.py").write_text("import requests\nthing = 1\n")
    graph = build_graph([tmp_path / "app" / "main.py"], root=tmp_path)
    assert set(graph.third_party) == {"lazily_loaded", "requests"}
    assert {path.name for path in graph.files} == {"main.py", "__init__.py", "helpers.py", "deep.py"}

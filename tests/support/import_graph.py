"""What an entry point imports, read from the source with `ast` (nothing is executed).

Starting from an entry point's files, follow every import of our own modules
(found in the repository, whatever their current home), at any depth and
also inside functions, and collect the top-level names of everything else
that is not in the standard library. Imports under `if TYPE_CHECKING:` are
left out: they never run. Our modules are whatever the repository root holds
(a package directory, a directory of scripts, or a module file), so the graph
follows modules as they move.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_CODE = {"node_modules", "var", "build", "test-output"}  # installed or generated, never imported


def our_top_level_names(root: Path = ROOT) -> frozenset[str]:
    """Names that resolve inside the repository: its Python directories and module files."""
    names = {path.stem for path in root.glob("*.py")}
    for directory in root.iterdir():
        hidden = directory.name.startswith(".") or directory.name in NOT_CODE
        if directory.is_dir() and not hidden and any(directory.rglob("*.py")):
            names.add(directory.name)
    return frozenset(names)


@dataclass(frozen=True)
class Import:
    """One import statement: the module it names (absolute) and where it is."""

    module: str
    names: tuple[str, ...]  # for `from module import a, b`: a, b (possibly submodules)
    source: Path
    line: int


@dataclass
class ImportGraph:
    """Our files reached from the entry points, and the third-party modules they import."""

    files: set[Path] = field(default_factory=set)
    third_party: dict[str, list[Import]] = field(default_factory=dict)  # top-level name → where imported
    ours: list[Import] = field(default_factory=list)

    def imports_of_package(self, top_level: str) -> list[Import]:
        return [found for found in self.ours if found.module.split(".")[0] == top_level]


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those only a type checker reads."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_in(path: Path, root: Path = ROOT) -> list[Import]:
    """The imports of one file, relative ones made absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in _statements(tree):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, (), path, node.lineno) for alias in node.names]
            continue
        base = package[: len(package) - node.level + 1] if node.level else []
        module = ".".join([*base, *([node.module] if node.module else [])])
        found.append(Import(module, tuple(alias.name for alias in node.names), path, node.lineno))
    return found


def _module_file(dotted: str, root: Path) -> Path | None:
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def files_of(found: Import, root: Path = ROOT) -> list[Path]:
    """Our files an import runs: each enclosing package's `__init__`, the module, and imported submodules."""
    parts = found.module.split(".")
    files = [path for i in range(1, len(parts) + 1) if (path := _module_file(".".join(parts[:i]), root))]
    for name in found.names:
        if submodule := _module_file(f"{found.module}.{name}", root):
            files.append(submodule)
    return files


def entry_files(patterns: Iterable[str], root: Path = ROOT) -> list[Path]:
    """The files an entry point starts from: glob patterns relative to the root."""
    files = sorted({path for pattern in patterns for path in root.glob(pattern) if path.suffix == ".py"})
    if not files:
        raise ValueError(f"no Python file matches {list(patterns)}")
    return files


def build_graph(
    start: Iterable[Path], root: Path = ROOT, *, loaded_by_path: dict[str, str] | None = None
) -> ImportGraph:
    """Walk our imports transitively from `start`.

    `loaded_by_path` names files a third-party package loads by their path
    (no import statement leads to them): when the graph imports that package,
    those files join it. Alembic, for instance, runs `sql/env.py`.
    """
    ours = our_top_level_names(root)
    standard = sys.stdlib_module_names | {"__future__"}
    graph = ImportGraph()
    pending = list(start)
    while pending:
        path = pending.pop()
        if path in graph.files:
            continue
        graph.files.add(path)
        for found in imports_in(path, root):
            top = found.module.split(".")[0]
            if top in ours:
                graph.ours.append(found)
                pending += files_of(found, root)
            elif top and top not in standard:
                if top not in graph.third_party and loaded_by_path and top in loaded_by_path:
                    pending += sorted(root.glob(loaded_by_path[top]))
                graph.third_party.setdefault(top, []).append(found)
    return graph

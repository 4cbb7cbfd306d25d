"""Which pinned requirements each deployable installs, read from the requirement files.

Each image installs one file under `requirements/` and what it includes
(`-r`); `requirements.txt` is the whole local install and
`requirements-dev.txt` adds the tests' tools. The Lambda build, the size
measurement and the dependency test all read the sets here, so a pin has one
home: its file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Deployable → the file its install starts from.
REQUIREMENT_SETS = {
    "portal": ROOT / "requirements" / "portal.txt",
    "upload": ROOT / "requirements" / "upload.txt",
    "manage": ROOT / "requirements" / "manage.txt",
    "processors": ROOT / "requirements" / "processors.txt",
    "local": ROOT / "requirements.txt",
    "dev": ROOT / "requirements-dev.txt",
}
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*)(?P<extras>\[[^\]]*\])?==(?P<version>[^\s;#]+)$")
_INCLUDE = re.compile(r"^(?:-r|--requirement)\s+(?P<path>\S+)$")


class RequirementFileError(ValueError):
    """A line that is neither a pin (`name==version`), an include (`-r file`) nor a comment."""


@dataclass(frozen=True)
class Pin:
    name: str  # as written, e.g. "qrcode"
    extras: str  # e.g. "[pil]", or ""
    version: str
    file: Path

    @property
    def key(self) -> str:
        """The normalised distribution name (PEP 503), as packaging compares names."""
        return normalise(self.name)

    @property
    def requirement(self) -> str:
        return f"{self.name}{self.extras}=={self.version}"


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lines(path: Path) -> Iterator[tuple[Path, int, str]]:
    """(file, line number, text) of `path` and of the files it includes, each file once."""
    seen: set[Path] = set()
    pending = [path.resolve()]
    while pending:
        file = pending.pop(0)
        if file in seen:
            continue
        seen.add(file)
        for number, raw in enumerate(file.read_text().splitlines(), start=1):
            line = raw.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                yield file, number, line
                if include := _INCLUDE.match(line):
                    pending.append((file.parent / include.group("path")).resolve())


def requirement_files(path: Path) -> list[Path]:
    """`path` and every file it includes."""
    files = [path.resolve()]
    for file, _number, line in _lines(path):
        if include := _INCLUDE.match(line):
            files.append((file.parent / include.group("path")).resolve())
    return list(dict.fromkeys(files))


def read_pins(path: Path) -> list[Pin]:
    """Every pin of `path` and of the files it includes."""
    pins = []
    for file, number, line in _lines(path):
        if pin := _PIN.match(line):
            pins.append(Pin(pin.group("name"), pin.group("extras") or "", pin.group("version"), file))
        elif not _INCLUDE.match(line):
            raise RequirementFileError(f"{file}:{number}: neither a pin (name==version) nor an include (-r): {line!r}")
    return pins


def pinned_set(deployable: str) -> dict[str, Pin]:
    """The deployable's pins by normalised name (one version each: the dependency test checks it)."""
    return {pin.key: pin for pin in read_pins(REQUIREMENT_SETS[deployable])}

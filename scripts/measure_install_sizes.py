"""How much each deployable's requirement set installs (the README's size table).

No Docker engine needed: each set is installed with this Python's pip into a
scratch directory (`pip install --target`, compiling bytecode as the image's
`pip install` does), and the files are counted. That is what the set adds to
the `python:3.11-slim` base image; our own code adds about 2 MiB. The Lambda
figures come from `make lambda-package` (build/lambda/manifest.json), shown
when it has been run.

    .venv/bin/python scripts/measure_install_sizes.py [--largest 4] [SET ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.requirement_sets import REQUIREMENT_SETS, ROOT

MIB = 1024 * 1024
DEFAULT_SETS = ("upload", "manage", "portal", "processors", "local", "dev")
LAMBDA_MANIFEST = ROOT / "build" / "lambda" / "manifest.json"


@dataclass(frozen=True)
class Installed:
    requirement_file: Path
    total_bytes: int
    by_distribution: dict[str, int]


def tree_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file() and not path.is_symlink())


def distribution_bytes(site: Path) -> dict[str, int]:
    """Bytes per distribution, from each one's RECORD (the files pip wrote for it)."""
    sizes = {}
    for record in site.glob("*.dist-info/RECORD"):
        name = record.parent.name.removesuffix(".dist-info").rsplit("-", 1)[0]
        total = 0
        for line in record.read_text().splitlines():
            relative = line.rsplit(",", 2)[0]
            path = (site / relative).resolve()
            if path.is_file() and site.resolve() in path.parents:
                total += path.stat().st_size
        sizes[name] = total
    return sizes


def install(requirement_file: Path) -> Installed:
    with tempfile.TemporaryDirectory(prefix="mia-sizes-") as scratch:
        site = Path(scratch) / "site-packages"
        command = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*command, "--target", str(site), "-r", str(requirement_file)], check=True)
        return Installed(requirement_file, tree_bytes(site), distribution_bytes(site))


def row(name: str, installed: Installed, largest: int) -> str:
    biggest = sorted(installed.by_distribution.items(), key=lambda item: -item[1])[:largest]
    named = ", ".join(f"{dist} {size / MIB:.0f}" for dist, size in biggest)
    file = installed.requirement_file
    file = file.relative_to(ROOT) if file.is_relative_to(ROOT) else file
    return f"| {name} | `{file}` | {installed.total_bytes / MIB:.0f} MiB | {named} |"


def lambda_rows() -> list[str]:
    if not LAMBDA_MANIFEST.is_file():
        return ["(no build/lambda/manifest.json: run `make lambda-package` for the Lambda figures)"]
    manifest = json.loads(LAMBDA_MANIFEST.read_text())
    total = f"{manifest['total_unzipped_bytes'] / MIB:.1f} of {manifest['limit_bytes'] / MIB:.0f} MiB together"
    rows = []
    for label, artifact, part in (
        ("Lambda function", "processors.zip", "function"),
        ("Lambda ffmpeg layer", "ffmpeg-layer.zip", "layer"),
    ):
        unzipped, zipped = manifest[f"{part}_unzipped_bytes"] / MIB, manifest[f"{part}_zipped_bytes"] / MIB
        rows.append(f"| {label} | `build/lambda/{artifact}` | {unzipped:.1f} MiB (zip {zipped:.1f}) | {total} |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", help=f"any of {', '.join(REQUIREMENT_SETS)} (default: all)")
    parser.add_argument("--largest", type=int, default=4, help="how many of the largest distributions to name")
    parser.add_argument("--file", type=Path, action="append", default=[], help="also measure this requirement file")
    args = parser.parse_args()
    unknown = set(args.sets) - REQUIREMENT_SETS.keys()
    if unknown:
        parser.error(f"unknown set(s): {', '.join(sorted(unknown))}")
    print("| set | requirement file | installs | largest distributions (MiB) |")
    print("| --- | --- | --- | --- |")
    for name in args.sets or ([] if args.file else DEFAULT_SETS):
        print(row(name, install(REQUIREMENT_SETS[name]), args.largest), flush=True)
    for file in args.file:
        print(row(file.name, install(file.resolve()), args.largest), flush=True)
    for line in lambda_rows():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

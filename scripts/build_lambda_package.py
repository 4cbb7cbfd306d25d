"""Build the processors' Lambda artifacts (`make lambda-package`).

- `build/lambda/processors.zip`: our code (`processors/`, `shared/`) and the
  processors' requirement set (`requirements/processors.txt` with what it
  includes) but what the Lambda provides or the handler never imports (see
  `PROVIDED_IN_LAMBDA`, `NOT_IMPORTED_BY_HANDLER`), installed for manylinux
  x86_64 and the target Python with pip `--platform/--only-binary` (no
  compiler, no Docker).
- `build/lambda/ffmpeg-layer.zip`: the static ffmpeg that the pinned
  imageio-ffmpeg wheel ships, at `bin/ffmpeg` (→ `/opt/bin/ffmpeg`).
- `build/lambda/manifest.json`: versions, sizes and the checks below.

Checks, each printed with its numbers: the unzipped function + layer must fit
Lambda's 262,144,000-byte (250 MiB) limit, and every binary wheel and the
ffmpeg build must run on the glibc of the runtime's Amazon Linux. The exit
status is 1 when a check fails (the artifacts are still written, for
inspection), so a package that cannot run is never mistaken for one that can.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.requirement_sets import ROOT, pinned_set

UNZIPPED_LIMIT_BYTES = 262_144_000  # function + all layers, unzipped
DIRECT_UPLOAD_LIMIT_BYTES = 50 * 1024 * 1024  # larger zips must go through S3
# The Linux under each managed Python runtime, and its glibc.
RUNTIME_GLIBC = {
    "3.11": ("Amazon Linux 2", (2, 26)),
    "3.12": ("Amazon Linux 2023", (2, 34)),
    "3.13": ("Amazon Linux 2023", (2, 34)),
}
# Pins of the processors' set that stay out of the function, and why (tests/unit/test_dependencies.py
# checks the handler's import graph against both).
PROVIDED_IN_LAMBDA = {
    "boto3": "every Lambda Python runtime provides it",
    "botocore": "every Lambda Python runtime provides it",
    "imageio-ffmpeg": "the layer's /opt/bin/ffmpeg takes its place (processors/ffmpeg_binary.py falls back to it)",
}
NOT_IMPORTED_BY_HANDLER = {
    "cryptography": "the handler reads no encrypted field and holds no keys (the local worker loads them)",
}
CODE_DIRECTORIES = ("processors", "shared")
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64")
LEFT_OUT = ("__pycache__", "*.pyc", "bin")
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")


@dataclass
class Report:
    python: str
    runtime: str
    runtime_glibc: str
    function_requirements: list[str]
    function_unzipped_bytes: int
    function_zipped_bytes: int
    layer_unzipped_bytes: int
    layer_zipped_bytes: int
    total_unzipped_bytes: int
    limit_bytes: int
    needs_glibc: dict[str, str]
    problems: list[str]


def function_requirements() -> list[str]:
    """What the function installs: the processors' set but what is left out above."""
    left_out = PROVIDED_IN_LAMBDA.keys() | NOT_IMPORTED_BY_HANDLER.keys()
    return [pin.requirement for key, pin in pinned_set("processors").items() if key not in left_out]


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args], check=True)


def platform_args(python: str) -> list[str]:
    args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", python]
    for platform in PLATFORMS:
        args += ["--platform", platform]
    return args


def glibc_of_tags(tags: list[str]) -> tuple[int, int]:
    """The oldest glibc a wheel's platform tags accept (manylinux2014 = 2.17; pure Python = none)."""
    versions = []
    for tag in tags:
        platform = tag.split("-")[-1]
        for part in platform.split("."):
            if part.startswith("manylinux2014"):
                versions.append((2, 17))
            elif match := re.match(r"manylinux_(\d+)_(\d+)_", part):
                versions.append((int(match.group(1)), int(match.group(2))))
    return min(versions) if versions else (0, 0)


def wheel_glibc(site: Path) -> dict[str, tuple[int, int]]:
    needs = {}
    for wheel_file in site.glob("*.dist-info/WHEEL"):
        tags = [
            line.split(":", 1)[1].strip() for line in wheel_file.read_text().splitlines() if line.startswith("Tag:")
        ]
        needs[wheel_file.parent.name.removesuffix(".dist-info")] = glibc_of_tags(tags)
    return needs


def install_function(python: str, target: Path) -> None:
    pip("install", "--target", str(target), "--no-compile", *platform_args(python), *function_requirements())
    for name in ("bin",):
        shutil.rmtree(target / name, ignore_errors=True)
    for directory in CODE_DIRECTORIES:
        shutil.copytree(ROOT / directory, target / directory, ignore=shutil.ignore_patterns(*LEFT_OUT))
    for cache in target.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def fetch_ffmpeg(cache: Path) -> tuple[Path, tuple[int, int]]:
    """The ffmpeg binary from the pinned imageio-ffmpeg wheel, and the glibc it needs."""
    cache.mkdir(parents=True, exist_ok=True)
    pin = pinned_set("processors")["imageio-ffmpeg"]
    pip("download", "--no-deps", "--dest", str(cache), *platform_args("3.11"), pin.requirement)
    version = pin.version
    (wheel,) = [path for path in cache.glob(f"imageio_ffmpeg-{version}-*.whl") if "manylinux" in path.name]
    with zipfile.ZipFile(wheel) as archive:
        (member,) = [name for name in archive.namelist() if re.search(r"binaries/ffmpeg-linux", name)]
        target = cache / "ffmpeg"
        with archive.open(member) as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink)
    target.chmod(0o755)
    return target, glibc_of_tags([wheel.stem])


def write_zip(zip_path: Path, files: dict[str, Path]) -> int:
    """Deterministic order; executables keep their mode. Returns the unzipped size."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    total = 0
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name in sorted(files):
            path = files[name]
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if path.stat().st_mode & 0o111 else 0o644) << 16
            with open(path, "rb") as source, archive.open(info, "w") as sink:
                shutil.copyfileobj(source, sink, 1024 * 1024)
            total += path.stat().st_size
    return total


def tree(directory: Path) -> dict[str, Path]:
    return {path.relative_to(directory).as_posix(): path for path in directory.rglob("*") if path.is_file()}


def check_imports(function_dir: Path) -> None:
    """Import the handler with only the package and what the Lambda runtime provides (same Python only)."""
    import boto3  # what the runtime provides, taken from this environment

    provided = Path(tempfile.mkdtemp(prefix="lambda-runtime-"))
    site = Path(boto3.__file__).parent.parent
    for name in RUNTIME_PROVIDED:
        if (site / name).exists():
            (provided / name).symlink_to(site / name)
    code = (
        "import sys; sys.path[:0] = sys.argv[1:3]; "
        "import processors.lambda_handlers, processors.images, processors.video; "
        "import PIL, pillow_heif, sqlalchemy, pymysql; "
        "assert all(m.__file__.startswith(sys.argv[1]) for m in (PIL, pillow_heif, sqlalchemy, pymysql))"
    )
    try:
        subprocess.run([sys.executable, "-S", "-c", code, str(function_dir), str(provided)], check=True, cwd="/")
    finally:
        shutil.rmtree(provided)
    check_trampoline(function_dir)


def check_trampoline(function_dir: Path) -> None:
    """Every ffmpeg starts through the packaged trampoline (stdlib only): it must run from the package as it is."""
    trampoline = function_dir / "processors" / "ffmpeg_trampoline.py"
    limits = [f"parent={os.getpid()}", "nice=1", "cpu=60", "as=4294967296", "fsize=1048576", "nofile=64"]
    confined = "import os, sys; sys.exit(os.umask(0) != 0o077)"  # stands in for ffmpeg: was it confined?
    command = [sys.executable, "-I", "-S", str(trampoline), *limits, "--", sys.executable, "-c", confined]
    subprocess.run(command, check=True, cwd="/", env={"LC_ALL": "C"})


def build(python: str, out: Path, *, with_layer: bool = True) -> Report:
    runtime, glibc = RUNTIME_GLIBC[python]
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mia-lambda-") as scratch:
        function_dir = Path(scratch) / "function"
        install_function(python, function_dir)
        needs = {name: version for name, version in wheel_glibc(function_dir).items() if version > (0, 0)}
        if python == f"{sys.version_info.major}.{sys.version_info.minor}":
            check_imports(function_dir)
        function_unzipped = write_zip(out / "processors.zip", tree(function_dir))
    layer_unzipped = 0
    if with_layer:
        ffmpeg, ffmpeg_glibc = fetch_ffmpeg(out / ".cache")
        needs["ffmpeg (imageio-ffmpeg)"] = ffmpeg_glibc
        layer_unzipped = write_zip(out / "ffmpeg-layer.zip", {"bin/ffmpeg": ffmpeg})
    for name, version in sorted(needs.items()):
        if version > glibc:
            problems.append(
                f"{name} needs glibc {version[0]}.{version[1]}; python{python} runs on {runtime} "
                f"(glibc {glibc[0]}.{glibc[1]})"
            )
    total = function_unzipped + layer_unzipped
    if total >= UNZIPPED_LIMIT_BYTES:
        problems.append(f"unzipped function + layer is {total:,} bytes; Lambda allows {UNZIPPED_LIMIT_BYTES:,}")
    report = Report(
        python=python,
        runtime=f"python{python} on {runtime}",
        runtime_glibc=f"{glibc[0]}.{glibc[1]}",
        function_requirements=function_requirements(),
        function_unzipped_bytes=function_unzipped,
        function_zipped_bytes=(out / "processors.zip").stat().st_size,
        layer_unzipped_bytes=layer_unzipped,
        layer_zipped_bytes=(out / "ffmpeg-layer.zip").stat().st_size if with_layer else 0,
        total_unzipped_bytes=total,
        limit_bytes=UNZIPPED_LIMIT_BYTES,
        needs_glibc={name: f"{v[0]}.{v[1]}" for name, v in sorted(needs.items())},
        problems=problems,
    )
    (out / "manifest.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    return report


def print_report(report: Report) -> None:
    mib = 1024 * 1024
    print(f"{'runtime':<22}{report.runtime}")
    for label, unzipped, zipped in (
        ("function", report.function_unzipped_bytes, report.function_zipped_bytes),
        ("ffmpeg layer", report.layer_unzipped_bytes, report.layer_zipped_bytes),
    ):
        print(f"{label + ' unzipped':<22}{unzipped / mib:7.1f} MiB (zip {zipped / mib:.1f} MiB)")
    print(
        f"{'total unzipped':<22}{report.total_unzipped_bytes / mib:7.1f} MiB of {report.limit_bytes / mib:.0f} MiB "
        f"({report.total_unzipped_bytes:,} of {report.limit_bytes:,} bytes)"
    )
    for zipped in (report.function_zipped_bytes, report.layer_zipped_bytes):
        if zipped > DIRECT_UPLOAD_LIMIT_BYTES:
            print("note: a zip over 50 MiB must be deployed from S3 (not uploaded directly)")
            break
    for problem in report.problems:
        print(f"PROBLEM: {problem}")
    if report.problems and any("glibc" in problem for problem in report.problems):
        print("fix: build with LAMBDA_PYTHON=3.12 and deploy with runtime python3.12 (Amazon Linux 2023)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="3.12", choices=sorted(RUNTIME_GLIBC))
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "lambda")
    parser.add_argument("--function-only", action="store_true", help="skip the ffmpeg layer")
    args = parser.parse_args()
    report = build(args.python, args.out, with_layer=not args.function_only)
    print_report(report)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())

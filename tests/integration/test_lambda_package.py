"""The Lambda deployment package: what goes in, what stays out, that it imports, that it fits."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path

import pytest

from processors.ffmpeg_binary import ffmpeg_path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
build_lambda_package = importlib.import_module("build_lambda_package")


def test_glibc_needed_is_read_from_wheel_tags() -> None:
    glibc = build_lambda_package.glibc_of_tags
    assert glibc(["cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64"]) == (2, 27)
    assert glibc(["cp311-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64"]) == (2, 17)
    assert glibc(["py3-none-any"]) == (0, 0)


@pytest.mark.slow
def test_function_package_holds_only_what_the_handler_needs(tmp_path: Path) -> None:
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    report = build_lambda_package.build(python, tmp_path, with_layer=False)  # also imports the handler from it

    names = zipfile.ZipFile(tmp_path / "processors.zip").namelist()
    tops = {name.split("/")[0] for name in names}
    assert {"processors", "shared", "PIL", "pillow_heif", "sqlalchemy", "pymysql", "pythonjsonlogger"} <= tops
    assert "processors/lambda_handlers.py" in names and "shared/storage/s3.py" in names
    assert "processors/ffmpeg_trampoline.py" in names  # every ffmpeg starts through it (run by the build too)
    for unwanted in ("streamlit", "pandas", "av", "imageio_ffmpeg", "boto3", "botocore", "cryptography", "alembic"):
        assert unwanted not in tops, unwanted
    assert not [name for name in names if "__pycache__" in name or name.startswith("tests/")]

    ffmpeg_bytes = Path(ffmpeg_path()).stat().st_size  # the same binary the layer ships
    assert report.function_unzipped_bytes + ffmpeg_bytes < build_lambda_package.UNZIPPED_LIMIT_BYTES
    if python == "3.11":  # the pinned Pillow and ffmpeg need a newer glibc than the python3.11 runtime's
        assert any("pillow" in problem for problem in report.problems)

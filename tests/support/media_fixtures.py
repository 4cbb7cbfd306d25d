"""Phone-shaped samples, generated once per test session into the session's base temp dir.

Import the `samples` fixture into a test module; the files are cached on
disk, so every module shares one set.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import media_samples


class SampleCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _cached(self, name: str, make: Callable[[Path], Path]) -> Path:
        folder = self.directory / name
        done = folder / ".done"
        if not done.exists():
            folder.mkdir(parents=True, exist_ok=True)
            path = make(folder)
            done.write_text(path.name)
        return folder / done.read_text()

    def hevc_mov(self) -> Path:
        return self._cached("hevc", media_samples.hevc_mov)

    def hdr_mov(self) -> Path:
        return self._cached("hdr", media_samples.hdr_mov)

    def h264_mov(self) -> Path:
        return self._cached("h264", media_samples.h264_mov)

    def mjpeg_mov(self) -> Path:
        return self._cached("mjpeg", media_samples.mjpeg_mov)

    def portrait_jpeg(self) -> Path:
        return self._cached("jpeg", media_samples.portrait_jpeg)

    def gps_heic(self) -> Path:
        return self._cached("heic", media_samples.gps_heic)


@pytest.fixture
def samples(tmp_path_factory: pytest.TempPathFactory) -> SampleCache:
    return SampleCache(tmp_path_factory.getbasetemp() / "phone-samples")

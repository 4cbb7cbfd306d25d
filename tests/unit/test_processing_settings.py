"""The processors' settings: defaults, and a bad value stops start-up with one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from processors.ffmpeg_binary import ffmpeg_path
from shared.config.settings import PROJECT_ROOT, ConfigError, load_settings


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings({"MIA_DATA_DIR": str(tmp_path)})
    assert settings.ffmpeg_binary is None
    assert (settings.video_timeout_seconds, settings.worker_poll_seconds, settings.worker_lease_seconds) == (
        1800,
        2,
        300,
    )
    assert Path(ffmpeg_path(settings.ffmpeg_binary)).is_file()  # the bundled build


def test_configured_ffmpeg_is_used(tmp_path: Path) -> None:
    bundled = ffmpeg_path()
    settings = load_settings({"MIA_DATA_DIR": str(tmp_path), "MIA_FFMPEG_BINARY": bundled})
    assert ffmpeg_path(settings.ffmpeg_binary) == bundled


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MIA_FFMPEG_BINARY", "/nonexistent/ffmpeg"),
        ("MIA_FFMPEG_BINARY", "ffmpeg"),
        ("MIA_VIDEO_TIMEOUT_SECONDS", "soon"),
        ("MIA_WORKER_POLL_SECONDS", "0"),
        ("MIA_WORKER_LEASE_SECONDS", "-5"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({"MIA_DATA_DIR": str(tmp_path), name: value})
    assert str(error.value).startswith(f"{name}: ") and "\n" not in str(error.value)


def test_worker_refuses_to_start_on_a_bad_value(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "processors.worker"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "MIA_DATA_DIR": str(tmp_path), "MIA_WORKER_LEASE_SECONDS": "forever"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        "error: MIA_WORKER_LEASE_SECONDS: expected a whole number (digits 0-9), got 'forever'"
    ]


def test_worker_refuses_a_scratch_directory_other_users_can_enter(tmp_path: Path) -> None:
    shared = tmp_path / "shared-scratch"
    shared.mkdir()
    shared.chmod(0o755)
    completed = subprocess.run(
        [sys.executable, "-m", "processors.worker"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "MIA_DATA_DIR": str(tmp_path), "MIA_SCRATCH_DIR": str(shared)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        f"error: MIA_SCRATCH_DIR {shared}: mode 0755 lets other users in; "
        f"run `chmod 700 {shared}` or choose a path that does not exist yet"
    ]

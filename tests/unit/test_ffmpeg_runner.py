"""The confined ffmpeg runner: clean environment, limits, priority, timeout, cancel, death with its parent."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from processors import ffmpeg_trampoline
from processors.failures import ProcessingCancelled, ProcessingTimeout
from processors.ffmpeg_binary import ffmpeg_path
from processors.ffmpeg_runner import (
    MEMORY_LIMIT_BYTES,
    NICENESS,
    OPEN_FILES_LIMIT,
    OUTPUT_LIMIT_BYTES,
    FfmpegFailed,
    FfmpegNotStarted,
    input_args,
    run_ffmpeg,
)
from shared.config.settings import PROJECT_ROOT
from tests.support.processes import is_running, wait_for, wait_for_child

ENDLESS = ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-c:v", "libx264", "-f", "null", "-"]


def limits_of(text: str) -> dict[str, str]:
    rows = {}
    for line in text.splitlines()[1:]:
        name = line[:26].strip()
        rows[name] = line[26:].split()[0] if line[26:].split() else ""
    return rows


def test_child_runs_with_empty_environment_low_priority_and_limits(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "must-not-reach-ffmpeg")
    probe = tmp_path / "fake-ffmpeg"
    probe.write_text(
        "#!/bin/sh\n/bin/cat /proc/self/limits >&2\necho STAT $(/bin/cat /proc/self/stat) >&2\n/usr/bin/env >&2\n"
    )
    probe.chmod(0o755)
    result = run_ffmpeg(str(probe), [], timeout=10, cwd=tmp_path)
    limits = limits_of(result.stderr.split("STAT")[0])
    assert limits["Max address space"] == str(MEMORY_LIMIT_BYTES)
    assert limits["Max file size"] == str(OUTPUT_LIMIT_BYTES)
    assert limits["Max open files"] == str(OPEN_FILES_LIMIT)
    assert limits["Max core file size"] == "0"
    assert limits["Max cpu time"].isdigit()
    stat = result.stderr.split("STAT", 1)[1].split(")")[-1].split()
    assert int(stat[16]) == os.nice(0) + NICENESS  # field 19 of /proc/PID/stat: nice
    environment = result.stderr.split("STAT", 1)[1].splitlines()[1:]
    assert "AWS_SECRET_ACCESS_KEY" not in result.stderr
    assert [line for line in environment if line and not line.startswith(("LC_ALL=", "PWD="))] == []


def test_timeout_kills_ffmpeg(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ProcessingTimeout):
        run_ffmpeg(ffmpeg_path(), ENDLESS, timeout=1.5, cwd=tmp_path)
    assert time.monotonic() - started < 10


def test_cancel_stops_ffmpeg(tmp_path: Path) -> None:
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(ProcessingCancelled):
        run_ffmpeg(ffmpeg_path(), ENDLESS, timeout=60, cwd=tmp_path, cancel=cancel)
    assert time.monotonic() - started < 10


def test_failure_carries_ffmpeg_message(tmp_path: Path) -> None:
    missing = tmp_path / "missing.mov"
    with pytest.raises(FfmpegFailed) as failed:
        run_ffmpeg(ffmpeg_path(), [*input_args(missing, "mov"), "-f", "null", "-"], timeout=30, cwd=tmp_path)
    assert "No such file" in failed.value.stderr


def test_input_is_forced_to_one_demuxer_and_the_file_protocol(tmp_path: Path) -> None:
    args = input_args(tmp_path / "original", "mov")
    assert args[args.index("-protocol_whitelist") + 1] == "file"
    assert args[args.index("-f") + 1] == "mov"
    assert args[-2:] == ["-i", f"file:{(tmp_path / 'original').resolve()}"]
    assert args.index("-protocol_whitelist") < args.index("-i") and args.index("-f") < args.index("-i")


def test_video_timeout_scales_with_length_under_the_cap_and_deadline() -> None:
    from processors.video import VideoLimits

    assert VideoLimits(1800).timeout_for(10) == 60 + 8 * 10
    assert VideoLimits(1800).timeout_for(3600) == 1800
    assert VideoLimits(1800, time_left_seconds=700).timeout_for(3600) == 700
    assert not VideoLimits(1800, time_left_seconds=700).timeout_is_the_callers()
    assert VideoLimits(1800, time_left_seconds=120).timeout_is_the_callers()  # Lambda retries with fresh time
    assert not VideoLimits(1800).timeout_is_the_callers()


def test_ffmpeg_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """`kill -9` of a worker cannot be caught: the kernel's parent-death signal must take its ffmpeg too."""
    parent_code = (
        "import sys; from pathlib import Path; from processors.ffmpeg_runner import run_ffmpeg; "
        "run_ffmpeg(sys.argv[1], sys.argv[2:], timeout=300, cwd=Path(sys.argv[0]).parent)"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code, ffmpeg_path(), *ENDLESS], cwd=PROJECT_ROOT, stderr=subprocess.DEVNULL
    )
    try:
        ffmpeg = wait_for_child(parent.pid, ffmpeg_path(), "libx264", seconds=30)
        assert ffmpeg is not None, "ffmpeg never started"
        parent.kill()
        parent.wait()
        assert wait_for(lambda: not is_running(ffmpeg), 3, 0.05), "ffmpeg outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_nothing_runs_when_the_parent_is_gone_before_the_launcher_starts(tmp_path: Path) -> None:
    gone = subprocess.Popen(["/bin/true"])
    gone.wait()
    marker = tmp_path / "ran"
    limits = [f"parent={gone.pid}", "nice=0", "cpu=10", "as=1073741824", "fsize=1048576", "nofile=64"]
    completed = subprocess.run(
        [sys.executable, "-I", "-S", ffmpeg_trampoline.__file__, *limits, "--", "/bin/touch", str(marker)],
        timeout=30,
    )
    assert completed.returncode == ffmpeg_trampoline.LAUNCH_FAILED
    assert not marker.exists()


def test_ffmpeg_output_is_readable_by_this_user_only(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        target = tmp_path / "frame.png"
        args = ["-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1", "-y", f"file:{target}"]
        run_ffmpeg(ffmpeg_path(), args, timeout=30, cwd=tmp_path)
    finally:
        os.umask(previous)
    assert target.stat().st_mode & 0o777 == 0o600


def test_a_missing_ffmpeg_is_a_launch_fault_not_a_bad_video(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ffmpeg"
    with pytest.raises(FfmpegNotStarted) as raised:
        run_ffmpeg(str(missing), ["-version"], timeout=30, cwd=tmp_path, check=False)
    assert str(missing) in str(raised.value)
    assert not isinstance(raised.value, FfmpegFailed)

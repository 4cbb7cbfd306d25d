"""Run ffmpeg on untrusted input: confined, time-limited and at low priority.

Every ffmpeg MIA starts goes through `run_ffmpeg`:
- the input's demuxer is forced by the caller from the sniffed type, and only
  the `file` protocol is allowed, so a playlist cannot make ffmpeg open other
  files or network addresses (see `input_args`);
- the child gets an empty environment (no cloud credentials), no stdin, its
  own process group (killed whole on timeout or cancel), `nice` 10, no core
  dumps, and limits on memory, CPU time, file size and open files;
- a wall-clock timeout, and a cancel event polled twice a second.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from processors.failures import ProcessingCancelled, ProcessingTimeout

NICENESS = 10
MEMORY_LIMIT_BYTES = 6 * 1024**3  # address space; x264 + a 4K HEVC decoder stay well under it
OUTPUT_LIMIT_BYTES = 8 * 1024**3  # largest file ffmpeg may write (inputs are at most a few GiB)
OPEN_FILES_LIMIT = 256
STDERR_LIMIT_BYTES = 256 * 1024  # kept for parsing and logs; the rest is read and dropped
POLL_SECONDS = 0.5
# ffmpeg reads options after `-i` as output options; these must precede it.
ALLOWED_PROTOCOLS = "file"


class FfmpegFailed(Exception):
    def __init__(self, returncode: int, stderr: str) -> None:
        super().__init__(f"ffmpeg exited with status {returncode}: {stderr[-500:]}")
        self.returncode = returncode
        self.stderr = stderr


@dataclass(frozen=True)
class FfmpegResult:
    returncode: int
    stderr: str
    seconds: float


def input_args(path: Path, demuxer: str) -> list[str]:
    """Open `path` with exactly `demuxer`, reading nothing but that local file.

    `-f` stops content-based detection (an HLS or concat playlist dressed as
    a video is then just an invalid MOV); the protocol whitelist is inherited
    by every nested open; external data references in MOV are refused.
    """
    args = ["-protocol_whitelist", ALLOWED_PROTOCOLS, "-f", demuxer]
    if demuxer == "mov":
        args += ["-enable_drefs", "0", "-use_absolute_path", "0"]
    return [*args, "-i", f"file:{path.resolve()}"]


def _limit_child(cpu_seconds: int) -> None:
    """Runs in the child between fork and exec: only async-signal-safe system calls."""
    os.nice(NICENESS)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_LIMIT_BYTES, OUTPUT_LIMIT_BYTES))
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES_LIMIT, OPEN_FILES_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))


def _drain(stream, sink: bytearray) -> None:  # type: ignore[no-untyped-def]
    while chunk := stream.read(65536):
        room = STDERR_LIMIT_BYTES - len(sink)
        if room > 0:
            sink += chunk[:room]


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_ffmpeg(
    ffmpeg: str,
    args: Sequence[str],
    *,
    timeout: float,
    cwd: Path,
    cancel: threading.Event | None = None,
    check: bool = True,
) -> FfmpegResult:
    """Run `ffmpeg args…`; raises ProcessingTimeout, ProcessingCancelled or (with check) FfmpegFailed."""
    command = [ffmpeg, "-hide_banner", "-nostdin", *args]
    cpu_seconds = int(timeout * max(1, os.cpu_count() or 1)) + 10
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env={"LC_ALL": "C"},
        start_new_session=True,
        close_fds=True,
        preexec_fn=lambda: _limit_child(cpu_seconds),  # only nice/setrlimit: see _limit_child
    )
    stderr = bytearray()
    reader = threading.Thread(target=_drain, args=(process.stderr, stderr), daemon=True)
    reader.start()
    try:
        while True:
            try:
                process.wait(timeout=POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                pass
            if cancel is not None and cancel.is_set():
                _kill_group(process)
                raise ProcessingCancelled("ffmpeg stopped: processing was cancelled")
            if time.monotonic() - started > timeout:
                _kill_group(process)
                raise ProcessingTimeout(timeout)
    finally:
        if process.poll() is None:
            _kill_group(process)
        reader.join(timeout=5)
        if process.stderr is not None:
            process.stderr.close()
    text = stderr.decode("utf-8", errors="replace")
    result = FfmpegResult(process.returncode, text, time.monotonic() - started)
    if check and process.returncode != 0:
        raise FfmpegFailed(process.returncode, text)
    return result

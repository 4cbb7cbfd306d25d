"""Run ffmpeg on untrusted input: confined, time-limited, at low priority, dying with its parent.

Every ffmpeg MIA starts goes through `run_ffmpeg`:
- the input's demuxer is forced by the caller from the sniffed type, and only
  the `file` protocol is allowed, so a playlist cannot make ffmpeg open other
  files or network addresses (see `input_args`);
- the child gets an empty environment (no cloud credentials), no stdin, its
  own process group (killed whole on timeout or cancel), `nice` 10, no core
  dumps, limits on memory, CPU time, file size and open files, umask 077,
  and a parent-death signal: if the worker is killed (even `kill -9`), the
  kernel kills its ffmpeg. All of that is set by `ffmpeg_trampoline.py`, a
  single-threaded interpreter that then execs ffmpeg (no `preexec_fn`: it is
  unsafe in a threaded process, and the worker runs heartbeat threads);
- a wall-clock timeout, and a cancel event polled twice a second.

Threads: Linux sends the parent-death signal when the *thread* that started
the child exits, not the process. `run_ffmpeg` is synchronous: the calling
thread waits for ffmpeg and kills it before returning, so it always outlives
its child. Keep it so: never hand the running process to another thread or
return it to the caller (a pool thread that retires would take its ffmpeg
with it). The worker and the Lambda handler call it on their main thread.

Paths given in `args` must be absolute: ffmpeg runs in `cwd`, not in the
caller's working directory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from processors import ffmpeg_trampoline
from processors.failures import ProcessingCancelled, ProcessingTimeout

NICENESS = 10
MEMORY_LIMIT_BYTES = 6 * 1024**3  # address space; x264 + a 4K HEVC decoder stay well under it
OUTPUT_LIMIT_BYTES = 8 * 1024**3  # largest file ffmpeg may write (inputs are at most a few GiB)
OPEN_FILES_LIMIT = 256
STDERR_LIMIT_BYTES = 256 * 1024  # kept for parsing and logs; the rest is read and dropped
POLL_SECONDS = 0.5
# ffmpeg reads options after `-i` as output options; these must precede it.
ALLOWED_PROTOCOLS = "file"


class FfmpegNotStarted(RuntimeError):
    """ffmpeg could not be launched (a deployment fault, not the file's): retried, never blamed on the video."""


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


def confined_command(ffmpeg: str, args: Sequence[str], cpu_seconds: int) -> list[str]:
    """The trampoline's command line: limits for it to set, then the ffmpeg command it becomes."""
    limits = {
        "parent": os.getpid(),
        "nice": NICENESS,
        "cpu": cpu_seconds,
        "as": MEMORY_LIMIT_BYTES,
        "fsize": OUTPUT_LIMIT_BYTES,
        "nofile": OPEN_FILES_LIMIT,
    }
    if not sys.executable:
        raise FfmpegNotStarted("this Python does not know its own interpreter (sys.executable) to launch ffmpeg with")
    launcher = [sys.executable, "-I", "-S", ffmpeg_trampoline.__file__]
    return [*launcher, *(f"{name}={value}" for name, value in limits.items()), "--", ffmpeg, *args]


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
    cpu_seconds = int(timeout * max(1, os.cpu_count() or 1)) + 10
    command = confined_command(ffmpeg, ["-hide_banner", "-nostdin", *args], cpu_seconds)
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
    if process.returncode == ffmpeg_trampoline.LAUNCH_FAILED and text.startswith(ffmpeg_trampoline.MESSAGE_PREFIX):
        raise FfmpegNotStarted(text.strip())
    result = FfmpegResult(process.returncode, text, time.monotonic() - started)
    if check and process.returncode != 0:
        raise FfmpegFailed(process.returncode, text)
    return result

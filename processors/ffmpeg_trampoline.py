"""Confine this process, then become ffmpeg: the launcher `ffmpeg_runner.run_ffmpeg` starts.

    python -I -S ffmpeg_trampoline.py parent=PID nice=N cpu=S as=B fsize=B nofile=N -- FFMPEG ARGS…

Why a separate script rather than `subprocess.Popen(preexec_fn=…)`: the
worker and the Lambda runtime are threaded (heartbeats, S3 transfers), and a
forked copy of a threaded process may only make async-signal-safe calls
before exec; `preexec_fn` runs Python there and can deadlock on a lock
another thread held at fork time (CPython documents it as unsafe with
threads). This script is a fresh, single-threaded interpreter, so it may do
anything; `execv` then replaces it with ffmpeg under the same pid and
process group, keeping everything set here:

1. `prctl(PR_SET_PDEATHSIG, SIGKILL)`: the kernel kills ffmpeg when the
   thread that started it dies, even by `kill -9` of the worker (a parent
   death signal survives `execve`). If the parent is already gone
   (`getppid()` is no longer the pid it passed), exit at once.
2. `nice`, no core dumps, limits on address space, CPU time, file size and
   open files.
3. umask 077: whatever ffmpeg writes (a patient's converted video) is 0600.

Stdlib only and no imports from MIA: it runs with `-I -S` (no site, no
user paths, no PYTHON* variables) on the worker's machine and in the Lambda
python3.12 runtime (glibc's `libc.so.6`). Exit status 125 with a line
starting `mia-ffmpeg-trampoline:` on stderr means ffmpeg never ran.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys

LAUNCH_FAILED = 125  # as env(1) and nohup(1): the launcher failed, the command never ran
MESSAGE_PREFIX = "mia-ffmpeg-trampoline:"
PRIVATE_UMASK = 0o077
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
LIMIT_NAMES = ("parent", "nice", "cpu", "as", "fsize", "nofile")


def _fail(message: str) -> None:
    sys.stderr.write(f"{MESSAGE_PREFIX} {message}\n")
    sys.stderr.flush()
    os._exit(LAUNCH_FAILED)


def _parse(argv: list[str]) -> tuple[dict[str, int], list[str]]:
    """`name=value …` up to `--`, then the command; every name in LIMIT_NAMES exactly once."""
    if "--" not in argv:
        _fail("usage: parent=PID nice=N cpu=S as=B fsize=B nofile=N -- FFMPEG ARGS…")
    split = argv.index("--")
    settings: dict[str, int] = {}
    for item in argv[:split]:
        name, _, value = item.partition("=")
        if name not in LIMIT_NAMES or not value.isdigit():
            _fail(f"unexpected argument {item!r}")
        settings[name] = int(value)
    missing = [name for name in LIMIT_NAMES if name not in settings]
    command = argv[split + 1 :]
    if missing or not command:
        _fail(f"missing {', '.join(missing) or 'the command'}")
    return settings, command


def _libc() -> ctypes.CDLL:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)  # glibc: Amazon Linux, Debian, Ubuntu
    except OSError:
        return ctypes.CDLL(None, use_errno=True)  # another libc: the interpreter's own symbols


def _die_with_parent(parent: int) -> None:
    """Ask for SIGKILL when the parent thread dies; then make sure it had not died already."""
    libc = _libc()
    if libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL), 0, 0, 0) != 0:
        _fail(f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(ctypes.get_errno())}")
    if os.getppid() != parent:
        os._exit(LAUNCH_FAILED)  # the worker died before prctl: nobody is waiting for this ffmpeg


def _confine(settings: dict[str, int]) -> None:
    os.nice(settings["nice"])
    os.umask(PRIVATE_UMASK)
    cpu = settings["cpu"]
    for limit, soft, hard in (
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_AS, settings["as"], settings["as"]),
        (resource.RLIMIT_FSIZE, settings["fsize"], settings["fsize"]),
        (resource.RLIMIT_NOFILE, settings["nofile"], settings["nofile"]),
        (resource.RLIMIT_CPU, cpu, cpu + 5),  # SIGXCPU at the soft limit, SIGKILL 5 s later
    ):
        resource.setrlimit(limit, (soft, hard))


def main(argv: list[str]) -> None:
    settings, command = _parse(argv)
    try:
        _die_with_parent(settings["parent"])
        _confine(settings)
    except Exception as exc:  # any fault here is the launcher's, never the video's
        _fail(f"could not confine ffmpeg: {type(exc).__name__}: {exc}")
    try:
        os.execv(command[0], command)  # noqa: S606 - no shell: the argument list is ffmpeg's, as built by the runner
    except OSError as exc:
        _fail(f"could not start {command[0]}: {exc.strerror}")


if __name__ == "__main__":
    main(sys.argv[1:])

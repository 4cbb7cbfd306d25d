"""Looking at real processes through /proc: who is whose child, who still runs."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from shared.config.settings import PROJECT_ROOT

_DIES_HOLDING_SCRATCH = """
import os, sys
from pathlib import Path
from processors import scratch
own = scratch.claim(Path(sys.argv[1]), sys.argv[2])
(own.path / "original").write_bytes(b"patient video")
print("claimed", flush=True)
os.kill(os.getpid(), 9)
"""


def wait_for(condition: Callable[[], object], seconds: float = 60, every: float = 0.2) -> bool:
    """Poll `condition` until it is true or `seconds` pass; returns whether it became true."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()  # after "(comm)", which may hold spaces: state, ppid, …


def is_running(pid: int) -> bool:
    """True while the process exists and is not a zombie (a killed orphan may wait for a reaper)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def command_line(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def children_of(pid: int) -> list[int]:
    """The live processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return found


def child_running(parent: int, program: str, *words: str) -> int | None:
    """The pid of a running child of `parent` executing `program` with all of `words` among its arguments."""
    for pid in children_of(parent):
        command = command_line(pid)
        if command[:1] == [program] and all(word in command for word in words):
            return pid
    return None


def wait_for_child(parent: int, program: str, *words: str, seconds: float = 60) -> int | None:
    """Wait until `parent` runs `program` with `words` (see child_running); its pid, or None."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pid = child_running(parent, program, *words)
        if pid is not None:
            return pid
        time.sleep(0.05)
    return None


def killed_scratch_owner(root: Path, owner_id: str) -> Path:
    """A real process claims scratch under `root`, writes a file there and dies by SIGKILL (no cleanup runs)."""
    completed = subprocess.run(
        [sys.executable, "-c", _DIES_HOLDING_SCRATCH, str(root), owner_id],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert completed.returncode == -9 and completed.stdout == "claimed\n", completed.stderr
    return root / owner_id

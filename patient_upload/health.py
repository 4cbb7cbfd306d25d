"""Liveness (GET /healthz) and readiness (GET /readyz), kept apart on purpose.

ECS replaces a task whose container check fails; the load balancer stops
sending requests to a target whose check fails. So the container check,
/healthz, asks only whether this process and its event loop answer: a
database or S3 outage must not make ECS replace every task, which would cut
every upload in flight and mend nothing. The load balancer's check, /readyz,
asks whether this task can take a patient's request now: the database
answers, the object store accepts a write (a few bytes written and removed
the way an upload writes them), and the disks this task writes to (the
filesystem store, the spool for checksummed chunks) have more than
MIA_MIN_FREE_BYTES free. A 503 names the failing checks; why they failed goes
to the log only (/readyz can be reached from the internet, like every path).

A readiness result is reused for a few seconds, and a check still running
from an earlier request is waited for rather than started again: however
often /readyz is asked, it costs at most one probe of each kind at a time.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from sqlalchemy import Engine, text

from patient_upload.refusals import format_size
from patient_upload.state import STATE, AppState
from shared.ids import new_id
from shared.logging.json_lines import get_logger
from shared.storage.filesystem import FilesystemStore

log = get_logger(__name__)

OK, FAILING = "ok", "failing"
CHECK_TIMEOUT = 3.0  # seconds; the load balancer gives up on /readyz after 5
READINESS_CACHE_SECONDS = 10.0
# Under uploads/, the only prefix the upload service may write in S3; not ending in /original, so no processing.
PROBE_PREFIX = "uploads/readiness"

Check = Callable[[], Awaitable[object]]


class LowDiskSpace(Exception):
    pass


def _database_answers(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _enough_free_space(directories: list[Path], floor: int) -> None:
    for directory in directories:
        free = shutil.disk_usage(directory).free
        if free < floor:
            raise LowDiskSpace(
                f"{directory}: {format_size(free)} free, below MIA_MIN_FREE_BYTES ({format_size(floor)})"
            )


def local_directories(state: AppState) -> list[Path]:
    """Where this task writes to its own disks: the spool (checksummed chunks) and the filesystem store."""
    directories = [state.spool_dir or Path(tempfile.gettempdir())]
    if isinstance(state.ctx.store, FilesystemStore):
        directories.append(state.ctx.store.root)
    return directories


def readiness_checks(state: AppState) -> dict[str, Check]:
    return {
        "database": lambda: asyncio.to_thread(_database_answers, state.ctx.engine),
        # a fresh key each time: no two probes meet, and one that could not clean up does not block the next
        "storage": lambda: asyncio.to_thread(state.ctx.store.probe_write, f"{PROBE_PREFIX}/{new_id()}"),
        "disk": lambda: asyncio.to_thread(
            _enough_free_space, local_directories(state), state.ctx.settings.min_free_bytes
        ),
    }


class Readiness:
    """The checks behind /readyz, each run at most once at a time, their results kept `cache_seconds`."""

    def __init__(self, checks: dict[str, Check], cache_seconds: float, timeout: float = CHECK_TIMEOUT) -> None:
        self._checks = checks
        self._cache_seconds = cache_seconds
        self._timeout = timeout
        self._running: dict[str, asyncio.Task[object]] = {}
        self._lock = asyncio.Lock()
        self._results: dict[str, str] = {}
        self._checked_at = -math.inf

    async def results(self) -> dict[str, str]:
        async with self._lock:
            if time.monotonic() - self._checked_at >= self._cache_seconds:
                names = list(self._checks)
                outcomes = await asyncio.gather(*(self._run(name) for name in names))
                self._results = dict(zip(names, outcomes, strict=True))
                self._checked_at = time.monotonic()
            return dict(self._results)

    async def _run(self, name: str) -> str:
        task = self._running.get(name)
        if task is None:  # else the one started earlier is still running (a hung connection): wait for it again
            task = self._running[name] = asyncio.create_task(self._checks[name]())
        done, _ = await asyncio.wait({task}, timeout=self._timeout)
        if not done:
            log.error("readiness check timed out", extra={"check": name, "seconds": self._timeout})
            return FAILING
        del self._running[name]
        error = task.exception()
        if error is not None:
            log.error(
                "readiness check failed",
                extra={"check": name, "error": type(error).__name__, "detail": str(error)[:300]},
            )
            return FAILING
        return OK

    async def close(self) -> None:
        """At shutdown: stop waiting for checks still running (their threads end by themselves)."""
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)


READINESS = web.AppKey("readiness", Readiness)


def _json(body: dict[str, str], status: int) -> web.Response:
    response = web.json_response(body, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


async def healthz(request: web.Request) -> web.Response:
    """Liveness: answering at all proves the process and its event loop work; nothing else is asked."""
    return _json({"status": OK}, 200)


async def readyz(request: web.Request) -> web.Response:
    checks = await request.app[READINESS].results()
    ready = all(result == OK for result in checks.values())
    return _json({"status": OK if ready else FAILING, **checks}, 200 if ready else 503)


def setup_readiness(app: web.Application, readiness_cache_seconds: float = READINESS_CACHE_SECONDS) -> None:
    """The readiness checks `/readyz` runs (cached), closed with the application."""
    readiness = Readiness(readiness_checks(app[STATE]), readiness_cache_seconds)
    app[READINESS] = readiness
    app.on_cleanup.append(lambda _app: readiness.close())

"""GET /healthz for the load balancer: the database answers and the object store is reachable."""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy import text

from patient_upload.state import state_of
from shared.json_logging import get_logger

log = get_logger(__name__)
PROBE_KEY = "healthz/probe"


async def healthz(request: web.Request) -> web.Response:
    state = state_of(request)
    checks: dict[str, str] = {}

    def database() -> None:
        with state.ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    for name, check in (
        ("database", lambda: asyncio.to_thread(database)),
        ("storage", lambda: state.store.exists(PROBE_KEY)),
    ):
        try:
            await asyncio.wait_for(check(), timeout=5)
            checks[name] = "ok"
        except Exception as error:  # any failure means unhealthy; the reason goes to the log
            log.error("health check failed", extra={"check": name, "error": type(error).__name__})
            checks[name] = "failing"
    healthy = all(value == "ok" for value in checks.values())
    response = web.json_response({"status": "ok" if healthy else "failing", **checks}, status=200 if healthy else 503)
    response.headers["Cache-Control"] = "no-store"
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)

"""The application factory: `create_app(ctx)` wires state, middleware and routes."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from pathlib import Path

from aiohttp import web

from patient_upload import health
from patient_upload.assets import Assets
from patient_upload.middleware import add_security_headers, errors, log_access, organisation
from patient_upload.routes import setup_routes
from patient_upload.state import STATE, AppState
from patient_upload.templating import make_environment
from shared.context import AppContext
from shared.encounters.uploads.hooks import EncounterHooks
from shared.encounters.uploads.limits import UploadLimits
from shared.encounters.uploads.records import DatabaseLocker
from shared.encounters.uploads.service import TusService, UploadPolicy
from shared.storage.async_store import AsyncStore
from shared.storage.signed_urls import UrlSigner

# A crashed process's lock frees itself after LOCK_LEASE; a live one renews it every quarter of that
# (shared.encounters.uploads.locking) and stops writing a quarter before a lease it could not renew ends.
LOCK_LEASE = dt.timedelta(seconds=8)
# A PATCH that receives nothing for this long (a phone that lost signal) is ended and what arrived is kept.
READ_IDLE_TIMEOUT = 30.0
# ... and so is one slower than MIA_UPLOAD_MIN_RATE on average over this long (a drip holding the lock).
BODY_RATE_WINDOW = 30.0
# Forms and JSON only: tus bodies are streamed and counted separately (client_max_size does not apply to them).
MAX_FORM_BYTES = 64 * 1024


def form_key(cookie_key: bytes) -> bytes:
    """A key of its own for the date-of-birth form's CSRF token, derived from the cookie key."""
    return hmac.new(cookie_key, b"mia/patient-upload/form-csrf", hashlib.sha256).digest()


def create_app(
    ctx: AppContext,
    *,
    lock_lease: dt.timedelta = LOCK_LEASE,
    read_idle_timeout: float = READ_IDLE_TIMEOUT,
    min_body_rate: float | None = None,
    body_rate_window: float = BODY_RATE_WINDOW,
    readiness_cache_seconds: float = health.READINESS_CACHE_SECONDS,
    spool_dir: Path | None = None,
    assets: Assets | None = None,
) -> web.Application:
    assets = assets or Assets.load()
    store = AsyncStore(ctx.store)
    limits = UploadLimits.from_settings(ctx.settings)
    lifetime = dt.timedelta(hours=ctx.settings.upload_expiry_hours)
    policy = UploadPolicy(limits, lock_lease, lifetime, spool_dir)
    state = AppState(
        ctx=ctx,
        store=store,
        tus=TusService(ctx, store, DatabaseLocker(ctx.engine), EncounterHooks(ctx, limits), policy),
        templates=make_environment(assets),
        assets=assets,
        form_key=form_key(ctx.keys.cookie),
        signer=UrlSigner(ctx.keys.url_signing, ctx.settings.patient_base_url),
        read_idle_timeout=read_idle_timeout,
        min_body_rate=ctx.settings.upload_min_bytes_per_second if min_body_rate is None else min_body_rate,
        body_rate_window=body_rate_window,
    )
    app = web.Application(middlewares=[log_access, errors, organisation], client_max_size=MAX_FORM_BYTES)
    app[STATE] = state
    app.on_response_prepare.append(add_security_headers)
    health.setup_readiness(app, readiness_cache_seconds)
    setup_routes(app)
    return app

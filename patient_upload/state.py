"""What every handler needs, built once by create_app and kept on the application."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import jinja2
from aiohttp import web

from patient_upload.assets import Assets
from shared.context import AppContext
from shared.encounters.uploads.limits import UploadLimits
from shared.encounters.uploads.service import TusService
from shared.storage.async_store import AsyncStore
from shared.storage.signed_urls import UrlSigner


@dataclass
class AppState:
    ctx: AppContext
    store: AsyncStore
    tus: TusService
    templates: jinja2.Environment
    assets: Assets
    form_key: bytes  # for the pre-session (date-of-birth form) CSRF token
    signer: UrlSigner  # verifies /media/{key} URLs of the filesystem store
    read_idle_timeout: float  # seconds without a body byte before a PATCH counts as abandoned
    min_body_rate: float  # bytes per second a body must average over each window ...
    body_rate_window: float  # ... of this many seconds spent waiting for it, or it counts as abandoned

    @property
    def limits(self) -> UploadLimits:
        return self.tus.policy.limits

    @property
    def spool_dir(self) -> Path | None:
        return self.tus.policy.spool_dir

    @property
    def session_idle(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.ctx.settings.patient_session_minutes)


STATE = web.AppKey("state", AppState)


def state_of(request: web.Request) -> AppState:
    return request.app[STATE]

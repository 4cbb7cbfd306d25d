"""Fixtures for the upload service: the app on each database × each store, and verified patients."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from patient_upload.app import create_app
from shared.context import AppContext, build_context
from shared.settings import Settings
from tests.conftest import STORES
from tests.support.factories import make_clinician, make_encounter
from tests.support.patient_client import PatientClient

ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture(params=STORES)
def upload_ctx(request: pytest.FixtureRequest, settings: Settings, engine) -> AppContext:  # type: ignore[no-untyped-def]
    """A context on each database and each store (the filesystem one signs URLs with the context's key)."""
    ctx = build_context(settings, engine=engine)
    if request.param == "s3":
        ctx.store = request.getfixturevalue("s3_store")
    return ctx


@pytest.fixture
def clinician(upload_ctx: AppContext) -> str:
    return make_clinician(upload_ctx)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, upload_ctx: AppContext) -> TestClient:
    app = create_app(upload_ctx, lock_lease=dt.timedelta(seconds=6), read_idle_timeout=5.0)
    return await aiohttp_client(app)


@pytest.fixture
def new_patient(
    aiohttp_client: ClientFactory, client: TestClient, upload_ctx: AppContext, clinician: str
) -> Callable[..., Awaitable[PatientClient]]:
    """A patient with their own encounter and their own cookie jar (a separate phone)."""

    async def make(verified: bool = True) -> PatientClient:
        invite = make_encounter(upload_ctx, clinician)
        own_client = await aiohttp_client(client.server)
        patient = PatientClient(own_client, invite.token, encounter_id=invite.encounter_id)
        return await patient.ready() if verified else patient

    return make
